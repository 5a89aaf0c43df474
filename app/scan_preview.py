"""The few arrays the data panel draws (diffraction stack, probe, positions).

They are cut from the ScanData the engine loaded and validated (``api.load_scan``), so the file
is read once and key aliases, legacy layouts and integer counts are handled by the contract
alone.
"""
from __future__ import annotations

from dataclasses import dataclass
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


def scan_preview(scan: Any) -> ScanPreview:
    """Copies of the arrays to draw, taken from a validated ScanData."""
    return ScanPreview(
        diffraction=np.array(scan.diffraction[:MAX_PREVIEW_PATTERNS], dtype=np.float32),
        probe=np.array(scan.probe),
        xcoords=np.array(scan.xcoords, dtype=np.float64),
        ycoords=np.array(scan.ycoords, dtype=np.float64),
        object_guess=None if scan.object_guess is None else np.array(scan.object_guess),
    )
