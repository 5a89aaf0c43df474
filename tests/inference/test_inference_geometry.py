"""Geometry of inference: with a "perfect model" (it returns the true object patches cut from
objectGuess at the scan positions) the stitched canvas, mapped through origin_x/origin_y, must
reproduce objectGuess. A sign, origin or channel-order error anywhere shows up here."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ptycho_engine.inference.predict as predict_mod
from ptycho_engine.inference import run_inference, stitch_prediction, well_covered_box
from ptycho_engine.physics.shifts import extract_patches


def _perfect_predictor(scan_file):
    """predict_batch replacement: the true patches at each channel's own scan position."""
    with np.load(scan_file) as npz:
        obj = torch.from_numpy(npz["objectGuess"])
        xy = np.stack([npz["xcoords"], npz["ycoords"]], axis=1)
    N = int(np.load(scan_file)["probeGuess"].shape[0])

    def predict(model, x, rel, indices):
        idx = indices.cpu().numpy()
        assert x.shape[:2] == idx.shape  # (B, C): channel c of the input is pattern idx[:, c]
        return extract_patches(obj, torch.from_numpy(xy[idx]), N).to(torch.complex64)

    return predict


def _reference_view(result, reference):
    """objectGuess pixels under the canvas: canvas [r, c] = object [origin_y + r, origin_x + c]."""
    H, W = result.object.shape
    oy, ox = int(result.origin_y), int(result.origin_x)
    assert (oy, ox) == (result.origin_y, result.origin_x)  # integral origin
    ref = np.zeros((H, W), np.complex64)
    r0, c0 = max(0, -oy), max(0, -ox)
    r1, c1 = min(H, reference.shape[0] - oy), min(W, reference.shape[1] - ox)
    ref[r0:r1, c0:c1] = reference[oy + r0:oy + r1, ox + c0:ox + c1]
    inside = np.zeros((H, W), bool)
    inside[r0:r1, c0:c1] = True
    return ref, inside


@pytest.mark.parametrize("weighting", ["probe", "uniform"])
@pytest.mark.parametrize("model_fixture", ["model_gs1", "model_gs2"])
def test_perfect_model_reproduces_object_guess_exactly(model_fixture, weighting, request, infer_data, tmp_path,
                                                       make_payload, monkeypatch):
    model_dir = request.getfixturevalue(model_fixture)
    scan_file = infer_data["test_int"]  # integer positions: extraction and stitching are exact inverses
    monkeypatch.setattr(predict_mod, "predict_batch", _perfect_predictor(scan_file))
    payload = make_payload(model_dir, scan_file, tmp_path / "perfect", {"stitch_weighting": weighting},
                           inference_batch_size=7)
    result = run_inference(payload)

    reference = np.load(scan_file)["objectGuess"]
    ref, inside = _reference_view(result, reference)
    lit = result.weight > 1e-3 * result.weight.max()
    assert lit.sum() > 2000 and np.all(inside[lit])
    np.testing.assert_allclose(result.object[lit], ref[lit], atol=2e-5, rtol=0)

    m = result.metrics
    assert m["amplitude"]["ssim"] > 0.9999 and m["phase"]["ssim"] > 0.9999
    assert np.max(np.abs(m["registration"]["shift_px"])) < 0.05
    assert abs(m["phase_alignment"]["offset_rad"]) < 1e-3
    assert abs(m["amplitude_scale"]["factor"] - 1) < 1e-4
    region = m["region"]
    assert region["reference"]["row0"] - region["canvas"]["row0"] == result.origin_y
    assert region["reference"]["col0"] - region["canvas"]["col0"] == result.origin_x


def test_perfect_model_at_subpixel_positions_is_close(model_gs2, infer_data, tmp_path, make_payload, monkeypatch):
    """Sub-pixel positions: bilinear cut + bilinear splat blur slightly, but nothing moves."""
    scan_file = infer_data["test"]
    monkeypatch.setattr(predict_mod, "predict_batch", _perfect_predictor(scan_file))
    result = run_inference(make_payload(model_gs2, scan_file, tmp_path / "subpx"))
    ref, _ = _reference_view(result, np.load(scan_file)["objectGuess"])
    well = result.weight > 0.1 * result.weight.max()
    err = np.abs(result.object[well] - ref[well])
    assert err.max() < 0.03 and err.mean() < 0.005
    m = result.metrics
    assert m["amplitude"]["ssim"] > 0.99 and m["phase"]["ssim"] > 0.99
    assert np.max(np.abs(m["registration"]["shift_px"])) < 0.1


def test_central_support_models_do_not_average_in_the_zero_border():
    """pad_object without probe_big: patches are 0 outside the central N/2 square; those zeros
    must not vote (else the stitched object is darkened where another patch's border falls)."""
    N, size = 64, 160
    rng = np.random.default_rng(0)
    obj = (0.5 + 0.5 * rng.random((size, size))).astype(np.complex64)
    xy = np.array([[x, y] for y in range(48, 113, 8) for x in range(48, 113, 8)], dtype=np.float64)
    patches = extract_patches(torch.from_numpy(obj), torch.from_numpy(xy), N).numpy()
    mask = np.zeros((N, N), np.float32)
    mask[N // 4:3 * N // 4, N // 4:3 * N // 4] = 1
    patches = patches * mask
    probe = np.ones((N, N), np.complex64)
    arch = {"pad_object": True, "probe_big": False}
    res = stitch_prediction(patches, xy, probe=probe, weighting="uniform", arch=arch)
    oy, ox = int(res.origin_y), int(res.origin_x)
    # the centres' central squares cover [48-16, 112+16) fully
    sl = (slice(40 - oy, 120 - oy), slice(40 - ox, 120 - ox))
    np.testing.assert_allclose(res.object[sl], obj[40:120, 40:120], atol=1e-3)
    plain = stitch_prediction(patches, xy, probe=probe, weighting="uniform", arch={"pad_object": True,
                                                                                   "probe_big": True})
    assert np.abs(plain.object[sl]).mean() < 0.7 * np.abs(obj[40:120, 40:120]).mean()  # what it prevents


def test_well_covered_box_trims_ragged_edges():
    covered = np.zeros((20, 30), bool)
    covered[5:15, 4:25] = True
    covered[2, 10] = True  # a stray covered pixel above the block
    covered[5:15:3, 25:28] = True  # a sparse fringe on the right
    assert well_covered_box(covered) == (5, 15, 4, 25)
    assert well_covered_box(np.zeros((4, 4), bool)) is None


def test_compare_with_reference_aligns_by_origin_and_survives_noise():
    from scipy.ndimage import gaussian_filter

    from ptycho_engine.inference import compare_with_reference

    rng = np.random.default_rng(1)
    reference = np.exp(1j * gaussian_filter(rng.standard_normal((60, 70)), 3) * 3).astype(np.complex64)
    reference *= (0.5 + gaussian_filter(rng.random((60, 70)), 2)).astype(np.float32)
    # a canvas whose pixel [0, 0] is object pixel (row 5, col 7), covering rows 5..44, cols 7..56
    canvas = reference[5:45, 7:57].copy()
    weight = np.ones(canvas.shape, np.float32)
    metrics, crops, note = compare_with_reference(canvas, weight, 7.0, 5.0, reference)
    assert note == "" and metrics["amplitude_ssim"] > 0.9999 and metrics["phase_ssim"] > 0.9999
    assert metrics["region"]["reference"] == {"row0": 5, "row1": 45, "col0": 7, "col1": 57}
    # the same canvas put at a wrong origin is measurably worse (nothing hides a geometry error)
    wrong, _, _ = compare_with_reference(canvas, weight, 9.0, 5.0, reference)
    assert wrong["registration"]["applied"] is False or abs(wrong["registration"]["shift_px"][1]) > 1.5
    noise = (rng.standard_normal(canvas.shape) + 1j * rng.standard_normal(canvas.shape)).astype(np.complex64)
    metrics, crops, note = compare_with_reference(noise, weight, 7.0, 5.0, reference)
    assert metrics is not None and -1 <= metrics["amplitude_ssim"] <= 1 and crops[0].shape == (40, 50)
