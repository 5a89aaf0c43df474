"""Reading a finished run directory back (history, configuration, images) without torch.

The GUI uses this to reopen an earlier run; it reads JSON and NPZ files only, never pickles.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ARCHIVE_NAME = "wts.h5.zip"


@dataclass
class RunRecord:
    """What a run directory holds; any part may be missing (e.g. an inference-only run)."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    preview: dict[str, np.ndarray] = field(default_factory=dict)
    reconstruction: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None

    @property
    def archive_path(self) -> Path | None:
        candidate = self.path / ARCHIVE_NAME
        return candidate if candidate.is_file() else None

    @property
    def is_empty(self) -> bool:
        return not (self.config or self.history or self.preview or self.reconstruction or self.archive_path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not readable JSON ({exc})") from exc


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable NPZ file ({exc})") from exc


def load_run(run_dir: str | Path) -> RunRecord:
    """Read what a training or inference run left in ``run_dir``."""
    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"Run directory not found: {path}")
    # A training run writes config.json; an inference run writes inference_config.json.
    config = _read_json(path / "config.json") or _read_json(path / "inference_config.json") or {}
    return RunRecord(
        path=path,
        config=config,
        history=_read_json(path / "history.json") or [],
        preview=_read_npz(path / "preview.npz"),
        reconstruction=_read_npz(path / "reconstruction.npz"),
        metrics=_read_json(path / "metrics.json"),
    )
