"""Writing a reconstruction out in the format the user picked (plain Python except PNG).

Formats: PNG (the views as shown, with axes and colour bars — drawn by the panels), TIFF
(float32 amplitude and phase, one file each), NPY (the complex object), NPZ (object, amplitude,
phase). Every writer raises ``OSError`` with the path on failure, so the caller can show it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

FORMATS = {
    "png": "PNG images as shown, with colour bars (*.png)",
    "tif": "TIFF float32 data: amplitude and phase (*.tif *.tiff)",
    "npy": "NumPy complex object (*.npy)",
    "npz": "NumPy archive: object, amplitude, phase (*.npz)",
}


def format_of(path: Path, name_filter: str = "") -> str:
    """The format from the chosen filter, else from the file's suffix (PNG when unknown)."""
    for key, text in FORMATS.items():
        if name_filter and name_filter == text:
            return key
    suffix = path.suffix.lower().lstrip(".")
    return {"tiff": "tif"}.get(suffix, suffix) if suffix in ("png", "tif", "tiff", "npy", "npz") else "png"


def targets(path: Path, fmt: str) -> list[Path]:
    """The files an export to ``path`` writes (two images for PNG and TIFF, one file otherwise)."""
    suffix = {"png": ".png", "tif": ".tif", "npy": ".npy", "npz": ".npz"}[fmt]
    stem = path.with_suffix("") if path.suffix.lower() in (".png", ".tif", ".tiff", ".npy", ".npz") else path
    if fmt in ("png", "tif"):
        return [stem.with_name(f"{stem.name}_amplitude{suffix}"), stem.with_name(f"{stem.name}_phase{suffix}")]
    return [stem.with_name(stem.name + suffix)]


def write_data(path: Path, fmt: str, obj: np.ndarray | None, amplitude: np.ndarray,
               phase: np.ndarray) -> list[Path]:
    """TIFF / NPY / NPZ export of the arrays; returns the files written."""
    files = targets(path, fmt)
    if obj is None:
        obj = (np.asarray(amplitude) * np.exp(1j * np.asarray(phase))).astype(np.complex64)
    if fmt == "tif":
        try:
            import tifffile
        except ModuleNotFoundError as exc:
            raise OSError("TIFF export needs the 'tifffile' package (pip install tifffile)") from exc
        tifffile.imwrite(files[0], np.asarray(amplitude, np.float32))
        tifffile.imwrite(files[1], np.asarray(phase, np.float32))
    elif fmt == "npy":
        np.save(files[0], np.asarray(obj, np.complex64))
    elif fmt == "npz":
        np.savez_compressed(files[0], object=np.asarray(obj, np.complex64),
                            amplitude=np.asarray(amplitude, np.float32), phase=np.asarray(phase, np.float32))
    else:
        raise ValueError(f"not a data format: {fmt}")
    return files
