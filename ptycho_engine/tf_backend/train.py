"""``train_tf(payload)``: a training run on the TensorFlow backend, same run folder as PyTorch's.

The data stage is the engine's (``training.scans``: load, validate, group, split, scales; the
PyTorch model object describes the architecture, takes ``init_model`` weights and calibrates the
gain), then the Keras model takes those weights and TensorFlow runs every optimiser step. Events,
``history.csv/json``, ``preview.npz``, ``config.json`` and ``wts.h5.zip`` (manifest backend
'tensorflow') are written as the PyTorch run writes them; ``checkpoints/last.weights.h5`` holds the
Keras network's weights of the last finished epoch (a plain Keras file; ``resume`` is
PyTorch-only). Cancel is checked before every batch.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config.schema import ConfigError
from ..events import CancelToken, EpochEnd, EventCallback, LogLine, RunFinished, StepProgress

#: StepProgress events per run (about), as the PyTorch EventEmitter sends
N_STEP_EVENTS = 100


def check_supported(cfg: Any, exe: Any) -> None:
    """Refuse, before any data is read, what this backend does not implement (the message says what to do)."""
    from . import check_generator

    check_generator(cfg.model.generator)
    refused = {
        "resume": bool(getattr(exe, "resume", False)),
        "accum_steps > 1": int(getattr(exe, "accum_steps", 1) or 1) > 1,
        "devices > 1": int(getattr(exe, "devices", 1) or 1) > 1,
        "precision other than 32-true": str(getattr(exe, "precision", "32-true")) != "32-true",
        "several training scans or a validation scan": len(cfg.training_files) > 1
        or getattr(cfg, "validation_data_file", None) is not None,
        "gaussian_smoothing_sigma > 0": float(cfg.model.gaussian_smoothing_sigma or 0) > 0,
    }
    bad = [name for name, hit in refused.items() if hit]
    if bad:
        raise ConfigError(f"the TensorFlow backend does not support {', '.join(bad)} yet; change "
                          f"{'it' if len(bad) == 1 else 'them'} or use backend = 'pytorch'")


def train_tf(payload: Any, on_event: EventCallback, cancel: CancelToken | None) -> Any:
    """Train as ``payload`` says on TensorFlow; returns the engine's ``TrainResult``."""
    import lightning as L

    from ..config.execution import PyTorchExecutionConfig
    from ..data.cache import open_scan
    from ..model.pinn import PtychoPINN
    from ..training.data import make_loader
    from ..training.fit import loss_weights
    from ..training.init_model import start_and_calibrate
    from ..training.preview import make_preview_fn, preview_groups
    from ..training.run import check_config, check_scan
    from ..training.runtime import ensure_writable, explicitly_set
    from ..training.scans import compute_scales, prepare_scans
    from .model import TFPinn
    from .predict import TorchFacade
    from .runtime import import_tf

    cfg = payload.tf_training_config
    exe = payload.execution_config or PyTorchExecutionConfig()
    out = Path(cfg.output_dir)
    t0 = time.monotonic()
    ensure_writable(out)
    check_config(cfg)
    check_supported(cfg, exe)
    weights = loss_weights(cfg)
    tf = import_tf()
    n_threads = tf.config.threading.get_intra_op_parallelism_threads()

    L.seed_everything(int(cfg.seed), workers=True, verbose=False)  # the same initial weights as PyTorch
    tf.random.set_seed(int(cfg.seed))
    scans = prepare_scans(cfg, open_scan, explicitly_set(payload, "nphotons"), check=check_scan)
    compute_scales(scans)
    first = scans.first
    for note in scans.notes:
        on_event(LogLine(note, level="WARNING"))
    on_event(LogLine(f"{first.scan.n_patterns} patterns, N={first.scan.N}, {first.grouped.n_groups} groups of "
                     f"C={cfg.model.gridsize ** 2}: {len(first.train_ids)} train / {len(first.val_ids)} "
                     f"validation; TensorFlow {tf.__version__}, {n_threads} CPU threads"))
    pinn = PtychoPINN.from_config(cfg.model, cfg, first.scan.probe, input_scale=first.input_scale,
                                  counts_scale=first.counts_scale)
    start_and_calibrate(pinn, cfg, scans, on_event)  # TF trains one scan: no probe bank
    model = TFPinn.from_torch(pinn)
    M = model.canvas_for(first.grouped.rel)

    batch_size = int(cfg.batch_size)
    train_loader = make_loader(scans.train_dataset(), batch_size, not cfg.sequential_sampling,
                               exe.num_workers, cfg.seed)
    val_ds = scans.val_dataset()
    val_loader = make_loader(val_ds, batch_size, False, exe.num_workers, cfg.seed) if val_ds is not None else None
    preview_ids = preview_groups(first.grouped, first.val_ids if len(first.val_ids) else first.train_ids)
    preview_fn = make_preview_fn(first.grouped, preview_ids, int(exe.inference_batch_size or batch_size))
    job = _Loop(payload, model, weights, train_loader, val_loader, M, on_event, cancel,
                facade=TorchFacade(model), preview_fn=preview_fn, pixel_mask=_pixel_mask(scans))
    from ..training.module import NonFiniteLossError

    try:
        status, message = job.run(t0)
    except NonFiniteLossError as exc:  # the bad update was not applied: keep the last finite weights
        path = _save(payload, pinn, model, job, first.nphotons)
        on_event(LogLine(f"training failed after {len(job.history)} epoch(s): {exc}; the last finite weights "
                         f"were saved to {path}", level="ERROR"))
        raise
    archive_path = _save(payload, pinn, model, job, first.nphotons)
    elapsed = time.monotonic() - t0
    on_event(LogLine(f"training {status} after {len(job.history)} epoch(s) in {elapsed:.1f} s on TensorFlow; "
                     f"model saved to {archive_path}"))
    on_event(RunFinished(status=status, output_dir=str(out), message=message))
    from ..training.runtime import TrainResult

    return TrainResult(status=status, output_dir=out, archive_path=archive_path, history=list(job.history))


class _Loop:
    """The epochs: steps, validation, events, history, previews, checkpoints, cancel."""

    def __init__(self, payload: Any, model: Any, weights: Any, train_loader: Any, val_loader: Any, M: int,
                 on_event: EventCallback, cancel: CancelToken | None, facade: Any, preview_fn: Any,
                 pixel_mask: np.ndarray | None = None) -> None:
        from ..config.execution import PyTorchExecutionConfig
        from .schedule import EpochSchedule
        from .step import make_optimizer, make_steps

        self.cfg = payload.tf_training_config
        self.exe = payload.execution_config or PyTorchExecutionConfig()
        self.out = Path(self.cfg.output_dir)
        self.payload, self.model, self.M = payload, model, M
        self.train_loader, self.val_loader = train_loader, val_loader
        self.on_event, self.cancel, self.facade, self.preview_fn = on_event, cancel, facade, preview_fn
        self.nepochs = int(self.cfg.nepochs)
        self.schedule = EpochSchedule(self.exe.scheduler, self.exe.learning_rate, self.nepochs)
        self.optimizer = make_optimizer(self.exe.learning_rate)
        clip = float(self.exe.gradient_clip_val) if self.exe.gradient_clip_val else None
        self.train_step, self.eval_step = make_steps(model, weights, self.optimizer, clip, pixel_mask)
        self.history: list[dict[str, Any]] = []

    def _cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.cancelled

    def run(self, t0: float) -> tuple[str, str]:
        from ..io.atomic import atomic_write_json
        from ..training.runtime import config_dict

        from .runtime import import_tf

        tf = import_tf()
        conf, serializer = config_dict(self.payload)
        conf["backend"] = "tensorflow"
        atomic_write_json(self.out / "config.json", conf)
        self.on_event(LogLine(f"config.json written ({serializer})", level="DEBUG"))
        n_batches = len(self.train_loader)
        total = n_batches * self.nepochs
        every = max(1, total // N_STEP_EVENTS)
        self.on_event(LogLine(f"training {self.nepochs} epochs, {total} optimiser steps on TensorFlow "
                              f"({'GPU' if tf.config.list_logical_devices('GPU') else 'CPU'}), precision 32-true"))
        t_start, step = time.monotonic(), 0
        best, since_best = math.inf, 0
        for epoch0 in range(self.nepochs):
            lr = self.schedule.lr(epoch0)
            self.optimizer.learning_rate.assign(lr)
            sums: dict[str, float] = {}
            seen = 0
            for i, batch in enumerate(self.train_loader):
                if self._cancelled():
                    return "cancelled", "cancelled by user; the archive holds the weights at that moment"
                x, rel = _tensors(tf, batch)
                terms = self.train_step(x, rel, self.M)
                loss = float(terms["loss"])
                if not math.isfinite(loss):
                    self._non_finite(loss, epoch0 + 1, step, batch)
                step += 1
                b = int(x.shape[0])
                seen += b
                for name, value in terms.items():
                    sums[name] = sums.get(name, 0.0) + float(value) * b
                if step % every == 0 or i + 1 == n_batches:
                    run_time = time.monotonic() - t_start
                    self.on_event(StepProgress(epoch=epoch0 + 1, step=step, total_steps=total,
                                               elapsed_s=time.monotonic() - t_start,
                                               eta_s=run_time / step * max(total - step, 0)))
            train_loss = sums.get("loss", math.nan) / max(seen, 1)
            val_loss = self._validate(tf)
            if val_loss is None and self._cancelled():
                return "cancelled", "cancelled by user; the archive holds the weights at that moment"
            self._end_epoch(epoch0 + 1, train_loss, val_loss, lr, time.monotonic() - t_start)
            monitored = val_loss if val_loss is not None else train_loss
            self.schedule.end_epoch(monitored)
            if monitored < best:
                best, since_best = monitored, 0
            else:
                since_best += 1
                if since_best >= int(self.exe.early_stop_patience or 10 ** 9):
                    self.on_event(LogLine(f"early stop: no improvement for {since_best} epochs"))
                    break
        return "completed", ""

    def _validate(self, tf: Any) -> float | None:
        if self.val_loader is None:
            return None
        total, seen = 0.0, 0
        for batch in self.val_loader:
            if self._cancelled():
                return None
            x, rel = _tensors(tf, batch)
            total += float(self.eval_step(x, rel, self.M)["loss"]) * int(x.shape[0])
            seen += int(x.shape[0])
        return total / max(seen, 1)

    def _end_epoch(self, epoch: int, train_loss: float, val_loss: float | None, lr: float, elapsed: float) -> None:
        from ..training.callbacks import write_history

        row = {"epoch": epoch, "train_loss": train_loss if math.isfinite(train_loss) else None,
               "val_loss": val_loss, "lr": lr, "elapsed_s": round(elapsed, 3)}
        self.history.append(row)
        write_history(self.out, self.history)
        self.on_event(EpochEnd(epoch=epoch, n_epochs=self.nepochs, train_loss=train_loss, val_loss=val_loss,
                               learning_rate=lr, elapsed_s=elapsed))
        every = int(getattr(self.exe, "preview_every_n_epochs", 1) or 0)
        if self.preview_fn is not None and every > 0 and (epoch % every == 0 or epoch == self.nepochs):
            self._preview(epoch)
        if getattr(self.exe, "enable_checkpointing", True):
            self._checkpoint()

    def _preview(self, epoch: int) -> None:
        from ..training.preview import publish_preview

        publish_preview(self.preview_fn, self.facade, epoch, self.out, self.on_event)

    def _checkpoint(self) -> None:
        folder = self.out / "checkpoints"
        folder.mkdir(exist_ok=True)
        tmp = folder / f".last.{os.getpid()}.tmp.weights.h5"
        from .runtime import save_keras_weights

        save_keras_weights(self.model.generator, str(tmp))
        os.replace(tmp, folder / "last.weights.h5")

    def _non_finite(self, loss: float, epoch: int, step: int, batch: Any) -> None:
        from ..training.module import NonFiniteLossError

        x_max = float(np.abs(np.asarray(batch[0])).max())
        raise NonFiniteLossError(
            f"the training loss became {loss} at epoch {epoch}, optimiser step {step} (TensorFlow backend; the "
            f"update was not applied). Likely causes: diffraction amplitudes far too large or wrongly scaled "
            f"(largest in this batch {x_max:.4g}), a (nearly) zero probe, or a learning rate too high "
            f"({self.exe.learning_rate:g})", epoch, step)


def _pixel_mask(scans: Any) -> np.ndarray | None:
    """The scan's good-pixel mask (N, N) when the engine's data stage provides one (bad detector
    pixels leave the loss, as on PyTorch), else None."""
    from ..training import scans as scan_stage

    masks_of = getattr(scan_stage, "pixel_masks", None)
    masks = masks_of(scans.bank) if masks_of is not None else None
    return None if masks is None else masks[0].cpu().numpy().astype(np.float32)


def _tensors(tf: Any, batch: Any) -> tuple[Any, Any]:
    x = tf.constant(np.ascontiguousarray(batch[0].numpy(), dtype=np.float32))
    rel = tf.constant(np.ascontiguousarray(batch[1].numpy(), dtype=np.float32))
    return x, rel


def _save(payload: Any, pinn: Any, model: Any, job: _Loop, nphotons: float) -> Path:
    """wts.h5.zip: the Keras weights back in the canonical layout, manifest backend 'tensorflow'."""
    from ..archive import save_archive
    from ..training.fit import non_finite_tensors
    from ..training.module import NonFiniteLossError
    from ..training.runtime import ARCHIVE_NAME, archive_config
    from .convert import to_torch

    cfg = payload.tf_training_config
    archive_path = Path(cfg.output_dir) / ARCHIVE_NAME
    to_torch(model, pinn)
    bad = non_finite_tensors(pinn)
    if bad:
        raise NonFiniteLossError(f"training ended with non-finite weights ({', '.join(bad[:3])}); no archive "
                                 "was written", len(job.history), 0)
    a_cfg, params = archive_config(cfg)
    params["intensity_scale"] = pinn.gain
    save_archive(archive_path, pinn, a_cfg, params,
                 extras={"nphotons": nphotons, "epochs_completed": len(job.history)}, backend="tensorflow")
    return archive_path
