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
    "demo_dataset_path",
    "demo_preset_path",
    "read_settings_file",
    "demo_test_dataset_path",
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
    """Load and validate a scan (arrays included); raises DataContractError / FileNotFoundError."""
    from .data.contract import load_scan as _load

    return _load(Path(path))


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

    data = Path(train_data_file) if isinstance(train_data_file, (str, os.PathLike)) else [
        Path(p) for p in train_data_file]
    return _create(data, output_dir, dict(overrides or {}), execution_config,
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

    return _create(Path(probe_from), output_dir, dict(overrides or {}), dict(synthetic or {}),
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

    return _create(Path(model_path), Path(test_data_file), output_dir, dict(overrides or {}), execution_config,
                   cli_defaults=dict(cli_defaults or {}))


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
