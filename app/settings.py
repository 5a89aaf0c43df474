"""What the window remembers between sessions (last scans, runs folder, model, overrides, geometry).

Wraps a QSettings passed in by the caller, so tests use an isolated INI file and never touch
the user's real settings. Overrides are stored as JSON text: INI files lose Python types.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings

from ptycho_engine import api

from . import run_folders
from .widgets.overrides_form import OverridesForm
from .widgets.pretrain_dialog import PretrainDialog

if TYPE_CHECKING:  # pragma: no cover
    from PySide6.QtWidgets import QWidget

    from .main_window import MainWindow

ORGANIZATION = "PtychoStudio"
APPLICATION = "Ptycho Studio"


def default_settings() -> QSettings:
    """The user's settings (platform-native location)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


class SessionStore:
    """Typed accessors over a QSettings instance."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self.qsettings = settings if settings is not None else default_settings()

    def _path(self, key: str) -> Path | None:
        value = self.qsettings.value(key, "")
        return Path(str(value)) if value else None

    def _set(self, key: str, value: object) -> None:
        self.qsettings.setValue(key, "" if value is None else str(value))

    @property
    def data_file(self) -> Path | None:
        return self._path("session/data_file")

    @data_file.setter
    def data_file(self, value: Path | None) -> None:
        self._set("session/data_file", value)

    @property
    def data_files(self) -> list[Path]:
        """Every training scan of the last session (the first is ``data_file``'s usual value)."""
        text = self.qsettings.value("session/data_files", "")
        try:
            data = json.loads(str(text)) if text else []
        except json.JSONDecodeError:
            return []
        return [Path(str(p)) for p in data if p] if isinstance(data, list) else []

    @data_files.setter
    def data_files(self, value: list[Path]) -> None:
        self.qsettings.setValue("session/data_files", json.dumps([str(p) for p in value]))

    @property
    def validation_file(self) -> Path | None:
        return self._path("session/validation_file")

    @validation_file.setter
    def validation_file(self, value: Path | None) -> None:
        self._set("session/validation_file", value)

    @property
    def output_dir(self) -> Path | None:
        return self._path("session/output_dir")

    @output_dir.setter
    def output_dir(self, value: Path | None) -> None:
        self._set("session/output_dir", value)

    @property
    def model_dir(self) -> Path | None:
        return self._path("session/model_dir")

    @model_dir.setter
    def model_dir(self, value: Path | None) -> None:
        self._set("session/model_dir", value)

    def overrides(self, kind: str) -> dict[str, str]:
        text = self.qsettings.value(f"overrides/{kind}", "")
        try:
            data = json.loads(str(text)) if text else {}
        except json.JSONDecodeError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def set_overrides(self, kind: str, texts: dict[str, str]) -> None:
        self.qsettings.setValue(f"overrides/{kind}", json.dumps(texts, sort_keys=True))

    def backend(self, kind: str) -> str:
        """The engine last chosen for ``kind`` ('train' / 'infer'); '' when never chosen."""
        return str(self.qsettings.value(f"backend/{kind}", "") or "")

    def set_backend(self, kind: str, value: str) -> None:
        self.qsettings.setValue(f"backend/{kind}", value)

    def geometry(self) -> bytes | None:
        value = self.qsettings.value("window/geometry")
        return bytes(value) if value else None

    def set_geometry(self, value: bytes) -> None:
        self.qsettings.setValue("window/geometry", value)

    def sync(self) -> None:
        self.qsettings.sync()


def keep_on_screen(window: "QWidget") -> None:
    """A saved geometry from another screen (or another scaling) must not open larger than, or
    outside, the screen the window is on now: shrink it to the available area and move it in."""
    screen = window.screen()
    if screen is None:
        return
    area = screen.availableGeometry()
    frame = window.frameGeometry()
    extra_w, extra_h = frame.width() - window.width(), frame.height() - window.height()
    w = min(window.width(), area.width() - extra_w)
    h = min(window.height(), area.height() - extra_h)
    if (w, h) != (window.width(), window.height()):
        window.resize(max(w, 400), max(h, 300))
    frame = window.frameGeometry()
    x = max(area.x(), min(frame.x(), area.right() - frame.width() + 1))  # the top-left corner stays visible
    y = max(area.y(), min(frame.y(), area.bottom() - frame.height() + 1))
    if (x, y) != (frame.x(), frame.y()):
        window.move(x, y)


def restore_session(window: "MainWindow", data_file: str | Path | None, output_dir: str | Path | None,
                    default_output: Path) -> None:
    """Put back the last session: forms, model, geometry (kept on the current screen), runs
    folder and scans; ``data_file`` / ``output_dir`` (command line) win over the saved ones."""
    s = window.session
    if isinstance(window.train_form, OverridesForm):
        saved = s.overrides("training")
        window.train_form.set_texts(saved)
        first_launch = not saved and s.data_file is None and data_file is None
        if first_launch and api.demo_preset_path().is_file():
            window.apply_preset(api.demo_preset_path())  # Train on the demo finishes in minutes
    if isinstance(window.infer_form, OverridesForm):
        window.infer_form.set_texts(s.overrides("inference"))
    if isinstance(window.pretrain_dialog, PretrainDialog):
        window.pretrain_dialog.form.set_texts(s.overrides("pretraining"))
    for kind, chooser in window.backends.items():
        chooser.set_value(s.backend(kind))  # refused (PyTorch stays) when TensorFlow is gone
    model = s.model_dir
    if model is not None and (model / "wts.h5.zip").is_file():
        window.set_model_dir(model)
    geometry = s.geometry()
    if geometry:
        window.restoreGeometry(geometry)
        keep_on_screen(window)
    out = output_dir or s.output_dir or default_output
    if output_dir is None and run_folders.holds_run(Path(out)):
        out = Path(out).parent  # an older session remembered a run: new runs go beside it
    window.output_edit.setText(str(out))
    if data_file is None:  # the last session's scans, when they are all still there
        files = s.data_files
        if files and all(f.exists() for f in files):
            validation = s.validation_file
            if validation is not None and validation.exists() and validation not in files:
                window.set_validation_file(validation)
            window.set_data_files([str(f) for f in files])
            return
    data = data_file or s.data_file
    if data is None or not Path(data).exists():
        data = data_file or api.demo_dataset_path()
    window.set_data_file(str(data))


def save_session(window: "MainWindow") -> None:
    """Remember the scans (only accepted ones), runs folder, form texts and geometry."""
    s = window.session
    if window.output_dir is not None:
        s.output_dir = window.output_dir
    entries = window.data_panel.train_entries
    if entries and all(e.summary is not None for e in entries):  # never remember a refused file
        s.data_file = Path(entries[0].path)
        s.data_files = [Path(e.path) for e in entries]
    validation = window.data_panel.validation_entry
    s.validation_file = Path(validation.path) if validation is not None and validation.summary is not None else None
    if isinstance(window.train_form, OverridesForm):
        s.set_overrides("training", window.train_form.texts())
    if isinstance(window.pretrain_dialog, PretrainDialog):
        s.set_overrides("pretraining", window.pretrain_dialog.form.texts())
    if isinstance(window.infer_form, OverridesForm):
        s.set_overrides("inference", window.infer_form.texts())
    for kind, chooser in window.backends.items():
        s.set_backend(kind, chooser.value())
    s.set_geometry(bytes(window.saveGeometry()))
    s.sync()
