"""Results view: ground truth and (reconstruction − truth) on the compared region."""
from __future__ import annotations

import numpy as np

from ptycho_engine.inference.compare import compare_with_reference


def _fake_result(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """A 'reconstruction' that is the truth with a phase offset and half the amplitude, placed
    at origin (10, 12): its aligned difference must vanish."""
    obj = 0.5 * truth[12:12 + 80, 10:10 + 90] * np.exp(1j * 0.7)
    weight = np.ones(obj.shape, np.float32)
    metrics, crops, note = compare_with_reference(obj, weight, 10.0, 12.0, truth)
    assert metrics is not None, note
    return obj, weight, metrics


def test_truth_and_difference_follow_the_metrics(window, tmp_path):
    truth = window.scan_views.preview.object_guess
    assert truth is not None  # the tiny scan has ground truth
    obj, weight, metrics = _fake_result(truth)
    view = window.results_view
    view.set_reference(truth)
    view.show_result(np.abs(obj), np.angle(obj), metrics, tmp_path, obj=obj, extras={"weight": weight})
    keys = [view.view_choice.itemData(i) for i in range(view.view_choice.count())]
    assert "truth" in keys and "difference" in keys
    assert view.show_view("truth")
    region = metrics["region"]["canvas"]
    shape = (region["row1"] - region["row0"], region["col1"] - region["col0"])
    amp = view.images.amplitude.data
    assert amp.shape == shape and view.images.title == "Ground truth"
    assert view.show_view("difference")
    # the metrics' amplitude scale and phase offset removal are applied: nothing is left
    assert np.abs(view.images.amplitude.data).max() < 1e-3
    assert np.nanmax(np.abs(view.images.phase.data)) < 1e-3


def test_no_truth_no_truth_views(window, tmp_path):
    truth = window.scan_views.preview.object_guess
    obj, weight, metrics = _fake_result(truth)
    view = window.results_view
    view.set_reference(None)  # e.g. a scan without objectGuess
    view.show_result(np.abs(obj), np.angle(obj), None, tmp_path, obj=obj, extras={"weight": weight})
    keys = [view.view_choice.itemData(i) for i in range(view.view_choice.count())]
    assert "truth" not in keys and "difference" not in keys
    assert not view.show_view("difference")
