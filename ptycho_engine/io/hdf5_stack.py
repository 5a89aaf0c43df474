"""Beamline diffraction stacks in plain HDF5 files, converted into contract scans chunk by chunk.

A detector writes an (n, H, W) stack of photon counts at some dataset path (``/entry/data/data``
for NeXus/Eiger, ``/exchange/data`` for APS CSSI, ``/dp`` for fold_slice; these are tried when no
path is given), often compressed with bitshuffle/LZ4 or Blosc (``hdf5plugin`` is imported before
reading; a filter HDF5 still cannot decode is a named error before anything is read). The scan
positions come from a second file or dataset; the probe from a file, or estimated from the mean
pattern when none is given.

The stack is read in chunks of frames (never whole): a first pass (only when needed) sums the
frames to estimate the pattern centre and finds saturated pixels; the second crops each frame to
N x N around the centre, masks bad and saturated pixels (set to 0, kept as the scan's
``bad_pixels``) and writes sqrt(counts) into the contract NPZ (:mod:`.npz_stream`).

Specs of the form ``FILE:/dataset`` name a dataset inside an HDF5 file; ``:/dataset`` one inside
the stack's own file; ``FILE:/x,/y`` two datasets of x and y. Positions may also be an ``.npy``
(n, 2) [x, y], an ``.npz`` with ``xcoords``/``ycoords``, or a text/CSV file of two columns x, y.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..data.errors import DataContractError
from ..data.geometry import check_geometry, complete_geometry
from ..data.validation import check_bad_pixels, check_coords, check_probe
from .h5util import CHUNK_BYTES, check_filters, dataset, frame_chunks, is_hdf5, open_h5
from .npz_stream import write_streamed_scan

__all__ = ["DEFAULT_DATA_PATHS", "StackOptions", "convert_hdf5_stack", "find_stack", "estimate_center",
           "POSITION_UNITS"]

DEFAULT_DATA_PATHS = ("/entry/data/data", "/exchange/data", "/dp")
#: metres per unit of the positions
POSITION_UNITS = {"px": None, "m": 1.0, "mm": 1e-3, "um": 1e-6, "nm": 1e-9}


@dataclass
class StackOptions:
    """How to read a plain HDF5 stack (the CLI's ``convert-hdf5`` flags)."""

    positions: str  # FILE[:/dataset[,/dataset]] or :/dataset in the stack's file
    data_path: str | None = None  # None: try DEFAULT_DATA_PATHS
    positions_unit: str = "px"  # 'px' (object pixels) or a length unit (m, mm, um, nm)
    probe: str | None = None  # FILE[:/dataset] (.npy, .npz probeGuess, HDF5); None: estimated
    crop: int | None = None  # N; None: the probe's side, else 128 (64 on a smaller detector)
    center: tuple[float, float] | None = None  # (row, column) of the pattern centre; None: estimated
    bad_pixels: str | None = None  # FILE[:/dataset] of an (H, W) mask, True/1 = bad
    saturation: float | None = None  # counts at or above it: the pixel is masked in every frame
    geometry: dict[str, float] = field(default_factory=dict)  # see data.geometry


def _split(spec: str, stack: Path) -> tuple[Path, str | None]:
    """``FILE:/ds`` -> (FILE, '/ds'); ``:/ds`` -> (stack, '/ds'); ``FILE`` -> (FILE, None)."""
    if spec.startswith(":"):
        return stack, spec[1:]
    head, sep, tail = spec.rpartition(":")
    if sep and tail.startswith("/") and head:
        return Path(head), tail
    return Path(spec), None


def find_stack(h5: Any, file: Path, data_path: str | None) -> Any:
    """The (n, H, W) dataset at ``data_path``, or the first of DEFAULT_DATA_PATHS present."""
    if data_path is not None:
        ds = dataset(h5, data_path, file, "an (n, H, W) stack of diffraction patterns")
    else:
        found = [p for p in DEFAULT_DATA_PATHS if p in h5]
        if not found:
            raise DataContractError(file, "/".join(DEFAULT_DATA_PATHS), "a diffraction stack at one of the usual "
                                    "paths (give the dataset path)", f"none of them (top level: "
                                    f"{', '.join(sorted(h5.keys())[:12]) or 'nothing'})")
        data_path = found[0]
        ds = dataset(h5, data_path, file, "an (n, H, W) stack of diffraction patterns")
    if ds.ndim != 3 or ds.dtype.kind not in "fiu" or 0 in ds.shape:
        raise DataContractError(file, data_path, "a real (n, H, W) stack of diffraction patterns",
                                f"{ds.dtype} dataset of shape {ds.shape}")
    check_filters(ds, file, data_path)
    return ds


def _read_array(spec: str, stack: Path, what: str) -> tuple[np.ndarray, Path, str]:
    """An array from ``spec`` (see module docstring); returns (array, file, key for errors)."""
    file, key = _split(spec, stack)
    if not file.is_file():
        raise FileNotFoundError(f"{what} file not found: {file}")
    if is_hdf5(file):
        if key is None:
            raise DataContractError(file, None, f"{what}: a dataset path (FILE:/path/to/dataset)", "no path given")
        with open_h5(file) as h5:
            parts = key.split(",")
            arrays = []
            for part in parts:
                ds = dataset(h5, part, file, f"the {what} dataset")
                check_filters(ds, file, part)
                arrays.append(np.asarray(ds[()]))
        if len(arrays) == 2:
            return _stack_xy(arrays, file, key), file, key
        return arrays[0], file, key
    suffix = file.suffix.lower()
    if suffix == ".npy":
        return np.load(file, allow_pickle=False), file, file.name
    if suffix == ".npz":
        from ..data.npz_io import NpzReader

        with NpzReader(file) as reader:
            if key is not None:
                return reader.read(key.lstrip("/")), file, key
            if "xcoords" in reader and "ycoords" in reader:
                return np.stack([reader.read("xcoords"), reader.read("ycoords")], axis=1), file, "xcoords/ycoords"
            if "probeGuess" in reader:
                return reader.read("probeGuess"), file, "probeGuess"
            raise DataContractError(file, None, f"{what}: xcoords/ycoords or probeGuess, or FILE.npz:/key",
                                    f"keys {reader.keys}")
    try:
        text = file.read_text(encoding="utf-8")
        rows = [line.replace(",", " ").split() for line in text.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
        values = np.array([[float(v) for v in row] for row in rows if row], dtype=np.float64)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataContractError(file, None, f"{what}: an HDF5, .npy, .npz or text file of numbers",
                                f"a file that is none of those ({exc})") from exc
    return values, file, file.name


def _stack_xy(arrays: list[np.ndarray], file: Path, key: str) -> np.ndarray:
    x, y = (np.asarray(a, dtype=np.float64).reshape(-1) for a in arrays)
    if x.shape != y.shape:
        raise DataContractError(file, key, "x and y datasets of the same length", f"{x.size} and {y.size} values")
    return np.stack([x, y], axis=1)


def _positions(opts: StackOptions, stack: Path, n: int) -> tuple[np.ndarray, np.ndarray, Path, str]:
    arr, file, key = _read_array(opts.positions, stack, "positions")
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiu":
        raise DataContractError(file, key, "numeric positions", f"{arr.dtype} array")
    if arr.ndim == 2 and arr.shape[1] != 2 and arr.shape[0] == 2:
        arr = arr.T
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise DataContractError(file, key, "(n, 2) positions as columns x, y", f"an array of shape {arr.shape}")
    if arr.shape[0] != n:
        raise DataContractError(file, key, f"{n} positions, one per pattern of {stack}", f"{arr.shape[0]} positions")
    x = check_coords(arr[:, 0].astype(np.float64), file, f"{key}[:, 0] (x)", n)
    y = check_coords(arr[:, 1].astype(np.float64), file, f"{key}[:, 1] (y)", n)
    return x, y, file, key


def estimate_center(mean: np.ndarray, bad: np.ndarray | None = None) -> tuple[float, float]:
    """(row, column) of the pattern centre: centre of mass of the mean pattern above 10 % of its
    maximum (the direct beam / central speckle), bad pixels excluded."""
    img = np.array(mean, dtype=np.float64)
    if bad is not None:
        img[bad] = 0.0
    peak = float(img.max())
    if not peak > 0:
        return (img.shape[0] - 1) / 2, (img.shape[1] - 1) / 2
    img[img < 0.1 * peak] = 0.0
    rows, cols = np.indices(img.shape)
    total = img.sum()
    return float((rows * img).sum() / total), float((cols * img).sum() / total)


def _first_pass(ds: Any, chunk_bytes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean frame, max frame, pixels the detector flagged in some frame) of the whole stack, read
    chunk by chunk; flagged values (the integer type's largest value) are left out of both."""
    total = np.zeros(ds.shape[1:], np.float64)
    peak = np.full(ds.shape[1:], -np.inf)
    flagged = np.zeros(ds.shape[1:], bool)
    ceiling = float(np.iinfo(ds.dtype).max) if ds.dtype.kind in "iu" else None
    per = frame_chunks(ds, chunk_bytes)
    for start in range(0, ds.shape[0], per):
        block = np.asarray(ds[start:start + per])  # the stored type: no float64 copy of the chunk
        if ceiling is not None:
            marked = block >= ceiling
            if marked.any():
                flagged |= marked.any(axis=0)
                block = np.where(marked, 0, block)
            del marked
        total += block.sum(axis=0, dtype=np.float64)
        np.maximum(peak, block.max(axis=0), out=peak)
    return total / ds.shape[0], peak, flagged


def _crop_window(center: tuple[float, float], N: int, shape: tuple[int, int], file: Path, key: str) -> tuple[int, int]:  # noqa: N803
    r0 = int(round(center[0])) - N // 2
    c0 = int(round(center[1])) - N // 2
    if r0 < 0 or c0 < 0 or r0 + N > shape[0] or c0 + N > shape[1]:
        raise DataContractError(file, key, f"a {N} x {N} crop around the centre (row {center[0]:.1f}, column "
                                f"{center[1]:.1f}) inside the {shape[0]} x {shape[1]} detector",
                                f"rows {r0}..{r0 + N - 1}, columns {c0}..{c0 + N - 1}",
                                "give a smaller crop or the centre")
    return r0, c0


def _estimated_probe(mean_crop: np.ndarray) -> np.ndarray:
    """A flat-phase probe whose far field has the mean pattern's amplitude (ptychodus's 'average
    pattern' start): a rough first guess, scaled so sum |P|^2 = mean counts per pattern."""
    amp = np.sqrt(np.clip(mean_crop, 0.0, None))
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(amp), norm="ortho")).astype(np.complex64)


def _chunks(ds: Any, window: tuple[int, int], N: int, bad: np.ndarray, saturation: float | None,  # noqa: N803
            stats: dict[str, float], chunk_bytes: int) -> Iterator[np.ndarray]:
    r0, c0 = window
    per = frame_chunks(ds, chunk_bytes)
    ceiling = float(np.iinfo(ds.dtype).max) if ds.dtype.kind in "iu" else None
    for start in range(0, ds.shape[0], per):
        block = np.asarray(ds[start:start + per, r0:r0 + N, c0:c0 + N], dtype=np.float64)
        flagged = block < 0
        if ceiling is not None:  # detectors mark gaps and dead pixels with the largest value
            flagged |= block >= ceiling
        if saturation is not None:
            flagged |= block >= saturation
        stats["flagged"] += int(flagged.sum())
        block[flagged] = 0.0
        block[:, bad] = 0.0
        stats["counts"] += float(block.sum())
        yield np.sqrt(block).astype(np.float32)


def convert_hdf5_stack(path: str | os.PathLike[str], target: str | os.PathLike[str], opts: StackOptions,
                       chunk_bytes: int = CHUNK_BYTES) -> tuple[Path, list[str]]:
    """Convert a beamline stack into the contract NPZ ``target``; returns (path, notes).

    Raises DataContractError (file, key, expected, found) for a missing dataset path, an
    unavailable compression filter, positions of another count, a crop off the detector, ...;
    nothing is written then."""
    file = Path(path)
    notes: list[str] = []
    if opts.positions_unit not in POSITION_UNITS:
        raise DataContractError(None, "positions_unit", f"one of {list(POSITION_UNITS)}", repr(opts.positions_unit))
    geometry = check_geometry(opts.geometry, file)
    with open_h5(file) as h5:
        ds = find_stack(h5, file, opts.data_path)
        key = ds.name
        n, H, W = (int(s) for s in ds.shape)  # noqa: N806
        x, y, pos_file, pos_key = _positions(opts, file, n)
        probe = None
        if opts.probe is not None:
            raw, probe_file, probe_key = _read_array(opts.probe, file, "probe")
            probe = check_probe(np.asarray(raw), probe_file, probe_key, None)
        N = int(opts.crop or (probe.shape[0] if probe is not None else (128 if min(H, W) >= 128 else 64)))  # noqa: N806
        if probe is not None and probe.shape[0] != N:
            raise DataContractError(probe_file, probe_key, f"a {N} x {N} probe (the crop size)", f"{probe.shape}")
        bad = np.zeros((H, W), bool)
        if opts.bad_pixels is not None:
            mask, mask_file, mask_key = _read_array(opts.bad_pixels, file, "bad-pixel mask")
            mask = np.asarray(mask)
            if mask.shape != (H, W) or mask.dtype.kind not in "biu":
                raise DataContractError(mask_file, mask_key, f"an ({H}, {W}) boolean mask like the detector, "
                                        "True/1 = bad", f"{mask.dtype} array of shape {mask.shape}")
            bad = mask != 0
        center = opts.center
        if center is None or opts.saturation is not None or probe is None:
            mean, peak, flagged = _first_pass(ds, chunk_bytes)
            if flagged.any():
                notes.append(f"{int(flagged.sum())} pixel(s) flagged by the detector (largest integer value); masked")
                bad = bad | flagged
            if opts.saturation is not None:
                saturated = peak >= opts.saturation
                notes.append(f"{int(saturated.sum())} pixel(s) reach the saturation level {opts.saturation:g}; masked")
                bad = bad | saturated
            if center is None:
                center = estimate_center(mean, bad)
                notes.append(f"pattern centre estimated at row {center[0]:.1f}, column {center[1]:.1f}")
        r0, c0 = _crop_window(center, N, (H, W), file, key)
        crop_bad = bad[r0:r0 + N, c0:c0 + N]
        if probe is None:
            mean_crop = np.where(crop_bad, 0.0, mean[r0:r0 + N, c0:c0 + N])
            probe = check_probe(_estimated_probe(mean_crop), file, "probe (estimated)", N)
            notes.append("probe estimated from the mean pattern (flat phase): a rough start; give a measured probe "
                         "for better results")
        geometry = complete_geometry(geometry, N)
        scale = POSITION_UNITS[opts.positions_unit]
        if scale is not None:
            size = geometry.get("object_pixel_size_m")
            if not size:
                raise DataContractError(pos_file, pos_key, "positions in pixels, or the object pixel size (or the "
                                        "energy, detector distance and detector pixel size) to convert "
                                        f"{opts.positions_unit}", "no pixel size")
            height = geometry.get("object_pixel_height_m", size)
            xm, ym = x * scale, y * scale
            geometry["origin_x_m"] = float(xm.min()) - size * N / 2
            geometry["origin_y_m"] = float(ym.min()) - height * N / 2
            x, y = (xm - geometry["origin_x_m"]) / size, (ym - geometry["origin_y_m"]) / height
        arrays = {"probeGuess": probe, "xcoords": x, "ycoords": y, "scan_index": np.arange(n, dtype=np.int64)}
        if crop_bad.any():
            arrays["bad_pixels"] = check_bad_pixels(crop_bad, file, "bad_pixels", N)
        stats = {"counts": 0.0, "flagged": 0}
        meta: dict[str, Any] = {"geometry": check_geometry(geometry, file), "physics_parameters": {},
                                "source": {"format": "hdf5-stack", "path": str(file), "data_path": key,
                                           "center": [float(center[0]), float(center[1])], "crop": N,
                                           "positions": opts.positions, "probe": opts.probe, "notes": notes}}

        def chunks() -> Iterator[np.ndarray]:
            yield from _chunks(ds, (r0, c0), N, crop_bad, opts.saturation, stats, chunk_bytes)
            if stats["counts"] > 0:
                meta["physics_parameters"]["nphotons"] = stats["counts"] / n
            if stats["flagged"]:
                notes.append(f"{stats['flagged']} negative, saturated or detector-flagged values set to 0")

        out = write_streamed_scan(target, n, N, chunks(), arrays, meta, file)
    return out, notes
