"""Physics refinement: it must recover the object from the scan's own patterns, report honestly what
it did, and behave like the rest of inference (cancel writes nothing, off by default)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ptycho_engine.events import CancelledError, CancelToken, StepProgress
from ptycho_engine.inference.refine import refine_object
from ptycho_engine.inference.run import run_inference


def test_refinement_from_a_flat_start_recovers_the_object(small_scan, region_ssim):
    s = small_scan
    start = np.where(s["lit"], 0.5, 0).astype(np.complex64)
    flat = region_ssim(start + 1e-3 * np.random.default_rng(0).random(start.shape), s["obj"], s["lit"])
    out = refine_object(start, 0.0, 0.0, s["X"], np.arange(len(s["xy"])), s["xy"], s["probe"], epochs=40,
                        tolerance=0.0)
    amp, phase = region_ssim(out.object, s["obj"], s["lit"])
    assert out.misfit[-1] < 0.05 * out.misfit[0]
    assert amp > 0.9 and phase > 0.9, (amp, phase, flat)
    assert len(out.misfit) == 41 and out.seconds > 0


def test_start_object_is_brought_to_the_scan_amplitude_scale(small_scan):
    s = small_scan
    out = refine_object(3.0 * s["obj"], 0.0, 0.0, s["X"], np.arange(len(s["xy"])), s["xy"], s["probe"], epochs=20)
    assert out.scale == pytest.approx(1 / 3, rel=0.02)
    # the true object (rescaled) already fits: the misfit is at the noise floor and the warm-up and
    # decay of the step keep it there (plain Adam steps doubled it)
    assert out.misfit[-1] <= out.misfit[0] * 1.02


def test_origin_and_index_subsets_are_respected(small_scan):
    """A canvas cut out of the object with its own origin, refined on every other pattern only."""
    s = small_scan
    ox, oy = 5.0, 7.0
    canvas = s["obj"][7:, 5:]
    used = np.arange(0, len(s["xy"]), 2)
    out = refine_object(canvas, ox, oy, s["X"], used, s["xy"][used], s["probe"], epochs=1)
    assert out.scale == pytest.approx(1.0, rel=0.02)     # the right pixels were compared with the right patterns
    shifted = refine_object(canvas, ox + 3, oy, s["X"], used, s["xy"][used], s["probe"], epochs=1)
    assert shifted.misfit[0] > 5 * out.misfit[0]         # a wrong origin is visible in the misfit


def test_bad_arguments_and_cancel(small_scan):
    s = small_scan
    idx = np.arange(len(s["xy"]))
    with pytest.raises(ValueError, match="epochs"):
        refine_object(s["obj"], 0, 0, s["X"], idx, s["xy"], s["probe"], epochs=0)
    with pytest.raises(ValueError, match="positions"):
        refine_object(s["obj"], 0, 0, s["X"], idx, s["xy"][:-1], s["probe"], epochs=1)
    with pytest.raises(ValueError, match="no diffracted intensity"):
        refine_object(np.zeros_like(s["obj"]), 0, 0, s["X"], idx, s["xy"], s["probe"], epochs=1)
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        refine_object(s["obj"], 0, 0, s["X"], idx, s["xy"], s["probe"], epochs=1, cancel=token)


def test_run_inference_refines_and_records_both_results(model_gs1, infer_data, tmp_path, make_payload, events):
    payload = make_payload(model_gs1, infer_data["test"], tmp_path / "refined",
                           {"refine_epochs": 15, "refine_tolerance": 0.0})
    assert payload.tf_inference_config.refine_epochs == 15
    result = run_inference(payload, on_event=events)
    metrics = json.loads(result.files["metrics"].read_text())
    net = metrics["network_only"]
    assert metrics["refinement"]["epochs"] == 15
    assert metrics["refinement"]["misfit_after"] < metrics["refinement"]["misfit_before"]
    # a 1-epoch network is poor; refinement against the scan must improve on it clearly
    assert metrics["amplitude_ssim"] > net["amplitude_ssim"] + 0.1
    assert metrics["phase_ssim"] > net["phase_ssim"]
    with np.load(result.files["reconstruction"]) as z:
        assert {"object", "object_network"} <= set(z.files)
        assert not np.allclose(z["object"], z["object_network"])
    refine_steps = [e for e in events.of(StepProgress) if e.phase == "refine"]
    assert [e.step for e in refine_steps] == list(range(1, 16))
    record = json.loads(result.files["config"].read_text())
    assert record["run"]["refinement"]["epochs"] == 15


def test_refinement_is_off_by_default(model_gs1, infer_data, tmp_path, make_payload):
    result = run_inference(make_payload(model_gs1, infer_data["test"], tmp_path / "plain"))
    assert result.refinement is None
    metrics = json.loads(result.files["metrics"].read_text())
    assert "network_only" not in metrics and "refinement" not in metrics
    with np.load(result.files["reconstruction"]) as z:
        assert "object_network" not in z.files


def test_cancel_during_refinement_writes_nothing(model_gs1, infer_data, tmp_path, make_payload):
    token = CancelToken()

    def on_event(event) -> None:
        if isinstance(event, StepProgress) and event.phase == "refine" and event.step == 2:
            token.cancel()

    out = tmp_path / "cancelled"
    with pytest.raises(CancelledError):
        run_inference(make_payload(model_gs1, infer_data["test"], out, {"refine_epochs": 10}), on_event, token)
    assert not out.exists() or not any(out.iterdir())
