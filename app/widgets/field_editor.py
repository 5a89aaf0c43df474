"""One editor widget per schema field, chosen from the field's declared type.

Validation is the schema's own :func:`coerce` (the same check the factory and the CLI run), so
the form flags exactly what the engine would reject, before any run starts.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QWidget

from ptycho_engine.config.schema import ConfigError, FieldSpec, coerce, type_name

INT_LIMIT = 2**31 - 1
NONE_TEXT = "None"


def format_value(value: Any) -> str:
    """Text for a value as a user would type it (1e+09 rather than 1000000000.0)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            short = f"{value:g}"
            return short if float(short) == value else repr(value)
        return repr(value)
    if isinstance(value, tuple):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def describe(spec: FieldSpec) -> str:
    """Tooltip: the help line plus type, default, bounds and choices."""
    lines = [spec.help.strip() or spec.name, "", f"name: {spec.name}", f"type: {type_name(spec.type)}"]
    lines.append(f"default: {format_value(spec.default) or NONE_TEXT}")
    if spec.bounds is not None:
        lo, hi = spec.bounds
        lines.append(f"range: [{'-∞' if lo is None else format_value(lo)}, {'∞' if hi is None else format_value(hi)}]")
    if spec.choices is not None:
        lines.append("choices: " + ", ".join(format_value(c) or NONE_TEXT for c in spec.choices))
    return "\n".join(lines)


class FieldEditor(QObject):
    """Wraps the widget for one field: text round trip (for settings), typed value, validity."""

    changed = Signal()

    def __init__(self, spec: FieldSpec, initial: Any) -> None:
        super().__init__()
        self.spec = spec
        self.initial = initial  # what "Reset to defaults" restores (schema or GUI default)
        self.widget: QWidget = self._make_widget()
        self.widget.setToolTip(describe(spec))
        self.set_value(initial)

    # ---- construction -----------------------------------------------------------------------
    def _make_widget(self) -> QWidget:
        spec, base = self.spec, self.spec.base_type
        if base is bool and not spec.optional:
            box = QCheckBox()
            box.toggled.connect(self.changed)
            return box
        if spec.choices is not None:
            combo = QComboBox()
            choices = list(spec.choices)
            if spec.optional and None not in choices:
                choices.insert(0, None)
            self._choices = choices
            for choice in choices:
                combo.addItem(format_value(choice) or NONE_TEXT)
            combo.currentIndexChanged.connect(self.changed)
            return combo
        if base is int and not spec.optional:
            spin = QSpinBox()
            lo, hi = spec.bounds or (None, None)
            spin.setRange(
                -INT_LIMIT if lo is None else max(int(math.ceil(lo)), -INT_LIMIT),
                INT_LIMIT if hi is None else min(int(math.floor(hi)), INT_LIMIT),
            )
            spin.setAccelerated(True)
            spin.valueChanged.connect(self.changed)
            return spin
        edit = QLineEdit()
        if spec.optional:
            edit.setPlaceholderText(f"{NONE_TEXT} (leave empty)")
        elif spec.bounds is not None:
            lo, hi = spec.bounds
            edit.setPlaceholderText(f"{format_value(lo) or '-∞'} … {format_value(hi) or '∞'}")
        edit.textChanged.connect(self.changed)
        return edit

    # ---- values -----------------------------------------------------------------------------
    def text(self) -> str:
        w = self.widget
        if isinstance(w, QCheckBox):
            return "true" if w.isChecked() else "false"
        if isinstance(w, QComboBox):
            return format_value(self._choices[w.currentIndex()]) if w.currentIndex() >= 0 else ""
        if isinstance(w, QSpinBox):
            return str(w.value())
        assert isinstance(w, QLineEdit)
        return w.text().strip()

    def set_text(self, text: str) -> None:
        """Restore a saved text; values the widget cannot hold are ignored (schema may change)."""
        w = self.widget
        if isinstance(w, QLineEdit):
            w.setText(text)
            return
        try:
            value = coerce(self.spec, text if text != "" else None, source="saved settings")
        except ConfigError:
            return
        self.set_value(value)

    def set_value(self, value: Any) -> None:
        w = self.widget
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QComboBox):
            if value in self._choices:
                w.setCurrentIndex(self._choices.index(value))
        elif isinstance(w, QSpinBox):
            w.setValue(int(value) if value is not None else 0)
        else:
            assert isinstance(w, QLineEdit)
            w.setText(format_value(value))

    def value(self) -> Any:
        """The typed value; raises ConfigError with the schema's message when invalid."""
        text = self.text()
        if isinstance(self.widget, QComboBox):
            value = self._choices[self.widget.currentIndex()]
            return coerce(self.spec, value, source="the form") if value is not None else None
        if text == "":
            if self.spec.optional:
                return None
            raise ConfigError(f"{self.spec.name}: a value is required")
        return coerce(self.spec, text, source="the form")

    def error(self) -> str | None:
        try:
            self.value()
        except ConfigError as exc:
            return str(exc)
        return None

    def is_edited(self) -> bool:
        """Differs from the schema default (what the user changed, or a GUI-supplied default)."""
        try:
            return self.value() != self.spec.default
        except ConfigError:
            return True
