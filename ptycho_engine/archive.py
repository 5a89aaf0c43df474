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
#: the JSON members are a few kB; anything larger is refused from the zip directory, before reading
MAX_JSON_BYTES = 1 << 20
#: weights.h5 may be at most this much larger than the architecture's own tensors need
WEIGHTS_SLACK_BYTES = 32 << 20
#: one dataset under extras/ (scales, probe, per-scan lists) is small
MAX_EXTRA_BYTES = 16 << 20
#: the weights of the largest architecture the schema allows stay far below this
MAX_WEIGHTS_BYTES = 4 << 30
#: engines an archive may come from (manifest "backend"); both store the same tensor layout
ARCHIVE_BACKENDS = ("pytorch", "tensorflow")


def archive_file(model: str | Path) -> Path:
    """The archive of ``model``: a model directory holding ``wts.h5.zip``, or the archive itself."""
    p = Path(model)
    if p.is_dir():
        p = p / ARCHIVE_NAME
    if not p.is_file():
        raise FileNotFoundError(f"Model archive not found: {p} (expected a model directory holding "
                                f"{ARCHIVE_NAME}, or the archive file)")
    return p


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
                 extras: Mapping[str, Any] | None = None, backend: str = "pytorch") -> Path:
    """Write ``model`` (a PtychoPINN) and its resolved config to ``path`` atomically; returns the path.

    ``config`` must be {"model": {...}, "training": {...}} of plain JSON values; ``extras`` are
    additional arrays/scalars stored under ``extras/`` in weights.h5. ``backend`` records which
    engine trained the weights (one of ``ARCHIVE_BACKENDS``); the tensors are always in the
    canonical PyTorch state-dict layout, so either backend loads any archive.
    """
    if backend not in ARCHIVE_BACKENDS:
        raise ValueError(f"save_archive: backend must be one of {list(ARCHIVE_BACKENDS)}, got {backend!r}")
    import h5py
    from .io.atomic import atomic_writer, to_jsonable

    if "model" not in config:
        raise ValueError("save_archive: config needs a 'model' section")
    cfg = {"model": dict(config["model"]), "training": dict(config.get("training", {}))}
    manifest = {"format_version": FORMAT_VERSION, "engine_version": _engine_version(), "backend": backend,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "architecture": getattr(model, "arch", {})}
    bad = [k for k, t in model.state_dict().items()
           if (t.is_floating_point() or t.is_complex()) and not bool(t.isfinite().all())]
    if bad:  # the loader refuses these; never write an archive it would refuse
        raise ValueError(f"save_archive: tensor(s) {bad[:5]} hold NaN or infinite values; not saving {path}")
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
    """Open the archive and check its directory: the four known members, once each, of sane size."""
    if not path.is_file():
        raise ArchiveError(f"Model archive not found: {path}")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArchiveError(f"{path}: not a valid wts.h5.zip archive (corrupt or truncated zip: {exc})") from exc
    try:
        names = [info.filename for info in zf.infolist()]
        unknown = sorted(set(names) - set(MEMBERS))
        if unknown:
            raise ArchiveError(f"{path}: unexpected archive member(s) {unknown[:5]}; a wts.h5.zip holds only "
                               f"{list(MEMBERS)}")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ArchiveError(f"{path}: archive member(s) {dupes} appear more than once (a tampered archive)")
        for info in zf.infolist():
            limit = MAX_WEIGHTS_BYTES if info.filename == "weights.h5" else MAX_JSON_BYTES
            if info.file_size > limit:
                raise ArchiveError(f"{path}: archive member {info.filename!r} would unpack to {info.file_size} bytes; "
                                   f"expected at most {limit} (refused before reading)")
    except BaseException:
        zf.close()
        raise
    return zf


def _read_member(zf: zipfile.ZipFile, name: str, path: Path, limit: int | None = None) -> bytes:
    """Read one member; never more than its directory size (or ``limit``) bytes are held."""
    try:
        info = zf.getinfo(name)
    except KeyError as exc:
        raise ArchiveError(f"{path}: archive member {name!r} is missing "
                           f"(found {sorted(zf.namelist())})") from exc
    limit = limit if limit is not None else (MAX_JSON_BYTES if name.endswith(".json") else MAX_WEIGHTS_BYTES)
    if info.file_size > limit:
        raise ArchiveError(f"{path}: archive member {name!r} would unpack to {info.file_size} bytes; expected at "
                           f"most {limit} for this architecture (refused before reading)")
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)  # zipfile stops at the directory size and checks the CRC
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
        raise ArchiveError(f"{path}: archive member {name!r} is corrupt ({exc})") from exc
    except Exception as exc:  # zlib.error and other decompression failures
        raise ArchiveError(f"{path}: archive member {name!r} is corrupt ({type(exc).__name__}: {exc})") from exc
    if len(data) > limit:
        raise ArchiveError(f"{path}: archive member {name!r} unpacks to more than {limit} bytes")
    return data


def _read_json_member(zf: zipfile.ZipFile, name: str, path: Path) -> dict[str, Any]:
    raw = _read_member(zf, name, path)
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"{path}: {name} is not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise ArchiveError(f"{path}: {name} is nested too deeply to be an engine file") from exc
    if not isinstance(value, dict):
        raise ArchiveError(f"{path}: {name} must hold a JSON object, found {type(value).__name__}")
    return value


def _check_manifest(manifest: dict[str, Any], path: Path) -> None:
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ArchiveError(f"{path}: manifest.json key 'format_version': expected an integer, "
                           f"found {version!r}")
    if version > FORMAT_VERSION:
        raise ArchiveError(f"{path}: archive format_version {version} is newer than this engine supports "
                           f"({FORMAT_VERSION}); upgrade Ptycho Studio to load it")
    if version < 1:
        raise ArchiveError(f"{path}: invalid archive format_version {version}")
    if manifest.get("backend", "pytorch") not in ARCHIVE_BACKENDS:
        raise ArchiveError(f"{path}: archive backend {manifest.get('backend')!r} is not one of "
                           f"{list(ARCHIVE_BACKENDS)}")
    arch = manifest.get("architecture", {})
    if not isinstance(arch, dict):
        raise ArchiveError(f"{path}: manifest.json key 'architecture': expected an object, found "
                           f"{type(arch).__name__}")


#: keys of config.json's "training" section that are not TrainingConfig fields
TRAINING_EXTRA_KEYS = ("synthetic_pretraining",)


def _check_config(cfg: dict[str, Any], path: Path) -> dict[str, Any]:
    """config.json: {"model": {ModelConfig fields}, "training": {TrainingConfig fields}}, nothing else."""
    import dataclasses

    from .config import canonical as can

    unknown = sorted(set(cfg) - {"model", "training"})
    if unknown:
        raise ArchiveError(f"{path}: config.json has unknown section(s) {unknown}; expected only 'model' and "
                           "'training'")
    if not isinstance(cfg.get("model"), dict):
        raise ArchiveError(f"{path}: config.json key 'model': expected an object of model settings, found "
                           f"{type(cfg.get('model')).__name__ if 'model' in cfg else 'nothing'}")
    training = cfg.setdefault("training", {})
    if not isinstance(training, dict):
        raise ArchiveError(f"{path}: config.json key 'training': expected an object of training settings, found "
                           f"{type(training).__name__} {training!r:.40}")
    model_fields = {f.name for f in dataclasses.fields(can.ModelConfig)}
    training_fields = {f.name for f in dataclasses.fields(can.TrainingConfig)} - {"model"} | set(TRAINING_EXTRA_KEYS)
    for section, allowed in (("model", model_fields), ("training", training_fields)):
        extra = sorted(set(cfg[section]) - allowed)
        if extra:
            raise ArchiveError(f"{path}: config.json section '{section}' has unknown key(s) {extra[:5]}; "
                               "this engine does not know what they mean")
    n_side = cfg["model"].get("N", 64)
    if isinstance(n_side, bool) or not isinstance(n_side, int) or n_side not in can.SUPPORTED_N:
        kind = "the string" if isinstance(n_side, str) else type(n_side).__name__
        raise ArchiveError(f"{path}: config.json key 'model.N': expected an integer in {can.SUPPORTED_N}, "
                           f"found {kind} {n_side!r:.40}")
    return cfg


def _reference_reader(p: Path) -> Any:
    """The PtychoPINN-archive reader when ``p`` is in the reference's layout (manifest.dill), else None."""
    from .io import reference_archive

    return reference_archive if p.is_file() and reference_archive.is_reference_archive(p) else None


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The archive's manifest (format and engine version, backend, creation time), checked."""
    p = Path(path)
    if (ref := _reference_reader(p)) is not None:  # a PtychoPINN (TensorFlow) archive
        return ref.reference_manifest(p)
    with _open_zip(p) as zf:
        manifest = _read_json_member(zf, "manifest.json", p)
    _check_manifest(manifest, p)
    return manifest


def read_archive_config(path: str | Path) -> dict[str, Any]:
    """{"model": {...}, "training": {...}} from the archive (reads manifest + config.json only)."""
    p = Path(path)
    if (ref := _reference_reader(p)) is not None:  # a PtychoPINN (TensorFlow) archive
        return ref.reference_config(p)
    with _open_zip(p) as zf:
        _check_manifest(_read_json_member(zf, "manifest.json", p), p)
        cfg = _check_config(_read_json_member(zf, "config.json", p), p)
    # archives written before the generator registry hold the reference CNN
    cfg["model"].setdefault("generator", "cnn")
    return cfg


def load_archive(path: str | Path, device: str | Any = "cpu") -> LoadedModel:
    """Rebuild the trained model from ``path`` on ``device`` (strict; never unpickles).

    Bounded work for hostile files: member sizes are checked from the zip directory before
    reading; weights.h5 may be at most the architecture's own tensors plus a small slack; inside
    it only the known groups are accepted and every dataset's name, shape and dtype are checked
    from its header before its data are read.
    """
    import h5py
    import torch
    from .model.pinn import PtychoPINN

    p = Path(path)
    if (ref := _reference_reader(p)) is not None:  # a PtychoPINN (TensorFlow) archive
        return ref.load_reference_archive(p, device=device)
    with _open_zip(p) as zf:
        manifest = _read_json_member(zf, "manifest.json", p)
        _check_manifest(manifest, p)
        cfg = _check_config(_read_json_member(zf, "config.json", p), p)
        params = _read_json_member(zf, "params.json", p)
        n_side = cfg["model"].get("N", 64)  # an integer in SUPPORTED_N (checked by _check_config)
        try:  # the probe comes from weights.h5 (probe_ri); a placeholder of the right size builds the model
            model = PtychoPINN.from_config(cfg["model"], cfg.get("training", {}),
                                           np.ones((n_side, n_side), np.complex64))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ArchiveError(f"{p}: config.json does not describe a buildable model ({exc})") from exc
        expected = model.state_dict()
        need = sum(t.numel() * 4 for t in expected.values()) + n_side * n_side * 8
        weights = _read_member(zf, "weights.h5", p, limit=2 * need + WEIGHTS_SLACK_BYTES)
    tensors: dict[str, np.ndarray] = {}
    extras: dict[str, Any] = {}
    try:
        with h5py.File(io.BytesIO(weights), "r") as h5:
            top = sorted(set(h5.keys()) - {"state_dict", "extras"})
            if top:
                raise ArchiveError(f"{p}: weights.h5 has unknown entries {top[:5]}; expected only 'state_dict' "
                                   "and 'extras'")
            if "state_dict" not in h5 or not isinstance(h5["state_dict"], h5py.Group):
                raise ArchiveError(f"{p}: weights.h5 has no 'state_dict' group")
            sd = h5["state_dict"]
            names = set(sd.keys())
            missing = sorted(set(expected) - names)
            unexpected = sorted(names - set(expected))
            if missing:
                raise ArchiveError(f"{p}: weights.h5 is missing tensor(s) {missing[:5]}"
                                   f"{' ...' if len(missing) > 5 else ''} required by the architecture in config.json")
            if unexpected:
                raise ArchiveError(f"{p}: weights.h5 has unexpected tensor(s) {unexpected[:5]}"
                                   f"{' ...' if len(unexpected) > 5 else ''}: it was saved from a different "
                                   "architecture or altered")
            for key, ref in expected.items():
                ds = sd[key]
                if not isinstance(ds, h5py.Dataset):
                    raise ArchiveError(f"{p}: weights.h5 entry 'state_dict/{key}' is not a dataset")
                if tuple(ds.shape) != tuple(ref.shape):
                    raise ArchiveError(f"{p}: tensor {key!r} has shape {tuple(ds.shape)} but the architecture "
                                       f"in config.json needs {tuple(ref.shape)} (wrong architecture)")
                want = "f" if ref.is_floating_point() else ("b" if ref.dtype == torch.bool else "iu")
                if ds.dtype.kind not in want:
                    raise ArchiveError(f"{p}: tensor {key!r}: expected {'floating-point' if want == 'f' else want} "
                                       f"values, found dtype {ds.dtype}")
                tensors[key] = np.asarray(ds[()])
            if "extras" in h5:
                ex = h5["extras"]
                if not isinstance(ex, h5py.Group):
                    raise ArchiveError(f"{p}: weights.h5 entry 'extras' is not a group")
                for key in ex.keys():
                    ds = ex[key]
                    if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "biufcSU":
                        raise ArchiveError(f"{p}: weights.h5 entry 'extras/{key}' is not a plain numeric dataset")
                    size = int(np.prod(ds.shape, dtype=np.int64)) * ds.dtype.itemsize
                    if size > MAX_EXTRA_BYTES:
                        raise ArchiveError(f"{p}: weights.h5 entry 'extras/{key}' holds {size} bytes; expected "
                                           f"at most {MAX_EXTRA_BYTES}")
                    extras[key] = np.asarray(ds[()])
    except ArchiveError:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/ValueError on damaged files
        raise ArchiveError(f"{p}: weights.h5 is unreadable ({type(exc).__name__}: {exc})") from exc
    del weights

    for key, value in tensors.items():
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise ArchiveError(f"{p}: tensor {key!r} contains NaN or infinite values")
    state = {k: torch.as_tensor(v).to(expected[k].dtype) for k, v in tensors.items()}
    model.load_state_dict(state, strict=True)
    dev = torch.device(device)
    model.to(dev).eval()
    return LoadedModel(model=model, config=cfg, params=params, manifest=manifest,
                       extras=extras, device=str(dev), path=p)
