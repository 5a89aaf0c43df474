"""The engine choice (``backend``: PyTorch or TensorFlow) at the top of a parameters form.

Why a widget of its own rather than a generated field: whether TensorFlow can run is known only
here (``api.tensorflow_available()``, which imports nothing), and an operator who lacks it must
see the entry greyed out with the one command that installs it, not a run that fails later.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from .elided_label import ElidedLabel

BACKENDS: tuple[tuple[str, str], ...] = (("pytorch", "PyTorch"), ("tensorflow", "TensorFlow"))
DEFAULT_BACKEND = "pytorch"


class BackendChooser(QWidget):
    """'Backend: [PyTorch | TensorFlow]'; TensorFlow disabled (with the install hint) when absent."""

    changed = Signal()

    def __init__(self, availability: tuple[bool, str], what: str = "trains",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tf_ok, self.tf_reason = availability
        self.combo = QComboBox()
        for value, text in BACKENDS:
            self.combo.addItem(text, value)
        self.combo.setToolTip(f"backend: the engine that {what}. PyTorch is the default; TensorFlow "
                              "(Keras 3) is the optional second engine. A model of either runs on either.")
        self.note = ElidedLabel("", mode=Qt.TextElideMode.ElideRight)
        self.note.setStyleSheet("color: palette(mid);")
        if not self.tf_ok:
            model = self.combo.model()
            assert isinstance(model, QStandardItemModel)
            item = model.item(self.combo.findData("tensorflow"))
            item.setEnabled(False)
            item.setToolTip(self.tf_reason)
            item.setText("TensorFlow (not installed)")
            command = self.tf_reason.split("install it with:", 1)[-1].strip()
            self.note.setText(f"TensorFlow not installed: {command}")
            self.note.setToolTip(self.tf_reason)
        self.note.setVisible(not self.tf_ok)
        self.combo.currentIndexChanged.connect(self.changed)
        label = QLabel("Backend")
        label.setToolTip(self.combo.toolTip())
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.addWidget(label)
        row.addWidget(self.combo)
        row.addWidget(self.note, 1)

    def value(self) -> str:
        """'pytorch' or 'tensorflow' (what goes into ``overrides['backend']``)."""
        return str(self.combo.currentData())

    def set_value(self, value: str) -> bool:
        """Choose ``value``; refused (False, choice unchanged) when unknown or not installed."""
        index = self.combo.findData(value)
        if index < 0 or (value == "tensorflow" and not self.tf_ok):
            return False
        self.combo.setCurrentIndex(index)
        return True

    def is_edited(self) -> bool:
        return self.value() != DEFAULT_BACKEND
