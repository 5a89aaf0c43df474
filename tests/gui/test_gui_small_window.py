"""At 1100 × 750 the line profile, the metrics headers and the parameters stay readable."""
from __future__ import annotations

import numpy as np

from app.main_window import PARAMS_MIN_HEIGHT
from app.widgets.amp_phase import PROFILE_MIN_HEIGHT
from ptycho_engine.inference.compare import compare_with_reference


def test_small_window_keeps_profile_metrics_and_form_usable(qtbot, window, tmp_path):
    window.resize(1100, 750)
    truth = window.scan_views.preview.object_guess
    obj = truth[12:92, 10:100] * np.exp(1j * 0.3)
    weight = np.ones(obj.shape, np.float32)
    metrics, _, note = compare_with_reference(obj, weight, 10.0, 12.0, truth)
    assert metrics is not None, note
    metrics["network_only"] = dict(metrics)  # as after refinement: four score columns
    view = window.results_view
    view.show_result(np.abs(obj), np.angle(obj), metrics, tmp_path, obj=obj, extras={"weight": weight})
    window.tabs.setCurrentWidget(view)
    view.images.profile_button.click()
    qtbot.waitUntil(lambda: view.images.profile_plot.isVisible())
    assert view.images.profile_plot.height() >= PROFILE_MIN_HEIGHT
    header = view.metrics.horizontalHeader()
    shown = [view.metrics.horizontalHeaderItem(i).text() for i in range(view.metrics.columnCount())]
    tips = [view.metrics.horizontalHeaderItem(i).toolTip() for i in range(view.metrics.columnCount())]
    assert shown == ["Measure", "Amp.", "Phase", "Amp. (net)", "Phase (net)"]
    assert tips[3] == "Amplitude (network only)"
    metrics_font = header.fontMetrics()
    for i, text in enumerate(shown):  # every header fits its column: nothing is cut
        assert metrics_font.horizontalAdvance(text) < header.sectionSize(i), (text, header.sectionSize(i))
    params = window.params_tabs.parentWidget()
    assert params.height() >= PARAMS_MIN_HEIGHT
    assert not window.train_button.visibleRegion().isEmpty()  # Run stays in view, the inputs scroll
    assert window.grab().save(str(tmp_path / "small.png"))
