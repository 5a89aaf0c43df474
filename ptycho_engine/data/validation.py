"""Checks and conversions for each array of the NPZ contract.

Every check raises :class:`DataContractError` naming file, key, expectation and finding. Checks
run chunk-wise over the pattern axis and convert with ``copy=False`` so that validating a 10^4
pattern stack costs a small fraction of its size in extra memory, not another full copy.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np

from .errors import DataContractError

__all__ = [
    "describe",
    "check_finite",
    "check_diffraction",
    "check_probe",
    "check_coords",
    "check_scan_index",
    "check_object",
    "check_positions_on_object",
    "check_bad_pixels",
    "is_legacy_hwn",
]

FileRef = str | os.PathLike[str] | None
#: largest physical amplitude: sqrt(1e18 photons in one detector pixel of one pattern). Detectors
#: saturate many orders of magnitude below; above it the loss (squares, sums over N x N pixels)
#: leaves the float32 range and training can only produce NaN.
MAX_AMPLITUDE = 1e9
#: the probe's largest |value| must lie in this range: |probe|^2 (float32 physics) must neither
#: underflow to zero nor overflow
PROBE_MAX_RANGE = (1e-12, 1e12)
_CHUNK_ELEMENTS = 1 << 22  # ~4M elements per chunk (16 MB of float32)


def describe(arr: np.ndarray) -> str:
    """Short 'dtype array of shape (..)' phrase for error messages."""
    return f"{arr.dtype} array of shape {tuple(arr.shape)}"


def _chunks(arr: np.ndarray):
    """Yield views of ``arr`` split along axis 0 into ~_CHUNK_ELEMENTS pieces."""
    if arr.ndim == 0 or arr.shape[0] == 0:
        yield arr
        return
    per_row = max(1, arr.size // arr.shape[0])
    step = max(1, _CHUNK_ELEMENTS // per_row)
    for start in range(0, arr.shape[0], step):
        yield arr[start : start + step]


def _count(arr: np.ndarray, predicate: Callable[[np.ndarray], np.ndarray]) -> int:
    return int(sum(int(np.count_nonzero(predicate(chunk))) for chunk in _chunks(arr)))


def check_finite(arr: np.ndarray, file: FileRef, key: str) -> None:
    """Reject NaN and +-inf, saying how many of each (works for real and complex arrays)."""
    if not np.issubdtype(arr.dtype, np.inexact):
        return
    if all(bool(np.isfinite(chunk).all()) for chunk in _chunks(arr)):
        return
    n_nan = _count(arr, np.isnan)
    n_inf = _count(arr, np.isinf)
    raise DataContractError(file, key, "finite values", f"{n_nan} NaN and {n_inf} infinite values in {describe(arr)}")


def _require_nonempty(arr: np.ndarray, file: FileRef, key: str, expected: str) -> None:
    if arr.size == 0:
        raise DataContractError(file, key, expected, f"an empty {describe(arr)}")


def is_legacy_hwn(shape: tuple[int, ...]) -> bool:
    """FORMAT-001 rule: a 3-D (H, W, n) stack has square H == W and a longer last axis."""
    return len(shape) == 3 and shape[0] == shape[1] and shape[2] > max(shape[0], shape[1])


def check_diffraction(
    arr: np.ndarray, file: FileRef, key: str, warnings: list[str], *, allow_counts: bool = True
) -> np.ndarray:
    """Validate and return diffraction as C-contiguous float32 AMPLITUDE (n, N, N).

    Integer data are photon COUNTS (intensity): the contract stores amplitude, so they become
    sqrt(counts), computed in float64 (never squared or summed in integer arithmetic, which wraps
    for uint16 -- NORMALIZE-DATA-UINT16-001). Legacy (H, W, n) stacks are transposed. Both
    conversions are reported in ``warnings``.
    """
    expected = "a real (n, N, N) array of far-field amplitudes (float) or photon counts (integer)"
    if arr.dtype.kind not in "fiu":
        raise DataContractError(file, key, expected, describe(arr))
    if arr.ndim != 3:
        raise DataContractError(file, key, expected, describe(arr))
    _require_nonempty(arr, file, key, expected)
    if is_legacy_hwn(arr.shape):
        warnings.append(
            f"{key}: legacy (H, W, n) layout {tuple(arr.shape)} transposed to (n, H, W) "
            f"{(arr.shape[2], arr.shape[0], arr.shape[1])} (FORMAT-001)"
        )
        arr = arr.transpose(2, 0, 1)
    n, h, w = arr.shape
    if h != w:
        raise DataContractError(file, key, "square patterns (n, N, N)", f"patterns of {h} x {w} in {describe(arr)}")
    if arr.dtype.kind in "iu":
        if not allow_counts:
            raise DataContractError(
                file, key, "float amplitudes (a ScanData holds amplitude, not counts)", describe(arr)
            )
        if arr.dtype.kind == "i":
            n_neg = _count(arr, lambda c: c < 0)
            if n_neg:
                raise DataContractError(
                    file, key, "non-negative photon counts", f"{n_neg} negative values (min {int(arr.min())})"
                )
        out = np.empty((n, h, w), dtype=np.float32)
        for start in range(0, n, max(1, _CHUNK_ELEMENTS // (h * w))):
            stop = min(n, start + max(1, _CHUNK_ELEMENTS // (h * w)))
            out[start:stop] = np.sqrt(arr[start:stop].astype(np.float64))
        _check_physical(out, file, key)
        warnings.append(
            f"{key}: integer {arr.dtype} data read as photon counts (intensity) and converted to "
            "amplitude = sqrt(counts) as float32; store float32 amplitude to silence this"
        )
        return out
    if arr.dtype == np.float32 and arr.flags.c_contiguous:
        out = arr  # no copy; keeps an np.memmap a memmap
    else:
        out = np.ascontiguousarray(arr, dtype=np.float32)
    check_finite(out, file, key)
    n_neg = _count(out, lambda c: c < 0)
    if n_neg:
        raise DataContractError(
            file, key, "non-negative amplitudes", f"{n_neg} negative values (min {float(out.min()):.4g})",
            "Diffraction must be amplitude = sqrt(intensity) >= 0",
        )
    _check_physical(out, file, key)
    return out


def _check_physical(out: np.ndarray, file: FileRef, key: str) -> None:
    """Refuse amplitudes no detector can record (see MAX_AMPLITUDE): they can only train to NaN."""
    n_big = _count(out, lambda c: c > MAX_AMPLITUDE)
    if n_big:
        raise DataContractError(
            file, key, f"physical amplitudes <= {MAX_AMPLITUDE:g} (sqrt of at most 1e18 photons per pixel)",
            f"{n_big} larger values (max {float(max(float(c.max()) for c in _chunks(out))):.4g})",
            "Diffraction must be amplitude = sqrt(photon counts); check the units and scaling")


def check_probe(arr: np.ndarray, file: FileRef, key: str, n_side: int | None) -> np.ndarray:
    """Validate and return the probe as complex64 (N, N), N matching the diffraction patterns."""
    expected = "a complex (N, N) array" + (f" with N = {n_side} (the diffraction size)" if n_side else "")
    if arr.ndim != 2:
        raise DataContractError(file, key, expected, describe(arr))
    _require_nonempty(arr, file, key, expected)
    if arr.dtype.kind != "c":
        raise DataContractError(
            file, key, expected, describe(arr),
            "A real-valued probe has lost its phase; store the complex probe",
        )
    if arr.shape[0] != arr.shape[1]:
        raise DataContractError(file, key, expected, f"a non-square probe: {describe(arr)}")
    if n_side is not None and arr.shape[0] != n_side:
        raise DataContractError(file, key, expected, f"N = {arr.shape[0]} ({describe(arr)})")
    out = np.ascontiguousarray(arr, dtype=np.complex64)
    check_finite(out, file, key)
    if not np.any(out):
        raise DataContractError(file, key, expected + " that is not all zeros", "an all-zero probe")
    peak = float(np.abs(out).max())
    low, high = PROBE_MAX_RANGE
    if not low <= peak <= high:
        raise DataContractError(
            file, key, f"a probe whose largest |value| lies between {low:g} and {high:g}",
            f"largest |value| {peak:.4g}", "Its square must stay inside the float32 range of the physics; "
            "rescale the probe (the network calibrates the overall scale)")
    return out


def check_coords(arr: np.ndarray, file: FileRef, key: str, n: int) -> np.ndarray:
    """Validate and return scan positions as float64 (n,) in object pixels."""
    expected = f"a real 1-D array of {n} positions (object pixels)"
    if arr.dtype.kind not in "fiu":
        raise DataContractError(file, key, expected, describe(arr))
    if arr.ndim != 1:
        raise DataContractError(file, key, expected, describe(arr))
    _require_nonempty(arr, file, key, expected)
    if arr.shape[0] != n:
        raise DataContractError(file, key, expected, f"{arr.shape[0]} positions ({describe(arr)})")
    out = np.ascontiguousarray(arr, dtype=np.float64)
    check_finite(out, file, key)
    return out


def check_scan_index(arr: np.ndarray, file: FileRef, key: str, n: int) -> np.ndarray:
    """Validate and return the per-pattern scan id as int64 (n,)."""
    expected = f"an integer 1-D array of length {n}"
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DataContractError(file, key, expected, describe(arr))
    if arr.dtype.kind in "iu":
        return np.ascontiguousarray(arr, dtype=np.int64)
    if arr.dtype.kind == "f" and bool(np.all(np.isfinite(arr))) and bool(np.all(arr == np.round(arr))):
        return arr.astype(np.int64)
    raise DataContractError(file, key, expected, describe(arr))


def check_object(arr: np.ndarray, file: FileRef, key: str,
                 xcoords: np.ndarray | None = None, ycoords: np.ndarray | None = None) -> np.ndarray:
    """Validate and return the reference object as complex64 (H, W).

    With the scan positions given, every patch centre must lie on the object: positions outside
    it mean the coordinates are not in object pixels (metres, or another origin).
    """
    expected = "a complex 2-D (H, W) array"
    if arr.ndim != 2 or arr.dtype.kind != "c":
        raise DataContractError(file, key, expected, describe(arr))
    _require_nonempty(arr, file, key, expected)
    out = np.ascontiguousarray(arr, dtype=np.complex64)
    check_finite(out, file, key)
    if xcoords is not None and ycoords is not None:
        check_positions_on_object(xcoords, ycoords, out.shape, file)
    return out


def check_positions_on_object(xcoords: np.ndarray, ycoords: np.ndarray, shape: tuple[int, ...],
                              file: FileRef) -> None:
    """Patch centres (x = column, y = row) must fall inside the (H, W) object."""
    height, width = shape
    outside = (xcoords < 0) | (xcoords > width - 1) | (ycoords < 0) | (ycoords > height - 1)
    if outside.any():
        first = int(np.argmax(outside))
        key = "xcoords" if (xcoords[first] < 0 or xcoords[first] > width - 1) else "ycoords"
        raise DataContractError(
            file, key, f"patch centres inside objectGuess (x in 0..{width - 1}, y in 0..{height - 1} object pixels)",
            f"{int(outside.sum())} of {len(xcoords)} positions outside, e.g. pattern {first} at "
            f"(x={xcoords[first]:.2f}, y={ycoords[first]:.2f})",
            hint="positions must be in object pixels, not metres")


def check_bad_pixels(arr: np.ndarray, file: FileRef, key: str, n_side: int) -> np.ndarray:
    """Validate and return the detector's bad-pixel mask as bool (N, N), True = bad (excluded)."""
    expected = f"a boolean or 0/1 integer ({n_side}, {n_side}) mask, True = bad pixel"
    if arr.ndim != 2 or arr.shape != (n_side, n_side) or arr.dtype.kind not in "biu":
        raise DataContractError(file, key, expected, describe(arr))
    if arr.dtype.kind != "b" and bool(np.any((arr != 0) & (arr != 1))):
        raise DataContractError(file, key, expected, f"values other than 0 and 1 in {describe(arr)}")
    out = np.ascontiguousarray(arr, dtype=bool)
    if out.all():
        raise DataContractError(file, key, expected + " with some good pixels", "every pixel marked bad")
    return out
