"""One editor widget per schema field, chosen from the field's declared type.

Validation is the schema's own :func:`coerce` (the same check the factory and the CLI run), so
the form flags exactly what the engine would reject, before any run starts.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QWidget

from ptycho_engine.config.schema import ConfigError, FieldSpec, coerce, type_name

from ..plain_errors import plain

INT_LIMIT = 2**31 - 1
NONE_TEXT = "None"


class _FromFile:
    """The combo entry "from file: …" (the run takes the value from the scan)."""

    def __repr__(self) -> str:
        return "FROM_FILE"


FROM_FILE = _FromFile()


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
        self.file_value: Any = None  # the value the scan supplies when the field is left alone
        self.file_label = "from file"
        self.refusal: Callable[[Any], str | None] | None = None  # a value the engine would refuse at run time
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
        self._placeholder = ""
        if spec.optional:
            self._placeholder = f"{NONE_TEXT} (leave empty)"
        elif spec.bounds is not None:
            lo, hi = spec.bounds
            self._placeholder = f"{format_value(lo) or '-∞'} … {format_value(hi) or '∞'}"
        edit.setPlaceholderText(self._placeholder)
        edit.textChanged.connect(self.changed)
        return edit

    # ---- values -----------------------------------------------------------------------------
    def text(self) -> str:
        w = self.widget
        if isinstance(w, QCheckBox):
            return "true" if w.isChecked() else "false"
        if isinstance(w, QComboBox):
            if w.currentIndex() < 0 or self._choices[w.currentIndex()] is FROM_FILE:
                return ""
            return format_value(self._choices[w.currentIndex()])
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

    # ---- values that come from the scan ---------------------------------------------------------
    @property
    def follows_file(self) -> bool:
        """Left alone while the scan supplies the value: the run takes the file's value."""
        if self.file_value is None:
            return False
        w = self.widget
        if isinstance(w, QComboBox):
            return w.currentIndex() >= 0 and self._choices[w.currentIndex()] is FROM_FILE
        return isinstance(w, QLineEdit) and w.text().strip() == ""

    def set_file_value(self, value: Any, label: str = "from file") -> None:
        """The scan supplies ``value`` (None: it does not). An untouched field then shows it as
        "from file: …" instead of a default the run would not use."""
        w = self.widget
        untouched = self.follows_file or not self.is_edited()
        self.file_value, self.file_label = value, label
        if isinstance(w, QComboBox):
            has = bool(self._choices) and self._choices[0] is FROM_FILE
            if value is None:
                if has:
                    following = w.currentIndex() == 0
                    self._choices.pop(0)
                    w.removeItem(0)
                    if following:
                        self.set_value(self.initial)
                return
            if not has:
                self._choices.insert(0, FROM_FILE)
                w.insertItem(0, "")
            w.setItemText(0, f"{label}: {format_value(value)}")
            if untouched:
                w.setCurrentIndex(0)
            return
        if not isinstance(w, QLineEdit):
            return
        if value is None:
            w.setPlaceholderText(self._placeholder)
            if w.text().strip() == "" and not self.spec.optional:
                self.set_value(self.initial)
            return
        w.setPlaceholderText(f"{label}: {format_value(value)}")
        if untouched:
            w.setText("")

    def reset(self) -> None:
        """Back to the default: follow the file where it supplies the value."""
        self.set_value(self.initial)
        if self.file_value is not None:
            self.set_file_value(self.file_value, self.file_label)
            if isinstance(self.widget, QComboBox):
                self.widget.setCurrentIndex(0)
            elif isinstance(self.widget, QLineEdit):
                self.widget.setText("")

    def value(self) -> Any:
        """The typed value; raises ConfigError with the schema's message when invalid."""
        if self.follows_file:
            return self.file_value
        value = self._typed_value()
        problem = self.refusal(value) if self.refusal is not None else None
        if problem:
            raise ConfigError(f"{self.spec.name}: {problem}")
        return value

    def _typed_value(self) -> Any:
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
        """What is wrong with the value, in plain words (None: it is valid)."""
        try:
            self.value()
        except ConfigError as exc:
            return plain(self.spec, str(exc))
        return None

    def is_edited(self) -> bool:
        """Differs from the schema default (what the user changed, or a GUI-supplied default);
        a field following the scan's value is not edited (nothing is sent: the engine reads it)."""
        if self.follows_file:
            return False
        try:
            return self.value() != self.spec.default
        except ConfigError:
            return True
