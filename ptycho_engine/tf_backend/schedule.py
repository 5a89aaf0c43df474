"""The learning-rate schedules of the PyTorch engine (``training.module``), per epoch, in plain Python."""
from __future__ import annotations

import math

from ..training.module import SCHEDULERS


class EpochSchedule:
    """``lr(epoch0)`` for the epoch about to run; ``end_epoch(monitored)`` after each one.

    Same rules as the torch schedulers the Lightning module builds: constant; x0.95 per epoch;
    cosine from lr to lr/100 over nepochs; ReduceLROnPlateau (factor 0.5, patience 2, min lr/10,
    relative threshold 1e-4, on the validation loss or the training loss without validation).
    """

    def __init__(self, name: str, learning_rate: float, nepochs: int) -> None:
        if name not in SCHEDULERS:
            raise ValueError(f"scheduler: expected one of {list(SCHEDULERS)}, got {name!r}")
        self.name, self.base, self.nepochs = name, float(learning_rate), max(1, int(nepochs))
        self.current = self.base
        self.best = math.inf
        self.bad_epochs = 0

    def lr(self, epoch0: int) -> float:
        if self.name == "Exponential":
            self.current = self.base * 0.95 ** epoch0
        elif self.name == "CosineAnnealing":
            eta_min = self.base / 100
            self.current = eta_min + (self.base - eta_min) * (1 + math.cos(math.pi * epoch0 / self.nepochs)) / 2
        return self.current

    def end_epoch(self, monitored: float | None) -> None:
        if self.name != "ReduceLROnPlateau" or monitored is None or not math.isfinite(monitored):
            return
        if monitored < self.best * (1 - 1e-4):
            self.best, self.bad_epochs = monitored, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > 2:
            self.current = max(self.current * 0.5, self.base / 10)
            self.bad_epochs = 0
