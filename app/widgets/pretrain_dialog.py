"""'Pretrain on synthetic objects…': the pretraining knobs (generated from the engine's schema),
where the run goes, and a Start button. The window runs it like Train."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ptycho_engine.config.schema import FieldSpec

from .overrides_form import OverridesForm

#: training settings the dialog shows (the others come from the Training parameters form)
TRAINING_KNOBS = ("nepochs",)
#: the GUI's own defaults for those (the training default of 50 epochs is long for a first try)
KNOB_DEFAULTS = {"nepochs": 20}
#: training settings that do not apply to pretraining; never sent with it
PRETRAIN_SKIP = frozenset({"n_groups", "init_model", "probe_trainable", "resume", "n_subsample", "subsample_seed"})
PRETRAIN_SUBFOLDER = "pretrained"


def pretraining_specs(synthetic: Iterable[FieldSpec], training: Iterable[FieldSpec]) -> list[FieldSpec]:
    """The synthetic-object settings (grouped as 'synthetic') and the training knobs."""
    specs = [replace(s, group="synthetic") for s in synthetic if s.gui]
    for s in training:
        if s.name in TRAINING_KNOBS:
            specs.append(replace(s, default=KNOB_DEFAULTS.get(s.name, s.default)))
    return specs


class PretrainDialog(QDialog):
    """Opened with ``open()`` (the event loop keeps running); ``start_requested`` asks the window
    to start; ``reason_fn`` says why Start is disabled (None = it may start)."""

    start_requested = Signal()

    def __init__(self, specs: list[FieldSpec], synthetic_names: set[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Pretrain on synthetic objects")
        self.synthetic_names = set(synthetic_names)
        self.reason_fn: Callable[[], str | None] = lambda: None
        self._default_out: str = ""
        self.intro = QLabel("")
        self.intro.setWordWrap(True)
        self.intro.setTextFormat(Qt.TextFormat.RichText)
        self.form = OverridesForm(specs)
        for spec in specs:  # say what an empty optional field means ("empty = from the scan")
            if spec.optional and "empty = " in spec.help and spec.name in self.form.editors:
                widget = self.form.editor(spec.name).widget
                if isinstance(widget, QLineEdit):
                    widget.setPlaceholderText(spec.help[spec.help.index("empty = "):])
        self.form.changed.connect(self.refresh)
        self.size_label = QLabel("")
        self.size_label.setStyleSheet("color: palette(dark);")
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("Folder for the pretraining run (created if missing)")
        self.output_edit.textChanged.connect(self.refresh)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_output)
        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("Pretraining run folder:"))
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(browse)
        self.reason_label = QLabel("")
        self.reason_label.setWordWrap(True)
        self.reason_label.setStyleSheet("color: #c62828;")
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Start pretraining", QDialogButtonBox.ButtonRole.AcceptRole)
        self.start_button.setDefault(True)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.buttons.accepted.connect(self._start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.form, 1)
        layout.addWidget(self.size_label)
        layout.addLayout(out_row)
        layout.addWidget(self.reason_label)
        layout.addWidget(self.buttons)
        self.resize(560, 560)

    # ---- what the window needs ------------------------------------------------------------------
    @property
    def output_dir(self) -> Path | None:
        text = self.output_edit.text().strip()
        return Path(text).expanduser() if text else None

    def settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(training knobs, synthetic settings) as typed values; empty optional fields are left out
        (the engine's defaults apply: object_size and step from the scan)."""
        values = {k: v for k, v in self.form.values().items() if v is not None}
        synthetic = {k: v for k, v in values.items() if k in self.synthetic_names}
        training = {k: v for k, v in values.items() if k not in self.synthetic_names}
        return training, synthetic

    def prepare(self, probe_scan: str | None, output_dir: Path | None) -> None:
        """Before opening: say whose probe is used and suggest ``<output>/pretrained``."""
        name = Path(probe_scan).name if probe_scan else "the selected scan"
        self.intro.setText(
            f"Pretraining simulates new synthetic objects (lines, random textures, cells) every epoch through the "
            f"probe of <b>{name}</b>, with its pattern size N, photon count and scan step, and trains the network "
            "on them. Afterwards you can start training on your scans from this model (<i>init_model</i>), which "
            "usually needs fewer epochs.<br><br>The model and training settings (N, gridsize, n_filters_scale, "
            "batch size, learning rate, …) are those of the <b>Training parameters</b>, so the pretrained model "
            "fits them; pretraining always starts from random weights and validates on other synthetic objects.")
        suggested = str(output_dir / PRETRAIN_SUBFOLDER) if output_dir is not None else ""
        if not self.output_edit.text().strip() or self.output_edit.text().strip() == self._default_out:
            self.output_edit.setText(suggested)
        self._default_out = suggested
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        values = self.form.values()
        n_objects, per_object = values.get("n_objects"), values.get("groups_per_object")
        epochs = values.get("nepochs")
        if n_objects and per_object:
            total = f"; {epochs} epochs = {n_objects * per_object * epochs:,} groups in all" if epochs else ""
            self.size_label.setText(f"Each epoch: {n_objects} new objects × {per_object} groups = "
                                    f"{n_objects * per_object:,} training groups{total}.")
        reason = self.reason_fn()
        self.start_button.setEnabled(reason is None)
        self.start_button.setToolTip(reason or "Start pretraining in the background (Cancel stops it)")
        self.reason_label.setText(f"Cannot start: {reason}" if reason else "")

    @Slot()
    def _start(self) -> None:
        if self.reason_fn() is None:
            self.start_requested.emit()

    @Slot()
    def _browse_output(self) -> None:
        start = str(self.output_dir.parent if self.output_dir else Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Pretraining run folder", start)
        if folder:
            self.output_edit.setText(folder)
