"""'Start from': which weights training starts from, as a choice instead of a typed value.

It drives the schema-generated ``init_model`` field of the Training form (whose text stays the
one value that is saved, highlighted and sent to the engine): from scratch = empty, the shipped
pretrained model = ``shipped``, a model folder = that folder. What the engine would make of the
value (and why it would refuse it) comes from the engine's own resolver.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QWidget

from ptycho_engine.config.init_model import SCRATCH_VALUES, SHIPPED, resolve_init_model, shipped_model_path

from .field_editor import FieldEditor

MODES = ("scratch", "shipped", "folder")
MODE_TEXTS = {
    "scratch": "From scratch (random weights)",
    "shipped": "Shipped pretrained model",
    "folder": "A model folder…",
}


def mode_of(text: str) -> str:
    """The choice an ``init_model`` value stands for."""
    value = text.strip().lower()
    if value in SCRATCH_VALUES:
        return "scratch"
    if value == SHIPPED:
        return "shipped"
    return "folder"


class InitModelChooser(QWidget):
    """Combo (scratch / shipped / folder) + Browse…, writing the ``init_model`` editor's text.

    The editor's line edit stays visible only for a folder (the path, which may also be typed or
    pasted); ``status`` says which archive the engine will load, or, in red, why it cannot.
    """

    changed = Signal()

    def __init__(self, editor: FieldEditor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.combo = QComboBox()
        for mode in MODES:
            self.combo.addItem(MODE_TEXTS[mode], mode)
        self.combo.setToolTip("Which weights training starts from: random weights, the pretrained model shipped "
                              "with Ptycho Studio, or the model of an earlier run or pretraining (fine-tuning). "
                              "The model settings (N, gridsize, n_filters_scale, …) must match the model's.")
        self.combo.activated.connect(self._picked)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setToolTip("Pick a run folder that holds wts.h5.zip")
        self.browse_button.clicked.connect(self.browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(self.browse_button)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        editor.changed.connect(self.sync)
        self.sync()

    # ---- state ------------------------------------------------------------------------------
    def mode(self) -> str:
        return mode_of(self.editor.text())

    def shipped_available(self) -> bool:
        return shipped_model_path().is_file()

    def problem(self) -> str | None:
        """The engine's reason the current value cannot be used (None when it can)."""
        try:
            resolve_init_model(self.editor.text())
        except (FileNotFoundError, OSError, ValueError) as exc:
            return str(exc)
        return None

    # ---- changes ----------------------------------------------------------------------------
    def set_mode(self, mode: str, folder: str | Path | None = None) -> None:
        """Choose programmatically (same as the user): ``folder`` is required for 'folder'."""
        if mode == "scratch":
            self.editor.set_text("")
        elif mode == "shipped":
            self.editor.set_text(SHIPPED)
        elif mode == "folder":
            if folder is None:
                raise ValueError("set_mode('folder') needs the folder")
            self.editor.set_text(str(folder))
        else:
            raise ValueError(f"unknown start mode {mode!r}; expected one of {MODES}")
        self.sync()

    def set_folder(self, folder: str | Path) -> None:
        self.set_mode("folder", folder)

    @Slot(int)
    def _picked(self, index: int) -> None:
        mode = self.combo.itemData(index)
        if mode == "folder":
            if not self.browse():
                self.sync()  # dialog cancelled: back to what the field says
            return
        self.set_mode(mode)

    @Slot()
    def browse(self) -> bool:
        current = self.editor.text() if self.mode() == "folder" else ""
        start = str(Path(current).parent) if current else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Start from the model in… (a folder with wts.h5.zip)", start)
        if folder:
            self.set_folder(folder)
            return True
        return False

    @Slot()
    def sync(self) -> None:
        """Show the field's value: combo, path box, shipped availability, status line."""
        mode = self.mode()
        available = self.shipped_available()
        item = self.combo.model().item(MODES.index("shipped"))
        item.setEnabled(available)
        item.setToolTip("The pretrained model bundled with Ptycho Studio" if available else
                        f"Not installed: no pretrained model at {shipped_model_path()}")
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(MODES.index(mode))
        self.combo.blockSignals(False)
        self.browse_button.setVisible(mode == "folder")
        self.editor.widget.setVisible(mode == "folder")
        problem = self.problem()
        if problem:
            self.status.setStyleSheet("color: #c62828;")
            self.status.setText(f"✘ {problem}")
        else:
            self.status.setStyleSheet("color: palette(dark);")
            if mode == "scratch":
                self.status.setText("Training starts from random weights.")
            else:
                archive = resolve_init_model(self.editor.text())
                self.status.setText(f"Training starts from the weights in {archive} (fine-tuning).")
        self.changed.emit()
