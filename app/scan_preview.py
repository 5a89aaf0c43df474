"""The few arrays the data panel draws (diffraction stack, probe, positions).

``api.summarize_scan`` validates a file and returns scalars only. The previews need arrays, so
after the engine has accepted the file we read just those keys with ``allow_pickle=False``
(the contract is already checked, so this only needs the key names and the legacy ``diff3d`` /
(N, N, n) layout).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAX_PREVIEW_PATTERNS = 2000  # enough for the slider; keeps memory bounded on huge scans


@dataclass
class ScanPreview:
    """Arrays for display only: copies, safe to hand across threads."""

    diffraction: np.ndarray  # (k, N, N) float32 amplitudes, k <= MAX_PREVIEW_PATTERNS
    probe: np.ndarray  # (N, N) complex
    xcoords: np.ndarray  # (n,)
    ycoords: np.ndarray  # (n,)
    object_guess: np.ndarray | None


def _stack(diff: np.ndarray, n_patterns: int) -> np.ndarray:
    """(n, N, N) view of a diffraction array; legacy (N, N, n) stacks are moved to the front."""
    if diff.ndim == 3 and diff.shape[0] != n_patterns and diff.shape[-1] == n_patterns:
        diff = np.moveaxis(diff, -1, 0)
    return diff


def read_scan_preview(path: Path, summary: Any) -> ScanPreview:
    """Read the preview arrays of a scan the engine has already validated."""
    with np.load(path, allow_pickle=False) as data:
        key = "diffraction" if "diffraction" in data.files else "diff3d"
        diff = _stack(np.asarray(data[key]), int(summary.n_patterns))
        if np.issubdtype(diff.dtype, np.integer):  # counts, as the contract reads them
            diff = np.sqrt(diff[:MAX_PREVIEW_PATTERNS].astype(np.float64))
        probe = np.asarray(data["probeGuess"])
        x = np.asarray(data["xcoords"], dtype=np.float64).ravel()
        y = np.asarray(data["ycoords"], dtype=np.float64).ravel()
        obj = np.asarray(data["objectGuess"]) if "objectGuess" in data.files else None
    return ScanPreview(
        diffraction=np.ascontiguousarray(diff[:MAX_PREVIEW_PATTERNS], dtype=np.float32),
        probe=probe,
        xcoords=x,
        ycoords=y,
        object_guess=obj,
    )
