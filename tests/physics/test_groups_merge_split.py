"""object_big merge/split at gridsize 2: the round trip the reference got mirrored."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ptycho_engine.physics.groups import canvas_size, central_support, merge_group, split_group
from ptycho_engine.physics.shifts import extract_patches


def _smooth_object(H=100, W=100):
    yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    amp = 0.5 + 0.4 * np.exp(-((yy - 50) ** 2 + (xx - 45) ** 2) / 900.0)
    ph = np.sin(xx / 9.0) * np.cos(yy / 13.0)
    return torch.tensor(amp * np.exp(1j * ph), dtype=torch.complex64)


def _group(obj, pos, N):
    centre = pos.mean(axis=0)
    rel = torch.tensor(pos - centre)[None]                          # (1, C, 2)
    patches = extract_patches(obj, pos, N)[None]                    # (1, C, N, N)
    return centre, rel, patches


def test_canvas_size():
    assert canvas_size(64, 1, 0.0) == 64
    assert canvas_size(64, 2, 4.2) == 64 + 10 + 2
    assert canvas_size(16, 2, 3.0) % 2 == 0
    with pytest.raises(ValueError):
        canvas_size(16, 2, -1.0)


@pytest.mark.parametrize("support", [None, "central"])
def test_merge_split_round_trip_integer_offsets(support):
    obj = _smooth_object()
    N = 16
    pos = np.array([[40.0, 40.0], [48.0, 41.0], [41.0, 49.0], [47.0, 50.0]])  # centre (44, 45)
    centre, rel, patches = _group(obj, pos, N)
    M = canvas_size(N, 2, float(rel.abs().max()))
    sup = None if support is None else central_support(N)
    canvas, weight = merge_group(patches, rel, M, sup, return_weight=True)
    assert canvas.shape == (1, M, M)
    # the canvas IS the object around the group centre where covered (no mirroring, no flips)
    truth = extract_patches(obj, centre[None], M)
    cov = weight > 1e-3
    torch.testing.assert_close(canvas[cov], truth[cov], rtol=0, atol=1e-5)
    back = split_group(canvas, rel, N)
    inside = torch.ones(N, N, dtype=torch.bool) if sup is None else sup > 0.5
    torch.testing.assert_close(back[0][:, inside], patches[0][:, inside], rtol=0, atol=1e-5)


def test_merge_split_round_trip_subpixel_offsets():
    obj = _smooth_object()
    N = 16
    pos = np.array([[40.3, 40.1], [48.7, 41.2], [41.1, 49.9], [47.4, 50.6]])
    centre, rel, patches = _group(obj, pos, N)
    M = canvas_size(N, 2, float(rel.abs().max()))
    canvas = merge_group(patches, rel, M)
    back = split_group(canvas, rel, N)
    err = (back - patches)[0, :, 1:-1, 1:-1].abs().max()
    assert float(err) < 0.02                                        # interpolation error only


def test_channels_keep_their_identity():
    # Each channel carries a distinct constant; away from overlaps split returns it unchanged,
    # so a mirrored sign convention (patch c landing at centre - rel_c) would fail here.
    N, M = 8, 24
    rel = torch.tensor([[[-5.0, -5.0], [5.0, -5.0], [-5.0, 5.0], [5.0, 5.0]]])
    vals = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.complex64)
    patches = vals[None, :, None, None].expand(1, 4, N, N).clone()
    canvas = merge_group(patches, rel, M)
    # top-left quadrant of the canvas holds channel 0 (rel = (-5, -5)): x<0 is left, y<0 is up
    assert canvas[0, 12 - 5, 12 - 5] == 1 and canvas[0, 12 - 5, 12 + 5] == 2
    assert canvas[0, 12 + 5, 12 - 5] == 3 and canvas[0, 12 + 5, 12 + 5] == 4
    back = split_group(canvas, rel, N)
    for c in range(4):
        assert torch.allclose(back[0, c, 2:6, 2:6], vals[c].expand(4, 4))


def test_periphery_does_not_explode_with_central_support():
    # Patches that are NOT confined to the support (the reference bug 8.14 scenario) still give a
    # bounded canvas: a weighted mean can never exceed the largest input value.
    g = torch.Generator().manual_seed(0)
    N, M = 16, 30
    patches = torch.complex(torch.rand(3, 4, N, N, generator=g), torch.rand(3, 4, N, N, generator=g))
    rel = torch.rand(3, 4, 2, generator=g) * 8 - 4
    canvas = merge_group(patches, rel, M, central_support(N))
    assert float(canvas.abs().max()) <= float(patches.abs().max()) + 1e-5
    assert torch.isfinite(torch.view_as_real(canvas)).all()


def test_merge_is_differentiable():
    g = torch.Generator().manual_seed(1)
    patches = torch.complex(torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g))
    patches.requires_grad_(True)
    rel = (torch.rand(2, 4, 2, generator=g) * 4 - 2).requires_grad_(True)
    out = split_group(merge_group(patches, rel, 16, central_support(8)), rel, 8)
    out.abs().sum().backward()
    assert patches.grad is not None and torch.isfinite(torch.view_as_real(patches.grad)).all()
    assert rel.grad is not None and torch.isfinite(rel.grad).all()


def test_central_support_geometry():
    hard = central_support(64, soft=False)
    assert hard.sum() == 32 * 32 and hard[16, 16] == 1 and hard[15, 16] == 0 and hard[47, 47] == 1
    assert hard[48, 47] == 0                                        # pad N/4 on every side
    assert central_support(10, size=5, soft=False).sum() == 25
    soft = central_support(64)
    assert float(soft[32, 32]) == pytest.approx(1.0, abs=1e-6) and float(soft[0, 0]) < 1e-6
    assert float(soft.sum()) == pytest.approx(32 * 32, rel=0.01)
