"""Lightning callbacks that turn training progress into the engine's typed events.

:class:`EventEmitter` sends StepProgress (with ETA), EpochEnd, Preview and LogLine events to a
plain-Python callback, keeps the per-epoch history (``history.csv`` + ``history.json``, written
atomically after every epoch) and the last preview (``preview.npz``). Only rank 0 emits or writes.
"""
from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path
from typing import Any, Callable

import lightning as L
import numpy as np
import torch

from ..events import EpochEnd, EventCallback, LogLine, StepProgress
from ..io.atomic import atomic_write_json, atomic_write_text

HISTORY_FIELDS = ("epoch", "train_loss", "val_loss", "lr", "elapsed_s")


def _metric(trainer: L.Trainer, name: str) -> float | None:
    value = trainer.callback_metrics.get(name)
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def write_history(output_dir: Path, history: list[dict[str, Any]]) -> None:
    """history.json (list of rows) and history.csv (same columns), both atomically."""
    atomic_write_json(output_dir / "history.json", history)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in HISTORY_FIELDS})
    atomic_write_text(output_dir / "history.csv", buf.getvalue())


class EventEmitter(L.Callback):
    """Emit events, record history, make previews.

    ``preview_fn(model) -> (amplitude, phase)`` is called every ``preview_every`` epochs (0 = never).
    ``history`` may hold rows of earlier (resumed) epochs; rows are appended per finished epoch.
    """

    def __init__(self, on_event: EventCallback, output_dir: Path, nepochs: int,
                 preview_fn: Callable[[torch.nn.Module], tuple[np.ndarray, np.ndarray]] | None = None,
                 preview_every: int = 1, history: list[dict[str, Any]] | None = None,
                 n_step_events: int = 100) -> None:
        self.on_event = on_event
        self.output_dir = Path(output_dir)
        self.nepochs = int(nepochs)
        self.preview_fn = preview_fn
        self.preview_every = int(preview_every or 0)
        self.history: list[dict[str, Any]] = list(history or [])
        self.n_step_events = n_step_events
        self.t0 = time.monotonic()
        self.elapsed_before = float(self.history[-1]["elapsed_s"]) if self.history else 0.0
        self._start_step = 0
        self._last_step = -1
        self._every = 1

    def _emit(self, trainer: L.Trainer, event: Any) -> None:
        if trainer.is_global_zero:
            self.on_event(event)

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.t0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.t0 = time.monotonic()
        self._start_step = int(trainer.global_step)
        self._last_step = self._start_step
        total = int(trainer.estimated_stepping_batches)
        self._every = max(1, total // self.n_step_events)
        if trainer.current_epoch > 0:
            self._emit(trainer, LogLine(f"resumed at epoch {trainer.current_epoch + 1} "
                                        f"(step {trainer.global_step})"))
        self._emit(trainer, LogLine(f"training {self.nepochs} epochs, {total} optimiser steps on "
                                    f"{trainer.strategy.root_device}, precision {trainer.precision}"))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        step = int(trainer.global_step)
        total = int(trainer.estimated_stepping_batches)
        n_batches = trainer.num_training_batches
        last_of_epoch = isinstance(n_batches, int) and batch_idx + 1 == n_batches
        # with gradient accumulation several batches share one optimiser step: report each step once
        if step == self._last_step or step == 0 or (step % self._every and not last_of_epoch):
            return
        self._last_step = step
        run_time = time.monotonic() - self.t0
        done = step - self._start_step
        eta = run_time / done * max(total - step, 0) if done > 0 else None
        self._emit(trainer, StepProgress(epoch=trainer.current_epoch + 1, step=step, total_steps=total,
                                         elapsed_s=self.elapsed(), eta_s=eta))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        epoch = trainer.current_epoch + 1
        train_loss = _metric(trainer, "train_loss")
        val_loss = _metric(trainer, "val_loss")
        lr = float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else float("nan")
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr,
               "elapsed_s": round(self.elapsed(), 3)}
        self.history = [r for r in self.history if r["epoch"] < epoch] + [row]
        if not trainer.is_global_zero:
            return
        write_history(self.output_dir, self.history)
        self.on_event(EpochEnd(epoch=epoch, n_epochs=self.nepochs, train_loss=float(train_loss or float("nan")),
                               val_loss=val_loss, learning_rate=lr, elapsed_s=self.elapsed()))
        if train_loss is None:
            self.on_event(LogLine(f"epoch {epoch}: training loss is not finite", level="WARNING"))
        if self.preview_fn is not None and self.preview_every > 0 and (
                epoch % self.preview_every == 0 or epoch == self.nepochs):
            self.make_preview(epoch, pl_module)

    def make_preview(self, epoch: int, pl_module: L.LightningModule) -> None:
        """Stitch the preview subset with the current weights; emit and save it (never fatal)."""
        from .preview import publish_preview

        publish_preview(self.preview_fn, pl_module.model, epoch, self.output_dir, self.on_event)
