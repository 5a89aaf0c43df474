"""Bad detector pixels (a scan's ``bad_pixels``) are left out of the training loss."""
from __future__ import annotations

import warnings

import numpy as np
import torch

from ptycho_engine.model.loss import LossWeights
from ptycho_engine.model.pinn import PtychoPINN
from ptycho_engine.training.module import PinnModule


def _step(module: PinnModule, pred: torch.Tensor, x: torch.Tensor, batch_tail: tuple = ()) -> torch.Tensor:
    obj = torch.ones_like(pred, dtype=torch.complex64)
    module.model.forward_with_object = lambda x_, rel, probe=None: (pred, obj)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        return module._step((x, torch.zeros(x.shape[0], 1, 2), torch.zeros(x.shape[0], 1)) + batch_tail, "val")


def test_bad_pixels_get_no_loss_and_no_gradient() -> None:
    yy, xx = np.mgrid[:64, :64] - 32
    model = PtychoPINN((np.hypot(yy, xx) < 16).astype(np.complex64), N=64, gridsize=1, n_filters_scale=1)
    mask = torch.ones(1, 64, 64)
    mask[0, 10, 12] = 0.0
    module = PinnModule(model, LossWeights(mode="poisson", mae_weight=0.5), pixel_masks=mask)
    x = torch.rand(2, 1, 64, 64) + 0.5
    pred = (torch.rand(2, 1, 64, 64) + 0.5).requires_grad_(True)
    loss = _step(module, pred, x)
    loss.backward()
    assert pred.grad[:, :, 10, 12].abs().max() == 0 and pred.grad.abs().sum() > 0
    hot = x.clone()
    hot[:, :, 10, 12] = 1e4  # whatever the bad pixel holds, the loss is the same
    assert torch.allclose(_step(module, pred.detach(), hot), loss.detach())
    unmasked = PinnModule(model, LossWeights(mode="poisson", mae_weight=0.5))
    assert not torch.allclose(_step(unmasked, pred.detach(), hot), _step(unmasked, pred.detach(), x))


def test_each_scan_of_a_mixed_batch_uses_its_own_mask() -> None:
    yy, xx = np.mgrid[:64, :64] - 32
    model = PtychoPINN((np.hypot(yy, xx) < 16).astype(np.complex64), N=64, gridsize=1, n_filters_scale=1)
    masks = torch.ones(2, 64, 64)
    masks[1, 5, 5] = 0.0  # only scan 1 has a bad pixel there
    module = PinnModule(model, LossWeights(), pixel_masks=masks)
    x = torch.rand(2, 1, 64, 64) + 0.5
    pred = (torch.rand(2, 1, 64, 64) + 0.5).requires_grad_(True)
    tail = (torch.tensor([0, 1]), torch.tensor([1.0, 1.0]))
    _step(module, pred, x, tail).backward()
    assert pred.grad[0, 0, 5, 5] != 0 and pred.grad[1, 0, 5, 5] == 0
