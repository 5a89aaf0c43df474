"""Live-view plumbing: preview throttling and Python logging forwarded from worker threads."""
from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

from ptycho_engine.events import EpochEnd, Preview

pytestmark = pytest.mark.gui


def test_previews_are_coalesced_and_the_newest_is_drawn(qtbot, window):
    shown: list[int] = []
    window.preview_shown.connect(shown.append)
    for epoch in range(1, 21):  # a burst, faster than the redraw interval
        amp = np.full((24, 30), float(epoch), np.float32)
        window._on_preview(Preview(epoch, amp, np.zeros((24, 30), np.float32)))
    qtbot.waitUntil(lambda: bool(shown), timeout=2_000)
    qtbot.wait(400)
    assert shown == [20]  # one redraw, of the newest preview
    assert window.training_views.images.amplitude.data.shape == (24, 30)
    assert float(window.training_views.images.amplitude.data.max()) == 20.0
    assert "epoch 20" in window.training_views.images.amplitude.title


def test_epoch_end_adds_one_point_per_curve(window):
    loss = window.training_views.loss
    window._on_epoch(EpochEnd(1, 3, 2.0, 1.5, 1e-3, 0.1))
    window._on_epoch(EpochEnd(2, 3, 1.0, None, 1e-3, 0.2))  # no validation this epoch
    assert loss.train_points == [(1, 2.0), (2, 1.0)] and loss.val_points == [(1, 1.5)]
    assert loss.plotItem.ctrl.logYCheck.isChecked()


def test_engine_logging_from_a_thread_reaches_the_log_pane(qtbot, window):
    def work() -> None:
        logging.getLogger("ptycho_engine.test").warning("hello from a worker thread")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: any("hello from a worker thread" in l for l in window.log_pane.lines), timeout=2_000)
    assert any("WARNING" in l and "ptycho_engine.test" in l for l in window.log_pane.lines)
