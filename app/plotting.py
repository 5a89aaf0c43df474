"""Global pyqtgraph look, set once before any plot widget exists."""
from __future__ import annotations

import pyqtgraph as pg

_done = False


def configure_pyqtgraph() -> None:
    """Row-major images (numpy's [row, col]), white background, raster only (no OpenGL)."""
    global _done
    if _done:
        return
    pg.setConfigOptions(
        imageAxisOrder="row-major", background="w", foreground="k", antialias=True, useOpenGL=False
    )
    _done = True


AMPLITUDE_CMAP = "viridis"
PHASE_CMAP = "CET-C1"  # cyclic: -pi and +pi get the same colour
INTENSITY_CMAP = "inferno"
