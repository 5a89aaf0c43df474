"""Patch extraction / translation: the project's ONE geometry and sign convention."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ptycho_engine.physics.shifts import extract_patches, translate


def _obj(H=40, W=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(H, W, generator=g), torch.randn(H, W, generator=g))


def test_integer_positions_are_exact_slices():
    obj = _obj()
    N = 8
    pos = np.array([[20.0, 15.0], [30.0, 25.0], [4.0, 4.0]])   # [x, y]
    p = extract_patches(obj, pos, N)
    assert p.shape == (3, N, N) and p.dtype == torch.complex64
    for k, (x, y) in enumerate(pos.astype(int)):
        assert torch.equal(p[k], obj[y - N // 2:y + N // 2, x - N // 2:x + N // 2])


def test_x_is_column_and_y_is_row():
    obj = torch.zeros(30, 30)
    obj[10, 20] = 1.0                                              # row 10, column 20
    p = extract_patches(obj, [[20.0, 10.0]], 8)                    # centred on it
    assert p[0, 4, 4] == 1.0 and p.sum() == 1.0


def test_outside_is_zero():
    obj = _obj()
    p = extract_patches(obj, [[2.0, 3.0]], 8)[0]
    assert torch.equal(p[1:, 2:], obj[0:7, 0:6])
    assert torch.count_nonzero(p[0]) == 0 and torch.count_nonzero(p[:, :2]) == 0


def test_subpixel_is_bilinear():
    obj = torch.arange(400, dtype=torch.float32).reshape(20, 20)   # value = 20*row + col: linear
    p = extract_patches(obj, [[10.25, 9.5]], 4)[0]
    # pixel (0, 0) samples row 9.5 - 2 = 7.5, col 10.25 - 2 = 8.25
    assert float(p[0, 0]) == pytest.approx(20 * 7.5 + 8.25, abs=1e-4)
    assert float(p[3, 1]) == pytest.approx(20 * 10.5 + 9.25, abs=1e-4)


def test_batched_objects_and_leading_position_axes():
    objs = torch.stack([_obj(seed=1), _obj(seed=2)])
    pos = torch.tensor([[[20.0, 15.0], [25.0, 18.0], [30.0, 20.0]],
                        [[10.0, 10.0], [11.0, 12.0], [40.0, 30.0]]], dtype=torch.float64)
    p = extract_patches(objs, pos, 6)
    assert p.shape == (2, 3, 6, 6)
    assert torch.equal(p[1, 1], objs[1, 9:15, 8:14])
    single = extract_patches(objs[0], pos[0].reshape(3, 1, 2), 6)
    assert single.shape == (3, 1, 6, 6)
    torch.testing.assert_close(single[:, 0], p[0])


def test_translate_moves_content_by_plus_shift():
    img = torch.zeros(1, 10, 10)
    img[0, 5, 3] = 1.0
    out = translate(img, torch.tensor([[2.0, 1.0]]))               # dx = +2 columns, dy = +1 row
    assert out[0, 6, 5] == 1.0 and out.sum() == 1.0
    half = translate(img, torch.tensor([[0.5, 0.0]]))[0]
    torch.testing.assert_close(half[5, 2:6], torch.tensor([0.0, 0.5, 0.5, 0.0]))
    # 2-D input with a (2,) shift, complex content
    z = torch.zeros(10, 10, dtype=torch.complex64)
    z[2, 2] = 1 + 2j
    assert translate(z, [-1.0, 3.0])[5, 1] == 1 + 2j


def test_extract_equals_translate_then_crop():
    obj = _obj()
    x, y, N = 21.3, 17.6, 8
    a = extract_patches(obj, [[x, y]], N)[0]
    b = translate(obj[None], torch.tensor([[N // 2 - x, N // 2 - y]], dtype=torch.float64))[0, :N, :N]
    torch.testing.assert_close(a, b)


def test_gradients_flow_to_image_and_positions():
    obj = _obj().requires_grad_(True)
    pos = torch.tensor([[20.3, 15.7]], requires_grad=True)
    extract_patches(obj, pos, 8).abs().sum().backward()
    assert obj.grad is not None and float(obj.grad.abs().sum()) > 0
    assert pos.grad is not None and torch.isfinite(pos.grad).all()
    # gradcheck of the linear map on a tiny double problem
    small = torch.randn(6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda o: extract_patches(o, [[3.4, 2.7]], 4), (small,))


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        extract_patches(torch.zeros(2, 10, 10), np.zeros((3, 2)), 4)
    with pytest.raises(ValueError):
        extract_patches(torch.zeros(10, 10), np.zeros((3, 3)), 4)
    with pytest.raises(ValueError):
        translate(torch.zeros(2, 10, 10), torch.zeros(3, 2))
