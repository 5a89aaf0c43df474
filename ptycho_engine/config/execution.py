"""Runtime-only execution settings (devices, precision, optimiser schedule, checkpoints, logging).

Never written to ``params.cfg`` (reference CONFIG-002): these say *how* a run executes, not what
the model is. ``accelerator='auto'`` is kept as given in the dataclass and resolved by
:func:`resolve_accelerator` when a payload is built, so constructing or importing a config never
imports torch.
"""
from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from typing import Any

from .canonical import DEFAULT_LEARNING_RATE, DEFAULT_SCHEDULER, SCHEDULERS, finalize_fields
from .schema import ConfigError, EngineNotice, param

ACCELERATORS = ("auto", "cpu", "cuda", "gpu", "mps")
STRATEGIES = ("auto", "ddp", "ddp_spawn", "single_device")
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")
LOGGER_BACKENDS = ("csv", "tensorboard", "none")
CHECKPOINT_METRICS = ("val_loss", "train_loss")
CHECKPOINT_MODES = ("min", "max")

#: execution fields that matter for inference (the rest are training-only)
INFERENCE_EXECUTION_FIELDS = ("accelerator", "devices", "precision", "deterministic", "num_workers",
                              "enable_progress_bar", "inference_batch_size")


@dataclass(frozen=True)
class PyTorchExecutionConfig:
    """How a run executes on the hardware (Lightning Trainer knobs plus our additions)."""

    accelerator: str = param("auto", group="execution", choices=ACCELERATORS,
                             help="device type; 'auto' = CUDA when available, else CPU")
    devices: int = param(1, group="execution", bounds=(1, 64),
                         help="number of devices to use")
    strategy: str = param("auto", group="execution", choices=STRATEGIES,
                          help="Lightning distribution strategy")
    precision: str = param("32-true", group="execution", choices=PRECISIONS,
                           help="numeric precision of training")
    deterministic: bool = param(True, group="execution",
                                help="deterministic algorithms (reproducible, slightly slower)")
    num_workers: int = param(0, group="execution", bounds=(0, 64),
                             help="data-loader worker processes (0 = load in the main process)")
    learning_rate: float = param(DEFAULT_LEARNING_RATE, group="execution", bounds=(1e-8, 10.0),
                                 help="optimiser (Adam) learning rate")
    scheduler: str = param(DEFAULT_SCHEDULER, group="execution", choices=SCHEDULERS,
                           help="learning-rate schedule ('Default' = constant)")
    gradient_clip_val: float | None = param(None, group="execution", bounds=(0.0, None),
                                            help="clip gradient norm to this value; empty = no clipping")
    accum_steps: int = param(1, group="execution", bounds=(1, 1024),
                             help="batches accumulated per optimiser step")
    enable_progress_bar: bool = param(False, group="execution",
                                      help="show Lightning's console progress bar")
    enable_checkpointing: bool = param(True, group="execution",
                                       help="write Lightning checkpoints (last.ckpt and the best)")
    checkpoint_save_top_k: int = param(1, group="execution", bounds=(0, 100),
                                       help="how many best checkpoints to keep")
    checkpoint_monitor_metric: str = param("val_loss", group="execution", choices=CHECKPOINT_METRICS,
                                           help="metric that ranks checkpoints and drives early stopping")
    checkpoint_mode: str = param("min", group="execution", choices=CHECKPOINT_MODES,
                                 help="whether the monitored metric should be minimised or maximised")
    early_stop_patience: int = param(100, group="execution", bounds=(1, 100000),
                                     help="epochs without improvement before stopping early")
    logger_backend: str = param("csv", group="execution", choices=LOGGER_BACKENDS,
                                help="where Lightning logs metrics")
    inference_batch_size: int | None = param(None, group="execution", bounds=(1, None),
                                             help="groups per inference batch; empty = training batch_size")
    preview_every_n_epochs: int = param(1, group="execution", bounds=(0, 100000),
                                        help="emit a live reconstruction preview every n epochs (0 = never)")
    resume: bool = param(False, group="execution",
                         help="continue from the run directory's last checkpoint")

    def __post_init__(self) -> None:
        finalize_fields(self)


def default_execution_values() -> dict[str, Any]:
    """Field name -> class default (what counts as 'not set by the caller')."""
    return {f.name: f.default for f in dataclasses.fields(PyTorchExecutionConfig)}


def explicit_execution_values(config: PyTorchExecutionConfig | None) -> dict[str, Any]:
    """The fields a caller set on ``config`` (those that differ from the class defaults)."""
    if config is None:
        return {}
    if not isinstance(config, PyTorchExecutionConfig):
        raise TypeError(f"execution_config must be a PyTorchExecutionConfig or None, got {type(config).__name__}")
    defaults = default_execution_values()
    return {name: getattr(config, name) for name, default in defaults.items() if getattr(config, name) != default}


def resolve_accelerator(accelerator: str) -> str:
    """Turn 'auto' into 'cuda' or 'cpu' and check that a requested device exists.

    'auto' without CUDA falls back to 'cpu' with a UserWarning (an :class:`EngineNotice`, which
    the CLI shows as an ``info:`` line). Asking for 'cuda'/'gpu'/'mps' where it is not available
    is a ConfigError now, not a Lightning crash later. torch is imported here only (configs must
    import fast and without torch).
    """
    if accelerator not in ACCELERATORS:
        raise ConfigError(f"accelerator: expected one of {list(ACCELERATORS)}, got {accelerator!r}")
    if accelerator == "cpu":
        return "cpu"
    if accelerator == "auto":
        if _cuda_available():
            return "cuda"
        warnings.warn("accelerator 'auto': CUDA is not available; running on the CPU (slower)",
                      EngineNotice, stacklevel=2)
        return "cpu"
    if accelerator in ("cuda", "gpu"):
        if not _cuda_available():
            raise ConfigError(f"accelerator {accelerator!r} requested but CUDA is not available here; "
                              "use 'auto' or 'cpu'")
        return "cuda"
    import torch

    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        raise ConfigError("accelerator 'mps' requested but Apple MPS is not available here; use 'auto' or 'cpu'")
    return "mps"


def _cuda_available() -> bool:
    """torch.cuda.is_available(), skipping the torch import when CUDA is hidden by the environment
    (``CUDA_VISIBLE_DEVICES`` set to '' or '-1' hides every device, as torch itself honours)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    import torch

    return bool(torch.cuda.is_available())
