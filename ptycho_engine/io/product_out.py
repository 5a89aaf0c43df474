"""``product-out.h5``: an inference result as a ptychodus product file.

The stitched object canvas (pixel [0, 0] at object coordinates ``origin_x, origin_y``) is written
with a centre such that ptychodus's own mapping of every written position lands on the canvas
pixel where this engine put that patch (``x_px - origin_x``); positions are metres
``origin_x_m + pixel_size * x_px`` from the scan's geometry (1 m per pixel when the scan has
none, said in ``comments``). The probe and positions are the refined ones when refinement
changed them, else the scan's; ``loss_values`` are the refinement misfits per pass (empty for
the network alone).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .ptychodus_product import ProductOut, product_geometry_for_canvas, write_product

__all__ = ["PRODUCT_OUT_NAME", "build_product_out", "write_product_out"]

PRODUCT_OUT_NAME = "product-out.h5"


def _indexes(scan: Any) -> np.ndarray:
    index = scan.scan_index
    if index is not None and np.unique(index).size == index.size:
        return np.asarray(index, dtype=np.int64)
    return np.arange(scan.n_patterns, dtype=np.int64)


def _positions(scan: Any, used: np.ndarray, refined: np.ndarray | None) -> np.ndarray:
    """(len(used), 2) [x, y] object pixels of the patterns used (refined ones when given, either
    for every pattern of the scan or for the used ones only)."""
    if refined is None:
        return np.stack([np.asarray(scan.xcoords)[used], np.asarray(scan.ycoords)[used]], axis=1)
    pos = np.asarray(refined, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"refined positions: expected an (n, 2) [x, y] array, got shape {pos.shape}")
    if pos.shape[0] == scan.n_patterns:
        return pos[used]
    if pos.shape[0] == len(used):
        return pos
    raise ValueError(f"refined positions: {pos.shape[0]} rows for {scan.n_patterns} patterns ({len(used)} used)")


def build_product_out(obj: np.ndarray, origin_x: float, origin_y: float, scan: Any, used: np.ndarray, *,
                      probe: np.ndarray | None = None, positions: np.ndarray | None = None,
                      losses: Sequence[float] | None = None, comments: str = "") -> ProductOut:
    """The product of a reconstruction ``obj`` of ``scan`` (see module docstring)."""
    geometry = scan.geometry
    used = np.asarray(used, dtype=np.int64)
    pos = _positions(scan, used, positions)
    dx, dy, cx, cy = product_geometry_for_canvas(geometry, origin_x, origin_y, np.shape(obj)[-2:])
    x0, y0 = geometry.get("origin_x_m", 0.0), geometry.get("origin_y_m", 0.0)
    source = scan.metadata.get("source") if isinstance(scan.metadata.get("source"), dict) else {}
    name = source.get("name") or (Path(source["path"]).name if source.get("path") else None) or (
        scan.path.stem if scan.path is not None else "reconstruction")
    if "object_pixel_size_m" not in geometry:
        comments = (comments + "; " if comments else "") + "pixel size unknown: 1 object pixel is written as 1 m"
    return ProductOut(
        name=str(name), comments=comments, indexes=_indexes(scan)[used], x_m=x0 + dx * pos[:, 0],
        y_m=y0 + dy * pos[:, 1], probe=np.asarray(scan.probe if probe is None else probe, dtype=np.complex64),
        pixel_width_m=dx, pixel_height_m=dy, object=np.asarray(obj, dtype=np.complex64), center_x_m=cx,
        center_y_m=cy, detector_distance_m=geometry.get("detector_distance_m", 0.0),
        probe_energy_eV=geometry.get("probe_energy_eV", 0.0), exposure_time_s=geometry.get("exposure_time_s", 0.0),
        probe_photon_count=scan.nphotons or 0.0,
        loss_values=np.asarray(list(losses or []), dtype=np.float64),
        studio_metadata={"geometry": geometry, "source": {k: v for k, v in source.items() if k != "notes"},
                         "origin_x_px": float(origin_x), "origin_y_px": float(origin_y)})


def write_product_out(path: str | Path, product: ProductOut) -> Path:
    """Write ``product`` atomically (the file ptychodus opens with its HDF5 product reader)."""
    return write_product(path, product)
