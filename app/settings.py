"""What the window remembers between sessions (last scans, output folder, model, overrides).

Wraps a QSettings passed in by the caller, so tests use an isolated INI file and never touch
the user's real settings. Overrides are stored as JSON text: INI files lose Python types.
"""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings

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

    def geometry(self) -> bytes | None:
        value = self.qsettings.value("window/geometry")
        return bytes(value) if value else None

    def set_geometry(self, value: bytes) -> None:
        self.qsettings.setValue("window/geometry", value)

    def sync(self) -> None:
        self.qsettings.sync()
