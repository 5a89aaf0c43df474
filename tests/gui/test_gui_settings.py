"""Sessions: the last scan, output folder and overrides come back in a new window."""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.gui


def test_settings_persist_across_windows(qtbot, make_window, wait_scan_done, tiny_scans, tmp_path):
    out = tmp_path / "my-run"
    first = make_window(data_file=tiny_scans[1], output_dir=out)
    wait_scan_done(first)
    first.train_form.editor("nepochs").widget.setValue(7)
    first.train_form.editor("nphotons").widget.setText("3e7")
    first.infer_form.editor("stitch_weighting").widget.setCurrentText("uniform")
    first.close()  # saves the session

    second = make_window()  # no arguments: everything comes from the settings file
    wait_scan_done(second)
    assert Path(second.data_panel.path_edit.text()) == tiny_scans[1]
    assert second.output_dir == out
    assert second.train_form.editor("nepochs").value() == 7
    assert second.train_form.editor("nphotons").value() == 3e7
    assert second.infer_form.editor("stitch_weighting").value() == "uniform"
    assert second.train_form.overrides()["nepochs"] == 7


def test_settings_are_isolated(make_window, settings_path):
    make_window().close()
    assert settings_path.is_file()  # the tests' own INI file, not the user's
