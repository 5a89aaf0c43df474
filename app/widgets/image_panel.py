"""One image with axes and a colour bar (pyqtgraph raster widgets, no OpenGL)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import QSize

from ..plotting import configure_pyqtgraph


class ImagePanel(pg.GraphicsLayoutWidget):
    """A titled image (row 0 at the top, square pixels) with a fixed-range or auto colour bar.

    ``levels`` fixes the colour range (phase uses (-pi, pi) so colours mean the same angle in every
    update); ``None`` rescales to the data each time.
    """

    def __init__(
        self,
        title: str,
        cmap: str = "viridis",
        levels: tuple[float, float] | None = None,
        label: str = "",
        parent=None,
    ) -> None:
        configure_pyqtgraph()
        super().__init__(parent=parent)
        self.setMinimumSize(QSize(160, 140))
        self._fixed_levels = levels
        self.plot: pg.PlotItem = self.addPlot(title=title)
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.hideButtons()
        self.plot.getAxis("left").setWidth(36)
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(
            values=levels or (0.0, 1.0),
            colorMap=pg.colormap.get(cmap),
            label=label or None,
            interactive=False,
            width=12,
        )
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.data: np.ndarray | None = None

    def set_title(self, title: str) -> None:
        self.plot.setTitle(title)

    def set_image(self, data: np.ndarray | None) -> None:
        """Show ``data`` (2-D real); None clears the panel."""
        if data is None:
            self.data = None
            self.image.clear()
            return
        arr = np.asarray(data, dtype=np.float32)
        finite = np.isfinite(arr)
        if not finite.all():  # NaN/inf would break the LUT; show them as the minimum
            arr = np.where(finite, arr, np.nanmin(arr[finite]) if finite.any() else 0.0)
        self.data = arr
        if self._fixed_levels is not None:
            levels = self._fixed_levels
        else:
            lo, hi = float(arr.min()), float(arr.max())
            levels = (lo, hi if hi > lo else lo + 1e-6)
        self.image.setImage(arr, autoLevels=False, levels=levels)
        self.colorbar.setLevels(levels)
        self.plot.autoRange(padding=0.0)

    def export_png(self, path: str | Path, width: int = 800) -> Path:
        """Save the panel (image, axes, colour bar) as a PNG."""
        path = Path(path)
        exporter = ImageExporter(self.scene())
        exporter.parameters()["width"] = width
        exporter.export(str(path))
        return path
