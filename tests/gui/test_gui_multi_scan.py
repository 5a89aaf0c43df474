"""Several training scans and a validation scan: listed, each checked by the data contract,
mismatches refused before Train in the engine's words, and all of them reach the engine."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from ptycho_engine import api
from ptycho_engine.data.errors import DataContractError

pytestmark = pytest.mark.gui


def _drop(panel, paths, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, modifiers)
    panel.dropEvent(event)


@pytest.mark.slow
def test_two_scans_and_a_validation_scan_are_trained_together(qtbot, window, runs, tiny_scans, more_scans,
                                                              wait_scan_done, request):
    train, second = tiny_scans
    third = more_scans[0]
    panel = window.data_panel
    assert not panel.list_scroll.isVisible()  # one scan: no list, the panel looks as before
    panel.add([second])
    wait_scan_done(window)
    assert window.data_files == [train, second]
    assert panel.list_scroll.isVisible() and "Training scans (2)" in panel.list_title.text()
    for path in (train, second):
        row = panel.rows[str(path)]
        assert row.name_label.text() == path.name
        assert row.detail.text() == "36 patterns · 64×64 · 1e+06 photons"
        assert row.remove_button.isEnabled()
    assert Path(panel.previewed) == train and panel.rows[str(train)].marker.text() == "▶"
    panel.add([train])  # already listed: not added twice
    assert window.data_files == [train, second]

    # clicking the second scan previews it; the first stays first
    with qtbot.waitSignal(window.scan_loaded, timeout=20_000) as loaded:
        qtbot.mouseClick(panel.rows[str(second)], Qt.MouseButton.LeftButton)
    assert Path(loaded.args[0].path) == second
    assert Path(panel.path_edit.text()) == second and second.name in panel.status_label.text()
    assert window.data_files == [train, second]

    window.set_validation_file(third)
    wait_scan_done(window)
    assert panel.validation_path == str(third) and "a separate scan" in panel.validation_label.text()
    assert panel.rows[str(third)].detail.text().startswith("36 patterns")
    assert window.train_button.isEnabled(), window.train_button.toolTip()

    shots = Path(request.config.rootpath) / "build" / "gui-screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    assert panel.grab().save(str(shots / "data_panel_two_scans.png"))

    window.train_form.set_texts({"nepochs": "1"})
    assert window.start_training()
    kind, result = runs.wait(qtbot)
    assert kind == "trained", result
    cfg = window.last_payload.tf_training_config
    assert [Path(p) for p in cfg.train_data_files] == [train, second]
    assert Path(cfg.validation_data_file) == third
    written = (Path(result.output_dir) / "config.json").read_text()
    assert all(str(p) in written for p in (train, second, third))
    assert any("Training on 2 scans" in line for line in window.log_pane.lines)

    # the next session comes back with the same scans
    window.close()
    again = window.__class__(settings=window.session.qsettings, check_cuda=False)
    qtbot.addWidget(again)
    wait_scan_done(again)
    assert again.data_files == [train, second] and again.validation_file == third
    assert again.train_button.isEnabled(), again.train_button.toolTip()
    again.shutdown()


def test_a_bad_second_scan_disables_train_with_its_error(qtbot, window, malformed_scan, wait_scan_done):
    panel = window.data_panel
    with qtbot.waitSignal(window.scan_failed, timeout=20_000) as failed:
        panel.add([malformed_scan])
    assert "probeGuess" in failed.args[0]
    wait_scan_done(window)
    row = panel.rows[str(malformed_scan)]
    assert row.message == failed.args[0]  # the engine's whole message (tooltip); the row shows it from the key on
    assert row.detail.text().startswith("✘ key 'probeGuess'") and "c62828" in row.detail.styleSheet()
    assert failed.args[0] in row.toolTip()
    assert "1 not usable" in panel.list_title.text()
    assert panel.error is None and panel.summary is not None  # the first scan is still previewed, valid
    assert not window.train_button.isEnabled()
    assert "probeGuess" in window.train_button.toolTip() and "Train disabled" in window.reason_label.text()
    assert window.start_training() is False and window.job is None
    # removing it gives Train back
    qtbot.mouseClick(row.remove_button, Qt.MouseButton.LeftButton)
    assert window.data_files == [Path(panel.train_paths[0])] and not panel.list_scroll.isVisible()
    assert window.train_button.isEnabled(), window.train_button.toolTip()


def test_scans_that_cannot_be_trained_together_are_refused_before_train(qtbot, window, tiny_scans, more_scans,
                                                                       wait_scan_done, tmp_path):
    train, n128 = tiny_scans[0], more_scans[1]
    window.data_panel.add([n128])
    wait_scan_done(window)
    with pytest.raises(DataContractError) as engine:  # what the engine says about this pair
        api.create_training_payload([train, n128], tmp_path / "never", {"n_groups": 16})
    message = str(engine.value)
    assert "128x128" in message
    assert message in window.train_button.toolTip()
    assert "cannot be trained together" in window.train_button.toolTip()
    row = window.data_panel.rows[str(n128)]
    assert row.message == message and message in row.toolTip()
    assert row.detail.text() == "✘ 128×128 patterns; the first scan has 64×64"
    assert "1 not usable" in window.data_panel.list_title.text()
    assert not window.train_button.isEnabled()
    # the 128 scan alone is fine to look at and reconstruct; as a validation scan it is refused too
    window.remove_data_file(str(n128))
    assert window.train_button.isEnabled()
    window.set_validation_file(n128)
    wait_scan_done(window)
    assert not window.train_button.isEnabled() and "128x128" in window.train_button.toolTip()
    window.data_panel.rows[str(n128)].remove_button.click()  # back to a split of the training groups
    assert window.validation_file is None and window.train_button.isEnabled()
    window.set_validation_file(train)  # a training scan cannot also be the validation scan
    assert window.validation_file is None and "one of the training scans" in window.last_error_dialog.informativeText()
    window.last_error_dialog.close()


def test_dropping_several_files_opens_them_and_ctrl_adds(qtbot, window, tiny_scans, more_scans, wait_scan_done):
    train, second = tiny_scans
    third = more_scans[0]
    _drop(window.data_panel, [second, third])
    wait_scan_done(window)
    assert window.data_files == [second, third]
    assert Path(window.data_panel.previewed) == second and window.scan_views.preview is not None
    _drop(window.data_panel, [train], Qt.KeyboardModifier.ControlModifier)
    wait_scan_done(window)
    assert window.data_files == [second, third, train]
    _drop(window.data_panel, [train])  # a plain drop of one file: that scan alone, as before
    wait_scan_done(window)
    assert window.data_files == [train]
