"""Amplitude beside phase, for inspection: linked zoom/pan, a value read-out under the cursor
(pixels, and physical units when the scan has a pixel size), auto/manual colour levels and a
line profile across both images."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from ..plotting import AMPLITUDE_CMAP, PHASE_CMAP
from .image_panel import ImagePanel


def fmt_length(metres: float) -> str:
    """'12.3 nm', '1.20 µm', '3.4 mm'."""
    for unit, scale in (("nm", 1e-9), ("µm", 1e-6), ("mm", 1e-3)):
        if abs(metres) < 1000 * scale:
            return f"{metres / scale:.3g} {unit}"
    return f"{metres:.3g} m"


#: the line profile's height when it opens (px): enough for a readable y axis
PROFILE_MIN_HEIGHT = 150

class AmpPhaseViews(QWidget):
    """Amplitude (sequential colormap) beside phase (cyclic colormap, fixed ±π)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.stale = False  # the images are a previous run's (a new one is starting)
        self.pixel_size_m: float | None = None  # object pixel size, when the scan says
        self.phase_note = " (rad)"  # e.g. " (rad, offset removed)"
        self.amplitude = ImagePanel(f"{title} amplitude", AMPLITUDE_CMAP, physical=True)
        self.phase = ImagePanel(f"{title} phase (rad)", PHASE_CMAP, levels=(-math.pi, math.pi), physical=True)
        # one zoom and pan for both: the same pixel under the same place in each. Not setXLink /
        # setYLink: those align views by screen position (made for stacked plots) and shift the
        # ranges of side-by-side ones; copying the range is what "linked" means here.
        self._syncing = False
        for src, dst in ((self.amplitude, self.phase), (self.phase, self.amplitude)):
            src.plot.getViewBox().sigRangeChangedManually.connect(lambda *_, a=src, b=dst: self._sync(a, b))
            src.plot.getViewBox().sigRangeChanged.connect(lambda *_, a=src, b=dst: self._sync(a, b))

        self.readout = QLabel("Move the mouse over an image to read its values.")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.auto_levels = QCheckBox("Auto colour levels")
        self.auto_levels.setChecked(True)
        self.auto_levels.setToolTip("Off after you drag a colour bar's ends; on = fit the colours to the data again")
        self.auto_levels.toggled.connect(self._auto_levels_toggled)
        self.profile_button = QPushButton("Line profile")
        self.profile_button.setCheckable(True)
        self.profile_button.setToolTip("Drag the line's ends on the amplitude image; the plot shows both images along it")
        self.profile_button.toggled.connect(self.show_profile)
        for panel in (self.amplitude, self.phase):
            panel.levels_set_by_hand.connect(lambda: self.auto_levels.setChecked(False))
            panel.scene().sigMouseMoved.connect(lambda pos, p=panel: self._mouse_moved(p, pos))

        self.profile_plot = pg.PlotWidget(title="Line profile")
        self.profile_plot.setLabel("bottom", "distance along the line (px)")
        self.profile_plot.addLegend(offset=(-10, 10))
        self.profile_amp = self.profile_plot.plot([], [], name="amplitude", pen=pg.mkPen("#1f77b4", width=2))
        self.profile_phase = self.profile_plot.plot([], [], name="phase (rad)", pen=pg.mkPen("#d62728", width=2))
        self.profile_plot.setMinimumHeight(PROFILE_MIN_HEIGHT)  # squashed, its y axis is unreadable
        self.profile_plot.hide()
        self.roi: pg.LineSegmentROI | None = None

        images = QWidget()
        row = QHBoxLayout(images)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.amplitude)
        row.addWidget(self.phase)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        self._split = split
        split.addWidget(images)
        split.addWidget(self.profile_plot)
        split.setSizes([400, 140])
        tools = QHBoxLayout()
        tools.addWidget(self.readout, 1)
        tools.addWidget(self.auto_levels)
        tools.addWidget(self.profile_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(split, 1)
        layout.addLayout(tools)

    def _sync(self, src: ImagePanel, dst: ImagePanel) -> None:
        """Give ``dst`` the view range of ``src`` (zoom and pan in one image move the other)."""
        if self._syncing or src.data is None or dst.data is None:
            return
        self._syncing = True
        try:
            x, y = src.plot.getViewBox().viewRange()
            dst.plot.getViewBox().setRange(xRange=x, yRange=y, padding=0.0)
        finally:
            self._syncing = False

    def set_pixel_size(self, size_m: float | None) -> None:
        """The scan's object pixel size (None: unknown): axes and read-out in nm / µm, else px."""
        self.pixel_size_m = size_m
        self.amplitude.set_pixel_size(size_m)
        self.phase.set_pixel_size(size_m)

    def view_ranges(self) -> tuple[list[list[float]], list[list[float]]]:
        """(amplitude, phase) view ranges [[x0, x1], [y0, y1]] — equal while linked."""
        return self.amplitude.plot.getViewBox().viewRange(), self.phase.plot.getViewBox().viewRange()

    # ---- images -----------------------------------------------------------------------------
    def set_images(
        self, amplitude: np.ndarray | None, phase: np.ndarray | None, note: str = "", keep_view: bool = False
    ) -> None:
        self.stale = False
        self._set_titles(note)
        self.amplitude.set_image(amplitude, keep_view=keep_view)
        self.phase.set_image(phase, keep_view=keep_view)
        self._update_profile()

    def _set_titles(self, note: str, colour: str | None = None) -> None:
        suffix = f" — {note}" if note else ""
        kw = {"color": colour} if colour else {}
        self.amplitude.set_title(f"{self.title} amplitude{suffix}", **kw)
        self.phase.set_title(f"{self.title} phase{self.phase_note}{suffix}", **kw)

    def mark_stale(self, note: str) -> None:
        """A new run started: the images shown are the previous run's; say so (greyed titles)
        until the new run draws its own."""
        if self.amplitude.data is None and self.phase.data is None:
            return
        self.stale = True
        self._set_titles(f"{note} (a new run is starting)" if note else "", "#888888")

    @Slot(bool)
    def _auto_levels_toggled(self, on: bool) -> None:
        self.amplitude.set_auto_levels(on)
        self.phase.set_auto_levels(on)

    # ---- read-out -------------------------------------------------------------------------------
    def readout_at(self, col: int, row: int) -> str:
        """'x 12, y 40 px (1.2 µm, 4.0 µm) · amplitude 0.83 · phase 0.41 rad' for one pixel."""
        amp, ph = self.amplitude.value_at(col, row), self.phase.value_at(col, row)
        if amp is None and ph is None:
            return ""
        where = f"x {col}, y {row} px"
        if self.pixel_size_m:
            where += f" ({fmt_length(col * self.pixel_size_m)}, {fmt_length(row * self.pixel_size_m)})"
        parts = [where]
        parts.append(f"amplitude {amp:.4g}" if amp is not None else "amplitude —")
        parts.append(f"phase {ph:.3f} rad" if ph is not None else "phase — (masked)")
        return " · ".join(parts)

    def _mouse_moved(self, panel: ImagePanel, pos: QPointF) -> None:
        vb = panel.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        point = vb.mapSceneToView(pos)
        text = self.readout_at(int(math.floor(point.x())), int(math.floor(point.y())))
        if text:
            self.readout.setText(text)

    # ---- line profile ---------------------------------------------------------------------------
    @Slot(bool)
    def show_profile(self, on: bool) -> None:
        """Show (or hide) a line on the amplitude image and the profile of both images along it."""
        if on and self.roi is None:
            data = self.amplitude.data
            h, w = data.shape if data is not None else (10, 10)
            self.roi = pg.LineSegmentROI([[w * 0.2, h / 2], [w * 0.8, h / 2]], pen=pg.mkPen("r", width=2))
            self.amplitude.plot.addItem(self.roi)
            self.roi.sigRegionChanged.connect(self._update_profile)
        if self.roi is not None:
            self.roi.setVisible(on)
        self.profile_plot.setVisible(on)
        if on:  # open with a readable height; the images keep the rest
            total = sum(self._split.sizes()) or 2 * PROFILE_MIN_HEIGHT
            self._split.setSizes([max(total - PROFILE_MIN_HEIGHT, 1), PROFILE_MIN_HEIGHT])
        if self.profile_button.isChecked() != on:
            self.profile_button.setChecked(on)
        self._update_profile()

    def profile(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(amplitude, phase) sampled along the line, or None when there is no line or image."""
        if self.roi is None or self.amplitude.data is None or self.phase.data is None:
            return None
        if self.phase.data.shape != self.amplitude.data.shape:
            return None
        # the line lives on the amplitude image; both images share its pixel grid
        amp = self.roi.getArrayRegion(self.amplitude.data, self.amplitude.image, axes=(0, 1), order=0)
        ph = self.roi.getArrayRegion(self.phase.data, self.amplitude.image, axes=(0, 1), order=0)
        return np.asarray(amp, float), np.asarray(ph, float)

    @Slot()
    def _update_profile(self) -> None:
        if not self.profile_plot.isVisible() and not self.profile_button.isChecked():
            return
        values = self.profile()
        if values is None:
            self.profile_amp.setData([], [])
            self.profile_phase.setData([], [])
            return
        amp, ph = values
        self.profile_amp.setData(np.arange(amp.size, dtype=float), amp, connect="finite")
        self.profile_phase.setData(np.arange(ph.size, dtype=float), ph, connect="finite")
