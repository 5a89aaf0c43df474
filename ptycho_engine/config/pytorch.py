"""PyTorch-side ("pt_") configuration: DataConfig, ModelConfig, TrainingConfig, InferenceConfig.

Names follow the reference's ``ptycho_torch/config_params.py`` (``grid_size`` tuple, ``C``, ``K``,
``epochs``, ``mode``, ``nll``, ...). Every concept the canonical configs also name takes its default
from the same constant in :mod:`.canonical` — the reference's PT defaults (nphotons 1e5, K 6,
probe_scale 1.0, object_big False, silu, ...) silently diverged from the canonical ones (§8.23).

Fields the engine does not implement (MLflow, CBAM attention, multi-stage schedules, the
4-quadrant neighbour search, ...) are deliberately absent: no field without behaviour. Execution
matters (device, strategy, workers) live only in :class:`PyTorchExecutionConfig`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .canonical import (
    DEFAULT_AMP_ACTIVATION,
    DEFAULT_BATCH_SIZE,
    DEFAULT_GAUSSIAN_SMOOTHING_SIGMA,
    DEFAULT_GRIDSIZE,
    DEFAULT_INTENSITY_SCALE_TRAINABLE,
    DEFAULT_N,
    DEFAULT_N_FILTERS_SCALE,
    DEFAULT_NEIGHBOR_COUNT,
    DEFAULT_NEPOCHS,
    DEFAULT_NPHOTONS,
    DEFAULT_OBJECT_BIG,
    DEFAULT_PAD_OBJECT,
    DEFAULT_PROBE_BIG,
    DEFAULT_PROBE_MASK,
    DEFAULT_PROBE_SCALE,
    DEFAULT_STITCH_WEIGHTING,
    DEFAULT_TORCH_LOSS_MODE,
    DEFAULT_TRAINING_OUTPUT_DIR,
    STITCH_WEIGHTINGS,
    SUPPORTED_N,
    TORCH_LOSS_MODES,
    finalize_fields,
)
from .schema import ConfigError, param

PT_MODES = ("Unsupervised", "Supervised")
#: activation names the PyTorch side accepts; the bridge maps silu/SiLU to the canonical 'swish'
PT_AMP_ACTIVATIONS = ("sigmoid", "swish", "silu", "SiLU", "softplus", "relu")
DEFAULT_MODE = "Unsupervised"  # = canonical DEFAULT_MODEL_TYPE 'pinn' (see bridge.translate_mode)


@dataclass(frozen=True)
class DataConfig:
    """How scan data becomes training groups."""

    N: int = param(DEFAULT_N, group="data", choices=SUPPORTED_N,
                   help="diffraction pattern side in pixels")
    grid_size: tuple[int, int] = param((DEFAULT_GRIDSIZE, DEFAULT_GRIDSIZE), group="data",
                                       help="group grid (rows, cols); must be square")
    C: int = param(DEFAULT_GRIDSIZE ** 2, group="data", bounds=(1, 25), gui=False,
                   help="patterns per group = grid_size[0] * grid_size[1] (derived)")
    K: int = param(DEFAULT_NEIGHBOR_COUNT, group="data", bounds=(1, 64),
                   help="nearest neighbours considered when forming a group")
    nphotons: float = param(DEFAULT_NPHOTONS, group="data", bounds=(1.0, 1e15),
                            help="mean photons per diffraction pattern")
    n_subsample: int | None = param(None, group="data", bounds=(1, None),
                                    help="scan positions subsampled before grouping (canonical meaning, "
                                         "not the reference's per-centre multiplier)")
    subsample_seed: int | None = param(None, group="data", bounds=(0, None),
                                       help="random seed of the subsampling")
    probe_scale: float = param(DEFAULT_PROBE_SCALE, group="data", bounds=(1e-3, 1e3),
                               help="probe normalisation divisor")

    def __post_init__(self) -> None:
        finalize_fields(self)
        rows, cols = self.grid_size
        if rows < 1 or cols < 1:
            raise ConfigError(f"grid_size: expected positive sides, got {self.grid_size}")
        if self.C != rows * cols:
            raise ConfigError(f"C must equal grid_size[0] * grid_size[1] = {rows * cols}, got {self.C}")


@dataclass(frozen=True)
class ModelConfig:
    """Network and forward-model settings (PyTorch naming)."""

    mode: str = param(DEFAULT_MODE, group="model", choices=PT_MODES,
                      help="'Unsupervised' = physics-informed (canonical 'pinn'), 'Supervised'")
    n_filters_scale: int = param(DEFAULT_N_FILTERS_SCALE, group="model", bounds=(1, 16),
                                 help="multiplier of every convolution width")
    amp_activation: str = param(DEFAULT_AMP_ACTIVATION, group="model", choices=PT_AMP_ACTIVATIONS,
                                help="activation of the object-amplitude output")
    object_big: bool = param(DEFAULT_OBJECT_BIG, group="model",
                             help="merge the group's patches into one object before the forward model")
    probe_big: bool = param(DEFAULT_PROBE_BIG, group="model",
                            help="decoder branch for the border outside the central N/2 region")
    probe_mask: bool = param(DEFAULT_PROBE_MASK, group="model",
                             help="multiply the probe by a circular mask")
    pad_object: bool = param(DEFAULT_PAD_OBJECT, group="model",
                             help="the decoder fills only the central N/2 square")
    gaussian_smoothing_sigma: float = param(DEFAULT_GAUSSIAN_SMOOTHING_SIGMA, group="model", bounds=(0.0, 10.0),
                                            help="Gaussian smoothing of the illuminated field (pixels)")
    intensity_scale_trainable: bool = param(DEFAULT_INTENSITY_SCALE_TRAINABLE, group="model",
                                            help="learn the photon-count scale factor")
    C_model: int = param(DEFAULT_GRIDSIZE ** 2, group="model", bounds=(1, 25), gui=False,
                         help="input/output channels of the network = C (derived)")
    C_forward: int = param(DEFAULT_GRIDSIZE ** 2, group="model", bounds=(1, 25), gui=False,
                           help="channels of the forward model = C (derived)")

    def __post_init__(self) -> None:
        finalize_fields(self)
        if self.C_model != self.C_forward:
            raise ConfigError(f"C_model ({self.C_model}) and C_forward ({self.C_forward}) must both equal C")


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation and run lifecycle (PyTorch naming)."""

    epochs: int = param(DEFAULT_NEPOCHS, group="training", bounds=(1, 100000),
                        help="number of passes over the training groups")
    batch_size: int = param(DEFAULT_BATCH_SIZE, group="training", bounds=(1, 65536),
                            help="groups per optimiser step")
    nll: bool = param(True, group="training",
                      help="use the Poisson negative log-likelihood loss (canonical nll_weight 1 or 0)")
    torch_loss_mode: str = param(DEFAULT_TORCH_LOSS_MODE, group="training", choices=TORCH_LOSS_MODES,
                                 help="data loss: Poisson likelihood or amplitude MAE")
    n_groups: int | None = param(None, group="training", bounds=(1, None),
                                 help="number of groups to train on")
    train_data_file: Path | None = param(None, group="training", gui=False, help="training scan (NPZ)")
    test_data_file: Path | None = param(None, group="training", gui=False, help="optional held-out scan (NPZ)")
    output_dir: Path = param(DEFAULT_TRAINING_OUTPUT_DIR, group="training", gui=False, help="run directory")

    def __post_init__(self) -> None:
        finalize_fields(self)


@dataclass(frozen=True)
class InferenceConfig:
    """Inference-time settings (PyTorch naming)."""

    batch_size: int | None = param(None, group="inference", bounds=(1, None),
                                   help="groups per inference batch; empty = training batch_size")
    patch_weighting: str = param(DEFAULT_STITCH_WEIGHTING, group="inference", choices=STITCH_WEIGHTINGS,
                                 help="how overlapping patches are averaged when stitching")

    def __post_init__(self) -> None:
        finalize_fields(self)
