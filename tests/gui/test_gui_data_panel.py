"""The data panel: the demo is preselected, a valid scan is summarised, a malformed one is refused."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from ptycho_engine import api

pytestmark = pytest.mark.gui


def test_window_opens_with_demo_selected(qtbot, make_window, wait_scan_done):
    w = make_window()  # no --data, empty settings: the bundled demo scan
    assert Path(w.data_panel.path_edit.text()) == api.demo_dataset_path()
    assert w.output_dir is not None and "PtychoStudio" in str(w.output_dir)
    wait_scan_done(w)
    assert w.data_panel.error is None, w.data_panel.error
    summary = w.data_panel.summary
    assert summary.n_patterns > 0 and summary.N in (32, 64, 128)
    assert w.train_button.isEnabled(), w.train_button.toolTip()
    assert w.scan_views.probe_amp.data is not None


def test_first_launch_applies_the_demo_preset(qtbot, make_window, wait_scan_done):
    preset = api.read_settings_file(api.demo_preset_path())
    w = make_window()  # first launch: empty settings, no --data
    wait_scan_done(w)
    sent = w.train_form.overrides()
    defaults = {spec.name: spec.default for spec in api.training_fields()}
    for name, value in preset.items():
        assert w.train_form.editor(name).value() == value, name
        if value != defaults[name]:  # highlighted as an edit and sent to the factory
            assert sent[name] == value and w.train_form.editor(name).is_edited(), name
    assert any(value != defaults[name] for name, value in preset.items())


def test_preset_is_not_forced_on_a_returning_user(qtbot, make_window, wait_scan_done, tiny_scans):
    w = make_window(data_file=tiny_scans[0])
    wait_scan_done(w)
    assert "nepochs" not in w.train_form.overrides()


def test_valid_scan_is_summarised_with_previews(qtbot, window, tiny_scans):
    summary = window.data_panel.summary
    assert summary.N == 64 and summary.n_patterns == window.scan_views.preview.diffraction.shape[0]
    assert window.data_panel._values["N"].text() == "64 × 64"
    assert window.data_panel._values["patterns"].text() == str(summary.n_patterns)
    assert window.data_panel._values["gt"].text().startswith("yes")
    # previews: log-scaled pattern, probe amplitude / phase, one scatter point per position
    assert window.scan_views.diffraction.data.shape == (64, 64)
    assert window.scan_views.probe_phase.data.shape == (64, 64)
    assert len(window.scan_views.scatter.data) == summary.n_patterns
    window.scan_views.slider.setValue(3)
    assert window.scan_views.index_box.value() == 3
    assert window.train_button.isEnabled()


def test_malformed_file_shows_error_and_disables_train(qtbot, window, malformed_scan):
    with qtbot.waitSignal(window.scan_failed, timeout=20_000) as blocker:
        window.data_panel.choose(str(malformed_scan))
    message = blocker.args[0]
    assert "probeGuess" in message
    assert "probeGuess" in window.data_panel.status_label.text()
    assert "c62828" in window.data_panel.status_label.styleSheet()  # red, in place
    assert not window.train_button.isEnabled()
    assert "probeGuess" in window.train_button.toolTip()
    assert "Train disabled" in window.reason_label.text()
    assert "shown under Scan data" in window.status_message.text()  # pointed to, not repeated
    # choosing a good file again re-enables Train
    with qtbot.waitSignal(window.scan_loaded, timeout=20_000):
        window.data_panel.choose(str(window.session.data_file))
    assert window.train_button.isEnabled()


def test_missing_file_is_reported(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.scan_failed, timeout=20_000) as blocker:
        window.data_panel.choose(str(tmp_path / "nope.npz"))
    assert "nope.npz" in blocker.args[0]
    assert not window.train_button.isEnabled()


def test_drag_and_drop_selects_the_file(qtbot, window, tiny_scans):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny_scans[1]))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.scan_loaded, timeout=20_000) as loaded:
        window.data_panel.dropEvent(event)
    assert Path(loaded.args[0].path) == tiny_scans[1]
    assert Path(window.data_panel.path_edit.text()) == tiny_scans[1]


def test_a_corrupt_file_is_reported_once(qtbot, window, tmp_path):
    """No dialog, the message once on screen (under Scan data) and once in the log."""
    from PySide6.QtWidgets import QLabel, QMessageBox

    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(b"PK\x03\x04 not a zip archive" * 8)
    with qtbot.waitSignal(window.scan_failed, timeout=20_000) as blocker:
        window.data_panel.choose(str(bad))
    qtbot.wait(200)  # anything queued after the failure has arrived
    detail = blocker.args[0].split(": ", 1)[-1]  # the message without the file name
    assert "zip" in detail
    assert not [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    shown = [w for w in window.findChildren(QLabel) if w.isVisible() and detail in w.text()]
    assert shown == [window.data_panel.status_label]
    assert window.log_pane.toPlainText().count(detail) == 1
    assert detail in window.train_button.toolTip()  # the disabled button still says why on hover


def test_a_ptychodus_folder_opens_like_an_npz(qtbot, window, tiny_scans, tmp_path):
    """Picking either file of a ptychodus batch folder previews the same scan as its NPZ."""
    from ptycho_engine import api

    folder = api.export_ptychodus(tiny_scans[0], tmp_path / "batch")
    window.data_panel.choose(str(folder / "product-in.h5"))
    qtbot.waitUntil(lambda: window.data_panel.summary is not None
                    and getattr(window.data_panel.summary, "source_format", "") == "ptychodus-folder",
                    timeout=20_000)
    summary = window.data_panel.summary
    npz = api.load_scan(tiny_scans[0]).summary()
    assert (summary.N, summary.n_patterns) == (npz.N, npz.n_patterns)
    assert len(window.scan_views.scatter.data) == npz.n_patterns
    assert window.train_button.isEnabled()
