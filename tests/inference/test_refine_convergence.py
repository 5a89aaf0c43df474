"""Refinement beyond the object: it stops when converged (and says why), recovers a poor probe
guess, corrects wrong scan positions without letting the scan drift, honours the noise model and
bad detector pixels, and writes what it refined."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from ptycho_engine.events import CancelledError, CancelToken
from ptycho_engine.inference.refine import refine_object
from ptycho_engine.inference.refine_steps import counts_scale
from ptycho_engine.inference.run import run_inference


def _refine(s: dict, **kw):
    kw.setdefault("epochs", 30)
    start = kw.pop("start", np.where(s["lit"], 0.5, 0).astype(np.complex64))
    return refine_object(start, 0.0, 0.0, s["X"], np.arange(len(s["xy"])), kw.pop("xy", s["xy"]),
                         kw.pop("probe", s["probe"]), **kw)


def _probe_guess(probe: np.ndarray) -> np.ndarray:
    """Blurred (sigma 1.5 px) and defocused (1 rad quadratic phase at the disk edge)."""
    n = probe.shape[-1]
    yy, xx = (np.mgrid[:n, :n] - n / 2) / (n / 4)
    g = (gaussian_filter(probe.real, 1.5) + 1j * gaussian_filter(probe.imag, 1.5)) * np.exp(1j * (xx ** 2 + yy ** 2))
    return (g * np.linalg.norm(probe) / np.linalg.norm(g)).astype(np.complex64)


def test_stops_when_the_misfit_no_longer_changes_and_says_why(small_scan):
    loose = _refine(small_scan, epochs=200, tolerance=2e-2)
    assert loose.passes < 200
    assert "converged" in loose.stop_reason and f"{loose.passes} passes" in loose.stop_reason
    assert len(loose.misfit) == loose.passes + 1
    # the pass before the last changed the (running) misfit by less than the tolerance; the last
    # entry is the exact misfit of the final object
    assert (loose.misfit[-3] - loose.misfit[-2]) / loose.misfit[-3] < 2e-2
    assert loose.misfit[-1] < 0.2 * loose.misfit[0]
    capped = _refine(small_scan, epochs=5, tolerance=0.0)
    assert capped.passes == 5 and "cap of 5 passes" in capped.stop_reason


def test_a_blurred_defocused_probe_guess_is_recovered(small_scan, region_ssim):
    s = small_scan
    guess = _probe_guess(s["probe"])
    true = region_ssim(_refine(s).object, s["obj"], s["lit"])
    fixed = region_ssim(_refine(s, probe=guess).object, s["obj"], s["lit"])
    out = _refine(s, probe=guess, refine_probe=True)
    moved = region_ssim(out.object, s["obj"], s["lit"])
    assert out.probe.shape == (1,) + s["probe"].shape

    def error(p: np.ndarray) -> float:  # after the best complex scale (not measurable)
        c = np.vdot(p, s["probe"]) / np.vdot(p, p).real
        return float(np.linalg.norm(c * p - s["probe"]) / np.linalg.norm(s["probe"]))

    assert error(out.probe[0]) < 0.5 * error(guess)
    assert min(moved) > max(fixed) or min(moved) > 0.9            # the guess alone is clearly worse
    assert true[0] - moved[0] < 0.05 and true[1] - moved[1] < 0.05, (true, fixed, moved)


def test_extra_probe_modes_are_orthogonal_and_weaker(small_scan):
    out = _refine(small_scan, epochs=6, refine_probe=True, probe_modes=3)
    P = out.probe.reshape(3, -1)
    gram = P.conj() @ P.T
    power = np.real(np.diag(gram))
    assert np.all(np.diff(power) <= 0) and power[1] < 0.5 * power[0]
    assert np.abs(gram - np.diag(np.diag(gram))).max() < 1e-3 * power[0]


def test_wrong_positions_are_corrected_without_a_global_drift(small_scan):
    s = small_scan
    wrong = s["xy"] + np.random.default_rng(1).uniform(-1, 1, s["xy"].shape)
    out = _refine(s, start=s["obj"], xy=wrong, refine_positions=True, epochs=40, tolerance=0.0)

    def rms(p: np.ndarray) -> float:
        d = p - s["xy"]
        return float(np.sqrt(np.mean(np.sum((d - d.mean(0)) ** 2, axis=1))))

    assert rms(wrong) > 0.5
    assert rms(out.positions) < 0.35 * rms(wrong), (rms(wrong), rms(out.positions))
    np.testing.assert_allclose(out.positions.mean(0), wrong.mean(0), atol=1e-6)   # no drift as a whole
    held = _refine(s, start=s["obj"], xy=wrong, epochs=2)
    assert held.positions is None


def test_noise_models_and_bad_pixels(small_scan):
    s = small_scan
    with pytest.raises(ValueError, match="noise model"):
        _refine(s, epochs=1, noise_model="gaussian-ish")
    poisson = _refine(s, epochs=15, noise_model="poisson", tolerance=0.0)
    assert poisson.misfit[-1] < 0.2 * poisson.misfit[0]
    bad = np.zeros(s["X"].shape[-2:], bool)
    bad[3:6, 10:20] = True
    spoiled = dict(s, X=np.where(bad, 50.0 * s["X"].max(), s["X"]).astype(np.float32))
    masked = _refine(spoiled, epochs=10, bad_pixels=bad, tolerance=0.0)
    clean = _refine(s, epochs=10, bad_pixels=bad, tolerance=0.0)
    np.testing.assert_allclose(masked.object, clean.object, atol=1e-5)   # the spoiled pixels were never used
    unmasked = _refine(spoiled, epochs=10, tolerance=0.0)
    assert np.abs(unmasked.object - clean.object).max() > 0.05


def test_photon_scale_is_found_only_in_count_data(small_scan):
    s = small_scan
    scale = counts_scale(s["X"])
    assert scale is not None and np.allclose((s["X"] * scale) ** 2, np.round((s["X"] * scale) ** 2), atol=0.05)
    assert counts_scale(s["X"] + 0.013) is None


def test_cancel_stops_probe_and_position_refinement(small_scan):
    token = CancelToken()

    def on_epoch(p: int, _total: int, _misfit: float) -> None:
        if p == 3:
            token.cancel()

    with pytest.raises(CancelledError):
        _refine(small_scan, refine_probe=True, refine_positions=True, on_epoch=on_epoch, cancel=token)


def test_inference_writes_the_refined_probe_positions_and_stop_reason(model_gs1, infer_data, tmp_path,
                                                                    make_payload):
    payload = make_payload(model_gs1, infer_data["test"], tmp_path / "out",
                           {"refine_epochs": 4, "refine_probe": True, "refine_positions": True,
                            "refine_tolerance": 0.0})
    result = run_inference(payload)
    assert result.probe_refined is not None and result.probe_refined.ndim == 2
    assert result.positions_refined.shape == result.positions_initial.shape
    with np.load(result.files["reconstruction"]) as z:
        np.testing.assert_allclose(z["probe_refined"], result.probe_refined)
        np.testing.assert_allclose(z["positions_refined"], result.positions_refined)
    record = json.loads(result.files["config"].read_text())["run"]["refinement"]
    assert record["passes"] == 4 and "cap of 4 passes" in record["stop_reason"]
    assert record["refine_probe"] is True and record["refine_positions"] is True
    metrics = json.loads(result.files["metrics"].read_text())
    assert metrics["refinement"]["stop_reason"] == record["stop_reason"]
