"""The engine's public API: what the GUI, notebooks and scripts call.

Everything heavy (torch, Lightning, scikit-image) is imported inside the functions, so importing
this module is cheap and a window that imports it opens fast.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .events import CancelToken, EventCallback, ignore_events
from .runs import RunRecord, load_run

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .config.factory import InferencePayload, TrainingPayload
    from .config.synthetic import PretrainingPayload
    from .config.schema import FieldSpec
    from .data.contract import ScanData, ScanSummary
    from .inference import InferenceResult
    from .training.run import TrainResult

__all__ = [
    "CancelToken",
    "RunRecord",
    "create_inference_payload",
    "create_pretraining_payload",
    "create_training_payload",
    "cuda_available",
    "tensorflow_available",
    "demo_dataset_path",
    "demo_preset_path",
    "read_settings_file",
    "demo_test_dataset_path",
    "export_model",
    "convert_hdf5",
    "export_ptychodus",
    "resolve_scan_path",
    "predict_patches",
    "inference_fields",
    "infer",
    "load_run",
    "load_scan",
    "pretrain",
    "pretraining_fields",
    "resources_dir",
    "train",
    "warm_up",
    "training_fields",
]


def resources_dir() -> Path:
    """The folder with the bundled demo data (``PTYCHO_STUDIO_RESOURCES`` overrides it)."""
    env = os.environ.get("PTYCHO_STUDIO_RESOURCES")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "resources"


def demo_dataset_path() -> Path:
    """The bundled simulated training scan the app opens with."""
    return resources_dir() / "demo_lines.npz"


def demo_test_dataset_path() -> Path:
    """A second simulated scan of the same kind, for trying inference."""
    return resources_dir() / "demo_lines_test.npz"


def demo_preset_path() -> Path:
    """Settings that train the demo scan on a laptop CPU in a couple of minutes."""
    return resources_dir() / "demo_preset.toml"


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """``{name: value}`` from a TOML settings file (same format as the CLI's ``--config``)."""
    from .config.presets import read_settings_file as _read

    return _read(path)


def load_scan(path: str | Path) -> "ScanData":
    """Load and validate a scan (arrays included); raises DataContractError / FileNotFoundError.

    ``path``: an NPZ, a ptychodus folder (or its product-in.h5 / diffraction.h5), or a ptychodus
    product .h5 with raw_data; non-NPZ sources are converted once into the scan cache (see
    :mod:`ptycho_engine.io.scan_sources`); ``summary().source_format`` / ``source_path`` say so.
    """
    from .data.contract import load_scan as _load
    from .io.scan_sources import resolve_scan

    resolved = resolve_scan(Path(path))
    scan = _load(resolved)
    source = scan.metadata.get("source") if resolved != Path(path) else None
    if isinstance(source, dict):
        scan.warnings.extend(str(n) for n in source.get("notes") or [] if str(n) not in scan.warnings)
    return scan


def resolve_scan_path(path: str | Path) -> Path:
    """The contract NPZ standing for a scan in any supported format (itself for an NPZ or a folder
    of NPZ files; the scan-cache entry, converted now if needed, otherwise)."""
    from .io.scan_sources import resolve_scan

    return resolve_scan(Path(path))


def _resolve_many(items: Any) -> Any:
    if isinstance(items, (str, os.PathLike)):
        return resolve_scan_path(items)
    return [resolve_scan_path(p) for p in items]


def _resolve_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(overrides or {})
    for key in ("validation_data_file", "test_data_file"):
        if out.get(key):
            out[key] = resolve_scan_path(out[key])
    return out


def convert_hdf5(stack: str | Path, output: str | Path, positions: str, **options: Any) -> Path:
    """Convert a beamline HDF5 diffraction stack into a contract NPZ ``output`` (read chunk by chunk).

    ``positions``: ``FILE:/dataset`` (an (n, 2) [x, y] dataset, or ``FILE:/x,/y``), ``:/dataset`` in the
    stack's own file, an .npy / .npz / text file. ``options``: the fields of
    :class:`ptycho_engine.io.hdf5_stack.StackOptions` (data_path, positions_unit, probe, crop, center,
    bad_pixels, saturation, geometry). Raises DataContractError naming file, key, expected, found.
    """
    from .io.hdf5_stack import StackOptions, convert_hdf5_stack

    _, notes = convert_hdf5_stack(Path(stack), Path(output), StackOptions(positions=positions, **options))
    import warnings

    from .data.errors import DataContractWarning

    for note in notes:
        warnings.warn(f"{stack}: {note}", DataContractWarning, stacklevel=2)
    return Path(output)


def export_ptychodus(scan_path: str | Path, folder: str | Path, name: str | None = None) -> Path:
    """Write a scan (any supported format) as a ptychodus batch folder (diffraction.h5 + product-in.h5)."""
    from .io.ptychodus_batch import export_batch_folder

    return export_batch_folder(load_scan(scan_path), Path(folder), name=name)


def training_fields() -> list["FieldSpec"]:
    """The override fields a user may set for training (drives the GUI form and CLI flags)."""
    from .config.overrides import training_override_fields

    return training_override_fields()


def pretraining_fields() -> list["FieldSpec"]:
    """The synthetic-data settings of pretraining (n_objects, groups_per_object, object_size, step, ...)."""
    from .config.synthetic import synthetic_fields

    return synthetic_fields()


def inference_fields() -> list["FieldSpec"]:
    """The override fields a user may set for inference."""
    from .config.overrides import inference_override_fields

    return inference_override_fields()


def create_training_payload(
    train_data_file: str | Path | Sequence[str | Path],
    output_dir: str | Path,
    overrides: Mapping[str, Any] | None = None,
    execution_config: Any = None,
    cli_defaults: Mapping[str, Any] | None = None,
) -> "TrainingPayload":
    """Resolve a training configuration (see the factory for the five precedence levels).

    ``train_data_file``: one scan, a list of scans, or folders (every ``*.npz`` inside, sorted);
    the run trains on all of them. ``overrides`` may name a ``validation_data_file`` and an
    ``init_model`` ('scratch', 'shipped', or a run folder / wts.h5.zip to fine-tune).
    """
    from .config.factory import create_training_payload as _create

    data = _resolve_many(train_data_file)  # ptychodus folders / product files -> their cached contract NPZ
    return _create(data, output_dir, _resolve_overrides(overrides), execution_config,
                   cli_defaults=dict(cli_defaults or {}))


def create_pretraining_payload(
    probe_from: str | Path,
    output_dir: str | Path,
    overrides: Mapping[str, Any] | None = None,
    synthetic: Mapping[str, Any] | None = None,
    execution_config: Any = None,
    cli_defaults: Mapping[str, Any] | None = None,
) -> "PretrainingPayload":
    """Resolve a synthetic pretraining run: the probe, N and nphotons come from the scan
    ``probe_from``; ``overrides`` are training settings, ``synthetic`` the stream's settings
    (see :func:`pretraining_fields`)."""
    from .config.synthetic import create_pretraining_payload as _create

    return _create(resolve_scan_path(probe_from), output_dir, _resolve_overrides(overrides), dict(synthetic or {}),
                   execution_config, cli_defaults=dict(cli_defaults or {}))


def create_inference_payload(
    model_path: str | Path,
    test_data_file: str | Path,
    output_dir: str | Path,
    overrides: Mapping[str, Any] | None = None,
    execution_config: Any = None,
    cli_defaults: Mapping[str, Any] | None = None,
) -> "InferencePayload":
    """Resolve an inference configuration; geometry comes from the model archive."""
    from .config.factory import create_inference_payload as _create

    return _create(Path(model_path), resolve_scan_path(test_data_file), output_dir, dict(overrides or {}),
                   execution_config, cli_defaults=dict(cli_defaults or {}))


def train(
    payload: "TrainingPayload",
    on_event: EventCallback = ignore_events,
    cancel: CancelToken | None = None,
) -> "TrainResult":
    """Train a model; events go to ``on_event``; ``cancel`` stops within one batch."""
    from .training.run import train_model

    return train_model(payload, on_event=on_event, cancel=cancel)


def pretrain(
    payload: "PretrainingPayload",
    on_event: EventCallback = ignore_events,
    cancel: CancelToken | None = None,
) -> "TrainResult":
    """Pretrain on synthetic objects simulated through the user's probe; writes a normal run folder
    (``wts.h5.zip``) that ``infer`` and ``init_model`` accept."""
    from .training.pretrain import pretrain_model

    return pretrain_model(payload, on_event=on_event, cancel=cancel)


def infer(
    payload: "InferencePayload",
    on_event: EventCallback = ignore_events,
    cancel: CancelToken | None = None,
) -> "InferenceResult":
    """Reconstruct a scan with a trained model and write the results into the output directory."""
    from .inference import run_inference

    return run_inference(payload, on_event=on_event, cancel=cancel)


def predict_patches(model_dir: str | Path | Any, amplitudes: Any, **kwargs: Any) -> Any:
    """Complex object patches for diffraction amplitudes (B, N, N) or groups (B, C, N, N), same shape.

    ``model_dir``: a model directory, a ``wts.h5.zip`` (ours or a PtychoPINN archive) or a loaded
    model; the amplitudes are what the model's diffraction -> object network takes (no position
    offsets). See :func:`ptycho_engine.inference.patch_predictor.predict_patches`.
    """
    from .inference.patch_predictor import predict_patches as _predict

    return _predict(model_dir, amplitudes, **kwargs)


def export_model(model_dir: str | Path, output: str | Path, format: str = "ptychopinn") -> Path:
    """Write the model of ``model_dir`` in another implementation's archive format; returns the file."""
    from .io.reference_export import export_ptychopinn

    if format != "ptychopinn":
        raise ValueError(f"export format: expected 'ptychopinn', got {format!r}")
    return export_ptychopinn(model_dir, output)


def warm_up() -> None:
    """Import the engine's heavy modules now.

    Imports hold Python's global lock; done in a background thread right after the window
    appears, they no longer freeze the window when the user first presses Train or Infer.
    """
    import importlib

    # everything a training or inference run imports lazily (measured with py-spy --gil: the
    # scipy.spatial import inside grouping alone held the lock for ~300 ms)
    for name in ("torch", "lightning", "h5py", "scipy.spatial", ".data.grouping", ".stitching", ".archive",
                 ".model.pinn", ".training.run", ".inference", ".metrics"):
        importlib.import_module(name, __package__)


def cuda_available() -> bool:
    """Whether training can use a CUDA GPU here (imports torch: call it off the startup path)."""
    import torch

    return bool(torch.cuda.is_available())


def tensorflow_available() -> tuple[bool, str]:
    """(True, "") when ``backend = 'tensorflow'`` can run here, else (False, how to install it).

    Cheap (nothing imported): a window may call it at start-up to grey out the backend choice.
    """
    from .tf_backend import available

    return available()
