"""Live training views: loss curves per epoch and the current amplitude / phase preview."""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from ..plotting import configure_pyqtgraph
from .amp_phase import AmpPhaseViews


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
        values = [p[1] for p in self.train_points + self.val_points]
        left = self.getAxis("left")
        if values:
            lo, hi = log_range(min(values), max(values))
            left.setTicks([[(math.log10(v), f"{v:.3g}") for v in loss_ticks(lo, hi)], []])
            self.setYRange(math.log10(lo), math.log10(hi), padding=0)
            if epochs:
                span = max(epochs[-1] - epochs[0], 1)
                self.setXRange(epochs[0] - 0.05 * span - 0.3, epochs[-1] + 0.05 * span + 0.3, padding=0)
        else:
            left.setTicks(None)
            self.enableAutoRange()
        for curve, points in ((self.train_curve, self.train_points), (self.val_curve, self.val_points)):
            if points:
                x, y = zip(*points)
                curve.setData(np.asarray(x, float), np.asarray(y, float))
            else:
                curve.setData([], [])


def log_range(lo: float, hi: float) -> tuple[float, float]:
    """A y range around [lo, hi] on a log axis: at least a factor 2 tall, a little margin."""
    lo_l, hi_l = math.log10(lo), math.log10(hi)
    mid, half = (lo_l + hi_l) / 2, max((hi_l - lo_l) / 2 * 1.1, 0.16)
    return 10 ** (mid - half), 10 ** (mid + half)


def loss_ticks(lo: float, hi: float, most: int = 7) -> list[float]:
    """Labelled ticks inside [lo, hi]: 1-2-5 steps per decade, finer (1..9) when that gives too
    few, and never more than ``most`` (the log axis alone leaves a narrow range unlabelled)."""
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    for mantissas in ((1.0,), (1.0, 2.0, 5.0), tuple(float(m) for m in range(1, 10))):
        ticks = [m * 10.0**k for k in range(k0, k1 + 1) for m in mantissas if lo <= m * 10.0**k <= hi]
        if len(ticks) >= 3:
            break
    if len(ticks) < 2:  # a very narrow range: label its ends and middle
        ticks = [lo * (hi / lo) ** f for f in (0.1, 0.5, 0.9)]
    step = max(1, math.ceil(len(ticks) / most))
    return ticks[::step]


def _plottable(value: Any) -> bool:
    """Log axes need finite positive values."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(v) and v > 0


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
