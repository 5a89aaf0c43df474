"""Item 8: clicking a scan position shows the diffraction pattern measured there."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

pytestmark = pytest.mark.gui


def test_click_on_a_scan_position_selects_its_pattern(qtbot, window):
    views = window.scan_views
    window.tabs.setCurrentWidget(views)
    qtbot.waitUntil(lambda: views.preview is not None)
    preview = views.preview
    views.positions.autoRange()
    qtbot.wait(50)
    # the point farthest from the others' centre: no neighbour under the cursor
    xs, ys = preview.xcoords, preview.ycoords
    target = int(np.argmax((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2))
    assert target != 0
    vb = views.positions.getPlotItem().getViewBox()
    scene = vb.mapViewToScene(QPointF(float(xs[target]), float(ys[target])))
    pos = views.positions.mapFromScene(scene)
    qtbot.mouseClick(views.positions.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: views.slider.value() == target, timeout=3000)
    assert views.index_box.value() == target
    mx, my = views.marker.getData()
    assert (mx[0], my[0]) == (xs[target], ys[target])  # the red ring moved to the clicked point
    intensity = preview.diffraction[target].astype(np.float64) ** 2
    expected = np.log10(intensity + max(intensity.max() * 1e-6, 1e-12))
    shown = views.diffraction.data
    assert shown is not None and np.allclose(shown, expected, atol=1e-4)  # that pattern, not another
    assert not views.select_pattern(preview.diffraction.shape[0] + 5)  # beyond the preview: a note
    assert "not previewed" in views.pattern_note.text()
