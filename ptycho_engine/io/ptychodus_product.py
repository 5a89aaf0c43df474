"""The ptychodus product file (``product-in.h5`` / ``product-out.h5``): read and write.

Names and layout follow ptychodus's own reader/writer (``plugins/h5_product_file.py`` up to
2025, ``api/io.py::load_product`` / ``save_product`` in ptychodus 1.7):

* root attributes ``detector_object_distance_m`` and the photon energy (``photon_energy_eV``
  since ptychodus 1.7, ``probe_energy_eV`` before; either is read, both are written) are required;
  ``name``, ``comments``, ``exposure_time_s``, ``probe_photon_count`` are read when present
  (ptychodus writes 0 for "unknown");
* datasets ``probe_position_indexes`` (n,) int, ``probe_position_x_m`` / ``_y_m`` (n,) metres;
  ``probe`` complex [H, W] | [modes, H, W] | [opr, modes, H, W] with attributes ``pixel_width_m``,
  ``pixel_height_m`` (default: the object's); ``object`` complex [H, W] | [layers, H, W] with
  ``center_x_m``, ``center_y_m``, ``pixel_width_m``, ``pixel_height_m``; optional
  ``object_layer_spacing_m`` (layers - 1,), ``loss_values`` (legacy ``costs``), ``loss_epochs``.
  Written files carry every one of them, so both ptychodus generations open them.

Positions in metres map to object pixels exactly as ptychodus maps them
(``api/object.py::ObjectGeometry.map_coordinates_probe_to_object``):
``x_px = (x_m - center_x_m) / pixel_width_m + (width_px - 1) / 2`` (same for y with the height).
ptychodus 1.7 places the centre on pixel ``(width_px - 1) / 2`` (pixel centres at integers, as in
this engine); releases before it used ``width_px / 2``, half a pixel away. We follow the current
release (``CENTER_PIXEL_OFFSET``).

What this engine adds, all ignored by ptychodus: a root attribute ``ptycho_studio_metadata`` (the
scan's ``_metadata`` JSON, so an exported scan reads back with everything it had) and an
``object`` attribute ``ptycho_studio_role`` (``ground_truth`` when the object is the scan's
reference object, ``placeholder`` when it only defines the pixel grid). An object without that
attribute is an initial guess: it defines the pixel grid and is never used as a reference.
"""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..data.errors import DataContractError
from ..data.geometry import check_geometry
from .h5util import attr_float, attr_text, check_filters, dataset, open_h5

__all__ = ["ProductIn", "ProductOut", "read_product", "write_product", "atomic_h5_path", "STUDIO_METADATA_ATTR",
           "OBJECT_ROLE_ATTR", "product_geometry_for_canvas"]

STUDIO_METADATA_ATTR = "ptycho_studio_metadata"
OBJECT_ROLE_ATTR = "ptycho_studio_role"
ENERGY_KEYS = ("photon_energy_eV", "probe_energy_eV")  # ptychodus >= 1.7, earlier
#: the object centre sits on pixel (width - 1) / 2 (ptychodus 1.7: "centered-pixel convention")
CENTER_PIXEL_OFFSET = -0.5
#: relative difference tolerated between probe and object pixel sizes (the probe lives on the object grid)
PIXEL_MATCH_RTOL = 1e-6


@dataclass
class ProductIn:
    """What a product file says about a scan, in this engine's units (object pixels)."""

    path: Path
    name: str
    comments: str
    indexes: np.ndarray  # (n,) int64, the pattern each position belongs to
    x_px: np.ndarray  # (n,) float64, object pixels (ptychodus mapping)
    y_px: np.ndarray
    probe: np.ndarray  # (N, N) complex64, the first (OPR, incoherent) mode
    object_shape: tuple[int, int]  # (H, W) of the object grid the positions refer to
    geometry: dict[str, float]  # see data.geometry (origin and pixel size always present)
    photon_count: float | None  # probe_photon_count when > 0
    loss_values: np.ndarray
    object_role: str | None  # 'ground_truth', 'placeholder' or None (an initial guess)
    studio_metadata: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def read_object(self) -> np.ndarray:
        """The (first layer of the) object, read on demand (it may be large)."""
        with open_h5(self.path) as h5:
            ds = dataset(h5, "object", self.path, "a complex object array")
            check_filters(ds, self.path, "object")
            arr = ds[0] if ds.ndim == 3 else ds[()]
        return np.ascontiguousarray(arr, dtype=np.complex64)


def _numeric_1d(h5: Any, key: str, file: Path, kinds: str, what: str) -> np.ndarray:
    ds = dataset(h5, key, file, f"a 1-D {what} dataset")
    check_filters(ds, file, key)
    if ds.ndim != 1 or ds.dtype.kind not in kinds:
        raise DataContractError(file, key, f"a 1-D {what} dataset", f"{ds.dtype} dataset of shape {ds.shape}")
    arr = np.asarray(ds[()])
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise DataContractError(file, key, "finite values", f"{int(np.sum(~np.isfinite(arr)))} NaN or infinite values")
    return arr


def _probe(h5: Any, file: Path, notes: list[str]) -> tuple[np.ndarray, float, float]:
    ds = dataset(h5, "probe", file, "a complex probe [H, W], [modes, H, W] or [opr, modes, H, W]")
    check_filters(ds, file, "probe")
    if ds.dtype.kind != "c" or ds.ndim not in (2, 3, 4) or 0 in ds.shape:
        raise DataContractError(file, "probe", "a complex probe [H, W], [modes, H, W] or [opr, modes, H, W]",
                                f"{ds.dtype} dataset of shape {ds.shape}")
    lead = ds.shape[:-2]
    arr = ds[(0,) * len(lead)] if lead else ds[()]
    if int(np.prod(lead, dtype=np.int64)) > 1:
        notes.append(f"probe: {ds.shape} holds {int(np.prod(lead))} modes; this engine uses the first one "
                     "(a single coherent probe)")
    width = attr_float(ds, "pixel_width_m", file, "probe", default=np.nan)  # NaN: the object's (ptychodus 1.7)
    height = attr_float(ds, "pixel_height_m", file, "probe", default=np.nan)
    return np.ascontiguousarray(arr, dtype=np.complex64), float(width), float(height)


def read_product(path: str | os.PathLike[str]) -> ProductIn:
    """Read and check a product file (everything but the object's pixels); DataContractError
    names the file, the attribute (``@name``) or dataset, what was expected and what was found."""
    file = Path(path)
    notes: list[str] = []
    with open_h5(file) as h5:
        name, comments = (attr_text(h5, key, file) if key in h5.attrs else "" for key in ("name", "comments"))
        energy_key = next((key for key in ENERGY_KEYS if key in h5.attrs), None)
        if energy_key is None:
            raise DataContractError(file, "@photon_energy_eV", "the photon energy in eV (attribute photon_energy_eV, "
                                    "or probe_energy_eV as ptychodus wrote it before 1.7)", "it is missing")
        numbers = {"detector_object_distance_m": attr_float(h5, "detector_object_distance_m", file, ""),
                   "probe_energy_eV": attr_float(h5, energy_key, file, ""),
                   "exposure_time_s": attr_float(h5, "exposure_time_s", file, "", default=0.0)}
        photons = attr_float(h5, "probe_photon_count", file, "", default=0.0)
        studio: dict[str, Any] = {}
        if STUDIO_METADATA_ATTR in h5.attrs:
            try:
                studio = json.loads(attr_text(h5, STUDIO_METADATA_ATTR, file))
            except json.JSONDecodeError as exc:
                notes.append(f"@{STUDIO_METADATA_ATTR}: not JSON ({exc.msg}); ignored")
            if not isinstance(studio, dict):
                studio = {}

        indexes = _numeric_1d(h5, "probe_position_indexes", file, "iu", "integer")
        x_m = _numeric_1d(h5, "probe_position_x_m", file, "fiu", "numeric (metres)")
        y_m = _numeric_1d(h5, "probe_position_y_m", file, "fiu", "numeric (metres)")
        for key, arr in (("probe_position_x_m", x_m), ("probe_position_y_m", y_m)):
            if arr.shape != indexes.shape:
                raise DataContractError(file, key, f"{indexes.shape[0]} positions like probe_position_indexes",
                                        f"{arr.shape[0]} values")
        if indexes.size == 0:
            raise DataContractError(file, "probe_position_indexes", "at least one probe position", "none")

        probe, probe_w, probe_h = _probe(h5, file, notes)

        obj = dataset(h5, "object", file, "a complex object [H, W] or [layers, H, W]")
        if obj.dtype.kind != "c" or obj.ndim not in (2, 3) or 0 in obj.shape:
            raise DataContractError(file, "object", "a complex object [H, W] or [layers, H, W]",
                                    f"{obj.dtype} dataset of shape {obj.shape}")
        layers = obj.shape[0] if obj.ndim == 3 else 1
        height_px, width_px = int(obj.shape[-2]), int(obj.shape[-1])
        cx = attr_float(obj, "center_x_m", file, "object")
        cy = attr_float(obj, "center_y_m", file, "object")
        dx = attr_float(obj, "pixel_width_m", file, "object")
        dy = attr_float(obj, "pixel_height_m", file, "object")
        for key, value in (("pixel_width_m", dx), ("pixel_height_m", dy)):
            if not value > 0:
                raise DataContractError(file, f"object@{key}", "a positive pixel size (m)", repr(value))
        role = obj.attrs.get(OBJECT_ROLE_ATTR)
        role = role.decode() if isinstance(role, bytes) else (str(role) if role is not None else None)
        if "object_layer_spacing_m" in h5:
            spacing = dataset(h5, "object_layer_spacing_m", file, f"a 1-D dataset of {layers - 1} layer spacings")
            if spacing.ndim > 1 or spacing.size != layers - 1:
                raise DataContractError(file, "object_layer_spacing_m", f"{layers - 1} layer spacings for {layers} "
                                        "object layer(s)", f"a dataset of shape {spacing.shape}")
        if layers > 1:
            notes.append(f"object: {layers} layers; this engine reconstructs a single (thin) layer")
        loss_key = "loss_values" if "loss_values" in h5 else ("costs" if "costs" in h5 else None)
        loss = _numeric_1d(h5, loss_key, file, "fiu", "numeric loss") if loss_key else np.zeros(0)

    for key, value in (("pixel_width_m", probe_w), ("pixel_height_m", probe_h)):
        ref = dx if key == "pixel_width_m" else dy
        if not np.isnan(value) and not abs(value - ref) <= PIXEL_MATCH_RTOL * abs(ref):
            raise DataContractError(file, f"probe@{key}", f"the object's pixel size {ref:g} m (this engine "
                                    "puts the probe on the object grid)", f"{value:g} m")
    centre_x, centre_y = width_px / 2 + CENTER_PIXEL_OFFSET, height_px / 2 + CENTER_PIXEL_OFFSET
    geometry: dict[str, float] = {"object_pixel_size_m": dx, "origin_x_m": cx - dx * centre_x,
                                  "origin_y_m": cy - dy * centre_y}
    if abs(dy - dx) > PIXEL_MATCH_RTOL * dx:
        geometry["object_pixel_height_m"] = dy
    for src, dst in (("detector_object_distance_m", "detector_distance_m"), ("probe_energy_eV", "probe_energy_eV"),
                     ("exposure_time_s", "exposure_time_s")):
        if numbers[src] > 0:  # ptychodus writes 0 for "not recorded"
            geometry[dst] = numbers[src]
    x_px = (x_m.astype(np.float64) - cx) / dx + centre_x
    y_px = (y_m.astype(np.float64) - cy) / dy + centre_y
    return ProductIn(path=file, name=name, comments=comments, indexes=indexes.astype(np.int64), x_px=x_px,
                     y_px=y_px, probe=probe, object_shape=(height_px, width_px),
                     geometry=check_geometry(geometry, file), photon_count=photons if photons and photons > 0 else None,
                     loss_values=np.asarray(loss, dtype=np.float64), object_role=role, studio_metadata=studio,
                     notes=notes)


# ----------------------------------------------------------------------------- writing
@dataclass
class ProductOut:
    """Everything a product file holds, ready to write (metres, ptychodus conventions)."""

    name: str
    comments: str
    indexes: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    probe: np.ndarray  # complex [H, W] (or with mode axes)
    pixel_width_m: float
    pixel_height_m: float
    object: np.ndarray  # complex [H, W] or [layers, H, W]
    center_x_m: float
    center_y_m: float
    detector_distance_m: float = 0.0  # 0 = not recorded (ptychodus's own convention)
    probe_energy_eV: float = 0.0  # noqa: N815
    exposure_time_s: float = 0.0
    probe_photon_count: float = 0.0
    loss_values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    object_role: str | None = None
    studio_metadata: dict[str, Any] | None = None


def product_geometry_for_canvas(geometry: dict[str, float], origin_x: float, origin_y: float,
                                shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """(pixel width, pixel height, center_x_m, center_y_m) of an object canvas whose pixel [0, 0]
    sits at object coordinates (origin_x, origin_y), such that ptychodus's mapping of a position
    ``origin_*_m + size * px`` lands on canvas pixel ``px - origin``. Unknown pixel size: 1 m per
    pixel (metres then read as pixels)."""
    dx = float(geometry.get("object_pixel_size_m") or 1.0)
    dy = float(geometry.get("object_pixel_height_m") or dx)
    x0, y0 = float(geometry.get("origin_x_m", 0.0)), float(geometry.get("origin_y_m", 0.0))
    height, width = shape
    return (dx, dy, x0 + dx * (origin_x + width / 2 + CENTER_PIXEL_OFFSET),
            y0 + dy * (origin_y + height / 2 + CENTER_PIXEL_OFFSET))


@contextlib.contextmanager
def atomic_h5_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temp path next to ``path`` for h5py to write; renamed onto ``path`` only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_product(path: str | os.PathLike[str], product: ProductOut) -> Path:
    """Write ``product`` atomically in the layout ptychodus's HDF5 product reader expects."""
    import h5py

    from .atomic import to_jsonable

    obj = np.asarray(product.object, dtype=np.complex64)
    if obj.ndim == 2:
        obj = obj[np.newaxis]
    with atomic_h5_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["name"] = str(product.name)
        h5.attrs["comments"] = str(product.comments)
        h5.attrs["detector_object_distance_m"] = float(product.detector_distance_m)
        for key in ENERGY_KEYS:  # both spellings: ptychodus 1.7 and earlier releases
            h5.attrs[key] = float(product.probe_energy_eV)
        h5.attrs["probe_photon_count"] = float(product.probe_photon_count)
        h5.attrs["exposure_time_s"] = float(product.exposure_time_s)
        h5.attrs["mass_attenuation_m2_kg"] = 0.0  # read (required) by releases before 1.7
        h5.attrs["mass_attenuation_m2_per_kg"] = 0.0
        if product.studio_metadata is not None:
            h5.attrs[STUDIO_METADATA_ATTR] = json.dumps(to_jsonable(product.studio_metadata), allow_nan=False)
        h5.create_dataset("probe_position_indexes", data=np.asarray(product.indexes, dtype=np.int64))
        h5.create_dataset("probe_position_x_m", data=np.asarray(product.x_m, dtype=np.float64))
        h5.create_dataset("probe_position_y_m", data=np.asarray(product.y_m, dtype=np.float64))
        probe = h5.create_dataset("probe", data=np.asarray(product.probe, dtype=np.complex64))
        probe.attrs["pixel_width_m"] = float(product.pixel_width_m)
        probe.attrs["pixel_height_m"] = float(product.pixel_height_m)
        ds = h5.create_dataset("object", data=obj)
        ds.attrs["center_x_m"] = float(product.center_x_m)
        ds.attrs["center_y_m"] = float(product.center_y_m)
        ds.attrs["pixel_width_m"] = float(product.pixel_width_m)
        ds.attrs["pixel_height_m"] = float(product.pixel_height_m)
        if product.object_role is not None:
            ds.attrs[OBJECT_ROLE_ATTR] = product.object_role
        h5.create_dataset("object_layer_spacing_m", data=np.zeros(obj.shape[0] - 1, dtype=np.float64))
        loss = np.asarray(product.loss_values, dtype=np.float64).reshape(-1)
        h5.create_dataset("loss_epochs", data=np.arange(loss.size, dtype=np.int64))
        h5.create_dataset("loss_values", data=loss)
    return Path(path)
