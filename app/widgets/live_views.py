"""Live training views: loss curves per epoch and the current amplitude / phase preview."""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from ..plotting import AMPLITUDE_CMAP, PHASE_CMAP, configure_pyqtgraph
from .image_panel import ImagePanel


class LossPlot(pg.PlotWidget):
    """Train and validation loss per epoch, log-y; one point per EpochEnd."""

    def __init__(self, parent: QWidget | None = None) -> None:
        configure_pyqtgraph()
        super().__init__(parent=parent, title="Loss")
        self.setLogMode(x=False, y=True)
        self.setLabel("bottom", "epoch")
        self.setLabel("left", "loss")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.addLegend(offset=(-10, 10))
        self.train_curve = self.plot(
            [], [], name="train", pen=pg.mkPen("#1f77b4", width=2), symbol="o", symbolSize=6,
            symbolBrush="#1f77b4",
        )
        self.val_curve = self.plot(
            [], [], name="validation", pen=pg.mkPen("#d62728", width=2, style=Qt.PenStyle.DashLine),
            symbol="s", symbolSize=6, symbolBrush="#d62728",
        )
        self.train_points: list[tuple[float, float]] = []
        self.val_points: list[tuple[float, float]] = []

    def clear_history(self) -> None:
        self.train_points.clear()
        self.val_points.clear()
        self._redraw()

    def add_epoch(self, epoch: float, train_loss: float | None, val_loss: float | None) -> None:
        if _plottable(train_loss):
            self.train_points.append((epoch, float(train_loss)))
        if _plottable(val_loss):
            self.val_points.append((epoch, float(val_loss)))
        self._redraw()

    def set_history(self, rows: Iterable[dict[str, Any]]) -> None:
        """Rows as in history.json (epoch, train_loss, val_loss, ...)."""
        self.train_points.clear()
        self.val_points.clear()
        for i, row in enumerate(rows):
            epoch = row.get("epoch", i)
            if _plottable(row.get("train_loss")):
                self.train_points.append((epoch, float(row["train_loss"])))
            if _plottable(row.get("val_loss")):
                self.val_points.append((epoch, float(row["val_loss"])))
        self._redraw()

    def _redraw(self) -> None:
        epochs = sorted({p[0] for p in self.train_points + self.val_points})
        axis = self.getAxis("bottom")
        if 0 < len(epochs) <= 12:  # few epochs: label each one, no fractional ticks
            axis.setTicks([[(e, f"{e:g}") for e in epochs], []])
        else:
            axis.setTicks(None)
        for curve, points in ((self.train_curve, self.train_points), (self.val_curve, self.val_points)):
            if points:
                x, y = zip(*points)
                curve.setData(np.asarray(x, float), np.asarray(y, float))
            else:
                curve.setData([], [])


def _plottable(value: Any) -> bool:
    """Log axes need finite positive values."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(v) and v > 0


class AmpPhaseViews(QWidget):
    """Amplitude (sequential colormap) beside phase (cyclic colormap, fixed ±π)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.amplitude = ImagePanel(f"{title} amplitude", AMPLITUDE_CMAP)
        self.phase = ImagePanel(f"{title} phase (rad)", PHASE_CMAP, levels=(-math.pi, math.pi))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.amplitude)
        layout.addWidget(self.phase)

    def set_images(
        self, amplitude: np.ndarray | None, phase: np.ndarray | None, note: str = ""
    ) -> None:
        suffix = f" — {note}" if note else ""
        self.amplitude.set_title(f"{self.title} amplitude{suffix}")
        self.phase.set_title(f"{self.title} phase (rad){suffix}")
        self.amplitude.set_image(amplitude)
        self.phase.set_image(phase)


class TrainingViews(QWidget):
    """Loss plot above the live preview images."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss = LossPlot()
        self.images = AmpPhaseViews("Preview")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.loss)
        splitter.addWidget(self.images)
        splitter.setSizes([300, 360])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self.preview_epoch: int | None = None
