"""Scans larger than memory: ``open_scan_streaming(path)`` returns a ScanData whose diffraction is
a read-only ``np.memmap``.

Why a cache: numpy cannot memory-map a member of a *compressed* zip, and ``save_scan`` compresses
by default. So the diffraction member is converted ONCE, streaming in chunks of patterns (the full
array is never held), into a plain ``.npy`` file in ``cache_dir``; later opens map that file.

* A float32 (n, N, N) member stored uncompressed (``save_scan(..., compress=False)``) needs no
  cache: it is mapped in place through ``load_scan(path, mmap=True)``.
* The cache file name carries a key made of the source's absolute path, size, mtime and the
  member's zip CRC / sizes / .npy header, so a changed source gets a new key; stale entries of the
  same source are deleted when a new one is built. Files are written to a temp name and
  ``os.replace``d, so a crash never leaves a half file under the final name.
* Validation is the contract's own (``data.validation``): element-wise conversion (integer counts
  -> sqrt amplitude, finite and non-negative checks) runs per chunk through ``check_diffraction``,
  and the finished memmap is checked again as a whole (shape, dtype) without a copy.
"""
from __future__ import annotations

import hashlib
import os
import warnings as _warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .contract import (DIFFRACTION_KEYS, REQUIRED_KEYS, ScanData, _missing, check_headers, load_scan,
                       scan_from_reader)
from .errors import DataContractError, DataContractWarning
from .npz_io import NpzReader, _header_from
from .validation import check_diffraction, is_legacy_hwn

__all__ = ["open_scan", "open_scan_streaming", "cache_path_for", "default_cache_dir", "DEFAULT_CHUNK_BYTES",
           "STREAM_ABOVE_BYTES"]

#: bytes of source data converted per chunk (bounded memory whatever the scan size)
DEFAULT_CHUNK_BYTES = 32 << 20
CACHE_SUFFIX = ".diffraction.npy"
#: float32 diffraction larger than this is memory-mapped by :func:`open_scan` (1 GiB)
STREAM_ABOVE_BYTES = 1 << 30


def default_cache_dir() -> Path:
    """``$PTYCHO_STUDIO_CACHE`` or ``~/.cache/ptycho_studio/scans`` (on disk: /tmp may be RAM)."""
    env = os.environ.get("PTYCHO_STUDIO_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "ptycho_studio" / "scans"


def _member(reader: NpzReader, key: str) -> zipfile.ZipInfo:
    return reader._members[key]  # noqa: SLF001 - NpzReader is this package's own class


def _source_tag(path: Path) -> str:
    """Stable per-source prefix (stem + hash of the absolute path): groups a source's cache entries."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
    return f"{path.stem}-{digest}"


def _cache_key(path: Path, reader: NpzReader, key: str) -> str:
    st = path.stat()
    info = _member(reader, key)
    h = reader.header(key)
    text = (f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{key}|{info.CRC}|{info.file_size}|"
            f"{info.compress_size}|{h.shape}|{h.dtype.str}|{h.fortran_order}")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path_for(path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the converted diffraction of ``path`` lives (or would live) for its current content."""
    file = Path(path)
    with NpzReader(file) as reader:
        key = next((k for k in DIFFRACTION_KEYS if k in reader), None)
        if key is None:
            raise _missing(file, "diffraction", reader.keys)
        return _cache_file(file, reader, key, cache_dir)


def _cache_file(file: Path, reader: NpzReader, key: str, cache_dir: Any) -> Path:
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / f"{_source_tag(file)}.{_cache_key(file, reader, key)}{CACHE_SUFFIX}"


def _convert_chunk(chunk: np.ndarray, file: Path, key: str, notes: list[str]) -> np.ndarray:
    """Element-wise contract conversion of one chunk (counts -> amplitude, finite, >= 0), via
    ``check_diffraction`` on a (k, 1, 1) view so its shape rules do not apply to a partial chunk."""
    flat = chunk.reshape(-1, 1, 1)
    local: list[str] = []
    out = check_diffraction(flat, file, key, local)
    for note in local:
        if note not in notes:
            notes.append(note)
    return out.reshape(chunk.shape)


def _convert(file: Path, reader: NpzReader, key: str, target: Path, chunk_bytes: int,
             notes: list[str]) -> None:
    """Stream member ``key`` of ``file`` into ``target`` (.npy float32 (n, N, N)), chunk by chunk."""
    header = reader.header(key)
    shape, dtype = header.shape, header.dtype
    expected = "a real (n, N, N) array of far-field amplitudes (float) or photon counts (integer)"
    if dtype.hasobject or dtype.kind not in "fiu" or len(shape) != 3 or 0 in shape:
        raise DataContractError(file, key, expected, f"{dtype} array of shape {shape}")
    legacy = is_legacy_hwn(shape)
    out_shape = (shape[2], shape[0], shape[1]) if legacy else shape
    if legacy:
        notes.append(f"{key}: legacy (H, W, n) layout {tuple(shape)} transposed to (n, H, W) "
                     f"{out_shape} (FORMAT-001)")
    if out_shape[1] != out_shape[2]:
        raise DataContractError(file, key, "square patterns (n, N, N)", f"patterns of {out_shape[1]} x "
                                f"{out_shape[2]} in {dtype} array of shape {shape}")
    # the stream yields the source's axis 0 (C order) or its last axis (Fortran order) in slabs
    slab_axis = 2 if header.fortran_order else 0
    slab_elems = int(np.prod(shape)) // shape[slab_axis]
    per = max(1, int(chunk_bytes) // max(1, slab_elems * dtype.itemsize))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=out_shape)
        with reader._zip.open(_member(reader, key)) as fp:  # noqa: SLF001
            _header_from(fp)  # skip the .npy header
            done = 0
            while done < shape[slab_axis]:
                k = min(per, shape[slab_axis] - done)
                raw = fp.read(k * slab_elems * dtype.itemsize)
                if len(raw) != k * slab_elems * dtype.itemsize:
                    raise DataContractError(file, key, "readable array data", "truncated data")
                if header.fortran_order:  # bytes are (k, shape[1], shape[0]) of the reversed axes
                    block = np.frombuffer(raw, dtype=dtype).reshape(k, shape[1], shape[0]).transpose(2, 1, 0)
                else:
                    block = np.frombuffer(raw, dtype=dtype).reshape((k,) + shape[1:])
                block = _convert_chunk(block, file, key, notes)
                sl = slice(done, done + k)
                if legacy:  # source (H, W, n): slabs of rows (C) or of patterns (Fortran)
                    if slab_axis == 0:
                        out[:, sl, :] = block.transpose(2, 0, 1)
                    else:
                        out[sl] = block.transpose(2, 0, 1)
                elif slab_axis == 0:
                    out[sl] = block
                else:
                    out[:, :, sl] = block
                done += k
                del raw, block
        out.flush()
        del out
        os.replace(tmp, target)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        tmp.unlink(missing_ok=True)
        raise DataContractError(file, key, "readable array data", f"corrupt or truncated data ({exc})") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _drop_stale(target: Path) -> None:
    tag = target.name.split(".")[0]
    for old in target.parent.glob(f"{tag}.*{CACHE_SUFFIX}"):
        if old != target:
            old.unlink(missing_ok=True)


def open_scan_streaming(path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None, *,
                        chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> ScanData:
    """Validated ScanData with ``diffraction`` a read-only memmap (see module docstring).

    Raises FileNotFoundError / DataContractError like :func:`load_scan`. ``scan.warnings`` says
    whether the data were mapped in place, converted into the cache, or taken from it.
    """
    file = Path(path)
    with NpzReader(file) as reader:
        diff_key = check_headers(reader, file)["diffraction_key"]  # before anything is read or cached
        mm = reader.memmap(diff_key)
        header = reader.header(diff_key)
        in_place = (mm is not None and mm.dtype == np.float32 and mm.ndim == 3 and mm.flags.c_contiguous
                    and not is_legacy_hwn(mm.shape))
        del mm
    if in_place:
        scan = load_scan(file, mmap=True)
        scan.warnings.append(f"{diff_key}: memory-mapped in place (stored uncompressed)")
        return scan

    notes: list[str] = []
    with NpzReader(file) as reader:
        for key in REQUIRED_KEYS[1:]:
            if key not in reader:
                raise _missing(file, key, reader.keys)
        if diff_key == "diff3d":
            notes.append("diff3d: legacy key name read as 'diffraction' (DATA-001)")
        elif "diff3d" in reader:
            notes.append("diff3d: ignored because 'diffraction' is present")
        target = _cache_file(file, reader, diff_key, cache_dir)
        if target.is_file():
            try:
                diffraction = np.load(target, mmap_mode="r")
            except (ValueError, OSError):
                target.unlink(missing_ok=True)
                diffraction = None
            if diffraction is not None:
                expect = header.shape
                if is_legacy_hwn(expect):
                    expect = (expect[2], expect[0], expect[1])
                    notes.append(f"{diff_key}: legacy (H, W, n) layout {header.shape} transposed to (n, H, W) "
                                 f"{expect} (FORMAT-001)")
                if diffraction.shape != expect or diffraction.dtype != np.float32:
                    del diffraction
                    diffraction = None
                    target.unlink(missing_ok=True)
                else:
                    notes.append(f"{diff_key}: memory-mapped from cache {target}")
        else:
            diffraction = None
        if diffraction is None:
            convert_notes: list[str] = []
            _convert(file, reader, diff_key, target, chunk_bytes, convert_notes)
            _drop_stale(target)
            notes.extend(convert_notes)
            notes.append(f"{diff_key}: converted once into cache {target} and memory-mapped")
            diffraction = np.load(target, mmap_mode="r")
        try:
            # whole-array structural check on the map: float32 C-contiguous -> no copy is made
            diffraction = check_diffraction(diffraction, file, diff_key, [], allow_counts=False)
            scan = scan_from_reader(reader, file, diffraction, notes)
        except DataContractError:
            del diffraction  # a rejected file leaves no cache entry behind
            target.unlink(missing_ok=True)
            raise
    for note in notes:
        if "memory-mapped" not in note:
            _warnings.warn(f"{file}: {note}", DataContractWarning, stacklevel=2)
    return scan


def open_scan(path: str | os.PathLike[str], *, stream_above_bytes: int = STREAM_ABOVE_BYTES,
              cache_dir: str | os.PathLike[str] | None = None) -> ScanData:
    """``load_scan`` for ordinary scans, :func:`open_scan_streaming` when the diffraction (as
    float32) would exceed ``stream_above_bytes``. Decided from the .npy header alone (cheap)."""
    file = Path(path)
    with NpzReader(file) as reader:
        key = check_headers(reader, file)["diffraction_key"]
        size = int(np.prod(reader.header(key).shape, dtype=object)) * 4
    if size > stream_above_bytes:
        return open_scan_streaming(file, cache_dir=cache_dir)
    return load_scan(file)
