"""The fit stage shared by training on scans and synthetic pretraining.

A data stage builds the model (scales set, gain calibrated or resumed) and the loaders; this stage
runs Lightning (config.json once training starts, events, cancel, checkpoints, history) and always
writes the archive -- a cancelled run keeps the weights of that moment (status 'cancelled').
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import lightning as L
import torch
from torch.utils.data import DataLoader

from lightning.pytorch.utilities.exceptions import SIGTERMException

from ..events import CancelledError, CancelToken, EventCallback, LogLine, RunFinished
from ..io.atomic import atomic_write_json
from .module import NonFiniteLossError
from .runtime import ARCHIVE_NAME, ResumeState, TrainResult, archive_config, config_dict


@dataclass
class FitJob:
    """What a data stage hands to :func:`fit_and_save`."""

    model: Any  # PtychoPINN
    weights: Any  # LossWeights
    train_loader: DataLoader
    val_loader: DataLoader | None
    preview_fn: Callable[[torch.nn.Module], tuple[np.ndarray, np.ndarray]] | None = None
    scan_probes: torch.Tensor | None = None  # per-scan probe bank (S, N, N) complex, mixed runs only
    pixel_masks: torch.Tensor | None = None  # (S, N, N) 1 = good pixel, per scan of the bank; None = all good
    nphotons: float = 1.0
    callbacks: list[Any] = field(default_factory=list)
    config_extra: dict[str, Any] = field(default_factory=dict)  # merged into config.json
    archive_training_extra: dict[str, Any] = field(default_factory=dict)  # into the archive's training section
    archive_extras: dict[str, Any] = field(default_factory=dict)  # arrays/scalars under extras/ in weights.h5
    n_train_batches: int | None = None  # for an iterable dataset without len(loader)


def loss_weights(cfg: Any) -> Any:
    """The loss terms of a run (raises ValueError for weights that optimise nothing)."""
    from ..model.loss import LossWeights

    return LossWeights(mode=cfg.torch_loss_mode, nll_weight=cfg.nll_weight, mae_weight=cfg.mae_weight,
                       realspace_weight=cfg.realspace_weight)


def fit_and_save(payload: Any, job: FitJob, on_event: EventCallback, cancel: CancelToken | None,
                 state: ResumeState, t0: float) -> TrainResult:
    """Fit ``job.model`` as ``payload`` says and write ``wts.h5.zip``; ends with one RunFinished event."""
    from ..archive import save_archive
    from ..config.execution import PyTorchExecutionConfig
    from .callbacks import EventEmitter
    from .module import PinnModule
    from .trainer import build_trainer, monitor_name

    cfg = payload.tf_training_config
    exe = payload.execution_config or PyTorchExecutionConfig()
    out = Path(cfg.output_dir)
    archive_path = out / ARCHIVE_NAME
    conf, serializer = config_dict(payload)
    conf.update(job.config_extra)
    # written only once the run has started (the trainer built, the first epoch about to begin): a run
    # that fails during setup leaves an existing run folder's config.json, history and preview alone
    config_writer = _ConfigWriter(out / "config.json", conf, serializer, on_event)

    has_val = job.val_loader is not None
    emitter = EventEmitter(on_event, out, int(cfg.nepochs), preview_fn=job.preview_fn,
                           preview_every=int(getattr(exe, "preview_every_n_epochs", 1)), history=state.history)
    module = PinnModule(job.model, job.weights, learning_rate=exe.learning_rate, scheduler=exe.scheduler,
                        nepochs=cfg.nepochs, plateau_monitor=monitor_name("val_loss", has_val), cancel=cancel,
                        scan_probes=job.scan_probes, pixel_masks=job.pixel_masks)
    n_batches = job.n_train_batches if job.n_train_batches is not None else len(job.train_loader)
    trainer, accelerator = build_trainer(exe, out, int(cfg.nepochs), [config_writer, emitter, *job.callbacks],
                                         has_val, n_batches)

    if state.note:
        on_event(LogLine(state.note, level="WARNING"))
    status, message = "completed", ""
    failure: BaseException | None = None
    try:
        trainer.fit(module, job.train_loader, job.val_loader,
                    ckpt_path=str(state.ckpt_path) if state.resume else None)
    except CancelledError:
        status, message = "cancelled", "cancelled by user; the archive holds the weights at that moment"
    except SIGTERMException:  # Lightning's own SIGTERM handling (a SystemExit without a code)
        status, message = "cancelled", "stopped by SIGTERM; the archive holds the weights at that moment"
    except NonFiniteLossError as exc:
        status, failure = "failed", exc
    if status == "completed" and trainer.interrupted:
        status = "cancelled"
    model = job.model
    saved = False
    bad = non_finite_tensors(model)
    if bad:  # never write an archive the loader would refuse
        message = (f"no archive written: the weights are not finite ({', '.join(bad[:3])})")
        on_event(LogLine(message, level="ERROR"))
    elif trainer.is_global_zero:
        a_cfg, params = archive_config(cfg)
        a_cfg["training"].update(job.archive_training_extra)
        params["intensity_scale"] = model.gain
        extras = {"nphotons": job.nphotons, "epochs_completed": len(emitter.history)}
        extras.update(job.archive_extras)
        save_archive(archive_path, model, a_cfg, params, extras=extras)
        saved = True
    elapsed = time.monotonic() - t0
    if failure is not None:
        kept = (f"the last finite weights were saved to {archive_path}" if saved
                else "no archive was written")
        on_event(LogLine(f"training failed after {len(emitter.history)} epoch(s) in {elapsed:.1f} s: {failure}; "
                         f"{kept}", level="ERROR"))
        raise NonFiniteLossError(f"{failure} ({kept})", failure.epoch, failure.step) from failure
    if bad:
        raise NonFiniteLossError(f"training ended with non-finite weights ({', '.join(bad[:3])}); no archive "
                                 "was written", len(emitter.history), int(trainer.global_step))
    on_event(LogLine(f"training {status} after {len(emitter.history)} epoch(s) in {elapsed:.1f} s on {accelerator}; "
                     f"model saved to {archive_path}"))
    on_event(RunFinished(status=status, output_dir=str(out), message=message))
    return TrainResult(status=status, output_dir=out, archive_path=archive_path, history=list(emitter.history))


class _ConfigWriter(L.Callback):
    """Writes the run's config.json when training starts (rank 0), not before: a run that fails
    during setup never touches an existing run folder's files."""

    def __init__(self, path: Path, conf: dict[str, Any], serializer: str, on_event: EventCallback) -> None:
        self.path, self.conf, self.serializer, self.on_event = path, conf, serializer, on_event

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            atomic_write_json(self.path, self.conf)
            self.on_event(LogLine(f"config.json written ({self.serializer})", level="DEBUG"))


def non_finite_tensors(model: Any) -> list[str]:
    """Names of the model's parameters and buffers that hold NaN or infinite values."""
    bad = [name for name, t in model.state_dict().items()
           if t.is_floating_point() or t.is_complex()
           if not bool(torch.isfinite(t).all())]
    for name in ("input_scale", "counts_scale"):
        value = getattr(model, name, None)
        if isinstance(value, torch.Tensor) and not bool(torch.isfinite(value).all()) and name not in bad:
            bad.append(name)
    return bad
