"""Object-pixel coordinates with their physical length beside them.

Why: an operator thinks in µm, the engine in pixels; where the scan records its object pixel
size (geometry.object_pixel_size_m) both are shown, elsewhere pixels only.
"""
from __future__ import annotations

from typing import Any

UNITS = (("nm", 1e-9), ("µm", 1e-6), ("mm", 1e-3))


def pixel_size_of(summary: Any) -> float | None:
    """The object pixel width in metres when the scan's geometry gives it (None: pixels only)."""
    geometry = getattr(summary, "geometry", None)
    if not geometry:
        return None
    try:
        from ptycho_engine.data.geometry import pixel_size_yx

        size = pixel_size_yx(geometry)
    except Exception:  # noqa: BLE001 - units are a nicety; pixels always work
        return None
    return float(size[1]) if size else None


def _unit(metres: float) -> tuple[str, float]:
    for unit, scale in UNITS:
        if abs(metres) < 1000 * scale:
            return unit, scale
    return "m", 1.0


def _pair_text(a: float, b: float, size_m: float | None, px_template: str, unit_template: str) -> str:
    """The pair in px (``px_template``), then in the fitting physical unit when the pixel size is known."""
    text = px_template.format(f"{a:.1f}", f"{b:.1f}") + " px"
    if not size_m:
        return text
    unit, scale = _unit(max(abs(a), abs(b)) * size_m)
    return f"{text} ({unit_template.format(f'{a * size_m / scale:.3g}', f'{b * size_m / scale:.3g}')} {unit})"


def range_text(lo: float, hi: float, size_m: float | None) -> str:
    """'33.5 … 80.3 px (1.2 … 2.9 µm)'; pixels only without a pixel size."""
    return _pair_text(lo, hi, size_m, "{} … {}", "{} … {}")


def point_text(x: float, y: float, size_m: float | None) -> str:
    """'x 12.0, y 40.0 px (0.14, 0.48 µm)'; pixels only without a pixel size."""
    return _pair_text(x, y, size_m, "x {}, y {}", "{}, {}")
