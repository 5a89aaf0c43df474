"""HDF5 reading helpers shared by the ptychodus and beamline readers.

* :func:`open_h5` imports ``hdf5plugin`` first: it registers the bitshuffle, LZ4, Blosc, Zstd ...
  filters with HDF5, which must happen before h5py reads a dataset compressed with them.
* :func:`check_filters` refuses a dataset whose compression filter HDF5 cannot decode, *before*
  any data are read, naming the file, the dataset and the filter.
* :func:`dataset`, :func:`attr_float`, :func:`attr_text` turn a missing or mistyped entry into
  the contract's :class:`DataContractError` (file, key, expected, found).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data.errors import DataContractError

__all__ = ["HDF5_MAGIC", "is_hdf5", "open_h5", "check_filters", "dataset", "attr_float", "attr_text",
           "frame_chunks"]

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: bytes of a stack read per chunk (the whole stack is never held)
CHUNK_BYTES = 32 << 20


def is_hdf5(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an HDF5 file (by its signature, not its name)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == HDF5_MAGIC
    except OSError:
        return False


def _plugins() -> None:
    try:
        import hdf5plugin  # noqa: F401 - importing registers the filters with HDF5
    except ImportError:  # without it, only HDF5's built-in filters (gzip, szip, lzf) decode
        pass


def open_h5(path: str | os.PathLike[str]) -> Any:
    """``h5py.File(path, 'r')`` with the compression plugins registered; a file that is not HDF5
    is a DataContractError, a missing one FileNotFoundError."""
    _plugins()
    import h5py

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"scan file not found: {file}")
    try:
        return h5py.File(file, "r")
    except OSError as exc:
        raise DataContractError(file, None, "an HDF5 file", f"a file HDF5 cannot open ({exc})") from exc


def check_filters(ds: Any, file: Path, key: str) -> None:
    """Every compression filter of ``ds`` must be available, else a named error (nothing read)."""
    import h5py

    plist = ds.id.get_create_plist()
    missing: list[str] = []
    for i in range(plist.get_nfilters()):
        code, _flags, _aux, name = plist.get_filter(i)
        if not h5py.h5z.filter_avail(code):
            text = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
            missing.append(f"{text or 'unnamed'} (filter id {code})")
    if missing:
        try:
            import hdf5plugin  # noqa: F401
            hint = "hdf5plugin is installed but does not provide this filter"
        except ImportError:
            hint = "install the 'hdf5plugin' package (pip install hdf5plugin), which provides bitshuffle, LZ4, Blosc and Zstd"
        raise DataContractError(file, key, "data compressed with a filter this HDF5 can decode",
                                f"the unavailable compression filter {', '.join(missing)}", hint)


def dataset(h5: Any, key: str, file: Path, expected: str) -> Any:
    """The dataset at ``key``; a missing key or a group there is a named error."""
    import h5py

    item = h5.get(key)
    if item is None:
        listing = ", ".join(sorted(h5.keys())[:12]) if hasattr(h5, "keys") else ""
        raise DataContractError(file, key, expected, f"nothing at that path (the group holds: {listing or 'nothing'})")
    if not isinstance(item, h5py.Dataset):
        raise DataContractError(file, key, expected, f"a {type(item).__name__}, not a dataset")
    return item


def attr_float(obj: Any, name: str, file: Path, where: str, default: float | None = None) -> float | None:
    """A finite numeric scalar attribute; when missing, ``default``, or a named error when the
    attribute is required (``default=None``)."""
    key = f"{where}@{name}" if where else f"@{name}"
    if name not in obj.attrs:
        if default is not None:
            return default
        raise DataContractError(file, key, "a numeric attribute", "it is missing")
    value = np.asarray(obj.attrs[name])
    if value.size != 1 or value.dtype.kind not in "biuf":
        raise DataContractError(file, key, "a numeric scalar attribute", f"{value.dtype} value of shape {value.shape}")
    number = float(value.reshape(()).item())
    if not np.isfinite(number):
        raise DataContractError(file, key, "a finite number", repr(number))
    return number


def attr_text(obj: Any, name: str, file: Path, where: str = "") -> str:
    """A required text attribute (str or bytes)."""
    key = f"{where}@{name}" if where else f"@{name}"
    if name not in obj.attrs:
        raise DataContractError(file, key, "a text attribute", "it is missing")
    value = obj.attrs[name]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
        return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
    return str(value)


def frame_chunks(ds: Any, chunk_bytes: int = CHUNK_BYTES) -> int:
    """How many frames of a (n, H, W) dataset to read at once: ~``chunk_bytes``, a multiple of the
    dataset's own chunking along the frame axis so no compressed chunk is decoded twice."""
    frame = int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize
    per = max(1, int(chunk_bytes) // max(1, frame))
    if ds.chunks is not None and ds.chunks[0] > 0:
        c = int(ds.chunks[0])
        per = max(c, per - per % c)
    return per
