"""Canonical ("tf_") configuration: ModelConfig, TrainingConfig, InferenceConfig.

Field names and defaults follow the reference's ``ptycho/config/config.py`` so archives,
``params.cfg`` snapshots and documentation stay interchangeable. Every default that the PyTorch-side
configs also name lives here once, as a module constant, and both families use it (the reference
had silently diverging defaults, facts §8.23).

Deliberate differences from the reference:
- ``n_groups`` defaults to None meaning "one group per scan position" instead of a hidden 512;
  the training factory still requires it explicitly (the seed's contract).
- ``batch_size`` needs only to be >= 1 (the power-of-two validator was too strict).
- ``backend``: 'pytorch' (default) or 'tensorflow' (the optional Keras 3 / TF 2 engine,
  ``ptycho_engine.tf_backend``; needs the ``tf`` extra).
- Additions: ``validation_fraction``, ``seed`` (training), ``stitch_weighting`` and ``refine_epochs``
  (inference).
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .schema import ConfigError, FieldSpec, coerce, field_specs, param, validate_dataclass

# ----------------------------------------------------------------------------- shared defaults
# One constant per concept named by both config families (canonical and PyTorch-side).
DEFAULT_N = 64
DEFAULT_GRIDSIZE = 1
DEFAULT_N_FILTERS_SCALE = 2
DEFAULT_MODEL_TYPE = "pinn"
DEFAULT_AMP_ACTIVATION = "sigmoid"
DEFAULT_OBJECT_BIG = True
DEFAULT_PROBE_BIG = True
DEFAULT_PROBE_MASK = False
DEFAULT_PAD_OBJECT = True
DEFAULT_PROBE_SCALE = 4.0
DEFAULT_GAUSSIAN_SMOOTHING_SIGMA = 0.0
#: the generator registry's names (ptycho_engine.model.generators; kept here so the schema needs no torch)
GENERATOR_NAMES = ("unrolled", "cnn")
DEFAULT_GENERATOR = "unrolled"
DEFAULT_UNROLL_STEPS = 10
DEFAULT_NEIGHBOR_COUNT = 4
DEFAULT_NPHOTONS = 1e9
DEFAULT_NEPOCHS = 50
DEFAULT_BATCH_SIZE = 16
DEFAULT_NLL_WEIGHT = 1.0
DEFAULT_INTENSITY_SCALE_TRAINABLE = True
DEFAULT_TORCH_LOSS_MODE = "poisson"
DEFAULT_LEARNING_RATE = 1e-3
DEFAULT_SCHEDULER = "Default"
DEFAULT_STITCH_WEIGHTING = "probe"
DEFAULT_TRAINING_OUTPUT_DIR = Path("training_outputs")
DEFAULT_INFERENCE_OUTPUT_DIR = Path("inference_outputs")

SUPPORTED_N = (64, 128, 256)
MODEL_TYPES = ("pinn", "supervised")
AMP_ACTIVATIONS = ("sigmoid", "swish", "softplus", "relu")
TORCH_LOSS_MODES = ("poisson", "mae")
SCHEDULERS = ("Default", "Exponential", "ReduceLROnPlateau", "CosineAnnealing")
STITCH_WEIGHTINGS = ("probe", "uniform")
BACKENDS = ("pytorch", "tensorflow")


# ----------------------------------------------------------------------------- helpers
@functools.lru_cache(maxsize=None)
def specs_of(cls: type) -> tuple[FieldSpec, ...]:
    """Cached :func:`schema.field_specs` (type hints are evaluated once per class)."""
    return tuple(field_specs(cls))


def spec_map(cls: type) -> dict[str, FieldSpec]:
    return {s.name: s for s in specs_of(cls)}


def finalize_fields(obj: Any) -> None:
    """Coerce every declared field to its type (str -> Path, int -> float, ...) and validate.

    Called from ``__post_init__`` of every config: a config that exists is a valid config.
    Works on frozen dataclasses.
    """
    cls_name = type(obj).__name__
    for spec in specs_of(type(obj)):
        value = getattr(obj, spec.name)
        if value is None and spec.required:
            raise ConfigError(f"{cls_name}.{spec.name} is required")
        new = coerce(spec, value, source=cls_name)
        if new is not value:
            object.__setattr__(obj, spec.name, new)
    validate_dataclass(obj)


def config_to_dict(obj: Any) -> dict[str, Any]:
    """Plain JSON-able dict of a config (nested configs as dicts, Paths as str, tuples as lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        out[f.name] = to_jsonable(getattr(obj, f.name))
    return out


def to_jsonable(value: Any) -> Any:
    """Paths -> str, tuples -> lists, configs -> dicts (recursively)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_to_dict(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def config_from_dict(cls: type, data: Mapping[str, Any], *, strict: bool = False) -> Any:
    """Build ``cls`` from a dict (e.g. an archive's config.json section).

    Unknown keys raise ConfigError when ``strict``, else they are ignored (forward compatibility).
    A nested ``model`` section is built as :class:`ModelConfig`.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if strict and unknown:
        raise ConfigError(f"{cls.__name__}: unknown fields {unknown}")
    kwargs = {k: v for k, v in data.items() if k in names}
    if "model" in kwargs and isinstance(kwargs["model"], Mapping):
        kwargs["model"] = config_from_dict(ModelConfig, kwargs["model"], strict=strict)
    return cls(**kwargs)


# ----------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class ModelConfig:
    """Network architecture and forward-model geometry; fixed once a model is trained."""

    N: int = param(DEFAULT_N, group="model", choices=SUPPORTED_N,
                   help="diffraction pattern / object patch side in pixels (from the probe unless set)")
    gridsize: int = param(DEFAULT_GRIDSIZE, group="model", bounds=(1, 5),
                          help="patches per group side; a group holds C = gridsize² neighbouring patterns")
    n_filters_scale: int = param(DEFAULT_N_FILTERS_SCALE, group="model", bounds=(1, 16),
                                 help="multiplier of every convolution width in the network")
    model_type: str = param(DEFAULT_MODEL_TYPE, group="model", choices=MODEL_TYPES,
                            help="'pinn' = physics-informed (unsupervised), 'supervised' = needs ground truth")
    amp_activation: str = param(DEFAULT_AMP_ACTIVATION, group="model", choices=AMP_ACTIVATIONS,
                                help="activation of the object-amplitude output")
    object_big: bool = param(DEFAULT_OBJECT_BIG, group="model",
                             help="merge the group's patches into one object before the forward model")
    probe_big: bool = param(DEFAULT_PROBE_BIG, group="model",
                            help="let a decoder branch fill the border outside the central N/2 region")
    probe_mask: bool = param(DEFAULT_PROBE_MASK, group="model",
                             help="multiply the probe by a circular mask")
    pad_object: bool = param(DEFAULT_PAD_OBJECT, group="model",
                             help="the decoder fills only the central N/2 square (oversampling)")
    probe_scale: float = param(DEFAULT_PROBE_SCALE, group="model", bounds=(1e-3, 1e3),
                               help="probe normalisation divisor")
    gaussian_smoothing_sigma: float = param(DEFAULT_GAUSSIAN_SMOOTHING_SIGMA, group="model", bounds=(0.0, 10.0),
                                            help="sigma (pixels) of Gaussian smoothing of the illuminated field; 0 = off")
    generator: str = param(DEFAULT_GENERATOR, group="model", choices=GENERATOR_NAMES,
                           help="the network: 'unrolled' = CNN + physics updates on each group's own patterns "
                                "(default), 'cnn' = the reference CNN alone")
    unroll_steps: int = param(DEFAULT_UNROLL_STEPS, group="model", bounds=(1, 100),
                              help="physics updates of the unrolled generator (each: 2 FFTs per pattern)")

    def __post_init__(self) -> None:
        finalize_fields(self)

    @property
    def C(self) -> int:
        """Channels per group (gridsize²)."""
        return self.gridsize * self.gridsize


@dataclass(frozen=True)
class TrainingConfig:
    """Everything a training run needs besides the architecture and the execution settings."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train_data_file: Path | None = param(None, group="data", gui=False,
                                         help="training scan (NPZ)")
    test_data_file: Path | None = param(None, group="data", gui=False,
                                        help="optional held-out scan (NPZ) evaluated after training")
    train_data_files: tuple[Path, ...] = param((), group="data", gui=False,
                                               help="every training scan, the first being train_data_file; "
                                                    "empty = train_data_file alone")
    validation_data_file: Path | None = param(None, group="data", gui=False,
                                              help="scan (NPZ) used for the validation loss instead of a "
                                                   "split of the training groups")
    batch_size: int = param(DEFAULT_BATCH_SIZE, group="training", bounds=(1, 65536),
                            help="groups per optimiser step (any value >= 1)")
    nepochs: int = param(DEFAULT_NEPOCHS, group="training", bounds=(1, 100000),
                         help="number of passes over the training groups")
    mae_weight: float = param(0.0, group="training", bounds=(0.0, 1.0),
                              help="weight of the amplitude MAE loss")
    nll_weight: float = param(DEFAULT_NLL_WEIGHT, group="training", bounds=(0.0, 1.0),
                              help="weight of the Poisson negative log-likelihood loss")
    realspace_mae_weight: float = param(0.0, group="training", bounds=(0.0, 1e6),
                                        help="weight of the real-space MAE loss (needs realspace_weight > 0)")
    realspace_weight: float = param(0.0, group="training", bounds=(0.0, 1e6),
                                    help="overall weight of real-space losses")
    nphotons: float = param(DEFAULT_NPHOTONS, group="data", bounds=(1.0, 1e15),
                            help="mean photons per diffraction pattern (from the file's metadata unless set)")
    n_groups: int | None = param(None, group="data", bounds=(1, None),
                                 help="number of groups to train on, per training scan (the factory requires it; "
                                      "more than a scan has is clamped unless oversampling)")
    n_subsample: int | None = param(None, group="data", bounds=(1, None),
                                    help="subsample this many scan positions before grouping; empty = all")
    subsample_seed: int | None = param(None, group="data", bounds=(0, None),
                                       help="random seed of the subsampling; empty = fixed default")
    neighbor_count: int = param(DEFAULT_NEIGHBOR_COUNT, group="data", bounds=(1, 64),
                                help="K: nearest neighbours considered when forming a group")
    enable_oversampling: bool = param(False, group="data",
                                      help="allow more groups than scan positions (needs gridsize > 1)")
    neighbor_pool_size: int | None = param(None, group="data", bounds=(1, None),
                                           help="neighbour pool size for oversampling; empty = K")
    positions_provided: bool = param(True, group="data",
                                     help="scan positions come from the file (xcoords/ycoords)")
    probe_trainable: bool = param(False, group="training",
                                  help="refine the probe during training")
    intensity_scale_trainable: bool = param(DEFAULT_INTENSITY_SCALE_TRAINABLE, group="training",
                                            help="learn the photon-count scale factor")
    output_dir: Path = param(DEFAULT_TRAINING_OUTPUT_DIR, group="training", gui=False,
                             help="run directory (model archive, history, checkpoints)")
    sequential_sampling: bool = param(False, group="data",
                                      help="take groups in scan order instead of at random")
    backend: str = param("pytorch", group="training", choices=BACKENDS, gui=False,
                         help="engine that trains: 'pytorch', or 'tensorflow' (Keras 3; the tf extra)")
    torch_loss_mode: str = param(DEFAULT_TORCH_LOSS_MODE, group="training", choices=TORCH_LOSS_MODES,
                                 help="data loss: Poisson likelihood or amplitude MAE")
    validation_fraction: float = param(0.1, group="training", bounds=(0.0, 0.5),
                                       help="fraction of the groups held out for validation loss")
    seed: int = param(42, group="training", bounds=(0, 2**32 - 1),
                      help="random seed (weights, split, shuffling) for reproducible runs")
    init_model: str | None = param(None, group="training",
                                   help="start from a model's weights: empty or 'scratch' = random weights, "
                                        "'shipped' = the bundled pretrained model, or a run folder / wts.h5.zip")

    def __post_init__(self) -> None:
        if isinstance(self.model, Mapping):
            object.__setattr__(self, "model", config_from_dict(ModelConfig, self.model))
        if not isinstance(self.model, ModelConfig):
            raise ConfigError(f"TrainingConfig.model: expected ModelConfig, got {type(self.model).__name__}")
        finalize_fields(self)
        files = self.train_data_files
        if files and self.train_data_file is not None and files[0] != self.train_data_file:
            raise ConfigError(f"train_data_files must start with train_data_file {self.train_data_file}, "
                              f"found {files[0]}")
        if self.realspace_mae_weight > 0 and self.realspace_weight <= 0:
            raise ConfigError("realspace_mae_weight > 0 needs realspace_weight > 0")
        if self.enable_oversampling and self.model.gridsize < 2:
            raise ConfigError("enable_oversampling needs gridsize > 1 (with gridsize 1 every group is one position)")

    @property
    def training_files(self) -> tuple[Path, ...]:
        """Every training scan in order (``train_data_files``, else ``train_data_file`` alone)."""
        if self.train_data_files:
            return tuple(self.train_data_files)
        return (self.train_data_file,) if self.train_data_file is not None else ()


@dataclass(frozen=True)
class InferenceConfig:
    """What reconstructing a scan with a trained model needs."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    model_path: Path | None = param(None, group="inference", required=True, gui=False,
                                    help="the trained model archive (wts.h5.zip)")
    test_data_file: Path | None = param(None, group="inference", required=True, gui=False,
                                        help="scan to reconstruct (NPZ)")
    n_groups: int | None = param(None, group="inference", bounds=(1, None),
                                 help="number of groups to reconstruct; empty = all scan positions")
    n_subsample: int | None = param(None, group="inference", bounds=(1, None),
                                    help="subsample this many scan positions before grouping; empty = all")
    subsample_seed: int | None = param(None, group="inference", bounds=(0, None),
                                       help="random seed of the subsampling")
    neighbor_count: int = param(DEFAULT_NEIGHBOR_COUNT, group="inference", bounds=(1, 64),
                                help="K: nearest neighbours considered when forming a group")
    enable_oversampling: bool = param(False, group="inference",
                                      help="allow more groups than scan positions (needs gridsize > 1)")
    neighbor_pool_size: int | None = param(None, group="inference", bounds=(1, None),
                                           help="neighbour pool size for oversampling; empty = K")
    debug: bool = param(False, group="inference",
                        help="write extra diagnostic outputs")
    output_dir: Path = param(DEFAULT_INFERENCE_OUTPUT_DIR, group="inference", gui=False,
                             help="directory for the reconstruction, images and metrics")
    backend: str = param("pytorch", group="inference", choices=BACKENDS, gui=False,
                         help="engine that reconstructs: 'pytorch', or 'tensorflow' (Keras 3; the tf extra); "
                              "a model of either backend runs on either")
    stitch_weighting: str = param(DEFAULT_STITCH_WEIGHTING, group="inference", choices=STITCH_WEIGHTINGS,
                                  help="how overlapping patches are averaged when stitching")
    refine_epochs: int = param(0, group="inference", bounds=(0, 10000),
                               help="most passes of physics refinement of the stitched object against this scan's "
                                    "patterns (it stops earlier once converged); 0 = network output only")
    refine_tolerance: float = param(1e-3, group="inference", bounds=(0.0, 1.0),
                                    help="refinement stops when the misfit changed by less than this (relative) "
                                         "in 2 passes in a row; 0 = always run refine_epochs passes")
    refine_noise_model: str = param("amplitude", group="inference", choices=("amplitude", "poisson"),
                                    help="noise model of the refinement update: Gaussian amplitude or Poisson")
    refine_probe: bool = param(False, group="inference",
                               help="refine the probe together with the object (from the 2nd pass)")
    refine_probe_modes: int = param(1, group="inference", bounds=(1, 8),
                                    help="incoherent probe modes when the probe is refined (1 = coherent)")
    refine_positions: bool = param(False, group="inference",
                                   help="refine each scan position (sub-pixel, from the 3rd pass); the mean "
                                        "shift is held at zero so the scan cannot drift as a whole")
    phase_sync_passes: int = param(5, group="inference", bounds=(0, 100),
                                   help="passes aligning each group's constant phase offset (which no "
                                        "diffraction pattern records) with its neighbours before stitching; 0 = off")

    def __post_init__(self) -> None:
        if isinstance(self.model, Mapping):
            object.__setattr__(self, "model", config_from_dict(ModelConfig, self.model))
        if not isinstance(self.model, ModelConfig):
            raise ConfigError(f"InferenceConfig.model: expected ModelConfig, got {type(self.model).__name__}")
        finalize_fields(self)
        if self.enable_oversampling and self.model.gridsize < 2:
            raise ConfigError("enable_oversampling needs gridsize > 1 (with gridsize 1 every group is one position)")
