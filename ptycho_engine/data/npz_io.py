"""Low-level NPZ reading that never unpickles and reads only the members asked for.

We read the zip ourselves (instead of ``np.load``) so that: each key is read on demand (peak
memory = the arrays actually kept), a corrupt member is reported with its key, array headers
(shape/dtype) can be inspected without reading data, and members stored uncompressed
(``np.savez``) can be memory-mapped. ``allow_pickle=False`` everywhere: an object array is refused
before any of its bytes are interpreted.
"""
from __future__ import annotations

import errno
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from .errors import DataContractError

__all__ = ["ArrayHeader", "NpzReader", "read_array_headers"]

_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, struct.error)
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header (30 bytes)


@dataclass(frozen=True)
class ArrayHeader:
    """Shape and dtype of one NPZ member, read from its .npy header only."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool


def _describe_non_zip(path: Path) -> str:
    """Say what a file that is not a zip archive looks like, for the error message."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        return f"an unreadable file ({exc})"
    if not head:
        return "an empty file"
    if head.startswith(b"\x93NUMPY"):
        return "a single-array .npy file (not an .npz archive)"
    if head.startswith(b"PK"):
        return "a damaged or truncated zip archive"
    if head[:1] == b"\x80":
        return "a Python pickle (refused: loading it could execute code)"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file"
    return f"an unknown file type (first bytes {head!r})"


def _header_from(fp) -> ArrayHeader:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    else:  # (3, 0): utf-8 field names; only the private reader knows it
        shape, fortran, dtype = np.lib.format._read_array_header(fp, version)  # noqa: SLF001
    return ArrayHeader(tuple(int(s) for s in shape), np.dtype(dtype), bool(fortran))


class NpzReader:
    """Open an NPZ file for key-by-key reading; raises FileNotFoundError / DataContractError."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(errno.ENOENT, "scan file not found", str(self.path))
        if self.path.is_dir():
            raise DataContractError(self.path, None, "an .npz file", "a directory")
        if not zipfile.is_zipfile(self.path):
            raise DataContractError(self.path, None, "a NumPy .npz archive (zip)", _describe_non_zip(self.path))
        try:
            self._zip = zipfile.ZipFile(self.path, "r")
        except _READ_ERRORS as exc:
            raise DataContractError(
                self.path, None, "a NumPy .npz archive (zip)", f"a damaged zip archive ({exc})"
            ) from exc
        self._members: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            name = info.filename
            key = name[:-4] if name.endswith(".npy") else name
            if key in self._members:  # zip allows it; numpy would silently take the last one
                self._zip.close()
                raise DataContractError(self.path, key, "each array stored once",
                                        "two members of that name (a tampered or damaged file)")
            self._members[key] = info

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> "NpzReader":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    # -- reading ---------------------------------------------------------------------------
    @property
    def keys(self) -> list[str]:
        return list(self._members)

    def __contains__(self, key: str) -> bool:
        return key in self._members

    def header(self, key: str) -> ArrayHeader:
        """Shape/dtype of ``key`` without reading its data."""
        info = self._members[key]
        try:
            with self._zip.open(info) as fp:
                header = _header_from(fp)
                header_len = fp.tell()
        except ValueError as exc:
            raise DataContractError(self.path, key, "a .npy array member", f"an unreadable header ({exc})") from exc
        except _READ_ERRORS as exc:
            raise DataContractError(self.path, key, "readable array data", f"corrupt or truncated data ({exc})") from exc
        if not header.dtype.hasobject:  # pickled object arrays are refused by read(), by dtype
            claimed = header.dtype.itemsize * int(np.prod(header.shape, dtype=object))
            held = info.file_size - header_len
            if claimed != held:
                raise DataContractError(
                    self.path, key, f"{claimed} bytes of data, as its header declares ({header.dtype} array of "
                    f"shape {header.shape})", f"{max(held, 0)} bytes in the file",
                    "The header does not match the data: the file is damaged or was altered")
        return header

    def read(self, key: str) -> np.ndarray:
        """Read one array with ``allow_pickle=False``; object arrays are refused, never unpickled."""
        info = self._members[key]
        header = self.header(key)
        if header.dtype.hasobject:
            raise DataContractError(
                self.path,
                key,
                "a numeric or text array",
                f"an object array (dtype {header.dtype}) holding pickled Python objects",
                "Pickled content is refused because loading it could execute code; re-save the "
                "file with plain arrays (ptycho_engine.data.save_scan writes a safe file)",
            )
        try:
            with self._zip.open(info) as fp:
                return np.lib.format.read_array(fp, allow_pickle=False)
        except ValueError as exc:
            raise DataContractError(self.path, key, "a readable .npy array", f"{exc}") from exc
        except _READ_ERRORS as exc:
            raise DataContractError(self.path, key, "readable array data", f"corrupt or truncated data ({exc})") from exc

    def memmap(self, key: str) -> np.memmap | None:
        """A read-only memory map of ``key`` if it is stored uncompressed (``np.savez``), else None."""
        info = self._members[key]
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            return None
        try:
            with open(self.path, "rb") as raw:
                raw.seek(info.header_offset)
                fields = _LOCAL_HEADER.unpack(raw.read(_LOCAL_HEADER.size))
                if fields[0] != b"PK\x03\x04":
                    return None
                name_len, extra_len = fields[-2], fields[-1]
                start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
                raw.seek(start)
                header = _header_from(raw)
                offset = raw.tell()
        except (ValueError, *_READ_ERRORS):
            return None
        if header.dtype.hasobject or offset - start + header.dtype.itemsize * int(np.prod(header.shape)) > info.file_size:
            return None
        return np.memmap(
            self.path, dtype=header.dtype, mode="r", offset=offset, shape=header.shape,
            order="F" if header.fortran_order else "C",
        )


def read_array_headers(path: str | os.PathLike[str]) -> dict[str, ArrayHeader]:
    """Shapes and dtypes of every member of an NPZ file, reading headers only (cheap)."""
    with NpzReader(path) as reader:
        return {key: reader.header(key) for key in reader.keys}
