"""Several scans used together (a training set): expand folders, and refuse scans that cannot mix.

A run may train on several scans. They must share the pattern size N and the probe shape (the
network sees N x N patterns and the physics multiplies by an N x N probe); they may differ in
probe values, positions and exposure, which the trainer handles per scan.

Public API:
    expand_scan_paths(items, what) -> list[Path]   folders -> their *.npz (sorted), files as given
    scan_geometry(path) -> ScanGeometry | None       N and probe shape from the .npy headers only
    check_compatible(first, other) -> None           DataContractError naming both files and shapes
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .errors import DataContractError

__all__ = ["ScanGeometry", "expand_scan_paths", "scan_geometry", "check_compatible"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class ScanGeometry:
    """What must agree between scans trained together."""

    path: Path
    N: int  # diffraction pattern side
    probe_shape: tuple[int, ...]


def expand_scan_paths(items: PathLike | Iterable[PathLike], what: str = "Training data") -> list[Path]:
    """Files in the given order; a folder stands for every ``*.npz`` directly inside it, sorted by name.

    Raises FileNotFoundError for a missing path or a folder without scans, ValueError for an
    empty list or a scan named twice (training on one scan twice is almost always a mistake).
    """
    if isinstance(items, (str, os.PathLike)):
        items = [items]
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.npz") if p.is_file())
            if not found:
                raise FileNotFoundError(f"{what} folder {path} holds no .npz scans")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"{what} file not found: {path}")
    if not out:
        raise ValueError(f"{what}: no scan given")
    seen: dict[Path, Path] = {}
    for path in out:
        key = path.resolve()
        if key in seen:
            raise ValueError(f"{what}: scan {path} is given twice (also as {seen[key]}); list each scan once")
        seen[key] = path
    return out


def scan_geometry(path: PathLike) -> ScanGeometry | None:
    """N and the probe shape read from the array headers (no data); None when the file cannot tell
    (the data contract reports a broken file properly when it is loaded)."""
    from .npz_io import read_array_headers
    from .validation import is_legacy_hwn

    try:
        headers = read_array_headers(path)
    except Exception:  # noqa: BLE001 - unreadable here means "let the loader explain"
        return None
    diff = headers.get("diffraction") or headers.get("diff3d")
    probe = headers.get("probeGuess")
    if diff is None or probe is None or len(diff.shape) != 3:
        return None
    N = int(diff.shape[0] if is_legacy_hwn(diff.shape) else diff.shape[-1])
    return ScanGeometry(Path(path), N, tuple(int(s) for s in probe.shape))


def check_compatible(first: ScanGeometry, other: ScanGeometry) -> None:
    """Refuse ``other`` when its pattern size or probe shape differs from ``first``'s."""
    if first.N != other.N:
        raise DataContractError(
            other.path, "diffraction", f"{first.N}x{first.N} patterns like the first training scan {first.path}",
            f"{other.N}x{other.N} patterns", hint="scans trained together must share the pattern size N")
    if tuple(first.probe_shape) != tuple(other.probe_shape):
        raise DataContractError(
            other.path, "probeGuess", f"a probe of shape {tuple(first.probe_shape)} like the first training scan "
            f"{first.path}", f"shape {tuple(other.probe_shape)}",
            hint="scans trained together must share the probe shape")
