"""One entry point for every scan format: detect it, convert it once, open it as a contract scan.

Formats (detected from the path and the file's contents, not its name):

* ``npz`` -- the data contract itself (used as is);
* ``ptychodus-folder`` -- a folder with ``diffraction.h5`` + ``product-in.h5`` (or either file
  of such a folder);
* ``ptychodus-product`` -- one product ``.h5`` carrying its patterns in a ``raw_data`` group;
* ``hdf5-stack`` -- a plain detector stack; it needs positions (and ideally a probe), so it is
  read with :class:`~.hdf5_stack.StackOptions` (``ptycho-engine convert-hdf5``).

Non-NPZ sources are converted into the scan cache (``$PTYCHO_STUDIO_CACHE``, default
``~/.cache/ptycho_studio/scans``) as an uncompressed contract NPZ, once: the cache key holds
every source file's absolute path, size and modification time (and the stack options), so a
changed source is converted again and its stale entry deleted. Training, inference, ``inspect``
and the GUI then read that NPZ through the one data contract, so every code path after the
opener is the NPZ one.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings as _warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..data.errors import DataContractError, DataContractWarning
from .h5util import is_hdf5, open_h5
from .hdf5_stack import StackOptions, convert_hdf5_stack
from .ptychodus_batch import (BATCH_DIFFRACTION, BATCH_PRODUCT_IN, convert_batch_folder, convert_raw_data_product,
                              is_batch_folder)

__all__ = ["detect_format", "resolve_scan", "open_any_scan", "is_scan_source", "CACHE_SUFFIX"]

CACHE_SUFFIX = ".scan.npz"
#: bump when a converter's output changes, so old cache entries are not reused
CONVERTER_VERSION = "1"


def _what() -> str:
    return ("a scan: an NPZ file, a ptychodus folder (diffraction.h5 + product-in.h5), a ptychodus product .h5 "
            "with a raw_data group, or a plain HDF5 stack with its positions (ptycho-engine convert-hdf5)")


def detect_format(path: str | os.PathLike[str]) -> tuple[str, Path]:
    """(format, source) for ``path``; the source of a ``ptychodus-folder`` is the folder even when
    one of its files was given. FileNotFoundError / DataContractError for anything else."""
    p = Path(path)
    if p.is_dir():
        if is_batch_folder(p):
            if not (p / BATCH_PRODUCT_IN).is_file():
                raise DataContractError(p, BATCH_PRODUCT_IN, f"a ptychodus product file beside {BATCH_DIFFRACTION}",
                                        "no such file")
            return "ptychodus-folder", p
        if any(p.glob("*.npz")):
            return "npz-folder", p
        raise DataContractError(p, None, _what(), "a folder with none of those")
    if not p.exists():
        raise FileNotFoundError(f"scan file not found: {p}")
    if not is_hdf5(p):
        return "npz", p  # the NPZ reader names anything else precisely
    import h5py

    with open_h5(p) as h5:
        product = "probe_position_x_m" in h5 or "probe_energy_eV" in h5.attrs
        raw = isinstance(h5.get("raw_data"), h5py.Group)
        patterns = "patterns" in h5 and "indexes" in h5
    if product and raw:
        return "ptychodus-product", p
    if (product or patterns) and is_batch_folder(p.parent) and (p.parent / BATCH_PRODUCT_IN).is_file():
        return "ptychodus-folder", p.parent
    if product:
        raise DataContractError(p, "raw_data", "the diffraction patterns: a raw_data group in this product file, or "
                                f"{BATCH_DIFFRACTION} beside it (a ptychodus folder)", "a product file without patterns")
    if patterns:
        raise DataContractError(p.parent, BATCH_PRODUCT_IN, f"{BATCH_PRODUCT_IN} beside {p.name} (the probe and "
                                "positions of a ptychodus folder)", "no such file")
    return "hdf5-stack", p


def is_scan_source(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a scan in a format other than NPZ (so it must be resolved)."""
    try:
        return detect_format(path)[0] not in ("npz", "npz-folder")
    except (FileNotFoundError, DataContractError):
        return False


def _stat(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _source_files(fmt: str, source: Path, stack: StackOptions | None) -> list[Path]:
    if fmt == "ptychodus-folder":
        return [source / BATCH_DIFFRACTION, source / BATCH_PRODUCT_IN]
    files = [source]
    if stack is not None:
        for spec in (stack.positions, stack.probe, stack.bad_pixels):
            if spec and not spec.startswith(":"):
                head, sep, tail = spec.rpartition(":")
                candidate = Path(head) if sep and tail.startswith("/") and head else Path(spec)
                if candidate.is_file():
                    files.append(candidate)
    return files


def _cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    from ..data.cache import default_cache_dir

    return Path(cache_dir) if cache_dir is not None else default_cache_dir()


def resolve_scan(path: str | os.PathLike[str], stack: StackOptions | None = None,
                 cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The contract NPZ that stands for ``path``: itself for an NPZ (or a folder of NPZ files, which
    the training-set expansion handles), else its cache entry, converted now if missing or stale.
    A missing path or another folder is returned unchanged: the caller's own checks name it."""
    p = Path(path)
    if not p.exists() or (p.is_dir() and not is_batch_folder(p)):
        return p
    fmt, source = detect_format(p)
    if fmt in ("npz", "npz-folder"):
        return Path(path)
    if fmt == "hdf5-stack" and stack is None:
        raise DataContractError(source, None, "positions for this plain HDF5 diffraction stack: convert it once with "
                                "`ptycho-engine convert-hdf5 STACK.h5 --positions FILE[:/dataset] --output scan.npz` "
                                "(or api.convert_hdf5)", "a plain HDF5 file without a ptychodus product layout")
    files = _source_files(fmt, source, stack)
    text = "|".join([CONVERTER_VERSION, fmt] + [_stat(f) for f in files]
                    + ([json.dumps(asdict(stack), sort_keys=True, default=str)] if stack is not None else []))
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    tag = f"{source.name or 'scan'}-{hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:10]}"
    root = _cache_dir(cache_dir)
    target = root / f"{tag}.{key}{CACHE_SUFFIX}"
    if target.is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    if fmt == "ptychodus-folder":
        _, notes = convert_batch_folder(source, target)
    elif fmt == "ptychodus-product":
        _, notes = convert_raw_data_product(source, target)
    else:
        assert stack is not None
        _, notes = convert_hdf5_stack(source, target, stack)
    for old in root.glob(f"{tag}.*{CACHE_SUFFIX}"):
        if old != target:
            old.unlink(missing_ok=True)
    for note in notes:
        _warnings.warn(f"{source}: {note}", DataContractWarning, stacklevel=2)
    return target


def open_any_scan(path: str | os.PathLike[str], stack: StackOptions | None = None,
                  cache_dir: str | os.PathLike[str] | None = None) -> Any:
    """A validated ScanData for any supported source (memory-mapped when large, like ``open_scan``);
    the conversion's notes are in ``scan.warnings``."""
    from ..data.cache import open_scan

    scan = open_scan(resolve_scan(path, stack, cache_dir))
    source = scan.metadata.get("source")
    if isinstance(source, dict) and source.get("format") not in (None, "npz"):
        scan.warnings.extend(str(n) for n in source.get("notes") or [] if str(n) not in scan.warnings)
    return scan
