"""The model archive ``wts.h5.zip``: everything needed to rebuild a trained model, no pickle.

Members: ``manifest.json`` (format_version, engine_version, backend, created), ``config.json``
({"model": canonical ModelConfig fields, "training": TrainingConfig fields}), ``params.json``
(legacy params snapshot), ``weights.h5`` (h5py: group ``state_dict`` with one dataset per
state-dict tensor, group ``extras`` with the gain, the complex probe, the input and counts scales).

Loading is strict (reference bug §8.22 silently returned random weights): every tensor the
architecture needs must be present with the right shape and nothing else may be there; any
problem raises :class:`ArchiveError` naming the file and the cause. Archives are written to a
temp file and renamed, so a crash never leaves a half-written ``wts.h5.zip``.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

FORMAT_VERSION = 1
ARCHIVE_NAME = "wts.h5.zip"
MEMBERS = ("manifest.json", "config.json", "params.json", "weights.h5")


class ArchiveError(ValueError):
    """The archive is missing, corrupt, from a newer engine, or does not match its architecture."""


@dataclass
class LoadedModel:
    """A model rebuilt from an archive, in eval mode on ``device``."""

    model: Any  # PtychoPINN
    config: dict[str, Any]
    params: dict[str, Any]
    manifest: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    path: Path | None = None


def _engine_version() -> str:
    try:
        from importlib.metadata import version

        return version("ptycho-studio")
    except Exception:  # not installed (running from a checkout)
        return "0.1.0"


def save_archive(path: str | Path, model: Any, config: Mapping[str, Any], params: Mapping[str, Any] | None = None,
                 extras: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` (a PtychoPINN) and its resolved config to ``path`` atomically; returns the path.

    ``config`` must be {"model": {...}, "training": {...}} of plain JSON values; ``extras`` are
    additional arrays/scalars stored under ``extras/`` in weights.h5.
    """
    import h5py
    from .io.atomic import atomic_writer, to_jsonable

    if "model" not in config:
        raise ValueError("save_archive: config needs a 'model' section")
    cfg = {"model": dict(config["model"]), "training": dict(config.get("training", {}))}
    manifest = {"format_version": FORMAT_VERSION, "engine_version": _engine_version(), "backend": "pytorch",
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "architecture": getattr(model, "arch", {})}
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        sd = h5.create_group("state_dict")
        for key, tensor in model.state_dict().items():
            sd.create_dataset(key, data=tensor.detach().cpu().float().numpy()
                              if tensor.is_floating_point() else tensor.detach().cpu().numpy())
        ex = h5.create_group("extras")
        ex.create_dataset("log_gain", data=np.float64(model.log_gain.detach().cpu()))
        ex.create_dataset("intensity_scale", data=np.float64(model.gain))
        ex.create_dataset("probe", data=model.probe.detach().cpu().numpy().astype(np.complex64))
        ex.create_dataset("input_scale", data=np.float64(model.input_scale.cpu()))
        ex.create_dataset("counts_scale", data=np.float64(model.counts_scale.cpu()))
        for key, value in (extras or {}).items():
            ex.create_dataset(key, data=np.asarray(value))
    target = Path(path)
    with atomic_writer(target, "wb") as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", json.dumps(to_jsonable(manifest), indent=2))
            zf.writestr("config.json", json.dumps(to_jsonable(cfg), indent=2))
            zf.writestr("params.json", json.dumps(to_jsonable(dict(params or {})), indent=2))
            zf.writestr("weights.h5", buf.getvalue())
    return target


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise ArchiveError(f"Model archive not found: {path}")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArchiveError(f"{path}: not a valid wts.h5.zip archive (corrupt or truncated zip: {exc})") from exc


def _read_member(zf: zipfile.ZipFile, name: str, path: Path) -> bytes:
    try:
        return zf.read(name)
    except KeyError as exc:
        raise ArchiveError(f"{path}: archive member {name!r} is missing "
                           f"(found {sorted(zf.namelist())})") from exc
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
        # zlib.error is not an OSError subclass; catch it by name below
        raise ArchiveError(f"{path}: archive member {name!r} is corrupt ({exc})") from exc
    except Exception as exc:  # zlib.error and other decompression failures
        raise ArchiveError(f"{path}: archive member {name!r} is corrupt ({type(exc).__name__}: {exc})") from exc


def _read_json_member(zf: zipfile.ZipFile, name: str, path: Path) -> dict[str, Any]:
    raw = _read_member(zf, name, path)
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"{path}: {name} is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ArchiveError(f"{path}: {name} must hold a JSON object, found {type(value).__name__}")
    return value


def _check_manifest(manifest: dict[str, Any], path: Path) -> None:
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise ArchiveError(f"{path}: manifest.json has no integer format_version (found {version!r})")
    if version > FORMAT_VERSION:
        raise ArchiveError(f"{path}: archive format_version {version} is newer than this engine supports "
                           f"({FORMAT_VERSION}); upgrade Ptycho Studio to load it")
    if version < 1:
        raise ArchiveError(f"{path}: invalid archive format_version {version}")
    if manifest.get("backend", "pytorch") != "pytorch":
        raise ArchiveError(f"{path}: archive backend {manifest.get('backend')!r} is not 'pytorch'")


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The archive's manifest (format and engine version, backend, creation time), checked."""
    p = Path(path)
    with _open_zip(p) as zf:
        manifest = _read_json_member(zf, "manifest.json", p)
    _check_manifest(manifest, p)
    return manifest


def read_archive_config(path: str | Path) -> dict[str, Any]:
    """{"model": {...}, "training": {...}} from the archive (reads manifest + config.json only)."""
    p = Path(path)
    with _open_zip(p) as zf:
        _check_manifest(_read_json_member(zf, "manifest.json", p), p)
        cfg = _read_json_member(zf, "config.json", p)
    if not isinstance(cfg.get("model"), dict):
        raise ArchiveError(f"{p}: config.json has no 'model' section")
    cfg.setdefault("training", {})
    # archives written before the generator registry hold the reference CNN
    cfg["model"].setdefault("generator", "cnn")
    return cfg


def load_archive(path: str | Path, device: str | Any = "cpu") -> LoadedModel:
    """Rebuild the trained model from ``path`` on ``device`` (strict; never unpickles)."""
    import h5py
    import torch
    from .model.pinn import PtychoPINN

    p = Path(path)
    with _open_zip(p) as zf:
        manifest = _read_json_member(zf, "manifest.json", p)
        _check_manifest(manifest, p)
        cfg = _read_json_member(zf, "config.json", p)
        params = _read_json_member(zf, "params.json", p)
        weights = _read_member(zf, "weights.h5", p)
    if not isinstance(cfg.get("model"), dict):
        raise ArchiveError(f"{p}: config.json has no 'model' section")
    try:
        with h5py.File(io.BytesIO(weights), "r") as h5:
            if "state_dict" not in h5:
                raise ArchiveError(f"{p}: weights.h5 has no 'state_dict' group")
            tensors = {k: np.asarray(v[()]) for k, v in h5["state_dict"].items()}
            extras = {k: np.asarray(v[()]) for k, v in h5["extras"].items()} if "extras" in h5 else {}
    except ArchiveError:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/ValueError on damaged files
        raise ArchiveError(f"{p}: weights.h5 is unreadable ({type(exc).__name__}: {exc})") from exc

    if "probe_ri" not in tensors:
        raise ArchiveError(f"{p}: weights.h5 is missing tensor 'probe_ri' (the probe)")
    probe_ri = tensors["probe_ri"]
    if probe_ri.ndim != 3 or probe_ri.shape[-1] != 2:
        raise ArchiveError(f"{p}: tensor 'probe_ri' has shape {probe_ri.shape}, expected (N, N, 2)")
    probe = probe_ri[..., 0] + 1j * probe_ri[..., 1]
    try:
        model = PtychoPINN.from_config(cfg["model"], cfg.get("training", {}), probe)
    except (ValueError, TypeError, KeyError) as exc:
        raise ArchiveError(f"{p}: config.json does not describe a buildable model ({exc})") from exc

    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        raise ArchiveError(f"{p}: weights.h5 is missing tensor(s) {missing[:5]}"
                           f"{' ...' if len(missing) > 5 else ''} required by the architecture in config.json")
    if unexpected:
        raise ArchiveError(f"{p}: weights.h5 has unexpected tensor(s) {unexpected[:5]}"
                           f"{' ...' if len(unexpected) > 5 else ''}: it was saved from a different architecture")
    for key, ref in expected.items():
        if tuple(tensors[key].shape) != tuple(ref.shape):
            raise ArchiveError(f"{p}: tensor {key!r} has shape {tuple(tensors[key].shape)} but the architecture "
                               f"in config.json needs {tuple(ref.shape)} (wrong architecture)")
        if not np.all(np.isfinite(tensors[key])):
            raise ArchiveError(f"{p}: tensor {key!r} contains NaN or infinite values")
    state = {k: torch.as_tensor(v).to(expected[k].dtype) for k, v in tensors.items()}
    model.load_state_dict(state, strict=True)
    dev = torch.device(device)
    model.to(dev).eval()
    return LoadedModel(model=model, config=cfg, params=params, manifest=manifest,
                       extras=extras, device=str(dev), path=p)
