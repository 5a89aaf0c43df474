"""ptychodus batch folders and product files with patterns, as contract scans (and back).

A ptychodus batch folder holds ``diffraction.h5`` (``patterns`` (n, H, W) photon counts,
``indexes`` (n,), optional ``bad_pixels`` (H, W)) and ``product-in.h5`` (the product file, see
:mod:`.ptychodus_product`). A single product file may also carry its patterns in a ``raw_data``
group, as PtychoPINN's exporter writes it (``raw_data/diffraction`` (n, H, W) amplitude,
``raw_data/xcoords`` / ``ycoords`` in object pixels, optional ``scan_index``, ``probeGuess``,
``objectGuess``).

Conversion streams the patterns chunk by chunk into a contract NPZ (:mod:`.npz_stream`):
patterns are paired with positions by index (``indexes`` <-> ``probe_position_indexes``), counts
become amplitude sqrt(counts), bad pixels are set to 0 and kept as the scan's ``bad_pixels`` mask,
and the product's geometry goes into ``_metadata["geometry"]``. ``nphotons`` is the mean number of
counts per pattern measured on the way (unless the file carries this engine's own metadata).
:func:`export_batch_folder` writes a scan as such a folder (ptychodus opens it; the round trip
gives the scan back).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..data.errors import DataContractError
from ..data.geometry import GEOMETRY_KEY, check_geometry, complete_geometry, geometry_of
from ..data.validation import check_bad_pixels, check_coords, check_object, check_probe, check_scan_index
from .h5util import CHUNK_BYTES, attr_float, check_filters, dataset, frame_chunks, open_h5
from .npz_stream import write_streamed_scan
from .ptychodus_product import ProductIn, ProductOut, atomic_h5_path, product_geometry_for_canvas, read_product, write_product

__all__ = ["BATCH_DIFFRACTION", "BATCH_PRODUCT_IN", "is_batch_folder", "convert_batch_folder",
           "convert_raw_data_product", "export_batch_folder", "has_raw_data"]

BATCH_DIFFRACTION = "diffraction.h5"
BATCH_PRODUCT_IN = "product-in.h5"
#: key of this engine's metadata in a product: the pixel size written is a stand-in (1 m per pixel)
PLACEHOLDER_FLAG = "pixel_size_placeholder"


def is_batch_folder(path: str | os.PathLike[str]) -> bool:
    """A folder with a ``diffraction.h5`` (its ``product-in.h5`` is checked when it is read)."""
    p = Path(path)
    return p.is_dir() and (p / BATCH_DIFFRACTION).is_file()


def has_raw_data(path: str | os.PathLike[str]) -> bool:
    """Whether an HDF5 file holds a ``raw_data`` group (patterns bundled with a product)."""
    import h5py

    with open_h5(path) as h5:
        return isinstance(h5.get("raw_data"), h5py.Group)


class _Stats:
    """Sums gathered while streaming (mean counts per pattern for nphotons)."""

    def __init__(self) -> None:
        self.counts = 0.0
        self.patterns = 0
        self.clipped = 0


def _stream(ds: Any, file: Path, key: str, bad: np.ndarray | None, counts: bool, stats: _Stats,
            chunk_bytes: int) -> Iterator[np.ndarray]:
    """Chunks of ``ds`` as float32 amplitude. ``counts``: values are photon counts (sqrt taken,
    negatives clipped to 0 for float data, refused for integers); else amplitudes as stored."""
    n = ds.shape[0]
    per = frame_chunks(ds, chunk_bytes)
    for start in range(0, n, per):
        stop = min(n, start + per)
        block = np.asarray(ds[start:stop], dtype=np.float64)
        if counts:
            negative = block < 0
            if negative.any():
                if ds.dtype.kind == "i":
                    raise DataContractError(file, key, "non-negative photon counts",
                                            f"{int(negative.sum())} negative values (min {block.min():g})")
                stats.clipped += int(negative.sum())
                block[negative] = 0.0
            if bad is not None:
                block[:, bad] = 0.0
            stats.counts += float(block.sum())
            block = np.sqrt(block)
        elif bad is not None:
            block[:, bad] = 0.0
        stats.patterns += block.shape[0]
        yield block.astype(np.float32)


def _metadata(product: ProductIn, N: int, fmt: str, source: Path, extra: dict[str, Any] | None) -> dict[str, Any]:  # noqa: N803
    """The converted scan's metadata: this engine's own (when the file carries it), the file's
    geometry on top (authoritative), derived values filled in, and where it came from."""
    meta = dict(product.studio_metadata)
    if extra:
        meta.update(extra)
    geometry = dict(geometry_of(meta, source)) if isinstance(meta.get(GEOMETRY_KEY), dict) else {}
    file_geometry = dict(product.geometry)
    if meta.pop(PLACEHOLDER_FLAG, False):  # this engine wrote 1 m per pixel for a scan in pixels only
        for key in ("object_pixel_size_m", "object_pixel_height_m", "origin_x_m", "origin_y_m", "detector_pixel_size_m"):
            file_geometry.pop(key, None)
    geometry.update(file_geometry)
    meta[GEOMETRY_KEY] = check_geometry(complete_geometry(geometry, N), source)
    meta["source"] = {"format": fmt, "path": str(source), "name": product.name, "comments": product.comments,
                      "probe_photon_count": product.photon_count}
    return meta


def _set_nphotons(meta: dict[str, Any], stats: _Stats, notes: list[str]) -> None:
    physics = meta.setdefault("physics_parameters", {})
    if physics.get("nphotons") is None and stats.patterns and stats.counts > 0:
        physics["nphotons"] = stats.counts / stats.patterns
        notes.append(f"nphotons {physics['nphotons']:.4g}: mean measured counts per pattern")
    if stats.clipped:
        notes.append(f"diffraction: {stats.clipped} negative counts (background-subtracted data?) set to 0")


def _pair(pattern_index: np.ndarray, product: ProductIn, diff_file: Path) -> np.ndarray:
    """For each pattern (storage order), the row of its position in the product; named errors for
    counts that differ, duplicates and indexes without a partner."""
    n, m = pattern_index.size, product.indexes.size
    if n != m:
        raise DataContractError(diff_file, "patterns", f"{m} patterns, one per probe position in {product.path}",
                                f"{n} patterns")
    for arr, file, key in ((pattern_index, diff_file, "indexes"), (product.indexes, product.path,
                                                                    "probe_position_indexes")):
        uniq, counts = np.unique(arr, return_counts=True)
        if uniq.size != arr.size:
            raise DataContractError(file, key, "each index once", f"index {int(uniq[counts > 1][0])} "
                                    f"{int(counts.max())} times")
    order = np.argsort(product.indexes)
    found = np.searchsorted(product.indexes[order], pattern_index)
    found = np.clip(found, 0, m - 1)
    rows = order[found]
    missing = product.indexes[rows] != pattern_index
    if missing.any():
        first = pattern_index[missing][:5].tolist()
        raise DataContractError(diff_file, "indexes", f"the probe_position_indexes of {product.path}",
                                f"{int(missing.sum())} pattern index(es) without a position, e.g. {first}")
    return rows


def _check_patterns(ds: Any, file: Path, key: str, probe_side: int) -> int:
    expected = "a real (n, N, N) stack of diffraction patterns"
    if ds.ndim != 3 or ds.dtype.kind not in "fiu" or 0 in ds.shape:
        raise DataContractError(file, key, expected, f"{ds.dtype} dataset of shape {ds.shape}")
    if ds.shape[1] != ds.shape[2]:
        raise DataContractError(file, key, "square patterns (n, N, N)", f"patterns of {ds.shape[1]} x {ds.shape[2]}")
    if ds.shape[1] != probe_side:
        raise DataContractError(file, key, f"{probe_side} x {probe_side} patterns like the probe",
                                f"{ds.shape[1]} x {ds.shape[2]} patterns")
    check_filters(ds, file, key)
    return int(ds.shape[1])


def _arrays(product: ProductIn, N: int, x: np.ndarray, y: np.ndarray, index: np.ndarray,  # noqa: N803
            bad: np.ndarray | None, file: Path, obj: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The contract's small arrays, validated before any pattern is written."""
    n = x.size
    out = {"probeGuess": check_probe(product.probe, product.path, "probe", N),
           "xcoords": check_coords(x, file, "xcoords", n), "ycoords": check_coords(y, file, "ycoords", n),
           "scan_index": check_scan_index(index, file, "scan_index", n)}
    if obj is None and product.object_role == "ground_truth":
        obj = product.read_object()
    if obj is not None:
        out["objectGuess"] = check_object(obj, product.path, "object", out["xcoords"], out["ycoords"])
    if bad is not None:
        out["bad_pixels"] = check_bad_pixels(bad, file, "bad_pixels", N)
    return out


def convert_batch_folder(folder: str | os.PathLike[str], target: str | os.PathLike[str],
                         chunk_bytes: int = CHUNK_BYTES) -> tuple[Path, list[str]]:
    """Convert a ptychodus batch folder into the contract NPZ ``target``; returns (path, notes)."""
    folder = Path(folder)
    diff_file, product_file = folder / BATCH_DIFFRACTION, folder / BATCH_PRODUCT_IN
    if not product_file.is_file():
        raise DataContractError(folder, BATCH_PRODUCT_IN, "a ptychodus product file beside diffraction.h5",
                                "no such file")
    product = read_product(product_file)
    notes = list(product.notes)
    with open_h5(diff_file) as h5:
        patterns = dataset(h5, "patterns", diff_file, "a (n, N, N) dataset of photon counts")
        N = _check_patterns(patterns, diff_file, "patterns", product.probe.shape[0])  # noqa: N806
        n = int(patterns.shape[0])
        detector_pixel = attr_float(patterns, "detector_pixel_width_m", diff_file, "patterns", default=0.0)
        if detector_pixel and detector_pixel > 0:  # written by ptychodus 1.7
            product.geometry["detector_pixel_size_m"] = detector_pixel
        idx_ds = dataset(h5, "indexes", diff_file, f"a 1-D integer dataset of {n} pattern indexes")
        if idx_ds.shape != (n,) or idx_ds.dtype.kind not in "iu":
            raise DataContractError(diff_file, "indexes", f"a 1-D integer dataset of {n} pattern indexes",
                                    f"{idx_ds.dtype} dataset of shape {idx_ds.shape}")
        pattern_index = np.asarray(idx_ds[()], dtype=np.int64)
        bad = None
        if "bad_pixels" in h5:
            bad = check_bad_pixels(np.asarray(dataset(h5, "bad_pixels", diff_file, "a mask")[()]), diff_file,
                                   "bad_pixels", N)
            if not bad.any():
                bad = None
        rows = _pair(pattern_index, product, diff_file)
        arrays = _arrays(product, N, product.x_px[rows], product.y_px[rows], pattern_index, bad, product_file)
        meta = _metadata(product, N, "ptychodus-folder", folder, None)
        meta["source"]["notes"] = notes  # the same list: notes made while streaming are stored too
        stats = _Stats()
        chunks = _stream(patterns, diff_file, "patterns", bad, True, stats, chunk_bytes)
        path = write_streamed_scan(target, n, N, _finish(chunks, meta, stats, notes), arrays, meta, diff_file)
    return path, notes


def _finish(chunks: Iterator[np.ndarray], meta: dict[str, Any], stats: _Stats, notes: list[str]) -> Iterator[np.ndarray]:
    """Pass the chunks through, then record what streaming measured (before metadata is written)."""
    yield from chunks
    _set_nphotons(meta, stats, notes)


def convert_raw_data_product(path: str | os.PathLike[str], target: str | os.PathLike[str],
                             chunk_bytes: int = CHUNK_BYTES) -> tuple[Path, list[str]]:
    """Convert a product file with a ``raw_data`` group into the contract NPZ ``target``."""
    import h5py

    file = Path(path)
    product = read_product(file)
    notes = list(product.notes)
    with open_h5(file) as h5:
        group = h5.get("raw_data")
        if not isinstance(group, h5py.Group):
            raise DataContractError(file, "raw_data", "a group with the patterns (raw_data/diffraction), or a "
                                    "ptychodus folder with diffraction.h5 beside product-in.h5", "no such group")
        if "probeGuess" in group:
            product.probe = np.asarray(dataset(h5, "raw_data/probeGuess", file, "a complex probe")[()])
        diff = dataset(h5, "raw_data/diffraction", file, "a (n, N, N) dataset of amplitudes")
        N = _check_patterns(diff, file, "raw_data/diffraction", np.shape(product.probe)[-1])  # noqa: N806
        n = int(diff.shape[0])
        if "xcoords" in group and "ycoords" in group:
            x = np.asarray(dataset(h5, "raw_data/xcoords", file, "positions")[()], dtype=np.float64)
            y = np.asarray(dataset(h5, "raw_data/ycoords", file, "positions")[()], dtype=np.float64)
            notes.append("positions: raw_data/xcoords, ycoords (object pixels) used; they pair with the patterns "
                         "by order")
        else:
            x, y = product.x_px, product.y_px
        for key, arr in (("raw_data/xcoords", x), ("raw_data/ycoords", y)):
            if arr.shape != (n,):
                raise DataContractError(file, key, f"{n} positions, one per pattern", f"an array of shape {arr.shape}")
        index = (np.asarray(dataset(h5, "raw_data/scan_index", file, "indexes")[()]) if "scan_index" in group
                 else np.arange(n))
        obj = np.asarray(dataset(h5, "raw_data/objectGuess", file, "an object")[()]) if "objectGuess" in group else None
        if obj is not None and obj.ndim == 3:
            obj = obj[0]
        extra: dict[str, Any] = {}
        if "_metadata" in group:
            raw = dataset(h5, "raw_data/_metadata", file, "JSON text")[()]
            try:
                extra = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
            except (json.JSONDecodeError, UnicodeDecodeError):
                notes.append("raw_data/_metadata: not JSON text; ignored")
            if not isinstance(extra, dict):
                extra = {}
        arrays = _arrays(product, N, x, y, index, None, file, obj)
        meta = _metadata(product, N, "ptychodus-product", file, extra)
        meta["source"]["notes"] = notes
        stats = _Stats()
        counts = diff.dtype.kind in "iu"  # the NPZ contract's rule: integers are counts, floats amplitude
        chunks = _stream(diff, file, "raw_data/diffraction", None, counts, stats, chunk_bytes)
        out = write_streamed_scan(target, n, N, _finish(chunks, meta, stats, notes) if counts else chunks, arrays,
                                  meta, file)
    return out, notes


# ----------------------------------------------------------------------------- export
def _indexes(scan: Any) -> np.ndarray:
    index = scan.scan_index
    if index is not None and np.unique(index).size == index.size:
        return np.asarray(index, dtype=np.int64)
    return np.arange(scan.n_patterns, dtype=np.int64)


def export_batch_folder(scan: Any, folder: str | os.PathLike[str], name: str | None = None,
                        chunk_bytes: int = CHUNK_BYTES) -> Path:
    """Write ``scan`` (a ScanData) as a ptychodus batch folder: ``diffraction.h5`` (intensities =
    amplitude², float32) and ``product-in.h5`` (its probe, positions, geometry, and its reference
    object or a placeholder object covering the positions). Pixel size unknown: 1 m per pixel."""
    import h5py

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    geometry = scan.geometry
    indexes = _indexes(scan)
    n, N = scan.n_patterns, scan.N  # noqa: N806
    x, y = np.asarray(scan.xcoords, np.float64), np.asarray(scan.ycoords, np.float64)
    if scan.object_guess is not None:
        obj, role, ox, oy = np.asarray(scan.object_guess), "ground_truth", 0.0, 0.0
    else:  # a grid that covers every patch; whole pixels so positions map back unchanged
        ox = min(0.0, math.floor(float(x.min()) - N / 2))
        oy = min(0.0, math.floor(float(y.min()) - N / 2))
        width = int(math.ceil(float(x.max()) + N / 2 - ox)) + 1
        height = int(math.ceil(float(y.max()) + N / 2 - oy)) + 1
        obj, role = np.ones((height, width), np.complex64), "placeholder"
    dx, dy, cx, cy = product_geometry_for_canvas(geometry, ox, oy, obj.shape[-2:])
    x0, y0 = geometry.get("origin_x_m", 0.0), geometry.get("origin_y_m", 0.0)
    meta = {k: v for k, v in scan.metadata.items() if k != "source"}
    if "object_pixel_size_m" not in geometry:
        meta[PLACEHOLDER_FLAG] = True
    product = ProductOut(
        name=name or (scan.path.stem if scan.path is not None else "scan"),
        comments="exported by Ptycho Studio" + ("" if "object_pixel_size_m" in geometry else
                                                "; pixel size unknown: 1 object pixel is written as 1 m"),
        indexes=indexes, x_m=x0 + dx * x, y_m=y0 + dy * y, probe=scan.probe, pixel_width_m=dx, pixel_height_m=dy,
        object=obj, center_x_m=cx, center_y_m=cy, detector_distance_m=geometry.get("detector_distance_m", 0.0),
        probe_energy_eV=geometry.get("probe_energy_eV", 0.0), exposure_time_s=geometry.get("exposure_time_s", 0.0),
        probe_photon_count=scan.nphotons or 0.0, object_role=role, studio_metadata=meta)
    bad = scan.bad_pixels if scan.bad_pixels is not None else np.zeros((N, N), bool)
    with atomic_h5_path(folder / BATCH_DIFFRACTION) as tmp, h5py.File(tmp, "w") as h5:
        ds = h5.create_dataset("patterns", shape=(n, N, N), dtype=np.float32, chunks=(min(n, 64), N, N),
                               compression="lzf")
        per = max(1, chunk_bytes // (N * N * 8))
        for start in range(0, n, per):
            amp = np.asarray(scan.diffraction[start:start + per], dtype=np.float64)
            ds[start:start + amp.shape[0]] = np.square(amp).astype(np.float32)
        # ptychodus 1.7 requires the detector pixel size on the patterns (1 m when unknown, like the object's)
        detector = complete_geometry(geometry, N).get("detector_pixel_size_m", 1.0)
        ds.attrs["detector_pixel_width_m"] = ds.attrs["detector_pixel_height_m"] = float(detector)
        h5.create_dataset("indexes", data=indexes)
        h5.create_dataset("bad_pixels", data=np.asarray(bad, dtype=bool))
    write_product(folder / BATCH_PRODUCT_IN, product)
    return folder
