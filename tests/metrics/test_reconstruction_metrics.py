"""Metrics: alignment (shift, phase offset/ramp), SSIM/PSNR with explicit ranges, FRC."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from ptycho_engine.metrics import (
    apply_shift,
    evaluate_reconstruction,
    fit_phase_plane,
    frc_curve,
    frc_resolution,
    half_bit_threshold,
)

H = 64


def _object(seed: int = 0, phase_only: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # periodic ('wrap') smooth content, so a Fourier shift is exact and only alignment is tested
    amp = 0.55 + 0.45 * np.tanh(3 * gaussian_filter(rng.standard_normal((H, H)), 2, mode="wrap"))
    phase = 6 * gaussian_filter(rng.standard_normal((H, H)), 2, mode="wrap")
    return np.exp(1j * phase) if phase_only else amp * np.exp(1j * phase)


def _strict_json(obj) -> dict:
    return json.loads(json.dumps(obj, allow_nan=False))


def test_identical_images():
    ref = _object()
    out = evaluate_reconstruction(ref, ref)
    _strict_json(out)  # JSON-able with no NaN/inf
    for part in ("amplitude", "phase"):
        scores = out[part]
        assert scores["ssim"] == pytest.approx(1.0, abs=1e-9)
        assert scores["psnr_db"] is None and scores["psnr_infinite"] is True
        assert scores["mae"] == pytest.approx(0.0, abs=1e-9)
        assert scores["frc"]["crossed"] is False
        assert min(scores["frc"]["curve"]) > 0.999999
    assert out["registration"]["shift_px"] == [0.0, 0.0]
    assert out["amplitude_scale"] == {"applied": True, "factor": pytest.approx(1.0)}


@pytest.mark.parametrize("shift", [(1.3, -2.7), (-0.35, 0.8), (0.0, 3.45)])
def test_subpixel_shift_is_recovered(shift):
    ref = _object(1)
    rec = apply_shift(ref, np.array(shift))
    out = evaluate_reconstruction(rec, ref, upsample_factor=50)
    found = np.array(out["registration"]["shift_px"])
    assert out["registration"]["image"] == "amplitude"
    np.testing.assert_allclose(found, -np.array(shift), atol=0.1)
    assert out["registration"]["wrap_margin_px"] == math.ceil(max(abs(s) for s in shift))
    assert out["amplitude"]["ssim"] > 0.999 and out["phase"]["ssim"] > 0.999
    assert out["shape"] == [H - 2 * out["registration"]["wrap_margin_px"]] * 2


def test_shift_beyond_max_shift_is_reported_not_applied():
    ref = _object(1)
    rec = apply_shift(ref, np.array((0.0, 3.45)))
    trusted = evaluate_reconstruction(rec, ref, max_shift=5.0)
    assert trusted["registration"]["applied"] and trusted["registration"]["rejected_shift_px"] is None
    capped = evaluate_reconstruction(rec, ref, max_shift=2.0)
    assert capped["registration"]["applied"] is False
    assert capped["registration"]["shift_px"] == [0.0, 0.0]
    np.testing.assert_allclose(capped["registration"]["rejected_shift_px"], (0.0, -3.45), atol=0.1)
    assert capped["shape"] == [H, H]  # nothing cropped for a shift that was not applied
    assert any("not applied" in note for note in capped["notes"])
    assert capped["amplitude"]["ssim"] < trusted["amplitude"]["ssim"]


def test_shift_of_a_phase_only_object_with_a_ramp():
    ref = _object(2, phase_only=True)
    y, x = np.mgrid[:H, :H]
    rec = apply_shift(ref, np.array([1.3, -2.7])) * np.exp(1j * (0.3 * x - 0.2 * y + 1.0))
    out = evaluate_reconstruction(rec, ref)
    np.testing.assert_allclose(out["registration"]["shift_px"], [-1.3, 2.7], atol=0.1)
    assert out["registration"]["image"].startswith("phase_gradient")
    assert out["phase_alignment"]["ramp_x_rad_per_px"] == pytest.approx(0.3, abs=1e-3)
    assert out["phase_alignment"]["ramp_y_rad_per_px"] == pytest.approx(-0.2, abs=1e-3)
    assert out["phase"]["ssim"] > 0.99


def test_phase_ramp_and_offset_are_removed():
    ref = _object(3)
    y, x = np.mgrid[:H, :H].astype(float)
    a, b, c = 0.45, -0.3, 2.0  # > 4 wraps across the image, fitted via the coarse FFT peak
    rec = ref * np.exp(1j * (a * x + b * y + c))
    out = evaluate_reconstruction(rec, ref)
    pa = out["phase_alignment"]
    assert pa["ramp_x_rad_per_px"] == pytest.approx(a, abs=1e-6)
    assert pa["ramp_y_rad_per_px"] == pytest.approx(b, abs=1e-6)
    centre = (H - 1) / 2
    expected_offset = np.angle(np.exp(1j * (c + a * centre + b * centre)))  # offset at the image centre
    assert pa["offset_rad"] == pytest.approx(expected_offset, abs=1e-6)
    assert out["phase"]["mae"] < 1e-6 and out["phase"]["ssim"] == pytest.approx(1.0, abs=1e-6)
    plain = evaluate_reconstruction(rec, ref, remove_phase_ramp=False)
    assert plain["phase"]["ssim"] < 0.5 and plain["phase_alignment"]["removed"] is False


def test_fit_ignores_zero_amplitude_regions():
    ref = _object(4)
    ref[:, :20] = 0  # no information there: must not bias the fit
    y, x = np.mgrid[:H, :H].astype(float)
    rec = ref * np.exp(1j * (0.1 * x + 0.5))
    rec[:, :20] = 0.3 * np.exp(1j * np.random.default_rng(0).uniform(-3, 3, (H, 20)))
    a, b, _ = fit_phase_plane(rec, ref)
    assert (a, b) == (pytest.approx(0.1, abs=1e-6), pytest.approx(0.0, abs=1e-6))


def test_noise_lowers_scores_monotonically():
    ref = _object(5)
    noise = np.random.default_rng(7).standard_normal((H, H)) + 1j * np.random.default_rng(8).standard_normal((H, H))
    results = [evaluate_reconstruction(ref + s * noise, ref) for s in (0.01, 0.03, 0.1, 0.3)]
    for part in ("amplitude", "phase"):
        ssim = [r[part]["ssim"] for r in results]
        psnr = [r[part]["psnr_db"] for r in results]
        mae = [r[part]["mae"] for r in results]
        assert all(s1 > s2 for s1, s2 in zip(ssim, ssim[1:])), ssim
        assert all(p1 > p2 for p1, p2 in zip(psnr, psnr[1:])), psnr
        assert all(m1 < m2 for m1, m2 in zip(mae, mae[1:])), mae
    res = [r["amplitude"]["frc"]["resolution_px"] for r in results]
    assert res[-1] > res[0]


def test_psnr_uses_the_stated_reference_range():
    ref = _object(6)
    rec = ref * (1 + 0.05 * np.random.default_rng(1).standard_normal((H, H)))
    out = evaluate_reconstruction(rec, ref, register=False, remove_phase_ramp=False, scale_amplitude=False)
    amp = out["amplitude"]
    expected_range = float(np.abs(ref).max() - np.abs(ref).min())
    assert amp["data_range"] == pytest.approx(expected_range)
    mse = float(np.mean((np.abs(rec) - np.abs(ref)) ** 2))
    assert amp["mse"] == pytest.approx(mse)
    assert amp["psnr_db"] == pytest.approx(10 * math.log10(expected_range**2 / mse))
    assert amp["psnr_db"] < 50  # not the ~60-75 dB an implicit 255 peak would give
    assert out["phase"]["data_range"] == pytest.approx(float(np.ptp(np.angle(ref))))


def test_amplitude_scaling_is_reported():
    ref = _object(7)
    out = evaluate_reconstruction(2.0 * ref, ref)
    assert out["amplitude_scale"] == {"applied": True, "factor": pytest.approx(0.5)}
    assert out["amplitude"]["mae"] == pytest.approx(0.0, abs=1e-9)
    raw = evaluate_reconstruction(2.0 * ref, ref, scale_amplitude=False)
    assert raw["amplitude_scale"]["applied"] is False
    assert raw["amplitude"]["mae"] == pytest.approx(float(np.abs(ref).mean()), rel=1e-6)


def test_shape_mismatch_and_crop():
    ref = _object(8)
    out = evaluate_reconstruction(ref[2:-2, 1:-1], ref, register=False, crop=3)
    assert out["shape"] == [H - 4 - 6, H - 2 - 6]
    assert out["crop_px"] == 3 and "centre-cropped" in out["notes"][0]
    with pytest.raises(ValueError, match="upsample_factor"):
        evaluate_reconstruction(ref, ref, upsample_factor=10)
    with pytest.raises(ValueError, match="NaN"):
        evaluate_reconstruction(ref * np.nan, ref)


def test_frc_of_identical_and_independent_images():
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((H, H)), rng.standard_normal((H, H))
    freqs, same, counts = frc_curve(a, a)
    np.testing.assert_allclose(same, 1.0, atol=1e-12)
    assert freqs[0] == 0 and freqs[-1] == pytest.approx(0.5)
    assert counts[0] == 1 and counts.sum() > 0.75 * H * H
    noise = frc_resolution(a, b)
    curve, threshold = np.array(noise["curve"]), np.array(noise["threshold"])
    assert noise["crossed"] is True
    assert np.mean(curve[1:] < threshold[1:]) > 0.95
    assert noise["crossing_frequency"] <= 2 / H and noise["resolution_px"] >= H / 2
    ident = frc_resolution(a, a)
    assert ident["crossed"] is False and ident["crossing_frequency"] == 0.5 and ident["resolution_px"] == 2.0


def test_frc_finds_the_band_limit():
    rng = np.random.default_rng(12)
    signal = gaussian_filter(rng.standard_normal((128, 128)), 1.0, mode="wrap")
    noisy_a = signal + 0.05 * rng.standard_normal(signal.shape)
    noisy_b = signal + 0.05 * rng.standard_normal(signal.shape)
    out = frc_resolution(noisy_a, noisy_b)
    # gaussian blur sigma = 1 px: signal power falls to the noise level well below Nyquist
    assert out["crossed"] and 0.1 < out["crossing_frequency"] < 0.45
    assert out["resolution_px"] == pytest.approx(1 / out["crossing_frequency"])


def test_half_bit_threshold_values():
    assert half_bit_threshold(1) == pytest.approx(1.0, abs=1e-3)
    assert half_bit_threshold(1e12) == pytest.approx(0.2071 / 1.2071, abs=1e-5)
    t = half_bit_threshold(np.array([4, 16, 64, 256]))
    assert np.all(np.diff(t) < 0)


def test_featureless_images_are_not_registered():
    flat = np.full((16, 16), 0.8 * np.exp(0.2j))
    out = evaluate_reconstruction(flat, flat)
    assert out["registration"]["shift_px"] == [0.0, 0.0]
    assert any("registration skipped" in note for note in out["notes"])
    assert out["amplitude"]["ssim"] == pytest.approx(1.0) and out["amplitude"]["psnr_db"] is None
    _strict_json(out)
