"""Losses: Poisson negative log-likelihood on photon counts, MAE on amplitude, a TV regulariser.

The NLL works in counts (the physics the data obey): lambda = s^2 * A_pred^2, k = s^2 * X^2 with
s^2 from nphotons (INTERFACES "Forward model"). We subtract the saturated value (the NLL at
lambda = k), i.e. use half the Poisson deviance, and average per pixel: the minimum is exactly 0 at
lambda = k, the gradients are those of the plain NLL, and at the Poisson noise floor the value is
about 0.5 per (well-exposed) pixel, so logged values are O(1) near convergence whatever N or the
dose are. The MAE is computed on *normalised* amplitudes (times the model's input scale) so it is
O(0.1) regardless of the file's absolute units.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

LOSS_MODES = ("poisson", "mae")
RATE_FLOOR = 1e-8


def poisson_nll(pred_amp: torch.Tensor, obs_amp: torch.Tensor, counts_scale: torch.Tensor | float) -> torch.Tensor:
    """Mean per-pixel Poisson NLL minus its saturated value (>= 0, == 0 iff lambda == k)."""
    lam = (counts_scale * pred_amp.square()).clamp_min(RATE_FLOOR)
    k = counts_scale * obs_amp.square()
    dev = lam - k + torch.special.xlogy(k, k) - torch.special.xlogy(k, lam)
    return dev.mean()


def amplitude_mae(pred_amp: torch.Tensor, obs_amp: torch.Tensor, scale: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Mean |A_pred - X| (times ``scale``, the input normalisation, so it is unit-free)."""
    return (scale * (pred_amp - obs_amp)).abs().mean()


def total_variation(obj: torch.Tensor) -> torch.Tensor:
    """Mean squared finite differences of the real and imaginary parts of complex patches."""
    ri = torch.view_as_real(obj)
    dy = (ri[..., 1:, :, :] - ri[..., :-1, :, :]).square().mean()
    dx = (ri[..., :, 1:, :] - ri[..., :, :-1, :]).square().mean()
    return dx + dy


@dataclass(frozen=True)
class LossWeights:
    """Which terms make up the optimised loss.

    ``mode='poisson'``: nll_weight * NLL + mae_weight * MAE; ``mode='mae'``: MAE alone (weight
    mae_weight, or 1 when that is 0). ``realspace_weight``
    weighs a TV regulariser on the object patches (skipped when 0).
    """

    mode: str = "poisson"
    nll_weight: float = 1.0
    mae_weight: float = 0.0
    realspace_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in LOSS_MODES:
            raise ValueError(f"torch_loss_mode: expected one of {list(LOSS_MODES)}, got {self.mode!r}")
        if min(self.nll_weight, self.mae_weight, self.realspace_weight) < 0:
            raise ValueError("loss weights must be >= 0")
        if self.mode == "poisson" and self.nll_weight == 0 and self.mae_weight == 0:
            raise ValueError("nll_weight and mae_weight are both 0: nothing to optimise")


def weighted_terms(weights: LossWeights, nll: Callable[[], Any], mae: Callable[[], Any],
                   tv: Callable[[], Any] | None, zero: Any) -> dict[str, Any]:
    """The loss terms ``weights`` asks for plus ``loss``, their weighted sum (any framework).

    Why thunks: a term with weight 0 is never computed; the PyTorch and TensorFlow losses share
    this one rule for which terms count and how they add up.
    """
    out: dict[str, Any] = {}
    if weights.mode == "poisson":
        total = zero
        if weights.nll_weight > 0:
            out["nll"] = nll()
            total = total + weights.nll_weight * out["nll"]
        if weights.mae_weight > 0:
            out["mae"] = mae()
            total = total + weights.mae_weight * out["mae"]
    else:
        out["mae"] = mae()
        total = (weights.mae_weight or 1.0) * out["mae"]
    if weights.realspace_weight > 0 and tv is not None:
        out["tv"] = tv()
        total = total + weights.realspace_weight * out["tv"]
    out["loss"] = total
    return out


def compute_loss(pred_amp: torch.Tensor, obs_amp: torch.Tensor, counts_scale: torch.Tensor | float,
                 input_scale: torch.Tensor | float, weights: LossWeights,
                 obj: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """All loss terms plus ``loss`` (the optimised total). Terms with weight 0 are not computed."""
    pred_amp, obs_amp = pred_amp.float(), obs_amp.float()
    return weighted_terms(weights, lambda: poisson_nll(pred_amp, obs_amp, counts_scale),
                          lambda: amplitude_mae(pred_amp, obs_amp, input_scale),
                          None if obj is None else (lambda: total_variation(obj)), pred_amp.new_zeros(()))
