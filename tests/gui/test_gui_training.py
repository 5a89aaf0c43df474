"""Train, watch, cancel, fail, reconstruct — the real window on the real engine (tiny data)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from ptycho_engine import api

pytestmark = [pytest.mark.gui, pytest.mark.slow]

RUN_TIMEOUT = 180_000


def _distinct_colours(png: Path) -> int:
    from PySide6.QtGui import QImage

    img = QImage(str(png)).convertToFormat(QImage.Format.Format_RGB32)
    ptr = img.constBits()
    arr = np.frombuffer(ptr, dtype=np.uint32, count=img.width() * img.height())
    return int(np.unique(arr).size)


def test_two_epoch_training_then_inference(qtbot, window, runs, tiny_scans, tmp_path, request, make_window,
                                           monkeypatch):
    # build/ is git-ignored; the PNGs are for people to look at after a run
    shots = Path(request.config.rootpath) / "build" / "gui-screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    before = shots / "main_window_before_run.png"
    assert window.grab().save(str(before))
    assert _distinct_colours(before) > 100

    qtbot.mouseClick(window.train_button, Qt.MouseButton.LeftButton)  # as a user starts a run
    assert window.job is not None, window.train_button.toolTip()
    assert not window.train_button.isEnabled() and window.cancel_button.isEnabled()
    kind, result = runs.wait(qtbot)
    assert kind == "trained", result
    assert result.status == "completed"
    qtbot.waitUntil(lambda: window.job is None, timeout=5_000)

    loss = window.training_views.loss
    assert len(loss.train_points) == 2 and len(loss.val_points) == 2
    x, y = loss.train_curve.getData()
    assert len(x) == 2 and np.all(np.isfinite(y))
    assert len(loss.val_curve.getData()[0]) == 2
    assert [row["epoch"] for row in result.history] == [p[0] for p in loss.train_points]
    amp = window.training_views.images.amplitude.data
    phase = window.training_views.images.phase.data
    assert amp is not None and amp.ndim == 2 and amp.size > 0 and np.isfinite(amp).all()
    assert phase is not None and phase.shape == amp.shape
    assert window.model_dir == Path(result.output_dir)
    assert (window.model_dir / "wts.h5.zip").is_file()
    assert window.config_table.table.rowCount() > 20
    names = [r[0] for r in window.config_table.rows]
    row = window.config_table.rows[names.index("nepochs")]
    assert row[1] == "2" and row[2] == "override"
    assert window.train_button.isEnabled() and not window.cancel_button.isEnabled()
    assert "Finished training" in window.progress_label.text()
    assert any("epoch" in line for line in window.log_pane.lines)

    # reconstruct the second scan with the model just trained
    with qtbot.waitSignal(window.scan_loaded, timeout=20_000):
        window.data_panel.choose(str(tiny_scans[1]))
    assert window.infer_button.isEnabled(), window.infer_button.toolTip()
    window.infer_form.set_texts({"n_groups": "16", "refine_epochs": "3"})
    qtbot.mouseClick(window.infer_button, Qt.MouseButton.LeftButton)
    assert window.job is not None, window.infer_button.toolTip()
    kind, inf = runs.wait(qtbot, 2)
    assert kind == "inferred", inf
    assert inf.refinement is not None and inf.refinement["epochs"] == 3  # the form's value reached the engine
    out = Path(inf.output_dir)
    assert out.parent == window.model_dir / "reconstructions" and out.name.startswith("tiny_test-")
    assert (out / "reconstruction.npz").is_file()
    shown = window.results_view.images.amplitude.data
    assert shown is not None and shown.shape == np.asarray(inf.amplitude).shape
    assert window.results_view.images.phase.data.shape == shown.shape
    assert window.results_view.metrics.rowCount() > 0  # the test scan has ground truth
    table = window.results_view.metrics
    headers = [table.horizontalHeaderItem(i).toolTip() for i in range(table.columnCount())]
    assert "Amplitude (network only)" in headers  # the network's own score is shown beside the refined one
    assert table.horizontalHeaderItem(headers.index("Amplitude (network only)")).text() == "Amp. (net)"
    assert window.results_view.open_button.isEnabled()
    opened_urls: list = []
    monkeypatch.setattr("app.widgets.results_view.QDesktopServices.openUrl", opened_urls.append)
    window.results_view.open_button.click()
    assert [u.toLocalFile() for u in opened_urls] == [str(out)]
    exported = window.results_view.export_images(tmp_path / "export")
    assert len(exported) == 2
    assert all(p.is_file() and p.stat().st_size > 1000 for p in exported)
    assert window.tabs.currentWidget() is window.results_view

    after = shots / "main_window_after_inference.png"
    assert window.grab().save(str(after))
    assert _distinct_colours(after) > 500
    window.tabs.setCurrentWidget(window.training_views)
    after_train = shots / "main_window_training_tab.png"
    assert window.grab().save(str(after_train))
    assert _distinct_colours(after_train) > 500
    window.tabs.setCurrentWidget(window.config_table)
    assert window.grab().save(str(shots / "main_window_configuration_tab.png"))

    # a later session: "Open run…" shows the training run's history, preview and configuration
    train_dir, infer_dir = Path(result.output_dir), out
    later = make_window(data_file=tiny_scans[1], output_dir=tmp_path / "later")
    with qtbot.waitSignal(later.run_opened, timeout=20_000) as opened:
        later.open_run(train_dir)
    assert opened.args[0].path == train_dir
    assert len(later.training_views.loss.train_points) == 2
    assert later.training_views.images.amplitude.data is not None
    assert any(r[0] == "nepochs" and r[1] == "2" for r in later.config_table.rows)
    assert later.model_dir == train_dir  # the run holds wts.h5.zip: ready to reconstruct
    # the training run lists the reconstructions made with it; activating one opens it
    assert later.results_view.reconstruction_folders() == [str(infer_dir)]
    assert not later.results_view.recon_box.isHidden()
    with qtbot.waitSignal(later.run_opened, timeout=20_000) as opened:
        later.results_view.recon_list.itemActivated.emit(later.results_view.recon_list.item(0))
    assert opened.args[0].path == infer_dir
    assert later.results_view.images.phase.data.shape == shown.shape
    assert later.results_view.metrics.rowCount() > 0
    # "Load model…" refuses a folder without a model, in a dialog
    assert later.load_model(tmp_path / "export") is False
    assert "wts.h5.zip" in later.last_error_dialog.informativeText()
    later.last_error_dialog.close()
    assert later.load_model(train_dir) is True and later.infer_button.isEnabled()


def test_cancel_during_training_keeps_window_usable(qtbot, window, runs):
    window.train_form.set_texts({"nepochs": "500"})
    with qtbot.waitSignal(window.epoch_ended, timeout=RUN_TIMEOUT):
        window.start_training()
    window.cancel_run()
    assert runs.wait(qtbot)[0] == "cancelled", runs.events
    qtbot.waitUntil(lambda: window.job is None, timeout=5_000)
    n_done = len(window.training_views.loss.train_points)
    assert 1 <= n_done < 500
    assert "Cancelled" in window.progress_label.text()
    assert window.train_button.isEnabled() and not window.cancel_button.isEnabled()
    assert window.model_dir is not None and (window.model_dir / "wts.h5.zip").is_file()
    cancelled_dir = window.model_dir
    assert json.loads((cancelled_dir / "run_status.json").read_text())["status"] == "cancelled"
    assert "cancelled" in window.output_panel.model_label.text()
    # still usable: a new short run completes, in a new run folder (no question)
    window.train_form.set_texts({"nepochs": "1"})
    assert window.start_training() is True
    kind, result = runs.wait(qtbot, 2)
    assert kind == "trained", runs.events
    assert len(window.training_views.loss.train_points) == 1
    assert Path(result.output_dir) != cancelled_dir and Path(result.output_dir).parent == window.output_dir


def test_overwrite_question_no_keeps_the_run(qtbot, window):
    out = window.output_dir
    out.mkdir(parents=True)
    (out / "history.json").write_text(json.dumps([{"epoch": 0, "train_loss": 1.0}]))
    (out / "reconstructions" / "a-1").mkdir(parents=True)
    (out / "reconstructions" / "a-1" / "reconstruction.npz").write_bytes(b"x")
    window.output_edit.clear()
    window.output_edit.setText(str(out))  # the user points at an existing run on purpose
    assert "replace" in window.output_panel.hint.text()
    assert window.start_training() is False
    box = window.pending_question
    assert box.isVisible() and str(out) in box.text()
    # the question names what would really be replaced, and what is kept
    assert "history.json" in box.informativeText() and "wts.h5.zip" not in box.informativeText()
    assert "1 reconstruction(s)" in box.informativeText()
    box.button(QMessageBox.StandardButton.No).click()
    qtbot.wait(50)
    assert window.job is None and window.train_button.isEnabled()
    assert json.loads((out / "history.json").read_text()) == [{"epoch": 0, "train_loss": 1.0}]


def test_exception_in_worker_shows_error_dialog(qtbot, window, runs, monkeypatch):
    def broken_train(payload, on_event=None, cancel=None):
        raise RuntimeError("simulated engine crash")

    monkeypatch.setattr(api, "train", broken_train)
    window.start_training()
    kind, message = runs.wait(qtbot)
    assert kind == "failed" and "simulated engine crash" in message
    box = window.last_error_dialog
    assert box is not None and box.isVisible()
    assert "Training failed" in box.text()
    assert "simulated engine crash" in box.informativeText()
    assert "Traceback" in box.detailedText() and "broken_train" in box.detailedText()
    box.close()
    assert window.job is None and window.train_button.isEnabled()
    assert any("simulated engine crash" in line for line in window.log_pane.lines)


def test_factory_error_is_reported(qtbot, window, runs):
    window.train_form.set_texts({"N": "128"})  # the scan has N = 64
    window.start_training()
    kind, message = runs.wait(qtbot)
    assert kind == "failed" and "128" in message
    assert window.last_error_dialog.isVisible()
    assert window.train_button.isEnabled()



def test_closing_the_window_during_training_stops_cleanly(qtbot, window, runs):
    window.train_form.set_texts({"nepochs": "500"})
    with qtbot.waitSignal(window.epoch_ended, timeout=RUN_TIMEOUT):
        window.start_training()
    window.close()  # what an operator does when the beam time is up (Ctrl+Q)
    box = window.pending_question
    assert window.isVisible() and box is not None and box.isVisible()
    assert "Training is running" in box.text()
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)  # "Keep running"
    box.button(QMessageBox.StandardButton.No).click()
    qtbot.wait(100)
    assert window.isVisible() and window.job is not None and not window.job.cancel.cancelled
    window.close()
    window.pending_question.button(QMessageBox.StandardButton.Yes).click()  # "Stop and quit"
    assert runs.wait(qtbot)[0] == "cancelled", runs.events
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert window.engine_thread.isFinished() and window.io_thread.isFinished()
    status = json.loads((window.model_dir / "run_status.json").read_text())
    assert status["status"] == "cancelled" and status["epochs_done"] >= 1
