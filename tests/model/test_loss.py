"""Losses: the Poisson NLL is minimal (zero) at lambda = k, MAE is zero on identity, modes and weights."""
from __future__ import annotations

import pytest
import torch

from ptycho_engine.model.loss import LossWeights, amplitude_mae, compute_loss, poisson_nll


def test_poisson_nll_zero_and_minimal_at_lambda_equals_k():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 8, 8) + 0.1
    s2 = 400.0
    at_k = poisson_nll(x, x, s2)
    assert float(at_k) == pytest.approx(0.0, abs=1e-4)
    for factor in (0.9, 0.99, 1.01, 1.1):
        assert float(poisson_nll(x * factor, x, s2)) > float(at_k)


def test_poisson_nll_gradient_zero_at_optimum_and_matches_plain_nll():
    x = torch.rand(1, 1, 4, 4) + 0.2
    a = (x * 1.3).clone().requires_grad_(True)
    poisson_nll(a, x, 100.0).backward()
    lam, k = 100.0 * a.detach() ** 2, 100.0 * x ** 2
    # d/dA mean(lam - k log lam) = (1 - k/lam) * 2 * s2 * A / n
    expected = (1 - k / lam) * 2 * 100.0 * a.detach() / a.numel()
    assert torch.allclose(a.grad, expected, rtol=1e-4)
    b = x.clone().requires_grad_(True)
    poisson_nll(b, x, 100.0).backward()
    assert torch.allclose(b.grad, torch.zeros_like(b), atol=1e-5)


def test_poisson_nll_handles_zero_counts_and_zero_prediction():
    x = torch.zeros(1, 1, 4, 4)
    x[..., 0, 0] = 1.0
    value = poisson_nll(torch.zeros_like(x), x, 10.0)  # lambda clamped to 1e-8: finite, large
    assert torch.isfinite(value) and value > 0
    assert float(poisson_nll(x, x, 10.0)) == pytest.approx(0.0, abs=1e-6)


def test_mae_zero_on_identity_and_scaled():
    x = torch.rand(3, 4, 8, 8)
    assert float(amplitude_mae(x, x)) == 0.0
    assert float(amplitude_mae(x + 0.5, x, scale=2.0)) == pytest.approx(1.0)


def test_compute_loss_modes_and_weights():
    x = torch.rand(2, 1, 8, 8) + 0.1
    pred = x * 1.2
    poisson = compute_loss(pred, x, 100.0, 1.0, LossWeights("poisson", nll_weight=1.0, mae_weight=0.0))
    assert set(poisson) == {"nll", "loss"} and torch.equal(poisson["loss"], poisson["nll"])
    both = compute_loss(pred, x, 100.0, 1.0, LossWeights("poisson", nll_weight=0.5, mae_weight=1.0))
    assert float(both["loss"]) == pytest.approx(0.5 * float(both["nll"]) + float(both["mae"]), rel=1e-6)
    mae = compute_loss(pred, x, 100.0, 1.0, LossWeights("mae", nll_weight=1.0, mae_weight=0.0))
    assert set(mae) == {"mae", "loss"} and float(mae["loss"]) == pytest.approx(float(amplitude_mae(pred, x)))
    obj = torch.polar(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))
    tv = compute_loss(pred, x, 100.0, 1.0, LossWeights("poisson", realspace_weight=2.0), obj)
    assert float(tv["loss"]) == pytest.approx(float(tv["nll"]) + 2.0 * float(tv["tv"]), rel=1e-6)


def test_invalid_weights():
    with pytest.raises(ValueError, match="torch_loss_mode"):
        LossWeights("l2")
    with pytest.raises(ValueError, match="nothing to optimise"):
        LossWeights("poisson", nll_weight=0.0, mae_weight=0.0)


def test_poisson_nll_is_about_half_per_pixel_at_the_noise_floor():
    """With the true rate, the per-pixel (half-deviance) loss of Poisson data is ~0.5 for high counts."""
    torch.manual_seed(0)
    s2 = 1.0
    amp = torch.full((1, 1, 64, 64), 20.0)  # 400 counts per pixel
    k = torch.poisson(s2 * amp ** 2)
    value = float(poisson_nll(amp, torch.sqrt(k / s2), s2))
    assert 0.45 < value < 0.55
