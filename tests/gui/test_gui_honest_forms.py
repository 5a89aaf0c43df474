"""Forms that tell the truth (issue 13 items 12, 13): values from the file show as "from file",
follow the scan, and are what the run uses; fields that do nothing are not offered; values the
trainer refuses are refused as typed — the real window."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.gui]


def test_values_from_the_file_follow_the_scan_and_reach_the_run(qtbot, window, runs, more_scans):
    form = window.train_form
    n, nph = form.editor("N"), form.editor("nphotons")
    assert n.widget.currentText() == "from file: 64" and n.follows_file
    assert nph.widget.text() == "" and nph.widget.placeholderText() == "from file: 1e+06"
    assert "N" not in form.overrides() and "nphotons" not in form.overrides()
    assert form.values()["nphotons"] == 1e6 and form.values()["N"] == 64
    assert window.train_form.notes["n_groups"].text() == "of 36 patterns"

    form.set_texts({"n_groups": "700"})
    assert window.train_form.notes["n_groups"].text() == "→ 36 used (the scan has 36 patterns)"
    form.set_texts({"n_groups": "16"})

    # a typed value is an override; cleared, the field follows the file again
    nph.widget.setText("1e7")
    assert form.overrides()["nphotons"] == 1e7
    nph.widget.setText("")
    assert "nphotons" not in form.overrides()

    # the run resolves exactly what the form showed
    window.train_form.set_texts({"nepochs": "1"})
    assert window.start_training()
    kind, result = runs.wait(qtbot)
    assert kind == "trained", result
    rows = {r[0]: r for r in window.config_table.rows}
    assert float(rows["nphotons"][1]) == 1e6 and rows["nphotons"][2] == "data_file"
    assert rows["N"][1] == "64"

    # another scan (N = 128): recomputed — on the GUI thread (the IO worker's answer is queued)
    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QApplication

    threads: list[bool] = []
    inner = window._scan_loaded
    window._scan_loaded = lambda *a: (threads.append(QThread.currentThread() is QApplication.instance().thread()),
                                      inner(*a))
    with qtbot.waitSignal(window.scan_loaded, timeout=20_000):
        window.data_panel.choose(str(more_scans[1]))
    assert threads == [True]
    assert n.widget.currentText() == "from file: 128" and form.values()["N"] == 128
    form.reset_defaults()
    assert n.follows_file and nph.follows_file


def test_fields_that_do_nothing_are_not_offered_and_refused_values_are_flagged(qtbot, window):
    for name in ("probe_scale", "positions_provided", "neighbor_pool_size"):
        assert name not in window.train_form.editors
    assert "debug" not in window.infer_form.editors and "neighbor_pool_size" not in window.infer_form.editors
    assert window.train_button.isEnabled()
    window.train_form.set_texts({"model_type": "supervised"})
    assert not window.train_button.isEnabled()
    assert "'pinn'" in window.train_button.toolTip() and "model_type" in window.train_button.toolTip()
    assert window.train_form.errors["model_type"].isVisibleTo(window.train_form)
    window.train_form.set_texts({"model_type": "pinn", "realspace_mae_weight": "0.5"})
    assert not window.train_button.isEnabled() and "realspace_mae_weight" in window.train_button.toolTip()
    window.train_form.set_texts({"realspace_mae_weight": "0"})
    assert window.train_button.isEnabled()
