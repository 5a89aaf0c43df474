"""Previews of the selected scan: one diffraction pattern (slider), the probe, the positions."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSlider, QSpinBox, QWidget

from ..plotting import INTENSITY_CMAP, PHASE_CMAP, configure_pyqtgraph
from ..scan_preview import ScanPreview
from ..units import point_text
from .image_panel import ImagePanel, label_axes


class ScanViews(QWidget):
    """2×2 grid: diffraction pattern (log10 counts-like scale) with a slider, probe amplitude,
    probe phase, and the scan positions as a scatter (object pixels, y down like the images)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        configure_pyqtgraph()
        super().__init__(parent)
        self.diffraction = ImagePanel("Diffraction pattern (log₁₀ intensity)", INTENSITY_CMAP)
        self.probe_amp = ImagePanel("Probe amplitude", "viridis", physical=True)
        self.probe_phase = ImagePanel("Probe phase (rad)", PHASE_CMAP, levels=(-np.pi, np.pi), physical=True)
        self.positions = pg.PlotWidget(title="Scan positions")
        self.positions.setMinimumSize(160, 140)
        self.positions.setAspectLocked(True)
        self.positions.invertY(True)
        label_axes(self.positions.getPlotItem(), None)
        self.positions.showGrid(x=True, y=True, alpha=0.2)
        self.scatter = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(30, 100, 200, 180))
        self.scatter.sigClicked.connect(self._point_clicked)
        self.positions.addItem(self.scatter)
        self.positions.setToolTip("Click a scan position to show its diffraction pattern")
        self.marker = pg.ScatterPlotItem(size=11, pen=pg.mkPen("r", width=2), brush=None)
        self.positions.addItem(self.marker)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.index_box = QSpinBox()
        self.index_box.setEnabled(False)
        self.slider.valueChanged.connect(self.index_box.setValue)
        self.index_box.valueChanged.connect(self.slider.setValue)
        self.slider.valueChanged.connect(self._show_pattern)
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Pattern"))
        slider_row.addWidget(self.slider, 1)
        slider_row.addWidget(self.index_box)
        self.pattern_note = QLabel("")  # where the shown pattern was measured
        slider_row.addWidget(self.pattern_note)

        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addWidget(self.diffraction, 0, 0)
        grid.addWidget(self.positions, 0, 1)
        grid.addLayout(slider_row, 1, 0)
        grid.addWidget(self.probe_amp, 2, 0)
        grid.addWidget(self.probe_phase, 2, 1)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(2, 1)
        self.preview: ScanPreview | None = None
        self.pixel_size_m: float | None = None  # object pixel size, for the pattern's position

    def set_pixel_size(self, size_m: float | None) -> None:
        """Probe and positions on the object grid: axes in nm / µm when the scan says how big
        its pixels are (the diffraction pattern is in detector pixels and stays unlabelled)."""
        self.pixel_size_m = size_m
        for panel in (self.probe_amp, self.probe_phase):
            panel.set_pixel_size(size_m)
        label_axes(self.positions.getPlotItem(), size_m)

    def set_preview(self, preview: ScanPreview | None) -> None:
        self.preview = preview
        if preview is None:
            for panel in (self.diffraction, self.probe_amp, self.probe_phase):
                panel.set_image(None)
            self.scatter.clear()
            self.marker.clear()
            self.slider.setEnabled(False)
            self.index_box.setEnabled(False)
            return
        n = preview.diffraction.shape[0]
        for w in (self.slider, self.index_box):
            w.blockSignals(True)
            w.setRange(0, max(n - 1, 0))
            w.setValue(0)
            w.setEnabled(n > 1)
            w.blockSignals(False)
        self.probe_amp.set_image(np.abs(preview.probe))
        self.probe_phase.set_image(np.angle(preview.probe))
        self.scatter.setData(preview.xcoords, preview.ycoords)
        self._show_pattern(0)
        self.positions.autoRange()

    @Slot(int)
    def _show_pattern(self, index: int) -> None:
        if self.preview is None or self.preview.diffraction.shape[0] == 0:
            return
        intensity = self.preview.diffraction[index].astype(np.float64) ** 2
        floor = max(float(intensity.max()) * 1e-6, 1e-12)  # 6 decades, whatever the scale
        self.diffraction.set_image(np.log10(intensity + floor))
        if index < self.preview.xcoords.size:
            x, y = self.preview.xcoords[index], self.preview.ycoords[index]
            self.marker.setData([x], [y])
            self.pattern_note.setText("at " + point_text(float(x), float(y), self.pixel_size_m))

    def _point_clicked(self, _item: pg.ScatterPlotItem, points, _event=None) -> None:
        """A click on a scan position shows the pattern measured there (the nearest point hit)."""
        if self.preview is None or len(points) == 0:
            return
        self.select_pattern(int(points[0].index()))

    def select_pattern(self, index: int) -> bool:
        """Show pattern ``index``; False (and a note) when it is beyond the previewed patterns."""
        if self.preview is None:
            return False
        n = self.preview.diffraction.shape[0]
        if not 0 <= index < n:
            self.pattern_note.setText(f"pattern {index} is not previewed (the first {n} are)")
            return False
        self.slider.setValue(index)
        return True
