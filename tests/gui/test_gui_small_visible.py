"""Small but visible (issue 13 items 16, 17): the progress line ticks every second and says
'remaining', and the loss plot labels its axes with few points — the real window."""
from __future__ import annotations

import math
import time

import pytest

from ptycho_engine import api
from ptycho_engine.events import CancelledError, StepProgress

pytestmark = [pytest.mark.gui]


def test_progress_line_ticks_between_steps(qtbot, window, runs, monkeypatch):
    """One engine step, then nothing for seconds (a slow batch): the line must still move."""

    def slow_train(payload, on_event=None, cancel=None):
        on_event(StepProgress(epoch=1, step=1, total_steps=10, elapsed_s=3.0, eta_s=30.0))
        while not cancel.cancelled:
            time.sleep(0.05)
        raise CancelledError("cancelled")

    monkeypatch.setattr(api, "train", slow_train)
    window.start_training()
    qtbot.waitUntil(lambda: "step 1/10" in window.progress_label.text(), timeout=60_000)
    first = window.progress_label.text()
    assert "remaining 0:" in first and "ETA" not in first and "tiny_train.npz" in first
    qtbot.waitUntil(lambda: window.progress_label.text() != first, timeout=2_500)  # ticks without a step
    later = window.progress_label.text()
    assert "elapsed 0:0" in later and "remaining 0:2" in later  # counts down from 0:30
    import gc

    # during a run, cycles are collected by a GUI-thread timer, never by the engine thread
    assert not gc.isenabled() and window.runner.collector.timer.isActive()
    window.cancel_run()
    assert runs.wait(qtbot)[0] == "cancelled"
    assert gc.isenabled() and not window.runner.collector.timer.isActive()
    assert not window.run_panel.ticker.isActive()


def test_loss_plot_labels_with_one_and_two_epochs(qtbot, window):
    loss = window.training_views.loss
    loss.add_epoch(1, 0.83, 0.61)
    ticks = loss.getAxis("left")._tickLevels
    labels = [text for _, text in ticks[0]]
    assert len(labels) >= 2  # a range under a decade still gets labelled values
    (y0, y1) = loss.getViewBox().viewRange()[1]
    assert y0 < math.log10(0.61) < math.log10(0.83) < y1 and y1 - y0 >= math.log10(2) - 1e-9
    (x0, x1) = loss.getViewBox().viewRange()[0]
    assert x0 < 1 < x1
    loss.add_epoch(2, 0.5, 0.45)
    assert [t for _, t in loss.getAxis("bottom")._tickLevels[0]] == ["1", "2"]


def test_saved_geometry_is_restored_within_the_screen(qtbot, make_window, tiny_scans, tmp_path):
    first = make_window(data_file=tiny_scans[0], output_dir=tmp_path / "runs")
    area = first.screen().availableGeometry()
    first.resize(area.width() + 900, area.height() + 600)  # saved on a bigger screen
    first.move(area.x() + 2000, area.y() + 1500)
    first.close()
    again = make_window(data_file=tiny_scans[0], output_dir=tmp_path / "runs")
    area = again.screen().availableGeometry()
    frame = again.frameGeometry()
    least = again.minimumSizeHint()  # the layout cannot be smaller than this (the offscreen screen is 800²)
    assert again.width() <= max(area.width(), least.width()) and again.height() <= max(area.height(), least.height())
    assert again.width() < area.width() + 900 and area.contains(again.geometry().topLeft())


def test_colour_bars_are_not_clipped_at_1100_by_750(qtbot, window, tmp_path):
    """Long titles ('… phase (rad, offset removed) — …') must not push a colour bar out of view."""
    import numpy as np
    from pathlib import Path

    window.resize(1100, 750)
    yy, xx = np.mgrid[:120, :120]
    obj = (1 + 0.3 * np.sin(xx / 7)) * np.exp(1j * np.cos(yy / 9))
    window.results_view.show_result(np.abs(obj), np.angle(obj), {}, Path(tmp_path), obj=obj, extras={})
    window.results_view.images.mark_stale("previous reconstruction")  # what Infer's start shows
    window.training_views.images.set_images(np.abs(obj), np.angle(obj), "epoch 12 of a long run name")
    for tab, panels in ((window.results_view, window.results_view.images),
                        (window.training_views, window.training_views.images)):
        window.tabs.setCurrentWidget(tab)
        qtbot.wait(150)
        for panel in (panels.amplitude, panels.phase):
            bar = panel.mapFromScene(panel.colorbar.sceneBoundingRect()).boundingRect()
            in_window = bar.translated(panel.mapTo(window, bar.topLeft()) - bar.topLeft())
            assert panel.rect().contains(bar) and window.rect().contains(in_window), (panel.title, in_window)
            # pyqtgraph makes a title's text width the plot's minimum width: it must fit the panel
            assert panel.plot.titleLabel.minimumWidth() <= panel.width() - 20, panel.title
            assert "…" in panel.plot.titleLabel.text or panel.title == panel.plot.titleLabel.text
    assert "offset removed" in window.results_view.images.phase.title  # the whole title is kept
