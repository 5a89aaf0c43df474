"""The config factory: one call turns files + user settings into every config a run needs.

Precedence, highest first, resolved field by field (and recorded in ``overrides_applied``):

1. ``override``           the explicit ``overrides`` dict (CLI flags, GUI form, API callers)
2. ``execution_config``   fields the caller set on a :class:`PyTorchExecutionConfig` (those that
                          differ from its defaults); e.g. ``learning_rate`` (declared once, in the
                          execution config; the trainer reads it there)
   ``model_archive``      (inference) the geometry the model was trained with; an override that
                          contradicts it is an error, not a silent change of architecture
   ``data_file``          facts of the scan: N from the probe, nphotons from ``_metadata``
3. ``cli_default``        the ``cli_defaults`` dict (what a CLI supplies when the user said nothing)
4. ``pytorch_default``    the PyTorch-side dataclass default (incl. PyTorchExecutionConfig)
5. ``canonical_default``  the canonical dataclass default

Data-derived values rank below explicit settings but above generic defaults: a CLI default
must not beat what the file says about itself.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import bridge
from . import canonical as can
from . import params
from . import pytorch as pt
from .execution import INFERENCE_EXECUTION_FIELDS, PyTorchExecutionConfig, explicit_execution_values, resolve_accelerator
from .overrides import coerce_overrides, inference_override_fields, training_override_fields
from .schema import ConfigError, EngineNotice, FieldSpec, coerce

log = logging.getLogger(__name__)

SOURCES = ("override", "execution_config", "cli_default", "pytorch_default", "canonical_default",
           "data_file", "model_archive")
ARCHIVE_NAME = "wts.h5.zip"
FALLBACK_PROBE_SIZE = 64
#: model fields an inference override may not change (they define the trained network)
ARCHITECTURE_FIELDS = tuple(s.name for s in can.specs_of(can.ModelConfig))


class ModelArchiveNotFoundError(FileNotFoundError, ValueError):
    """The model directory has no ``wts.h5.zip`` (a FileNotFoundError and, as in the reference, a ValueError)."""


@dataclass
class TrainingPayload:
    """Everything a training run needs, resolved and validated."""

    tf_training_config: can.TrainingConfig
    pt_data_config: pt.DataConfig
    pt_model_config: pt.ModelConfig
    pt_training_config: pt.TrainingConfig
    execution_config: PyTorchExecutionConfig
    overrides_applied: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class InferencePayload:
    """Everything an inference run needs; geometry comes from the model archive."""

    tf_inference_config: can.InferenceConfig
    pt_data_config: pt.DataConfig
    pt_inference_config: pt.InferenceConfig
    execution_config: PyTorchExecutionConfig
    overrides_applied: dict[str, dict[str, Any]] = field(default_factory=dict)


# ----------------------------------------------------------------------------- precedence
#: canonical name -> (PyTorch-side class, its field name, translation to the canonical value)
PT_COUNTERPARTS: dict[str, tuple[type, str, Callable[[Any], Any] | None]] = {
    "N": (pt.DataConfig, "N", None),
    "gridsize": (pt.DataConfig, "grid_size", bridge.translate_grid_size),
    "neighbor_count": (pt.DataConfig, "K", None),
    "nphotons": (pt.DataConfig, "nphotons", None),
    "probe_scale": (pt.DataConfig, "probe_scale", None),
    "n_subsample": (pt.DataConfig, "n_subsample", None),
    "subsample_seed": (pt.DataConfig, "subsample_seed", None),
    "model_type": (pt.ModelConfig, "mode", bridge.translate_mode),
    "n_filters_scale": (pt.ModelConfig, "n_filters_scale", None),
    "amp_activation": (pt.ModelConfig, "amp_activation", bridge.translate_activation),
    "object_big": (pt.ModelConfig, "object_big", None),
    "probe_big": (pt.ModelConfig, "probe_big", None),
    "probe_mask": (pt.ModelConfig, "probe_mask", None),
    "pad_object": (pt.ModelConfig, "pad_object", None),
    "gaussian_smoothing_sigma": (pt.ModelConfig, "gaussian_smoothing_sigma", None),
    "intensity_scale_trainable": (pt.ModelConfig, "intensity_scale_trainable", None),
    "nepochs": (pt.TrainingConfig, "epochs", None),
    "batch_size": (pt.TrainingConfig, "batch_size", None),
    "nll_weight": (pt.TrainingConfig, "nll", lambda v: 1.0 if v else 0.0),
    "torch_loss_mode": (pt.TrainingConfig, "torch_loss_mode", None),
    "n_groups": (pt.TrainingConfig, "n_groups", None),
    "stitch_weighting": (pt.InferenceConfig, "patch_weighting", None),
    "inference_batch_size": (pt.InferenceConfig, "batch_size", None),
}
#: canonical ModelConfig fields the PyTorch-side configs do not carry (passed straight through)
MODEL_ONLY_FIELDS = ("generator", "unroll_steps")
_EXEC_NAMES = tuple(f.name for f in dataclasses.fields(PyTorchExecutionConfig))


TRAINING_PT_CLASSES = (pt.DataConfig, pt.ModelConfig, pt.TrainingConfig)
INFERENCE_PT_CLASSES = (pt.DataConfig, pt.ModelConfig, pt.InferenceConfig)


def pytorch_defaults(names: Sequence[str], pt_classes: Sequence[type] = TRAINING_PT_CLASSES) -> dict[str, Any]:
    """Level 4: the default of each name in the PyTorch-side configs of a payload (``pt_classes``)
    or, for execution fields, in :class:`PyTorchExecutionConfig`."""
    out: dict[str, Any] = {}
    exec_specs = can.spec_map(PyTorchExecutionConfig)
    for name in names:
        if name in PT_COUNTERPARTS and PT_COUNTERPARTS[name][0] in pt_classes:
            cls, pt_name, convert = PT_COUNTERPARTS[name]
            value = can.spec_map(cls)[pt_name].default
            out[name] = convert(value) if convert is not None and value is not None else value
        elif name in exec_specs:
            out[name] = exec_specs[name].default
    return out


def canonical_defaults(names: Sequence[str], *classes: type) -> dict[str, Any]:
    """Level 5: the canonical default of each name (first class that declares it)."""
    out: dict[str, Any] = {}
    for cls in classes:
        for spec in can.specs_of(cls):
            if spec.name in names:
                out.setdefault(spec.name, spec.default)
    return out


def resolve_field(name: str, levels: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[Any, str]:
    """(value, source) from the first level that defines ``name`` — the whole precedence rule."""
    for source, values in levels:
        if name in values:
            return values[name], source
    raise KeyError(f"no level defines {name!r}")


def _entry(value: Any, source: str, note: str | None = None) -> dict[str, Any]:
    out = {"value": can.to_jsonable(value), "source": source}
    if note:
        out["note"] = note
    return out


# ----------------------------------------------------------------------------- data-file facts
def _probe_side(data_file: Path) -> tuple[int | None, str]:
    """(side of probeGuess, "") or (None, why it cannot tell). Reads only that key, never unpickles."""
    import numpy as np

    try:
        with np.load(data_file, allow_pickle=False) as npz:
            if "probeGuess" not in npz.files:
                return None, f"{data_file} has no 'probeGuess' key"
            shape = npz["probeGuess"].shape
    except FileNotFoundError:
        return None, f"{data_file} does not exist"
    except Exception as exc:  # noqa: BLE001 - any unreadable file means "cannot tell"
        return None, f"{data_file} could not be read ({type(exc).__name__}: {exc})"
    if len(shape) < 2:
        return None, f"probeGuess in {data_file} has shape {shape}, expected (N, N)"
    if shape[-1] != shape[-2]:
        warnings.warn(f"probeGuess in {data_file} is not square {shape}; using its first side", UserWarning,
                      stacklevel=3)
    return int(shape[-2]), ""


def infer_probe_size(data_file: str | os.PathLike[str]) -> int:
    """N = the side of the file's ``probeGuess``; 64 with a warning when it cannot tell. Never raises."""
    side, why = _probe_side(Path(data_file))
    if side is None:
        warnings.warn(f"cannot infer the probe size: {why}; using N={FALLBACK_PROBE_SIZE}", UserWarning, stacklevel=2)
        return FALLBACK_PROBE_SIZE
    return side


def _pattern_count(data_file: Path) -> int | None:
    """Number of diffraction patterns from the .npy headers only (no data read); None if unknown.

    Uses the data contract's header reader and its one FORMAT-001 rule for legacy (H, W, n) stacks.
    """
    from ..data import read_array_headers
    from ..data.validation import is_legacy_hwn

    try:
        headers = read_array_headers(data_file)
    except Exception:  # noqa: BLE001 - the data loader reports a broken file properly
        return None
    header = headers.get("diffraction") or headers.get("diff3d")
    if header is None or len(header.shape) != 3:
        return None
    return int(header.shape[2] if is_legacy_hwn(header.shape) else header.shape[0])


def _file_nphotons(data_file: Path) -> float | None:
    """``_metadata`` physics_parameters.nphotons (None when absent), via the data contract."""
    from ..data.contract import read_metadata

    meta = read_metadata(data_file) or {}
    physics = meta.get("physics_parameters")
    value = physics.get("nphotons") if isinstance(physics, dict) else None
    if value is None:
        value = meta.get("nphotons")
    return None if value is None else float(value)


@dataclass
class _ScanFacts:
    N: int | None
    N_why: str
    n_patterns: int | None
    nphotons: float | None


def _scan_facts(data_file: Path) -> _ScanFacts:
    """The data contract checked from the file's headers first (keys, shapes, dtypes: cheap), so
    a broken file raises the contract's named DataContractError before anything else happens."""
    from ..data.contract import check_file_headers

    check_file_headers(data_file)
    side, why = _probe_side(data_file)
    return _ScanFacts(side, why, _pattern_count(data_file), _file_nphotons(data_file))


def _data_level(facts: _ScanFacts, data_file: Path, names: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    specs = can.spec_map(can.ModelConfig) | can.spec_map(can.TrainingConfig)
    if "N" in names and facts.N is not None:
        out["N"] = coerce(specs["N"], facts.N, source=f"the probe of {data_file}")
    if "nphotons" in names and facts.nphotons is not None:
        out["nphotons"] = coerce(specs["nphotons"], facts.nphotons, source=f"the _metadata of {data_file}")
    return out


# ----------------------------------------------------------------------------- checks
def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")


def _output_dir(value: str | os.PathLike[str]) -> Path:
    """The output folder, resolved before anything is created ('' and '.'-only paths refused)."""
    text = os.fspath(value)
    if not str(text).strip():
        raise ConfigError("output directory: expected a folder path, got an empty string")
    return Path(os.path.abspath(os.path.expanduser(text)))


def _prepare_output_dir(output_dir: Path) -> None:
    """Create ``output_dir`` and prove it is writable, before any work starts."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output_dir, prefix=".write-test-"):
            pass
    except (OSError, FileExistsError) as exc:
        raise ConfigError(f"output directory {output_dir} cannot be created or written: {exc}") from exc


#: refinement options passed through to the inference config as they are
REFINE_FIELDS = ("refine_tolerance", "refine_noise_model", "refine_probe", "refine_probe_modes", "refine_positions")


def _check_groups(values: dict[str, tuple[Any, str]], facts: _ScanFacts, data_file: Path,
                  notes: dict[str, str], clamp: bool = True) -> None:
    """Group count vs the scan: a group needs C positions; without oversampling there are at most
    as many groups as positions (more is clamped, with a warning and a note in the provenance).

    ``clamp=False`` (one of several training scans): only the C check; the trainer clamps per scan.
    """
    n = facts.n_patterns
    if n is None:
        return
    gridsize = values["gridsize"][0]
    C = gridsize * gridsize
    if C > n:
        raise ConfigError(f"gridsize {gridsize} needs {C} scan positions per group but {data_file} has only {n}")
    if not clamp:
        return
    n_groups, source = values["n_groups"]
    oversampling = values["enable_oversampling"][0]
    if n_groups is not None and n_groups > n and not oversampling:
        note = (f"n_groups {n_groups} exceeds the {n} scan positions in {data_file.name}; using {n} "
                "(set enable_oversampling with gridsize > 1 to sample more groups)")
        warnings.warn(note, EngineNotice, stacklevel=3)
        values["n_groups"] = (n, source)
        notes["n_groups"] = note


# ----------------------------------------------------------------------------- legacy registry
def populate_legacy_params(tf_config: can.TrainingConfig | can.InferenceConfig, force: bool = False) -> None:
    """Fill the legacy ``params.cfg`` from a canonical config (CONFIG-001).

    The registry is reset to its defaults first, so nothing from an earlier config survives.
    Warns only when a *different* config populated it before and ``force`` is False (the
    reference warned on every call).
    """
    if not isinstance(tf_config, (can.TrainingConfig, can.InferenceConfig)):
        raise TypeError("populate_legacy_params needs a canonical TrainingConfig or InferenceConfig, "
                        f"got {type(tf_config).__name__}")
    previous = params.populated_by()
    if previous is not None and previous != tf_config and not force:
        warnings.warn("params.cfg was already populated by a different configuration; replacing it "
                      "(pass force=True when that is intended)", UserWarning, stacklevel=2)
    params.reset()
    params.update_legacy_dict(params.cfg, tf_config)
    params.mark_populated(tf_config)


# ----------------------------------------------------------------------------- training
def _names(fields: Sequence[FieldSpec]) -> list[str]:
    return [s.name for s in fields]


def _training_files(train_data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The training scans: one file, several, or folders of ``*.npz`` (sorted); geometry must agree."""
    from ..data.scan_set import check_compatible, expand_scan_paths, scan_geometry

    try:
        files = expand_scan_paths(train_data, "Training data")  # FileNotFoundError passes unchanged
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    first = scan_geometry(files[0]) if len(files) > 1 else None
    for other in files[1:]:
        geometry = scan_geometry(other)
        if first is not None and geometry is not None:
            check_compatible(first, geometry)
    return files


def _check_init_model(value: str | None, tf_model: can.ModelConfig) -> str | None:
    """Early check of ``init_model``: the archive exists and its architecture is this run's.

    Returns a provenance note (the archive used) or None for 'from scratch'.
    """
    from ..archive import read_manifest
    from .init_model import check_architecture, resolve_init_model

    archive = resolve_init_model(value)
    if archive is None:
        return None
    arch = read_manifest(archive).get("architecture") or {}
    wanted = {name: getattr(tf_model, name) for name in arch if hasattr(tf_model, name)}
    check_architecture(archive, arch, wanted)
    return f"weights from {archive}"


def _check_backend(backend: str, generator: str | None = None) -> None:
    """backend 'tensorflow' needs TensorFlow installed (BackendUnavailableError, a ConfigError saying
    how to install it) and a generator it implements; checked by name only, nothing imported."""
    if backend != "tensorflow":
        return
    from ..tf_backend import check_generator, require

    require()
    if generator is not None:
        check_generator(generator)


def create_training_payload(
    train_data_file: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    execution_config: PyTorchExecutionConfig | None = None,
    cli_defaults: Mapping[str, Any] | None = None,
) -> TrainingPayload:
    """Resolve, validate and return every config of a training run.

    Raises ConfigError (unknown name — with the closest valid one —, wrong type, out of bounds,
    contradictions), FileNotFoundError ("Training data file not found: ..."), ValueError
    ("n_groups is required ..."). Creates ``output_dir`` and populates ``params.cfg``.

    ``train_data_file`` may be one scan, a list of scans or folders (every ``*.npz`` inside,
    sorted): the run trains on all of them (``train_data_files``); N and nphotons come from the
    first. Scans with another pattern size or probe shape are refused (DataContractError).
    """
    files = _training_files(train_data_file)
    train_data_file, output_dir = files[0], _output_dir(output_dir)
    ov = coerce_overrides(overrides, "training", source="override")
    cd = coerce_overrides(cli_defaults, "training", source="cli_default")
    ex = explicit_execution_values(execution_config)
    if ov.get("n_groups") is None and cd.get("n_groups") is None:
        raise ConfigError("n_groups is required for training: pass it in overrides "
                          "(e.g. overrides={'n_groups': 512}) or cli_defaults")
    test_file = ov.get("test_data_file", cd.get("test_data_file"))
    if test_file is not None:
        _require_file(Path(test_file), "Test data file")
    val_file = ov.get("validation_data_file", cd.get("validation_data_file"))
    if val_file is not None:
        _require_file(Path(val_file), "Validation data file")

    fields = training_override_fields()
    names = _names(fields)
    facts = _scan_facts(train_data_file)
    levels = [
        ("override", ov),
        ("execution_config", ex),
        ("data_file", _data_level(facts, train_data_file, names)),
        ("cli_default", cd),
        ("pytorch_default", pytorch_defaults(names)),
        ("canonical_default", canonical_defaults(names, can.ModelConfig, can.TrainingConfig, PyTorchExecutionConfig)),
    ]
    values = {name: resolve_field(name, levels) for name in names}
    if values["N"][1] == "pytorch_default" and facts.N is None:
        warnings.warn(f"cannot infer the probe size: {facts.N_why}; using N={values['N'][0]}", UserWarning,
                      stacklevel=2)
    if values["N"][1] == "override" and facts.N is not None and facts.N != values["N"][0]:
        warnings.warn(f"N override {values['N'][0]} differs from the probe size {facts.N} in {train_data_file}",
                      UserWarning, stacklevel=2)
    notes: dict[str, str] = {}
    _check_groups(values, facts, train_data_file, notes, clamp=len(files) == 1)
    for other in files[1:]:
        _check_groups(values, _scan_facts(other), other, notes, clamp=False)
    v = {name: value for name, (value, _) in values.items()}
    for key in ("test_data_file", "validation_data_file"):
        if v[key] is not None:
            from ..data.contract import check_file_headers

            check_file_headers(v[key])
            side, _ = _probe_side(v[key])
            if side is not None and side != v["N"]:
                raise ConfigError(f"{key} {v[key]} has {side}x{side} patterns (probeGuess) "
                                  f"but the model is trained with N={v['N']}")
    gridsize = v["gridsize"]
    C = gridsize * gridsize

    pt_data = pt.DataConfig(N=v["N"], grid_size=(gridsize, gridsize), C=C, K=v["neighbor_count"],
                            nphotons=v["nphotons"], n_subsample=v["n_subsample"],
                            subsample_seed=v["subsample_seed"], probe_scale=v["probe_scale"])
    pt_model = pt.ModelConfig(mode=bridge.mode_for_model_type(v["model_type"]), n_filters_scale=v["n_filters_scale"],
                              amp_activation=v["amp_activation"], object_big=v["object_big"],
                              probe_big=v["probe_big"], probe_mask=v["probe_mask"], pad_object=v["pad_object"],
                              gaussian_smoothing_sigma=v["gaussian_smoothing_sigma"],
                              intensity_scale_trainable=v["intensity_scale_trainable"], C_model=C, C_forward=C)
    pt_training = pt.TrainingConfig(epochs=v["nepochs"], batch_size=v["batch_size"],
                                    nll=v["nll_weight"] > 0, torch_loss_mode=v["torch_loss_mode"],
                                    n_groups=v["n_groups"], train_data_file=train_data_file,
                                    test_data_file=v["test_data_file"], output_dir=output_dir)
    tf_model = bridge.to_model_config(pt_data, pt_model, {k: v[k] for k in MODEL_ONLY_FIELDS})
    canonical_only = {s.name for s in can.specs_of(can.TrainingConfig)} - set(PT_COUNTERPARTS) - {
        "train_data_file", "train_data_files", "test_data_file", "output_dir"}
    bridge_overrides = {name: v[name] for name in canonical_only}
    bridge_overrides["nll_weight"] = v["nll_weight"]  # PT ``nll`` is a bool; keep fractional weights
    bridge_overrides["train_data_files"] = tuple(files)
    tf_training = bridge.to_training_config(tf_model, pt_data, pt_model, pt_training, bridge_overrides)
    _check_backend(v["backend"], v["generator"])
    init_note = _check_init_model(v["init_model"], tf_model)
    if init_note is not None:
        notes["init_model"] = init_note

    exec_values = {name: v[name] for name in _EXEC_NAMES if name in v}
    accelerator = resolve_accelerator(exec_values["accelerator"])
    if accelerator != exec_values["accelerator"]:
        notes["accelerator"] = f"{exec_values['accelerator']!r} resolved to {accelerator!r}"
    exec_values["accelerator"] = v["accelerator"] = accelerator
    execution = PyTorchExecutionConfig(**exec_values)
    _cross_check(v, tf_model, tf_training, execution)

    applied = {name: _entry(v[name], src, notes.get(name)) for name, (_, src) in values.items()}
    applied["C"] = _entry(C, values["gridsize"][1], "C = gridsize²")
    applied["train_data_file"] = _entry(train_data_file, "override", f"the first of {len(files)} training scans "
                                        "(train_data_files)" if len(files) > 1 else None)
    applied["output_dir"] = _entry(output_dir, "override")

    _prepare_output_dir(output_dir)
    populate_legacy_params(tf_training, force=True)
    log.debug("training payload resolved: %s", applied)
    return TrainingPayload(tf_training, pt_data, pt_model, pt_training, execution, applied)


def _cross_check(v: Mapping[str, Any], *configs: Any) -> None:
    """Every resolved value must have reached every config that carries it (catches a bridge bug)."""
    for config in configs:
        for obj in (config, getattr(config, "model", None)):
            if obj is None:
                continue
            for f in dataclasses.fields(obj):
                if f.name in v and not dataclasses.is_dataclass(getattr(obj, f.name)) and getattr(obj, f.name) != v[f.name]:
                    raise RuntimeError(f"config factory bug: {type(obj).__name__}.{f.name} = {getattr(obj, f.name)!r}, "
                                       f"resolved {v[f.name]!r}")


# ----------------------------------------------------------------------------- inference
def _archive_path(model_path: Path) -> Path:
    if not model_path.exists():
        raise FileNotFoundError(f"Model directory not found: {model_path}")
    if model_path.is_dir():
        archive = model_path / ARCHIVE_NAME
        if not archive.is_file():
            raise ModelArchiveNotFoundError(f"Model archive not found: {archive} "
                                            f"(the model directory must contain {ARCHIVE_NAME})")
        return archive
    return model_path


def _archive_levels(archive: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model fields, training fields) from the archive, typed and checked against the schema."""
    from ..archive import read_archive_config

    from ..archive import ArchiveError

    cfg = read_archive_config(archive)
    model_specs = can.spec_map(can.ModelConfig)
    training_specs = can.spec_map(can.TrainingConfig)
    try:  # a bad value inside an archive is bad input (exit 3), not a bad command line
        model = {k: coerce(model_specs[k], val, source=f"model archive {archive}")
                 for k, val in (cfg.get("model") or {}).items() if k in model_specs}
        training = {k: coerce(training_specs[k], val, source=f"model archive {archive}")
                    for k, val in (cfg.get("training") or {}).items() if k in training_specs}
    except ConfigError as exc:
        raise ArchiveError(f"{archive}: config.json: {exc}") from exc
    return model, training


def create_inference_payload(
    model_path: str | os.PathLike[str],
    test_data_file: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    execution_config: PyTorchExecutionConfig | None = None,
    cli_defaults: Mapping[str, Any] | None = None,
) -> InferencePayload:
    """Resolve, validate and return every config of an inference run.

    The model geometry (N, gridsize, all ModelConfig fields) comes from the archive; an override
    that contradicts it raises ConfigError. ``n_groups`` None means all scan positions.
    ``tf_inference_config.model_path`` is the archive file itself (``<dir>/wts.h5.zip``).
    """
    model_path, test_data_file, output_dir = Path(model_path), Path(test_data_file), _output_dir(output_dir)
    ov = coerce_overrides(overrides, "inference", source="override")
    cd = coerce_overrides(cli_defaults, "inference", source="cli_default")
    ex = {k: val for k, val in explicit_execution_values(execution_config).items() if k in INFERENCE_EXECUTION_FIELDS}
    archive = _archive_path(model_path)
    _require_file(test_data_file, "Test data file")
    arch_model, arch_training = _archive_levels(archive)

    for name in ARCHITECTURE_FIELDS:
        if name in ov and name in arch_model:
            if ov[name] != arch_model[name]:
                raise ConfigError(f"override {name}={ov[name]!r} contradicts the model at {archive}, which was "
                                  f"trained with {name}={arch_model[name]!r}; remove the override or train a new model")
            del ov[name]
        if name in cd and name in arch_model:
            del cd[name]
    facts = _scan_facts(test_data_file)
    if facts.N is not None and "N" in arch_model and facts.N != arch_model["N"]:
        raise ConfigError(f"{test_data_file} has {facts.N}x{facts.N} patterns (probeGuess) but the model at "
                          f"{archive} was trained with N={arch_model['N']}")

    names = _names(inference_override_fields()) + [n for n in ARCHITECTURE_FIELDS]
    archive_level = dict(arch_model)
    if "neighbor_count" in arch_training:
        archive_level["neighbor_count"] = arch_training["neighbor_count"]
    levels = [
        ("override", ov),
        ("execution_config", ex),
        ("model_archive", archive_level),
        ("data_file", _data_level(facts, test_data_file, ["N"])),
        ("cli_default", cd),
        ("pytorch_default", pytorch_defaults(names, INFERENCE_PT_CLASSES)),
        ("canonical_default", canonical_defaults(names, can.ModelConfig, can.InferenceConfig, PyTorchExecutionConfig)),
    ]
    values = {name: resolve_field(name, levels) for name in names}
    # nphotons is not an inference setting; the PT DataConfig still carries it for the record
    nphotons_levels = [("data_file", _data_level(facts, test_data_file, ["nphotons"])),
                       ("model_archive", {k: arch_training[k] for k in ("nphotons",) if k in arch_training}),
                       ("pytorch_default", pytorch_defaults(["nphotons"], INFERENCE_PT_CLASSES))]
    values["nphotons"] = resolve_field("nphotons", nphotons_levels)
    notes: dict[str, str] = {}
    _check_groups(values, facts, test_data_file, notes)
    v = {name: value for name, (value, _) in values.items()}
    gridsize = v["gridsize"]
    C = gridsize * gridsize

    pt_data = pt.DataConfig(N=v["N"], grid_size=(gridsize, gridsize), C=C, K=v["neighbor_count"],
                            nphotons=v["nphotons"], n_subsample=v["n_subsample"],
                            subsample_seed=v["subsample_seed"], probe_scale=v["probe_scale"])
    pt_model = pt.ModelConfig(mode=bridge.mode_for_model_type(v["model_type"]), n_filters_scale=v["n_filters_scale"],
                              amp_activation=v["amp_activation"], object_big=v["object_big"],
                              probe_big=v["probe_big"], probe_mask=v["probe_mask"], pad_object=v["pad_object"],
                              gaussian_smoothing_sigma=v["gaussian_smoothing_sigma"], C_model=C, C_forward=C)
    pt_inference = pt.InferenceConfig(batch_size=v["inference_batch_size"], patch_weighting=v["stitch_weighting"])
    tf_model = bridge.to_model_config(pt_data, pt_model, {k: v[k] for k in MODEL_ONLY_FIELDS})
    tf_inference = bridge.to_inference_config(
        tf_model, pt_data, pt_inference,
        {"model_path": archive, "test_data_file": test_data_file, "output_dir": output_dir,
         "n_groups": v["n_groups"], "enable_oversampling": v["enable_oversampling"],
         "neighbor_pool_size": v["neighbor_pool_size"], "debug": v["debug"],
         "refine_epochs": v["refine_epochs"], "phase_sync_passes": v["phase_sync_passes"],
         **{name: v[name] for name in REFINE_FIELDS},
         "backend": v["backend"]})
    _check_backend(v["backend"])

    exec_values = {name: v[name] for name in INFERENCE_EXECUTION_FIELDS}
    accelerator = resolve_accelerator(exec_values["accelerator"])
    if accelerator != exec_values["accelerator"]:
        notes["accelerator"] = f"{exec_values['accelerator']!r} resolved to {accelerator!r}"
    exec_values["accelerator"] = v["accelerator"] = accelerator
    execution = PyTorchExecutionConfig(**exec_values)
    _cross_check(v, tf_model, tf_inference, execution)

    applied = {name: _entry(v[name], src, notes.get(name)) for name, (_, src) in values.items()}
    applied["C"] = _entry(C, values["gridsize"][1], "C = gridsize²")
    applied["model_path"] = _entry(archive, "override")
    applied["test_data_file"] = _entry(test_data_file, "override")
    applied["output_dir"] = _entry(output_dir, "override")

    _prepare_output_dir(output_dir)
    populate_legacy_params(tf_inference, force=True)
    return InferencePayload(tf_inference, pt_data, pt_inference, execution, applied)


# ----------------------------------------------------------------------------- serialisation
def payload_to_dict(payload: TrainingPayload | InferencePayload) -> dict[str, Any]:
    """The whole resolved configuration plus provenance, JSON-able (the run's config.json)."""
    if isinstance(payload, TrainingPayload):
        kind = "training"
    elif isinstance(payload, InferencePayload):
        kind = "inference"
    else:
        raise TypeError(f"payload_to_dict needs a TrainingPayload or InferencePayload, got {type(payload).__name__}")
    out: dict[str, Any] = {"schema_version": 1, "kind": kind}
    for f in dataclasses.fields(payload):
        value = getattr(payload, f.name)
        out[f.name] = can.config_to_dict(value) if dataclasses.is_dataclass(value) else can.to_jsonable(value)
    return out


def archive_config_dict(tf_training_config: can.TrainingConfig) -> dict[str, Any]:
    """{"model": {...}, "training": {...}}: the config.json section layout of ``wts.h5.zip`` that
    :func:`create_inference_payload` reads back (via ``archive.read_archive_config``)."""
    if not isinstance(tf_training_config, can.TrainingConfig):
        raise TypeError(f"archive_config_dict needs a canonical TrainingConfig, got {type(tf_training_config).__name__}")
    training = can.config_to_dict(tf_training_config)
    model = training.pop("model")
    return {"model": model, "training": training}
