"""Pretraining on synthetic objects from the window, and 'Start from' (init_model)."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from ptycho_engine import api

pytestmark = pytest.mark.gui

RUN_TIMEOUT = 180_000
TINY_PRETRAIN = {"nepochs": "1", "n_objects": "2", "groups_per_object": "4", "object_size": "96"}


@pytest.mark.slow
def test_pretrain_then_train_from_it(qtbot, window, runs, tiny_scans):
    dialog = window.pretrain_dialog
    qtbot.mouseClick(window.run_panel.pretrain_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert tiny_scans[0].name in dialog.intro.text()  # whose probe is used
    assert dialog.output_dir == window.output_dir / "pretrained"
    assert set(dialog.form.editors) >= {f.name for f in api.pretraining_fields()} | {"nepochs"}
    dialog.form.set_texts(TINY_PRETRAIN)
    assert "2 new objects × 4 groups = 8 training groups" in dialog.size_label.text()
    assert dialog.start_button.isEnabled(), dialog.start_button.toolTip()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert window.job is not None and window.job.kind == "pretrain" and not dialog.isVisible()
    assert window.job.synthetic == {"n_objects": 2, "groups_per_object": 4, "object_size": 96,
                                    "object_kinds": "lines,grf,cells", "shuffle_objects": 4}
    assert window.job.overrides["nepochs"] == 1 and "n_groups" not in window.job.overrides
    assert window.job.overrides["batch_size"] == 8  # the Training parameters apply
    assert window.cancel_button.isEnabled() and not window.train_button.isEnabled()

    kind, result = runs.wait(qtbot, timeout=RUN_TIMEOUT)
    assert kind == "pretrained", result
    out = dialog.output_dir
    assert Path(result.output_dir) == out and (out / "wts.h5.zip").is_file()
    assert len(window.training_views.loss.train_points) == 1  # the live loss curve
    assert "Finished pretraining" in window.progress_label.text()
    assert window.last_payload.synthetic.n_objects == 2
    assert any(r[0] == "synthetic.n_objects" and r[1] == "2" for r in window.config_table.rows)
    assert any("pretraining on synthetic objects" in line for line in window.log_pane.lines)

    # the offer to start training from it; accepting sets init_model to the run folder
    box = window.pending_question
    assert box is not None and box.isVisible() and str(out) in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    assert window.train_form.editor("init_model").value() == str(out)
    assert window.train_form.overrides()["init_model"] == str(out)
    chooser = window.init_model_chooser
    assert chooser.mode() == "folder" and chooser.combo.currentText() == "A model folder…"
    assert "wts.h5.zip" in chooser.status.text() and chooser.problem() is None

    # ... and training starts from those weights
    window.train_form.set_texts({"nepochs": "1"})
    assert window.start_training(), window.train_button.toolTip()
    kind, trained = runs.wait(qtbot, 2, timeout=RUN_TIMEOUT)
    assert kind == "trained", trained
    assert any("starting from the network weights of" in line and str(out) in line for line in window.log_pane.lines)


def test_start_from_choice_maps_to_init_model(qtbot, window, tmp_path, monkeypatch):
    chooser = window.init_model_chooser
    editor = window.train_form.editor("init_model")
    assert chooser.mode() == "scratch" and "init_model" not in window.train_form.overrides()
    assert not editor.widget.isVisibleTo(window) and "random weights" in chooser.status.text()

    # nothing in resources/pretrained: the choice is greyed out and says why
    monkeypatch.setenv("PTYCHO_STUDIO_RESOURCES", str(tmp_path / "resources"))
    chooser.sync()
    shipped = chooser.combo.model().item(1)
    assert not shipped.isEnabled() and "Not installed" in shipped.toolTip()
    chooser.set_mode("shipped")  # e.g. from an older session: refused before Train, in the engine's words
    assert editor.value() == "shipped" and window.train_form.overrides()["init_model"] == "shipped"
    assert not window.train_button.isEnabled() and "no pretrained model is shipped" in window.train_button.toolTip()
    # once a model is installed there, it can be chosen
    (tmp_path / "resources" / "pretrained").mkdir(parents=True)
    (tmp_path / "resources" / "pretrained" / "wts.h5.zip").write_bytes(b"")
    chooser.sync()
    assert shipped.isEnabled() and chooser.problem() is None and window.train_button.isEnabled()

    # a folder: picked in a dialog (here a fake one), shown in the path box
    run = tmp_path / "some-run"
    run.mkdir()
    picked: list[str] = [str(run)]
    monkeypatch.setattr("app.widgets.init_model_chooser.QFileDialog.getExistingDirectory",
                        lambda *a, **k: picked.pop() if picked else "")
    chooser.combo.activated.emit(2)
    assert editor.value() == str(run) and chooser.mode() == "folder" and editor.widget.isVisibleTo(window)
    assert "holds no wts.h5.zip" in chooser.status.text() and not window.train_button.isEnabled()
    (run / "wts.h5.zip").write_bytes(b"")
    editor.widget.setText(str(run / "wts.h5.zip"))  # typed or pasted paths work the same (here the archive)
    assert chooser.problem() is None and window.train_button.isEnabled()
    assert window.train_form.overrides()["init_model"] == str(run / "wts.h5.zip")
    chooser.set_folder(run)
    assert window.train_form.overrides()["init_model"] == str(run) and window.train_button.isEnabled()
    chooser.combo.activated.emit(2)  # dialog cancelled: the folder stays
    assert editor.value() == str(run)

    chooser.combo.activated.emit(0)
    assert editor.value() is None and "init_model" not in window.train_form.overrides()
    assert chooser.combo.currentIndex() == 0 and not editor.widget.isVisibleTo(window)
    chooser.combo.activated.emit(1)
    assert window.train_form.overrides()["init_model"] == "shipped"


def test_pretrain_needs_a_valid_scan_and_reports_failures(qtbot, window, runs, malformed_scan, monkeypatch,
                                                         wait_scan_done, tiny_scans):
    def broken_pretrain(payload, on_event=None, cancel=None):
        raise RuntimeError("simulated pretraining crash")

    window.open_pretrain_dialog()
    dialog = window.pretrain_dialog
    dialog.form.set_texts(TINY_PRETRAIN)
    dialog.form.editor("n_objects").widget.setValue(0)  # below the schema's bounds: clamped by the spin box
    assert dialog.form.editor("n_objects").value() == 1
    window.data_panel.choose(str(malformed_scan))
    wait_scan_done(window)
    assert not dialog.start_button.isEnabled() and "probeGuess" in dialog.reason_label.text()
    assert window.start_pretraining() is False and window.job is None
    window.data_panel.choose(str(tiny_scans[0]))
    wait_scan_done(window)
    assert dialog.start_button.isEnabled(), dialog.reason_label.text()

    monkeypatch.setattr(api, "pretrain", broken_pretrain)
    assert window.start_pretraining()
    kind, message = runs.wait(qtbot)
    assert kind == "failed" and "simulated pretraining crash" in message
    box = window.last_error_dialog
    assert box.isVisible() and "Pretraining failed" in box.text()
    box.close()
    assert window.job is None and window.train_button.isEnabled() and window.run_panel.pretrain_button.isEnabled()


@pytest.mark.slow
def test_cancel_pretraining(qtbot, window, runs):
    window.open_pretrain_dialog()
    window.pretrain_dialog.form.set_texts({**TINY_PRETRAIN, "nepochs": "500"})
    with qtbot.waitSignal(window.epoch_ended, timeout=RUN_TIMEOUT):
        assert window.start_pretraining()
    window.cancel_run()
    kind, what = runs.wait(qtbot, timeout=RUN_TIMEOUT)
    assert kind == "cancelled" and what == "pretrain", runs.events
    assert "Cancelled pretraining" in window.progress_label.text()
    assert window.pending_question is None  # no offer for a cancelled run
    assert window.train_button.isEnabled()
