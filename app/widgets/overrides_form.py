"""The overrides form, generated from the engine's field schema (no hand-written fields)."""
from __future__ import annotations

from typing import Any, Collection, Iterable, Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ptycho_engine.config.schema import FieldSpec

from ..form_tiers import ADVANCED_TITLE, BASIC_TITLE, DEPENDS
from .collapsible import CollapsibleSection
from .elided_label import ElidedLabel
from .field_editor import FieldEditor

GROUP_ORDER = ("synthetic", "model", "training", "data", "inference", "execution")
GROUP_TITLES = {
    "synthetic": "Synthetic objects",
    "model": "Model",
    "training": "Training",
    "data": "Data",
    "execution": "Execution",
    "inference": "Inference",
}
# Set by the window itself (file pickers), never typed into the form.
WINDOW_OWNED = {"train_data_file", "test_data_file", "output_dir", "model_path"}
# Accepted by the engine and recorded in the run's configuration, but no run reads them: a form
# that offered them would promise an effect that never happens (the CLI still accepts them).
RECORDED_ONLY = {"probe_scale", "positions_provided", "neighbor_pool_size", "debug"}


def _refuse_model_type(value: Any) -> str | None:
    return None if value in (None, "pinn") else \
        f"the trainer only does physics-informed training ('pinn'); '{value}' would be refused when the run starts"


def _refuse_realspace_mae(value: Any) -> str | None:
    return "the trainer has no real-space MAE loss yet; keep it at 0" if value else None


# Values the schema allows but the trainer refuses at run time (training/run.py check_config):
# refused here as they are typed.
REFUSALS = {"model_type": _refuse_model_type, "realspace_mae_weight": _refuse_realspace_mae}

EDITED_STYLE = "background-color: #fff4c2;"
INVALID_STYLE = "border: 2px solid #c62828; background-color: #fdecea;"


class OverridesForm(QWidget):
    """Typed editors grouped into foldable sections; reports validity and the edited values.

    ``gui_defaults`` pre-fills fields the factory requires but the schema leaves empty (e.g.
    ``n_groups`` for training); those are always sent as overrides.
    """

    changed = Signal()
    validity_changed = Signal(bool)

    def __init__(
        self,
        fields: Iterable[FieldSpec],
        gui_defaults: dict[str, Any] | None = None,
        parent: QWidget | None = None,
        basic: Sequence[str] = (),
        advanced: Collection[str] = (),
    ) -> None:
        super().__init__(parent)
        gui_defaults = gui_defaults or {}
        self.editors: dict[str, FieldEditor] = {}
        self.labels: dict[str, QLabel] = {}
        self.errors: dict[str, QLabel] = {}
        self.notes: dict[str, QLabel] = {}
        self.cells: dict[str, QVBoxLayout] = {}
        self._forced = set()
        by_group: dict[str, list[FieldSpec]] = {}
        tiers: dict[str, list[FieldSpec]] = {"basic": [], "advanced": []}
        for spec in fields:
            if not spec.gui or spec.name in WINDOW_OWNED or spec.name in RECORDED_ONLY:
                continue
            tier = "basic" if spec.name in basic else "advanced" if spec.name in advanced else None
            (tiers[tier] if tier else by_group.setdefault(spec.group, [])).append(spec)
        tiers["basic"].sort(key=lambda s: list(basic).index(s.name))
        self.sections: dict[str, CollapsibleSection] = {}

        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(4, 4, 4, 4)
        groups = sorted(by_group, key=lambda g: GROUP_ORDER.index(g) if g in GROUP_ORDER else 99)
        sections = [("basic", BASIC_TITLE, tiers["basic"], True)]
        sections += [(g, GROUP_TITLES.get(g, g.title()), by_group[g], True) for g in groups]
        sections.append(("advanced", ADVANCED_TITLE, tiers["advanced"], False))  # folded away
        for key, title, specs, expanded in sections:
            if not specs:
                continue
            section = QWidget()
            form = QFormLayout(section)
            form.setContentsMargins(12, 0, 0, 4)
            form.setVerticalSpacing(3)
            for spec in specs:
                initial = spec.default
                if spec.name in gui_defaults and (spec.default is None or spec.required):
                    initial = gui_defaults[spec.name]
                    self._forced.add(spec.name)
                self._add_row(form, spec, initial)
            self.sections[key] = CollapsibleSection(title, section, expanded=expanded)
            body_layout.addWidget(self.sections[key])
        body_layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Put every field back to its schema default")
        self.reset_button.clicked.connect(self.reset_defaults)
        # one elided line (full text on hover): a wrapping label here would give the whole form a
        # height-for-width, and the window's left column could then no longer shrink this form
        self.summary_label = ElidedLabel("", mode=Qt.TextElideMode.ElideRight)
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary_label, 1)
        bottom.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._layout = layout
        layout.addWidget(scroll, 1)
        layout.addLayout(bottom)
        self._valid = True
        self._refresh()

    def _add_row(self, form: QFormLayout, spec: FieldSpec, initial: Any) -> None:
        editor = FieldEditor(spec, initial)
        editor.refusal = REFUSALS.get(spec.name)
        label = QLabel(spec.name)
        label.setToolTip(editor.widget.toolTip())
        note = QLabel("")
        note.setStyleSheet("color: palette(mid);")
        note.hide()
        error = QLabel("")
        error.setWordWrap(True)
        error.setStyleSheet("color: #c62828;")
        error.hide()
        cell = QWidget()
        cell_layout = QVBoxLayout(cell)
        cell_layout.setContentsMargins(0, 0, 0, 0)
        cell_layout.setSpacing(1)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(editor.widget, 1)
        top.addWidget(note)
        cell_layout.addLayout(top)
        cell_layout.addWidget(error)
        form.addRow(label, cell)
        editor.changed.connect(self._refresh)
        self.editors[spec.name] = editor
        self.labels[spec.name] = label
        self.errors[spec.name] = error
        self.notes[spec.name] = note
        self.cells[spec.name] = cell_layout

    # ---- state ------------------------------------------------------------------------------
    def _apply_dependencies(self) -> None:
        """Grey out fields that act only when another one is set (e.g. refine_* without passes)."""
        for name, (other, applies, note) in DEPENDS.items():
            if name not in self.editors or other not in self.editors:
                continue
            try:
                active = bool(applies(self.editors[other].value()))
            except Exception:  # noqa: BLE001 - an invalid value is flagged on its own field
                active = True
            self.editors[name].widget.setEnabled(active)
            self.labels[name].setEnabled(active)
            self.set_note(name, "" if active else note)

    @Slot()
    def _refresh(self) -> None:
        """Restyle edited/invalid fields and announce validity changes."""
        self._apply_dependencies()
        n_invalid = n_edited = 0
        for name, editor in self.editors.items():
            message = editor.error()
            edited = editor.is_edited()
            font = self.labels[name].font()
            font.setBold(edited)
            self.labels[name].setFont(font)
            if message:
                n_invalid += 1
                editor.widget.setStyleSheet(INVALID_STYLE)
                self.errors[name].setText(message)
                self.errors[name].show()
            else:
                editor.widget.setStyleSheet(EDITED_STYLE if edited else "")
                self.errors[name].hide()
            n_edited += edited
        if n_invalid:
            self.summary_label.setStyleSheet("color: #c62828;")
            self.summary_label.setText(f"{n_invalid} invalid value(s): {self.first_error()}")
        else:
            self.summary_label.setStyleSheet("")
            self.summary_label.setText(f"{n_edited} field(s) differ from the defaults (highlighted)")
        valid = n_invalid == 0
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)
        self.changed.emit()

    def is_valid(self) -> bool:
        return self._valid

    def first_error(self) -> str | None:
        for editor in self.editors.values():
            message = editor.error()
            if message:
                return message
        return None

    def overrides(self) -> dict[str, Any]:
        """Typed values of the fields that differ from the schema default (plus forced ones)."""
        out: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if editor.error() is None and (editor.is_edited() or name in self._forced):
                out[name] = editor.value()
        return out

    def values(self) -> dict[str, Any]:
        """Typed values of every valid field, edited or not."""
        return {name: editor.value() for name, editor in self.editors.items() if editor.error() is None}

    def texts(self) -> dict[str, str]:
        """Edited fields as text, for QSettings."""
        return {n: e.text() for n, e in self.editors.items() if e.is_edited() or n in self._forced}

    def set_texts(self, texts: dict[str, str]) -> None:
        for name, text in texts.items():
            if name in self.editors:
                self.editors[name].set_text(str(text))
        self._refresh()

    def set_values(self, values: dict[str, Any]) -> None:
        """Set typed values (already checked by the schema), e.g. from a settings file."""
        for name, value in values.items():
            if name in self.editors:
                self.editors[name].set_value(value)
        self._refresh()

    @Slot()
    def reset_defaults(self) -> None:
        for editor in self.editors.values():
            editor.reset()
        self._refresh()

    def adapt_default(self, name: str, value: Any) -> None:
        """Change a GUI-supplied default (e.g. n_groups to fit a small scan) unless the user has
        typed their own value into that field."""
        editor = self.editors.get(name)
        if editor is None or name not in self._forced or editor.initial == value:
            return
        untouched = editor.error() is None and editor.value() == editor.initial
        editor.initial = value
        if untouched:
            editor.set_value(value)
        self._refresh()

    def set_file_values(self, values: dict[str, Any], label: str = "from file") -> None:
        """Values the scan supplies (None: it does not); untouched fields show "from file: …"."""
        for name, value in values.items():
            if name in self.editors:
                self.editors[name].set_file_value(value, label)
        self._refresh()

    def set_note(self, name: str, text: str) -> None:
        """A short remark beside a field (e.g. 'CUDA not available' beside accelerator)."""
        if name in self.notes:
            self.notes[name].setText(text)
            self.notes[name].setVisible(bool(text))

    def editor(self, name: str) -> FieldEditor:
        return self.editors[name]

    def add_header(self, widget: QWidget) -> None:
        """Put ``widget`` above the scrolling fields (e.g. the backend choice: always in view)."""
        self._layout.insertWidget(0, widget)

    def insert_in_row(self, name: str, widget: QWidget) -> None:
        """Put ``widget`` above a field's editor, in the same row (e.g. a friendlier chooser that
        writes the field's text); the field keeps its label, highlight, validation and tooltip."""
        self.cells[name].insertWidget(0, widget)
