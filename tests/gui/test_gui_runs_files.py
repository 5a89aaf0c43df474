"""Runs and files (issue 13 items 2–6, 18): where runs and reconstructions go, export formats,
the open-folder fallback, and stale displays — the real window on the real engine (tiny data)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QGuiApplication

from ptycho_engine import api

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def test_runs_reconstructions_export_and_stale_views(qtbot, window, runs, tiny_scans, tmp_path, monkeypatch,
                                                      make_window):
    parent = window.output_dir
    window.train_form.set_texts({"nepochs": "1"})
    assert window.start_training() is True
    assert "tiny_train.npz" in window.progress_label.text()  # which scan is training
    kind, trained = runs.wait(qtbot)
    assert kind == "trained", trained
    model = Path(trained.output_dir)
    assert model.parent == parent and model.name.endswith("-tiny_train")  # a new run folder, by time and scan
    assert json.loads((model / "run_status.json").read_text())["status"] == "completed"

    # an unrelated run under the runs folder stays untouched by inference with this model
    with qtbot.waitSignal(window.scan_loaded, timeout=20_000):
        window.data_panel.choose(str(tiny_scans[1]))
    window.infer_form.set_texts({"n_groups": "16"})
    assert window.start_inference() is True and window.pending_question is None  # nothing replaced: no question
    kind, inf = runs.wait(qtbot, 2)
    assert kind == "inferred", inf
    out = Path(inf.output_dir)
    assert out.parent == model / "reconstructions" and out.name.startswith("tiny_test-")
    assert window.results_view.reconstruction_folders() == [str(out)]

    # export: PNG as shown, TIFF float32, NPY complex, NPZ; a status line names the files
    import tifffile

    view = window.results_view
    pngs = view.export_to(tmp_path / "exp" / "rec.png", "png")
    assert [p.name for p in pngs] == ["rec_amplitude.png", "rec_phase.png"] and all(p.stat().st_size > 1000 for p in pngs)
    tifs = view.export_to(tmp_path / "exp" / "rec.tif", "tif")
    amp = tifffile.imread(tifs[0])
    assert amp.dtype == np.float32 and np.allclose(amp, inf.amplitude)
    npy = view.export_to(tmp_path / "exp" / "rec.npy", "npy")
    assert np.iscomplexobj(np.load(npy[0])) and np.allclose(np.load(npy[0]), inf.object)
    npz = view.export_to(tmp_path / "exp" / "rec.npz", "npz")
    with np.load(npz[0]) as data:
        assert set(data.files) == {"object", "amplitude", "phase"}
    assert str(npz[0]) in window.status_message.text()
    # a folder that cannot be written: an error dialog, nothing claimed
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert view.export_to(blocker / "sub" / "rec.png", "png") == []
    assert view.last_dialog is not None and view.last_dialog.isVisible()
    assert "Export failed" in view.last_dialog.text() and str(blocker) in view.last_dialog.informativeText()
    view.last_dialog.close()

    # open folder where no file manager exists: the path is shown and copied
    monkeypatch.setattr("app.widgets.results_view.QDesktopServices.openUrl", lambda url: False)
    view.open_button.click()
    assert view.last_dialog.isVisible() and str(out) in view.last_dialog.informativeText()
    assert QGuiApplication.clipboard().text() == str(out)
    view.last_dialog.close()

    # stale displays: a new run marks the previous preview; a failed start keeps the loss curve
    loss_before = list(window.training_views.loss.train_points)
    assert loss_before
    with qtbot.waitSignal(window.scan_loaded, timeout=20_000):
        window.data_panel.choose(str(tiny_scans[0]))
    window.train_form.set_texts({"N": "128"})  # the scan has N = 64: the run fails before training
    window.start_training()
    assert window.training_views.images.stale
    assert "previous run" in window.training_views.images.amplitude.title
    kind, message = runs.wait(qtbot, 3)
    assert kind == "failed"
    window.last_error_dialog.close()
    assert window.training_views.loss.train_points == loss_before
    assert window.progress_label.text().startswith("Failed")
    with qtbot.waitSignal(window.scan_loaded, timeout=20_000):  # a new scan: "Failed" goes
        window.data_panel.choose(str(tiny_scans[1]))
    assert not window.progress_label.text().startswith("Failed")
