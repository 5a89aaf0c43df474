"""Stitching: round trip object -> grouped patches (gridsize 2) -> stitched object == object."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ptycho_engine.data.grouping import group_geometry, group_positions
from ptycho_engine.physics.groups import canvas_size, split_group
from ptycho_engine.physics.shifts import extract_patches
from ptycho_engine.stitching import stitch_patches

N = 16


def _object(H=96, W=104):
    yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    amp = 0.6 + 0.3 * np.sin(xx / 11.0) * np.cos(yy / 7.0)
    ph = np.sin(xx / 13.0 + yy / 17.0)
    return (amp * np.exp(1j * ph)).astype(np.complex64)


def _disk_probe():
    yy, xx = np.mgrid[:N, :N] - N // 2
    return np.exp(-(xx ** 2 + yy ** 2) / 30.0).astype(np.complex64)


def _grouped_patches(obj, xy, seed=0, via_canvas=False):
    """Patches of gridsize-2 groups at centre + rel; via_canvas: the model's object_big path
    (group canvas cut at the centre -> split_group per channel, two interpolations)."""
    groups = group_positions(xy, 2, None, K=6, seed=seed)
    centres, rel = group_geometry(xy, groups)
    positions = (centres[:, None, :] + rel).reshape(-1, 2)
    if via_canvas:
        M = canvas_size(N, 2, float(np.abs(rel).max()))
        canvases = extract_patches(torch.from_numpy(obj), centres, M)              # (G, M, M)
        patches = split_group(canvases, torch.from_numpy(rel), N)                  # (G, 4, N, N)
    else:
        patches = extract_patches(torch.from_numpy(obj), positions, N)
    return patches.reshape(-1, N, N).numpy(), positions


def _scan(sub_pixel, seed=0):
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(20, 85, 5.0), np.arange(20, 77, 5.0))
    xy = np.stack([gx.ravel(), gy.ravel()], axis=1)
    if sub_pixel:
        xy = xy + rng.uniform(-0.5, 0.5, xy.shape)
    return xy


@pytest.mark.parametrize("weighting", ["uniform", "probe"])
def test_round_trip_integer_positions_is_exact(weighting):
    obj = _object()
    xy = _scan(False)
    patches, positions = _grouped_patches(obj, xy)
    # group centres are sub-pixel, but centre + rel recovers the integer positions exactly
    assert np.array_equal(positions, np.round(positions))
    res = stitch_patches(patches, positions, weighting=weighting, probe=_disk_probe(),
                         object_shape=obj.shape)
    assert res.object.dtype == np.complex64 and res.object.shape == obj.shape
    assert (res.origin_x, res.origin_y) == (0.0, 0.0)
    inner = (slice(20, 76), slice(20, 84))                      # inside the scanned area
    np.testing.assert_allclose(res.object[inner], obj[inner], rtol=0, atol=2e-5)


def test_direct_integer_patches_round_trip_exactly():
    obj = _object()
    xy = _scan(False)
    patches = extract_patches(torch.from_numpy(obj), xy, N).numpy()
    res = stitch_patches(patches, xy, weighting="uniform")
    # canvas covers the scan extent + N (+1 px margin); origin maps pixel [0, 0] to object coords
    assert res.origin_x == 20 - N // 2 - 1 and res.origin_y == 20 - N // 2 - 1
    assert res.object.shape == (75 - 20 + N + 1 + 2, 80 - 20 + N + 1 + 2)
    oy, ox = int(res.origin_y), int(res.origin_x)
    covered = res.weight > 0
    sub = obj[oy:oy + res.object.shape[0], ox:ox + res.object.shape[1]]
    np.testing.assert_allclose(res.object[covered], sub[covered], rtol=0, atol=2e-6)


@pytest.mark.parametrize("via_canvas", [False, True])
def test_round_trip_subpixel_positions(via_canvas):
    obj = _object()
    xy = _scan(True, seed=3)
    patches, positions = _grouped_patches(obj, xy, seed=3, via_canvas=via_canvas)
    res = stitch_patches(patches, positions, weighting="probe", probe=_disk_probe(),
                         object_shape=obj.shape)
    inner = (slice(22, 74), slice(22, 82))
    err = np.abs(res.object[inner] - obj[inner])
    assert float(err.max()) < 0.01 and float(err.mean()) < 0.003


def test_mirrored_positions_would_fail():
    # Guard against the reference's sign bug: stitching group patches at centre - rel is wrong.
    obj = _object()
    xy = _scan(False)
    groups = group_positions(xy, 2, None, K=6, seed=0)
    centres, rel = group_geometry(xy, groups)
    patches, positions = _grouped_patches(obj, xy)
    mirrored = (centres[:, None, :] - rel).reshape(-1, 2)
    bad = stitch_patches(patches, mirrored, weighting="uniform", object_shape=obj.shape)
    inner = (slice(20, 76), slice(20, 84))
    assert float(np.abs(bad.object[inner] - obj[inner]).max()) > 0.1


def test_uncovered_pixels_are_zero_not_nan():
    patches = np.ones((2, N, N), np.complex64)
    res = stitch_patches(patches, np.array([[20.0, 20.0], [60.0, 60.0]]), weighting="uniform",
                         object_shape=(100, 100))
    assert np.isfinite(res.object).all() and np.isfinite(res.weight).all()
    assert res.object[0, 0] == 0 and res.weight[0, 0] == 0 and res.object[40, 40] == 0
    assert res.object[20, 20] == 1 and res.weight[20, 20] == pytest.approx(1.0)
    assert res.covered().sum() == 2 * N * N


def test_patches_partly_outside_object_shape_are_clipped():
    patches = np.full((1, N, N), 2 + 1j, np.complex64)
    res = stitch_patches(patches, np.array([[3.0, 2.0]]), weighting="uniform", object_shape=(20, 20))
    assert res.object.shape == (20, 20)
    assert res.object[0, 0] == 2 + 1j and res.object[2 + N // 2 - 1, 3 + N // 2 - 1] == 2 + 1j
    assert res.object[2 + N // 2, 0] == 0


def test_probe_weighting_prefers_bright_pixels():
    probe = np.zeros((N, N), np.complex64)
    probe[4:12, 4:12] = 1.0
    a = np.full((1, N, N), 1.0, np.complex64)
    b = np.full((1, N, N), 3.0, np.complex64)
    # b is shifted so only its dark border overlaps a's bright centre: probe weighting keeps a.
    res = stitch_patches(np.concatenate([a, b]), np.array([[30.0, 30.0], [30.0, 38.0]]),
                         weighting="probe", probe=probe, object_shape=(64, 64))
    assert res.object[30, 30] == pytest.approx(1.0)
    uni = stitch_patches(np.concatenate([a, b]), np.array([[30.0, 30.0], [30.0, 38.0]]),
                         weighting="uniform", object_shape=(64, 64))
    assert uni.object[30, 30] == pytest.approx(2.0)


def test_bad_arguments_raise():
    p = np.ones((2, N, N), np.complex64)
    with pytest.raises(ValueError, match="probe"):
        stitch_patches(p, np.zeros((2, 2)), weighting="probe")
    with pytest.raises(ValueError, match="weighting"):
        stitch_patches(p, np.zeros((2, 2)), weighting="max")
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        stitch_patches(p, np.zeros((3, 2)), weighting="uniform")


def test_accepts_torch_tensors():
    obj = _object()
    xy = _scan(False)[:10]
    t = extract_patches(torch.from_numpy(obj), xy, N)
    a = stitch_patches(t, torch.from_numpy(xy), weighting="uniform")
    b = stitch_patches(t.numpy(), xy, weighting="uniform")
    assert np.array_equal(a.object, b.object)


def test_input_dtypes_are_converted():
    obj = _object()
    xy = _scan(False)[:12]
    p64 = extract_patches(torch.from_numpy(obj), xy, N).numpy()
    a = stitch_patches(p64, xy, weighting="uniform")
    b = stitch_patches(p64.astype(np.complex128), xy, weighting="uniform")
    c = stitch_patches(np.abs(p64), xy, weighting="uniform")          # real patches -> complex64
    assert np.array_equal(a.object, b.object)
    assert c.object.dtype == np.complex64
    np.testing.assert_allclose(np.abs(c.object), np.abs(a.object), atol=1e-5)
