"""The NPZ scan contract: :class:`ScanData`, :func:`load_scan`, :func:`save_scan`, :func:`read_metadata`.

Keys (see /work/plan/INTERFACES.md): ``diffraction`` (n, N, N) float32 far-field AMPLITUDE
(legacy alias ``diff3d``), ``probeGuess`` (N, N) complex64, ``xcoords``/``ycoords`` (n,) float64
in object pixels (x = column, y = row of the patch centre); optional ``objectGuess`` (H, W)
complex64, ``scan_index`` (n,) int, ``bad_pixels`` (N, N) bool (True = a detector pixel to leave
out; its values are stored as 0) and ``_metadata`` (JSON text in a 0-d unicode array; physical
geometry under ``_metadata["geometry"]``, see :mod:`.geometry`).

Decisions written down here because the reference left them implicit (DATA-001):

- Integer diffraction = photon counts (intensity): converted to amplitude = sqrt(counts) in float64,
  then float32, with a warning. Float diffraction is taken as amplitude unchanged.
- Legacy (H, W, n) stacks (H == W, n > H) are transposed with a warning (FORMAT-001).
- ``diff3d`` is read when ``diffraction`` is absent (noted in warnings); ``diffraction`` wins if both.
- Loading never unpickles: object arrays are refused; a pickled ``_metadata`` is ignored with a
  warning so reference files still open.
- Any violation raises :class:`DataContractError` naming file, key, expected and found.
"""
from __future__ import annotations

import os
import warnings as _warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataContractError, DataContractWarning
from .geometry import geometry_of
from .metadata import METADATA_KEY, encode_metadata, nphotons_from_metadata, read_metadata, read_metadata_from
from .npz_io import NpzReader
from .validation import (check_bad_pixels, check_coords, check_diffraction, check_object, check_probe,
                         check_scan_index, is_legacy_hwn)

__all__ = [
    "DIFFRACTION_KEYS",
    "REQUIRED_KEYS",
    "DataContractError",
    "DataContractWarning",
    "ScanData",
    "ScanSummary",
    "load_scan",
    "save_scan",
    "read_metadata",
    "validate_scan",
]

DIFFRACTION_KEYS = ("diffraction", "diff3d")
REQUIRED_KEYS = ("diffraction", "probeGuess", "xcoords", "ycoords")


@dataclass(frozen=True)
class ScanSummary:
    """What the GUI's data panel shows about a scan (plain values, JSON-able via ``to_dict``)."""

    path: str | None
    N: int
    n_patterns: int
    probe_shape: tuple[int, int]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    has_ground_truth: bool
    nphotons: float | None
    nphotons_source: str | None  # 'metadata' or None
    warnings: tuple[str, ...] = ()
    object_shape: tuple[int, int] | None = None
    geometry: dict[str, float] | None = None  # physical geometry (see data.geometry); None = pixels only
    source_format: str | None = None  # 'npz', 'ptychodus-folder', 'ptychodus-product', 'hdf5-stack'
    source_path: str | None = None  # the file or folder the scan was converted from (None for NPZ)
    n_bad_pixels: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("probe_shape", "x_range", "y_range", "warnings", "object_shape"):
            if out[key] is not None:
                out[key] = list(out[key])
        return out


@dataclass
class ScanData:
    """One ptychographic scan in memory, validated (see module docstring for the conventions)."""

    path: Path | None
    diffraction: np.ndarray  # (n, N, N) float32 amplitude (possibly a read-only np.memmap)
    probe: np.ndarray  # (N, N) complex64
    xcoords: np.ndarray  # (n,) float64, column of the patch centre, object pixels
    ycoords: np.ndarray  # (n,) float64, row of the patch centre
    object_guess: np.ndarray | None = None  # (H, W) complex64 ground truth / reference
    scan_index: np.ndarray | None = None  # (n,) int64
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    bad_pixels: np.ndarray | None = None  # (N, N) bool, True = detector pixel excluded (stored as 0)

    @property
    def geometry(self) -> dict[str, float]:
        """Physical geometry from ``metadata["geometry"]`` ({} when the scan is in pixels only)."""
        return geometry_of(self.metadata, self.path)

    @property
    def N(self) -> int:  # noqa: N802 - the field name everyone uses
        return int(self.diffraction.shape[-1])

    @property
    def n_patterns(self) -> int:
        return int(self.diffraction.shape[0])

    @property
    def nphotons(self) -> float | None:
        """``metadata.physics_parameters.nphotons`` (or an older top-level ``nphotons``), else None."""
        return nphotons_from_metadata(self.metadata, self.path)

    @property
    def positions(self) -> np.ndarray:
        """(n, 2) float64 positions as columns [x, y] (the engine-wide convention)."""
        return np.stack([self.xcoords, self.ycoords], axis=1)

    def summary(self) -> ScanSummary:
        nphotons = self.nphotons
        source = self.metadata.get("source") if isinstance(self.metadata.get("source"), dict) else {}
        return ScanSummary(
            path=str(self.path) if self.path is not None else None,
            N=self.N,
            n_patterns=self.n_patterns,
            probe_shape=(int(self.probe.shape[0]), int(self.probe.shape[1])),
            x_range=(float(np.min(self.xcoords)), float(np.max(self.xcoords))),
            y_range=(float(np.min(self.ycoords)), float(np.max(self.ycoords))),
            has_ground_truth=self.object_guess is not None,
            nphotons=nphotons,
            nphotons_source="metadata" if nphotons is not None else None,
            warnings=tuple(self.warnings),
            object_shape=tuple(int(s) for s in self.object_guess.shape) if self.object_guess is not None else None,
            geometry=self.geometry or None,
            source_format=str(source.get("format", "npz")),
            source_path=source.get("path"),
            n_bad_pixels=int(self.bad_pixels.sum()) if self.bad_pixels is not None else 0,
        )


def _missing(file: Path, key: str, found: list[str]) -> DataContractError:
    expected = "a 'diffraction' array (or the legacy alias 'diff3d')" if key == "diffraction" else f"a '{key}' array"
    listing = ", ".join(sorted(found)) if found else "no arrays"
    return DataContractError(file, key, expected, f"it is missing (the file holds: {listing})")


def check_headers(reader: NpzReader, file: Path) -> dict[str, Any]:
    """The contract checked from the .npy headers alone, before any data are read or cached.

    Every member's header is read (each one's declared size must match the bytes it holds, see
    :meth:`NpzReader.header`), the required keys must be there, and shapes, dtypes and lengths
    must agree across keys. Cheap whatever the file's size; a 2 MB file claiming terabytes is
    refused here, naming file and key. Returns {"diffraction_key", "n", "N"}.
    """
    keys = reader.keys
    diff_key = next((k for k in DIFFRACTION_KEYS if k in reader), None)
    if diff_key is None:
        raise _missing(file, "diffraction", keys)
    for key in REQUIRED_KEYS[1:]:
        if key not in reader:
            raise _missing(file, key, keys)
    headers = {key: reader.header(key) for key in keys if key != METADATA_KEY}

    def fail(key: str, expected: str, what: str = "") -> DataContractError:
        h = headers[key]
        found = f"{h.dtype} array of shape {h.shape}"
        if h.dtype.hasobject:
            return DataContractError(
                file, key, "a numeric or text array", f"an object array (dtype {h.dtype}) holding pickled Python "
                "objects", "Pickled content is refused because loading it could execute code; re-save the "
                "file with plain arrays (ptycho_engine.data.save_scan writes a safe file)")
        if 0 in h.shape:
            found = "an empty " + found
        return DataContractError(file, key, expected, f"{what} ({found})" if what else found)

    d = headers[diff_key]
    expected = "a real (n, N, N) array of far-field amplitudes (float) or photon counts (integer)"
    if d.dtype.hasobject or d.dtype.kind not in "fiu" or len(d.shape) != 3 or 0 in d.shape:
        raise fail(diff_key, expected)
    n, h, w = (d.shape[2], d.shape[0], d.shape[1]) if is_legacy_hwn(d.shape) else d.shape
    if h != w:
        raise fail(diff_key, "square patterns (n, N, N)", f"patterns of {h} x {w}")
    p = headers["probeGuess"]
    expected = f"a complex (N, N) array with N = {h} (the diffraction size)"
    if len(p.shape) != 2 or p.dtype.kind != "c" or 0 in p.shape:
        raise fail("probeGuess", expected)
    if p.shape[0] != p.shape[1]:
        raise fail("probeGuess", expected, "a non-square probe")
    if p.shape[0] != h:
        raise fail("probeGuess", expected, f"N = {p.shape[0]}")
    for key in ("xcoords", "ycoords"):
        c = headers[key]
        expected = f"a real 1-D array of {n} positions (object pixels)"
        if c.dtype.kind not in "fiu" or len(c.shape) != 1 or 0 in c.shape:
            raise fail(key, expected)
        if c.shape[0] != n:
            raise fail(key, expected, f"{c.shape[0]} positions")
    if "objectGuess" in headers:
        o = headers["objectGuess"]
        if len(o.shape) != 2 or o.dtype.kind != "c" or 0 in o.shape:
            raise fail("objectGuess", "a complex 2-D (H, W) array")
    if "bad_pixels" in headers:
        b = headers["bad_pixels"]
        if b.dtype.kind not in "biu" or b.shape != (h, h):
            raise fail("bad_pixels", f"a boolean ({h}, {h}) mask (True = bad pixel)")
    if "scan_index" in headers:
        i = headers["scan_index"]
        if i.dtype.kind not in "fiu" or i.shape != (n,):
            raise fail("scan_index", f"an integer 1-D array of length {n}")
    return {"diffraction_key": diff_key, "n": int(n), "N": int(h)}


def check_file_headers(path: str | os.PathLike[str]) -> dict[str, Any]:
    """:func:`check_headers` on a file (FileNotFoundError / DataContractError)."""
    file = Path(path)
    with NpzReader(file) as reader:
        return check_headers(reader, file)


def scan_from_reader(reader: NpzReader, file: Path, diffraction: np.ndarray, notes: list[str]) -> ScanData:
    """Read and check everything but the (already checked) diffraction stack, and build the scan.

    Shared by :func:`load_scan` and the memory-mapped path of :mod:`ptycho_engine.data.cache`.
    """
    n, n_side = diffraction.shape[0], diffraction.shape[-1]
    probe = check_probe(reader.read("probeGuess"), file, "probeGuess", n_side)
    xcoords = check_coords(reader.read("xcoords"), file, "xcoords", n)
    ycoords = check_coords(reader.read("ycoords"), file, "ycoords", n)
    object_guess = (check_object(reader.read("objectGuess"), file, "objectGuess", xcoords, ycoords)
                    if "objectGuess" in reader else None)
    scan_index = check_scan_index(reader.read("scan_index"), file, "scan_index", n) if "scan_index" in reader else None
    bad = check_bad_pixels(reader.read("bad_pixels"), file, "bad_pixels", n_side) if "bad_pixels" in reader else None
    metadata = read_metadata_from(reader, notes)
    geometry_of(metadata, file)  # a malformed geometry is a named error here, not later
    return ScanData(path=file, diffraction=diffraction, probe=probe, xcoords=xcoords, ycoords=ycoords,
                    object_guess=object_guess, scan_index=scan_index, metadata=metadata, warnings=notes,
                    bad_pixels=bad)


def load_scan(path: str | os.PathLike[str], *, mmap: bool = False) -> ScanData:
    """Read and validate a scan NPZ; raises FileNotFoundError or DataContractError.

    ``mmap=True`` memory-maps a float32 ``diffraction`` stored uncompressed (``save_scan(...,
    compress=False)`` / ``np.savez``) instead of reading it, for very large scans; otherwise (and
    as the fallback) arrays are read once and kept without further copies when already in the
    contract's dtype.
    """
    file = Path(path)
    notes: list[str] = []
    with NpzReader(file) as reader:
        diff_key = check_headers(reader, file)["diffraction_key"]
        if diff_key == "diff3d":
            notes.append("diff3d: legacy key name read as 'diffraction' (DATA-001)")
        elif "diff3d" in reader:
            notes.append("diff3d: ignored because 'diffraction' is present")

        raw = reader.memmap(diff_key) if mmap else None
        if raw is None or raw.dtype != np.float32 or raw.ndim != 3:
            raw = reader.read(diff_key)
        diffraction = check_diffraction(raw, file, diff_key, notes)
        del raw
        scan = scan_from_reader(reader, file, diffraction, notes)
    for note in notes:
        _warnings.warn(f"{file}: {note}", DataContractWarning, stacklevel=2)
    return scan


def validate_scan(scan: ScanData, file: str | os.PathLike[str] | None = None) -> ScanData:
    """Check an in-memory scan against the contract; returns a ScanData with contract dtypes.

    Used by :func:`save_scan` so an invalid file is never written. Integer (count) diffraction
    is refused here: a ScanData holds amplitude.
    """
    file = file if file is not None else scan.path
    notes: list[str] = []
    diffraction = check_diffraction(np.asarray(scan.diffraction), file, "diffraction", notes, allow_counts=False)
    if notes:  # a (H, W, n) stack in memory is a caller bug, not a legacy file
        raise DataContractError(file, "diffraction", "an (n, N, N) array", f"(H, W, n) layout {np.shape(scan.diffraction)}")
    n, n_side = diffraction.shape[0], diffraction.shape[-1]
    probe = check_probe(np.asarray(scan.probe), file, "probeGuess", n_side)
    xcoords = check_coords(np.asarray(scan.xcoords), file, "xcoords", n)
    ycoords = check_coords(np.asarray(scan.ycoords), file, "ycoords", n)
    obj = (check_object(np.asarray(scan.object_guess), file, "objectGuess", xcoords, ycoords)
           if scan.object_guess is not None else None)
    index = check_scan_index(np.asarray(scan.scan_index), file, "scan_index", n) if scan.scan_index is not None else None
    if not isinstance(scan.metadata, dict):
        raise DataContractError(file, METADATA_KEY, "a dict", type(scan.metadata).__name__)
    nphotons_from_metadata(scan.metadata, file)
    geometry_of(scan.metadata, file)
    bad = (check_bad_pixels(np.asarray(scan.bad_pixels), file, "bad_pixels", n_side)
           if scan.bad_pixels is not None else None)
    return ScanData(scan.path, diffraction, probe, xcoords, ycoords, obj, index, scan.metadata, list(scan.warnings),
                    bad)


def save_scan(path: str | os.PathLike[str], scan: ScanData, *, compress: bool = True) -> Path:
    """Validate ``scan`` and write it to ``path`` atomically (temp file + os.replace); returns the path.

    ``compress=False`` writes with ``np.savez`` so ``load_scan(..., mmap=True)`` can memory-map it.
    """
    from ..io.atomic import atomic_writer

    target = Path(path)
    valid = validate_scan(scan, target)
    arrays: dict[str, np.ndarray] = {
        "diffraction": valid.diffraction,
        "probeGuess": valid.probe,
        "xcoords": valid.xcoords,
        "ycoords": valid.ycoords,
    }
    if valid.object_guess is not None:
        arrays["objectGuess"] = valid.object_guess
    if valid.scan_index is not None:
        arrays["scan_index"] = valid.scan_index
    if valid.bad_pixels is not None:
        arrays["bad_pixels"] = valid.bad_pixels
    try:
        arrays[METADATA_KEY] = encode_metadata(valid.metadata)
    except (TypeError, ValueError) as exc:
        raise DataContractError(target, METADATA_KEY, "JSON-serialisable metadata", str(exc)) from exc
    writer = np.savez_compressed if compress else np.savez
    with atomic_writer(target, "wb") as fh:  # a file object: numpy does not append '.npz'
        writer(fh, **arrays)
    return target
