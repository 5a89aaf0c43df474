"""Physical geometry of a scan: optional metadata that turns object pixels into metres.

A scan works in pixels of the object grid (positions, probe, object). When its file says how big
those pixels are, and with what beam and detector they were measured, the numbers are kept in
``_metadata["geometry"]`` and follow the scan through training (archive extras), inference
(``reconstruction.npz``, ``inference_config.json``, ``product-out.h5``) and the GUI. Every key is
optional; a scan without them keeps working in pixels.

Keys (all finite numbers; sizes, distances and times > 0):

=========================  ====  ==============================================================
``object_pixel_size_m``    m     width of one object pixel (the probe is on the same grid)
``object_pixel_height_m``  m     only when the pixels are not square (ptychodus stores both)
``probe_energy_eV``        eV    photon energy
``detector_distance_m``    m     sample-detector distance
``detector_pixel_size_m``  m     detector pixel pitch
``exposure_time_s``        s     exposure per pattern
``origin_x_m``             m     lab x of object pixel column 0 (x_m = origin_x_m + size * x_px)
``origin_y_m``             m     lab y of object pixel row 0
=========================  ====  ==============================================================

The far-field relation ``object_pixel = wavelength * distance / (N * detector_pixel)`` links the
first four: :func:`complete_geometry` fills in one missing value from the others.
"""
from __future__ import annotations

import math
import os
from typing import Any, Mapping

from .errors import DataContractError

__all__ = ["GEOMETRY_KEY", "GEOMETRY_FIELDS", "check_geometry", "complete_geometry", "geometry_of",
           "pixel_size_yx", "wavelength_m"]

GEOMETRY_KEY = "geometry"
#: key -> (unit, may be zero or negative)
GEOMETRY_FIELDS: dict[str, tuple[str, bool]] = {
    "object_pixel_size_m": ("m", False),
    "object_pixel_height_m": ("m", False),
    "probe_energy_eV": ("eV", False),
    "detector_distance_m": ("m", False),
    "detector_pixel_size_m": ("m", False),
    "exposure_time_s": ("s", False),
    "origin_x_m": ("m", True),
    "origin_y_m": ("m", True),
}
#: h * c in eV * m (CODATA exact)
HC_EV_M = 1.239841984e-6


def check_geometry(geometry: Any, file: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """The validated geometry dict (floats only, known keys only); DataContractError otherwise."""
    where = f"_metadata.{GEOMETRY_KEY}"
    if geometry is None:
        return {}
    if not isinstance(geometry, Mapping):
        raise DataContractError(file, where, "an object of named physical quantities", type(geometry).__name__)
    out: dict[str, float] = {}
    for key, value in geometry.items():
        if key not in GEOMETRY_FIELDS:
            raise DataContractError(file, f"{where}.{key}", f"one of {sorted(GEOMETRY_FIELDS)}",
                                    "an unknown geometry key")
        if value is None:
            continue
        unit, signed = GEOMETRY_FIELDS[key]
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number) or (not signed and number <= 0):
            what = "a finite number" if signed else "a positive finite number"
            raise DataContractError(file, f"{where}.{key}", f"{what} ({unit})", repr(value))
        out[key] = number
    return out


def geometry_of(metadata: Mapping[str, Any] | None, file: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """The scan's geometry from its metadata ({} when it has none)."""
    if not metadata:
        return {}
    return check_geometry(metadata.get(GEOMETRY_KEY), file)


def wavelength_m(energy_eV: float) -> float:  # noqa: N803 - the unit is part of the name
    """Photon wavelength in metres for an energy in eV."""
    return HC_EV_M / energy_eV


def complete_geometry(geometry: Mapping[str, float], N: int) -> dict[str, float]:  # noqa: N803
    """A copy with the object or detector pixel size derived from the far-field relation when the
    other three of (energy, distance, detector pixel, object pixel) are known."""
    g = dict(geometry)
    energy, dist = g.get("probe_energy_eV"), g.get("detector_distance_m")
    if energy and dist and N > 0:
        lz = wavelength_m(energy) * dist
        if "object_pixel_size_m" not in g and g.get("detector_pixel_size_m"):
            g["object_pixel_size_m"] = lz / (N * g["detector_pixel_size_m"])
        elif "detector_pixel_size_m" not in g and g.get("object_pixel_size_m"):
            g["detector_pixel_size_m"] = lz / (N * g["object_pixel_size_m"])
    return g


def pixel_size_yx(geometry: Mapping[str, float]) -> tuple[float, float] | None:
    """(pixel height, pixel width) in metres, or None when the object pixel size is unknown."""
    width = geometry.get("object_pixel_size_m")
    if not width:
        return None
    return float(geometry.get("object_pixel_height_m") or width), float(width)
