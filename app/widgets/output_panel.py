"""Where new runs go (the runs folder), and which trained model inference uses."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget


class OutputPanel(QGroupBox):
    """Runs folder (typed or browsed) and the current model; 'Load model…' is reported via
    ``model_folder_chosen`` so the window can check the folder and explain a refusal.

    Each Train makes a new run folder inside the runs folder; pointing it at an existing run
    folder means "replace that run" (the window asks first), and the hint line says so."""

    changed = Signal()
    model_folder_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Output and model", parent)
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("Folder for the runs (each Train makes a new run folder in it)")
        self.output_edit.setToolTip("Each Train makes <this folder>/<date-time>-<scan>/. Point it at an existing "
                                    "run folder to replace that run (you are asked first).")
        self.output_edit.textChanged.connect(self.changed)
        self.output_edit.textChanged.connect(self.update_hint)
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: palette(mid);")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse_output)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        model_button = QPushButton("Load model…")
        model_button.setToolTip("Pick a trained model: a folder that contains wts.h5.zip")
        model_button.clicked.connect(self.browse_model)
        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("Runs folder:"))
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(browse)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_label, 1)
        model_row.addWidget(model_button)
        layout = QVBoxLayout(self)
        layout.addLayout(out_row)
        layout.addWidget(self.hint)
        layout.addLayout(model_row)
        self.show_model(None)

    @property
    def output_dir(self) -> Path | None:
        text = self.output_edit.text().strip()
        return Path(text).expanduser() if text else None

    def show_model(self, folder: Path | None, note: str = "") -> None:
        """The model Infer uses; ``note`` says when its run was cancelled or failed."""
        text = f"Model: {folder}" if folder else "Model: none (train one, or load a trained model)"
        self.model_label.setText(text + (f" — {note}" if note else ""))
        self.model_label.setStyleSheet("color: #b35c00;" if note else "")

    @Slot()
    def update_hint(self) -> None:
        from ..run_folders import holds_run

        out = self.output_dir
        if out is None:
            self.hint.setText("")
        elif holds_run(out):
            self.hint.setText("This folder is a run: Train would replace it (you are asked first).")
        else:
            self.hint.setText("Train makes a new run folder in here, named by date, time and scan.")

    @Slot()
    def browse_output(self) -> None:
        start = str(self.output_dir.parent if self.output_dir else Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Runs folder", start)
        if folder:
            self.output_edit.setText(folder)

    @Slot()
    def browse_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Trained model (folder with wts.h5.zip)", str(Path.home()))
        if folder:
            self.model_folder_chosen.emit(folder)
