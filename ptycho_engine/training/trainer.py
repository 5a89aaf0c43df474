"""Build the Lightning Trainer from every PyTorchExecutionConfig field.

Decisions written down:
* accelerator 'auto' -> CUDA when available, else CPU (CONFIG's ``resolve_accelerator``).
* Multi-process strategies (ddp, ddp_spawn, ...) are allowed from the main thread (CLI) only;
  from a worker thread (the GUI) they would fork/spawn a Qt process, so we refuse with a message.
* '16-mixed' needs a GPU; on CPU we refuse and point at 'bf16-mixed' (which Lightning supports).
* ``deterministic=True`` on CUDA becomes Lightning's 'warn' mode: grid_sample's backward (used by
  the group merge) has no deterministic CUDA kernel and would otherwise raise.
* Checkpoints go to ``output_dir/checkpoints``: the best ``checkpoint_save_top_k`` by the monitored
  metric, and ``last.ckpt`` = the latest finished epoch, written every epoch by its own callback
  (Lightning's ``save_last=True`` refreshes it only when a best checkpoint is saved, so a resume
  after an epoch that did not improve would repeat epochs). Logs go to ``output_dir/logs``.
  Without a validation split, 'val_*' monitors become 'train_*'.
* Checkpoints are written like the engine's own atomic files (:class:`AtomicCheckpointIO`): a
  hidden temp file next to the target, fsync, rename. Lightning's default goes through the system
  temp folder, which across file systems becomes a copy into the final name (a kill or a full
  disk then left a truncated ``last.ckpt`` and orphans in /tmp).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

LAST_CHECKPOINT = "last"  # -> checkpoints/last.ckpt, what ``resume`` continues from
MULTIPROCESS_STRATEGIES = ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook", "fsdp", "deepspeed")


def resolve_accelerator_name(accelerator: str) -> str:
    try:
        from ..config.execution import resolve_accelerator
    except ImportError:  # pragma: no cover - CONFIG module always present in the package
        import torch

        return "cuda" if accelerator == "auto" and torch.cuda.is_available() else (
            "cpu" if accelerator == "auto" else accelerator)
    return resolve_accelerator(accelerator)


def monitor_name(metric: str, has_val: bool) -> str:
    """The logged metric to monitor; 'val_x' -> 'train_x' when there is no validation split."""
    if not has_val and metric.startswith("val_"):
        return "train_" + metric[len("val_"):]
    return metric


def check_strategy(strategy: str, devices: Any) -> None:
    """Refuse multi-process strategies outside the main thread (a GUI worker thread)."""
    if str(strategy).startswith(MULTIPROCESS_STRATEGIES) and threading.current_thread() is not threading.main_thread():
        raise ValueError(
            f"strategy {strategy!r} starts extra processes and cannot run from the application's worker "
            "thread; use strategy 'auto' here, or run multi-GPU training from the command line "
            "(ptycho-engine train ... --strategy ddp)")


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` into a temp file beside the checkpoint, then ``os.replace`` (see module doc)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        import torch

        from ..io.atomic import atomic_writer

        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO.save_checkpoint does not take storage_options")
        with atomic_writer(Path(path), "wb") as fh:
            torch.save(checkpoint, fh)


def build_trainer(exe: Any, output_dir: Path, nepochs: int, callbacks: list[Callback], has_val: bool,
                  n_train_batches: int) -> tuple[L.Trainer, str]:
    """The Trainer and the resolved accelerator name."""
    accelerator = resolve_accelerator_name(exe.accelerator)
    check_strategy(exe.strategy, exe.devices)
    precision = str(exe.precision)
    if precision == "16-mixed" and accelerator == "cpu":
        raise ValueError("precision '16-mixed' needs a GPU; on CPU use 'bf16-mixed' or '32-true'")
    deterministic: bool | str = bool(exe.deterministic)
    if deterministic and accelerator == "cuda":
        deterministic = "warn"
    cbs = list(callbacks)
    monitor = monitor_name(exe.checkpoint_monitor_metric, has_val)
    if exe.enable_checkpointing:
        cbs.append(ModelCheckpoint(dirpath=output_dir / "checkpoints", filename="epoch{epoch:03d}",
                                   auto_insert_metric_name=False, monitor=monitor, mode=exe.checkpoint_mode,
                                   save_top_k=int(exe.checkpoint_save_top_k), save_last=False))
        cbs.append(ModelCheckpoint(dirpath=output_dir / "checkpoints", filename=LAST_CHECKPOINT, monitor=None,
                                   save_top_k=1, every_n_epochs=1, enable_version_counter=False))
    if exe.early_stop_patience:
        cbs.append(EarlyStopping(monitor=monitor_name("val_loss", has_val), mode="min",
                                 patience=int(exe.early_stop_patience), check_finite=True))
    backend = (exe.logger_backend or "none").lower()
    if backend == "csv":
        logger: Any = L.pytorch.loggers.CSVLogger(save_dir=str(output_dir), name="logs")
    elif backend == "tensorboard":
        logger = L.pytorch.loggers.TensorBoardLogger(save_dir=str(output_dir), name="logs")
    elif backend == "none":
        logger = False
    else:
        raise ValueError(f"logger_backend: expected 'csv', 'tensorboard' or 'none', got {exe.logger_backend!r}")
    clip = exe.gradient_clip_val if exe.gradient_clip_val else None
    trainer = L.Trainer(
        max_epochs=int(nepochs), accelerator=accelerator, devices=exe.devices, strategy=exe.strategy,
        precision=precision, deterministic=deterministic, gradient_clip_val=clip,
        gradient_clip_algorithm="norm", accumulate_grad_batches=int(exe.accum_steps),
        enable_progress_bar=bool(exe.enable_progress_bar), enable_checkpointing=bool(exe.enable_checkpointing),
        enable_model_summary=False, callbacks=cbs, logger=logger, default_root_dir=str(output_dir),
        log_every_n_steps=max(1, min(50, n_train_batches)), num_sanity_val_steps=0,
        plugins=[AtomicCheckpointIO()],
    )
    return trainer, accelerator
