"""The TF backend's per-epoch learning rates are the PyTorch engine's schedulers' (no TF needed)."""
from __future__ import annotations

import pytest
import torch

from ptycho_engine.tf_backend.schedule import EpochSchedule

LOSSES = [5.0, 4.0, 4.1, 4.2, 4.05, 3.0, 3.1, 3.2, 3.3, 3.4, 2.0, 2.5]


def _torch_lrs(name: str, lr: float, nepochs: int) -> list[float]:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = {"Default": None,
             "Exponential": torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95),
             "CosineAnnealing": torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=nepochs, eta_min=lr / 100),
             "ReduceLROnPlateau": torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2,
                                                                             min_lr=lr / 10)}[name]
    out = []
    for epoch in range(nepochs):
        out.append(opt.param_groups[0]["lr"])
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(LOSSES[epoch])
        elif sched is not None:
            sched.step()
    return out


@pytest.mark.parametrize("name", ["Default", "Exponential", "CosineAnnealing", "ReduceLROnPlateau"])
def test_epoch_learning_rates_match_torch(name):
    nepochs, lr = len(LOSSES), 1e-3
    schedule = EpochSchedule(name, lr, nepochs)
    ours = []
    for epoch in range(nepochs):
        ours.append(schedule.lr(epoch))
        schedule.end_epoch(LOSSES[epoch])
    assert ours == pytest.approx(_torch_lrs(name, lr, nepochs), rel=1e-9)
    if name != "Default":
        assert min(ours) < lr  # the schedule really moved
