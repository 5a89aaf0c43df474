"""Results you can inspect (issue 13 items 7, 9, 10): read-out, colour levels, linked zoom,
line profile, reset view; network-only / refined / probe / positions views and readable
metrics; phase with its offset removed and masked — the real window on a real inference."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from ptycho_engine import api

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def test_results_can_be_inspected(qtbot, window, runs, tiny_scans, monkeypatch):
    window.train_form.set_texts({"nepochs": "1"})
    window.start_training()
    assert runs.wait(qtbot)[0] == "trained"

    real_infer = api.infer
    probe = (np.ones((64, 64)) * np.exp(1j * 0.3)).astype(np.complex64)

    def infer_with_refined_probe(payload, on_event=None, cancel=None):
        """The lead's refinement adds these attributes; until it lands, add them here."""
        result = real_infer(payload, on_event=on_event, cancel=cancel)
        result.probe_refined = probe
        result.positions_initial = np.array([[40.0, 40.0], [50.0, 45.0]])
        result.positions_refined = np.array([[40.5, 39.8], [50.2, 45.3]])
        return result

    monkeypatch.setattr(api, "infer", infer_with_refined_probe)
    with qtbot.waitSignal(window.scan_loaded, timeout=20_000):
        window.data_panel.choose(str(tiny_scans[1]))
    window.infer_form.set_texts({"n_groups": "16", "refine_epochs": "2"})
    window.start_inference()
    kind, inf = runs.wait(qtbot, 2)
    assert kind == "inferred", inf
    view = window.results_view
    images = view.images

    # item 9: what the engine has, each one view; readable metrics, no key twice
    keys = [view.view_choice.itemData(i) for i in range(view.view_choice.count())]
    assert keys == ["object", "complex", "object_network", "truth", "difference", "probe_refined", "positions"]
    assert view.view_choice.itemText(0) == "Refined object"
    assert view.show_view("truth")  # the test scan's objectGuess, on the region the metrics compared
    region = inf.metrics["region"]["canvas"]
    assert view.images.amplitude.data.shape[0] <= region["row1"] - region["row0"]
    view.show_view("object")
    headers = [view.metrics.horizontalHeaderItem(i).toolTip() for i in range(view.metrics.columnCount())]
    assert headers == ["Measure", "Amplitude (refined)", "Phase (refined)", "Amplitude (network only)",
                       "Phase (network only)"]
    measures = [view.metrics.item(i, 0).text() for i in range(view.metrics.rowCount())]
    assert measures[0] == "SSIM" and len(measures) == len(set(measures))
    assert float(view.metrics.item(0, 1).text()) == pytest.approx(inf.metrics["amplitude"]["ssim"], rel=1e-3)
    # the engine's own refinement record: why it stopped and after how many passes
    assert inf.refinement["stop_reason"] and inf.refinement["passes"] >= 1
    assert f"stopped: {inf.refinement['stop_reason']}" in view.metrics_note.text()
    assert f"{inf.refinement['passes']} passes" in view.metrics_note.text()
    refined_amp = images.amplitude.data.copy()
    assert view.show_view("object_network")
    assert images.amplitude.data.shape == refined_amp.shape and not np.allclose(images.amplitude.data, refined_amp)
    assert view.show_view("probe_refined") and images.amplitude.data.shape == (64, 64)
    assert "Refined probe" in images.amplitude.title
    assert view.show_view("complex") and view.stack.currentWidget() is view.complex_view
    rgb = view.complex_image.image
    assert rgb.shape == inf.object.shape + (3,) and rgb.dtype == np.uint8 and len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50
    assert view.show_view("positions") and view.stack.currentWidget() is view.positions_plot
    assert len(view.positions_plot.listDataItems()) == 2
    view.show_view("object")

    # item 10: phase offset removed on the support, NaN (blank) where the amplitude is negligible
    phase = images.phase.data
    amp = np.abs(inf.object)
    assert np.isnan(phase[amp < 0.01 * amp.max()]).all() and np.isfinite(phase).any()
    finite = np.isfinite(phase)
    assert abs(np.angle(np.sum(amp[finite] * np.exp(1j * phase[finite])))) < 1e-3
    assert "offset removed" in images.phase.title
    view.mask_box.setChecked(False)
    assert np.isfinite(images.phase.data).all()
    view.mask_box.setChecked(True)
    # exports write the data as stored, not the display
    tif = view.export_to(window.output_dir / "x.npz", "npz")[0]
    with np.load(tif) as data:
        assert np.allclose(data["phase"], inf.phase)

    # item 7: linked zoom and pan, reset view
    vb = images.amplitude.plot.getViewBox()
    vb.setRange(xRange=(10, 30), yRange=(10, 30), padding=0)
    a_range, p_range = images.view_ranges()
    assert np.allclose(a_range, p_range) and a_range[0][1] - a_range[0][0] < 40
    images.phase.reset_action.trigger()
    a_range, p_range = images.view_ranges()
    assert np.allclose(a_range, p_range) and a_range[0][1] - a_range[0][0] >= amp.shape[1] - 1

    # read-out under the cursor: pixel position, amplitude, phase
    row, col = np.argwhere(finite)[len(np.argwhere(finite)) // 2]
    scene = vb.mapViewToScene(QPointF(col + 0.5, row + 0.5))
    images.amplitude.scene().sigMouseMoved.emit(scene)
    text = images.readout.text()
    assert text.startswith(f"x {col}, y {row} px") and f"amplitude {images.amplitude.data[row, col]:.4g}" in text
    assert "phase" in text and "rad" in text
    images.pixel_size_m = 10e-9
    assert "(" in images.readout_at(col, row) and "nm" in images.readout_at(col, row)

    # colour levels: dragging the bar sets them by hand (auto off, kept on redraw); auto again fits
    bar = images.amplitude.colorbar
    bar.setLevels((0.1, 0.5))
    bar.sigLevelsChangeFinished.emit(bar)
    assert not images.auto_levels.isChecked()
    view.ramp_box.setChecked(True)  # a redraw
    assert tuple(images.amplitude.image.levels) == pytest.approx((0.1, 0.5))
    images.auto_levels.setChecked(True)
    data = images.amplitude.data
    assert tuple(images.amplitude.image.levels) == pytest.approx((float(np.nanmin(data)), float(np.nanmax(data))))

    # line profile across both images
    images.profile_button.click()
    assert not images.profile_plot.isHidden()
    amp_line, phase_line = images.profile()
    assert amp_line.size > 10 and amp_line.size == phase_line.size
    assert images.profile_amp.getData()[0].size == amp_line.size
