"""The backend choice (PyTorch / TensorFlow) above the training and inference forms.

The engine's ``api.train`` / ``api.infer`` are replaced by a stub that stops at once (as a cancel
would): the resolved payload the window built is what is checked, not a training run.
"""
from __future__ import annotations

import pytest
from PySide6.QtGui import QStandardItemModel

from app.worker import CancelledError
from ptycho_engine import api

pytestmark = pytest.mark.gui


@pytest.fixture
def stop_runs(monkeypatch):
    """api.train / api.infer stop immediately (the payload was already made and announced)."""
    def stop(*_args, **_kwargs):
        raise CancelledError("stopped by the test")

    monkeypatch.setattr(api, "train", stop)
    monkeypatch.setattr(api, "infer", stop)


def _payload(qtbot, window, start) -> object:
    with qtbot.waitSignal(window.payload_ready, timeout=60_000) as blocker:
        assert start()
    qtbot.waitUntil(lambda: window.job is None, timeout=30_000)
    return blocker.args[1]


def test_tensorflow_greyed_out_when_missing(qtbot, make_window, wait_scan_done, tiny_scans, tmp_path,
                                             monkeypatch, stop_runs):
    reason = 'TensorFlow is not installed; install it with: pip install -c constraints.txt -e ".[tf]"'
    monkeypatch.setattr(api, "tensorflow_available", lambda: (False, reason))
    w = make_window(data_file=tiny_scans[0], output_dir=tmp_path / "runs")
    wait_scan_done(w)
    w.train_form.set_texts({"nepochs": "1", "n_groups": "16"})
    for chooser in w.backends.values():
        model = chooser.combo.model()
        assert isinstance(model, QStandardItemModel)
        item = model.item(chooser.combo.findData("tensorflow"))
        assert not item.isEnabled() and item.toolTip() == reason
        assert "pip install" in chooser.note.toolTip() and not chooser.note.isHidden()
        assert not chooser.set_value("tensorflow") and chooser.value() == "pytorch"
    payload = _payload(qtbot, w, w.start_training)
    assert payload.tf_training_config.backend == "pytorch"


def test_tensorflow_choice_reaches_the_payloads(qtbot, window, stop_runs, tmp_path):
    assert api.tensorflow_available()[0], "the test environment installs the tf extra"
    assert window.backends["train"].value() == "pytorch"  # the default
    window.backends["train"].combo.setCurrentIndex(window.backends["train"].combo.findData("tensorflow"))
    payload = _payload(qtbot, window, window.start_training)
    assert payload.tf_training_config.backend == "tensorflow"
    assert window.last_payload is payload

    window.set_model_dir(api.resources_dir() / "pretrained")  # the shipped model
    assert window.backends["infer"].set_value("tensorflow")
    payload = _payload(qtbot, window, window.start_inference)
    assert payload.tf_inference_config.backend == "tensorflow"

    # pretraining never takes the backend: it runs on PyTorch
    overrides, _ = window.pretraining_settings()
    assert "backend" not in overrides


def test_backend_choice_persists(make_window, wait_scan_done, tiny_scans, tmp_path):
    first = make_window(data_file=tiny_scans[0], output_dir=tmp_path / "runs")
    wait_scan_done(first)
    assert first.backends["infer"].set_value("tensorflow")
    first.close()
    second = make_window()
    wait_scan_done(second)
    assert second.backends["infer"].value() == "tensorflow"
    assert second.backends["train"].value() == "pytorch"
