"""One image with axes and a colour bar (pyqtgraph raster widgets, no OpenGL).

The colour bar is interactive: dragging its ends sets the levels by hand (``auto_levels`` goes
off); :meth:`set_auto_levels` goes back to fitting the data. NaN pixels (a masked phase) are
drawn blank. Right-click → "Reset view" shows the whole image again.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import QSize, Signal

from ..plotting import configure_pyqtgraph


AXIS_FONT = {"font-size": "8pt"}


def label_axes(plot: pg.PlotItem, pixel_size_m: float | None) -> None:
    """Axes in physical length (nm / µm, chosen by pyqtgraph's SI prefix) when the scan says how
    big an object pixel is; in pixels otherwise. The data stay in pixels: only the labels scale."""
    for side, name in (("bottom", "x"), ("left", "y")):
        axis = plot.getAxis(side)
        if pixel_size_m:
            axis.setScale(pixel_size_m)
            axis.enableAutoSIPrefix(True)
            axis.setLabel(name, units="m", **AXIS_FONT)
        else:
            axis.setScale(1.0)
            axis.enableAutoSIPrefix(False)  # never "kpx"
            axis.setLabel(name, units="px", **AXIS_FONT)


class ImagePanel(pg.GraphicsLayoutWidget):
    """A titled image (row 0 at the top, square pixels) with a fixed-range or auto colour bar.

    ``levels`` fixes the colour range (phase uses (-pi, pi) so colours mean the same angle in every
    update); ``None`` rescales to the data each time, until the user drags the colour bar.
    ``physical``: the image is on the object grid, so its axes are labelled (px, or nm / µm after
    :meth:`set_pixel_size`); a detector image leaves them unlabelled.
    """

    levels_set_by_hand = Signal()

    def __init__(
        self,
        title: str,
        cmap: str = "viridis",
        levels: tuple[float, float] | None = None,
        label: str = "",
        parent=None,
        physical: bool = False,
    ) -> None:
        configure_pyqtgraph()
        super().__init__(parent=parent)
        self.setMinimumSize(QSize(160, 140))
        self._fixed_levels = levels
        self.auto_levels = True
        self.title, self._title_style = title, {}
        self.plot: pg.PlotItem = self.addPlot(title=title)
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.hideButtons()
        self.plot.getAxis("left").setWidth(44)
        self.pixel_size_m: float | None = None
        if physical:
            label_axes(self.plot, None)
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(
            values=levels or (0.0, 1.0),
            colorMap=pg.colormap.get(cmap),
            label=label or None,
            interactive=True,
            width=12,
            rounding=1e-6,
        )
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.colorbar.sigLevelsChangeFinished.connect(self._levels_dragged)
        self.reset_action = self.plot.getViewBox().menu.addAction("Reset view")
        self.reset_action.triggered.connect(self.reset_view)
        self.data: np.ndarray | None = None

    def set_pixel_size(self, size_m: float | None) -> None:
        """Label the axes in nm / µm (object pixel size in metres) or, for None, in pixels."""
        self.pixel_size_m = size_m
        label_axes(self.plot, size_m)

    def set_title(self, title: str, **style: str) -> None:
        """Set the title (``self.title`` keeps it whole; the panel shows it elided to fit)."""
        self.title, self._title_style = title, style
        self.setToolTip(title)
        self._fit_title()

    def _fit_title(self) -> None:
        """Elide the title to the panel's width: pyqtgraph makes a title's full text the plot's
        minimum width, which in a narrow window pushes the colour bar out of sight."""
        label = self.plot.titleLabel
        room = max(self.width() - 60, 40)
        text = self.title
        label.setText(text, **self._title_style)
        while label.item.boundingRect().width() > room and len(text) > 6:
            keep = int(len(text) * room / label.item.boundingRect().width()) - 2
            text = text[: max(5, min(keep, len(text) - 2))].rstrip()
            label.setText(text + "…", **self._title_style)
        label.setMinimumWidth(0)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if getattr(self, "plot", None) is not None:  # not during construction
            self._fit_title()

    def set_image(self, data: np.ndarray | None, keep_view: bool = False) -> None:
        """Show ``data`` (2-D real; NaN = masked, drawn blank); None clears the panel.
        ``keep_view`` keeps the zoom when the shape is unchanged (a new epoch's preview)."""
        if data is None:
            self.data = None
            self.image.clear()
            return
        arr = np.asarray(data, dtype=np.float32)
        finite = np.isfinite(arr)
        if not finite.all():  # inf would break the LUT: show it as NaN (blank)
            arr = np.where(finite, arr, np.nan).astype(np.float32)
        same_shape = self.data is not None and self.data.shape == arr.shape
        self.data = arr
        levels = self._levels_for(arr, finite)
        self.image.setImage(arr, autoLevels=False, levels=levels)
        self.colorbar.setLevels(levels)
        if not (keep_view and same_shape):
            self.reset_view()

    def _levels_for(self, arr: np.ndarray, finite: np.ndarray) -> tuple[float, float]:
        if self._fixed_levels is not None and self.auto_levels:
            return self._fixed_levels
        if not self.auto_levels:
            return tuple(self.colorbar.levels())  # type: ignore[return-value]
        if not finite.any():
            return (0.0, 1.0)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        return (lo, hi if hi > lo else lo + 1e-6)

    def _levels_dragged(self, _bar=None) -> None:
        self.auto_levels = False
        self.levels_set_by_hand.emit()

    def set_auto_levels(self, on: bool) -> None:
        """Fit the colours to the data (or the fixed range) again, or keep the levels set by hand."""
        self.auto_levels = on
        if on and self.data is not None:
            levels = self._levels_for(self.data, np.isfinite(self.data))
            self.image.setLevels(levels)
            self.colorbar.setLevels(levels)

    def reset_view(self) -> None:
        """Show the whole image (the right-click menu's "Reset view")."""
        if self.data is not None:
            h, w = self.data.shape[:2]
            self.plot.getViewBox().setRange(xRange=(0, w), yRange=(0, h), padding=0.0)
        else:
            self.plot.autoRange(padding=0.0)

    def value_at(self, col: int, row: int) -> float | None:
        """The pixel value at (col, row), None outside the image or where masked."""
        if self.data is None or not (0 <= row < self.data.shape[0] and 0 <= col < self.data.shape[1]):
            return None
        v = float(self.data[row, col])
        return v if np.isfinite(v) else None

    def export_png(self, path: str | Path, width: int = 800) -> Path:
        """Save the panel (image, axes, colour bar) as a PNG."""
        path = Path(path)
        exporter = ImageExporter(self.scene())
        exporter.parameters()["width"] = width
        image = exporter.export(toBytes=True)  # a QImage: save it ourselves to learn if it worked
        if image is None or not image.save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        return path
