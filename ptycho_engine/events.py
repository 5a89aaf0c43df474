"""Typed progress events and the cancel token.

The engine reports progress by handing these plain objects to a callback; it never knows who
listens (a CLI progress bar, the GUI's worker, a test). A :class:`CancelToken` is checked between
batches so a run stops within one batch and still leaves a valid model.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Union

import numpy as np


@dataclass(frozen=True)
class LogLine:
    """A human-readable message from the engine (level is a logging level name)."""

    message: str
    level: str = "INFO"


@dataclass(frozen=True)
class StepProgress:
    """Progress inside the run: ``step`` of ``total_steps`` optimiser steps (or inference batches).

    Epochs are counted from 1 in every event, as a person counts them.
    """

    epoch: int
    step: int
    total_steps: int
    elapsed_s: float
    eta_s: float | None
    phase: str = ""  # "" = the main work; "refine" = physics refinement passes of an inference run


@dataclass(frozen=True)
class EpochEnd:
    """One finished epoch: mean losses and the learning rate used."""

    epoch: int
    n_epochs: int
    train_loss: float
    val_loss: float | None
    learning_rate: float
    elapsed_s: float


@dataclass(frozen=True)
class Preview:
    """A reconstruction snapshot (amplitude and phase of a stitched region), for live views."""

    epoch: int
    amplitude: np.ndarray = field(repr=False)
    phase: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class RunFinished:
    """The run ended; ``status`` is 'completed', 'cancelled' or 'failed'."""

    status: str
    output_dir: str
    message: str = ""


Event = Union[LogLine, StepProgress, EpochEnd, Preview, RunFinished]
EventCallback = Callable[[Event], None]


def ignore_events(_event: Event) -> None:
    """Default callback: drop events."""


class CancelledError(RuntimeError):
    """Raised inside the engine when a cancel token fires; callers treat it as a clean stop."""


class CancelToken:
    """Thread-safe flag that a GUI or signal handler sets and the engine polls."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError("cancelled by user")
