"""PtychoPINN: forward shapes, the physics path, the intensity gain as a real parameter."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ptycho_engine.model.pinn import PtychoPINN, counts_scale_from_data, input_scale_from_data
from ptycho_engine.physics.forward import forward_amplitude


def _probe(N=64):
    yy, xx = np.mgrid[:N, :N] - N // 2
    return (np.hypot(yy, xx) < N / 4).astype(np.complex64)


def _rel(B):
    return torch.tensor([[-3.0, -3.0], [3.0, -3.0], [-3.0, 3.0], [3.0, 3.0]]).expand(B, 4, 2).clone()


@pytest.mark.parametrize("gridsize,object_big", [(1, True), (2, True), (2, False)])
def test_forward_shapes(gridsize, object_big):
    C = gridsize ** 2
    m = PtychoPINN(_probe(), N=64, gridsize=gridsize, n_filters_scale=1, object_big=object_big)
    x = torch.rand(3, C, 64, 64)
    rel = _rel(3) if C == 4 else torch.zeros(3, 1, 2)
    pred, obj = m.forward_with_object(x, rel)
    assert pred.shape == (3, C, 64, 64) and pred.dtype == torch.float32
    assert obj.shape == (3, C, 64, 64) and obj.is_complex()
    assert torch.equal(m.predict_object(x, rel), obj)


def test_physics_matches_shared_forward_model_at_gridsize_1():
    m = PtychoPINN(_probe(), N=64, gridsize=1, n_filters_scale=1, log_gain=0.3)
    x = torch.rand(2, 1, 64, 64)
    pred, obj = m.forward_with_object(x)
    expected = forward_amplitude(obj, torch.from_numpy(_probe())) * np.exp(0.3)
    assert torch.allclose(pred, expected, rtol=1e-5, atol=1e-6)


def test_gain_is_registered_and_trains_only_when_trainable():
    x = torch.rand(4, 1, 64, 64)
    for trainable in (True, False):
        m = PtychoPINN(_probe(), N=64, gridsize=1, n_filters_scale=1, intensity_scale_trainable=trainable)
        assert "log_gain" in m.state_dict() and "input_scale" in m.state_dict() and "counts_scale" in m.state_dict()
        assert any(p is m.log_gain for p in m.parameters())
        before = float(m.log_gain.detach())
        opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-2)
        (m(x) - x).abs().mean().backward()
        opt.step()
        changed = float(m.log_gain.detach()) != before
        assert changed is trainable


def test_probe_trainable_flag():
    frozen = PtychoPINN(_probe(), N=64, n_filters_scale=1)
    assert not frozen.probe_ri.requires_grad
    trainable = PtychoPINN(_probe(), N=64, n_filters_scale=1, probe_trainable=True)
    trainable(torch.rand(1, 1, 64, 64)).sum().backward()
    assert trainable.probe_ri.grad is not None and trainable.probe_ri.grad.abs().sum() > 0
    assert torch.allclose(trainable.probe, torch.from_numpy(_probe()))


def test_calibrate_gain_matches_data_energy():
    m = PtychoPINN(_probe(), N=64, gridsize=2, n_filters_scale=1)
    x = 5.0 * torch.rand(3, 4, 64, 64)
    m.calibrate_gain(x, _rel(3))
    pred = m(x, _rel(3))
    assert float(pred.square().sum((-2, -1)).mean()) == pytest.approx(float(x.square().sum((-2, -1)).mean()), rel=1e-4)


def test_scales_from_data():
    X = np.full((5, 64, 64), 2.0, dtype=np.float32)  # energy per pattern 4 * 4096
    a = input_scale_from_data(X, 64)
    assert ((a * X.astype(np.float64)) ** 2).sum((-2, -1)).mean() == pytest.approx(32 ** 2)
    assert counts_scale_from_data(X, 1e6) == pytest.approx(1e6 / (4 * 4096))
    with pytest.raises(ValueError, match="energy"):
        input_scale_from_data(np.zeros((2, 64, 64), np.float32), 64)
    big = np.full((2, 64, 64), 60000, dtype=np.uint16)  # squares would wrap in uint16
    assert input_scale_from_data(big, 64) == pytest.approx(np.sqrt(32 ** 2 / (60000.0 ** 2 * 4096)))


def test_physics_runs_in_float32_under_bf16_autocast():
    m = PtychoPINN(_probe(), N=64, gridsize=2, n_filters_scale=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pred = m(torch.rand(2, 4, 64, 64), _rel(2))
    assert pred.dtype == torch.float32 and torch.isfinite(pred).all()


def test_wrong_probe_shape():
    with pytest.raises(ValueError, match="probe shape"):
        PtychoPINN(_probe(32), N=64)
