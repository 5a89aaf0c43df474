"""Where the next run writes, and which trained model inference uses."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget


class OutputPanel(QGroupBox):
    """Output folder (typed or browsed) and the current model; 'Load model…' is reported via
    ``model_folder_chosen`` so the window can check the folder and explain a refusal."""

    changed = Signal()
    model_folder_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Output and model", parent)
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("Folder for the run (created if missing)")
        self.output_edit.textChanged.connect(self.changed)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse_output)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        model_button = QPushButton("Load model…")
        model_button.setToolTip("Pick a trained model: a folder that contains wts.h5.zip")
        model_button.clicked.connect(self.browse_model)
        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("Output folder:"))
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(browse)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_label, 1)
        model_row.addWidget(model_button)
        layout = QVBoxLayout(self)
        layout.addLayout(out_row)
        layout.addLayout(model_row)
        self.show_model(None)

    @property
    def output_dir(self) -> Path | None:
        text = self.output_edit.text().strip()
        return Path(text).expanduser() if text else None

    def show_model(self, folder: Path | None) -> None:
        self.model_label.setText(f"Model: {folder}" if folder else "Model: none (train one, or load a trained model)")

    @Slot()
    def browse_output(self) -> None:
        start = str(self.output_dir.parent if self.output_dir else Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Output folder", start)
        if folder:
            self.output_edit.setText(folder)

    @Slot()
    def browse_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Trained model (folder with wts.h5.zip)", str(Path.home()))
        if folder:
            self.model_folder_chosen.emit(folder)
