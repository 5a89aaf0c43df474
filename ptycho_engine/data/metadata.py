"""The ``_metadata`` member: JSON text in a 0-d unicode array, never a pickled object.

The reference stored it as a 0-d *object* array (needs ``allow_pickle=True``, DATA-002). We write
``np.array(json_text)`` (dtype ``<U...``), which loads with ``allow_pickle=False``. Reading a
reference-style pickled ``_metadata`` is refused without unpickling: the scan still loads, with a
warning, and its metadata is treated as absent.
"""
from __future__ import annotations

import json
import math
import os
import warnings as _warnings
from typing import Any

import numpy as np

from .errors import DataContractError, DataContractWarning
from .npz_io import NpzReader

__all__ = [
    "METADATA_KEY",
    "SCHEMA_VERSION",
    "encode_metadata",
    "decode_metadata",
    "read_metadata_from",
    "read_metadata",
    "nphotons_from_metadata",
]

METADATA_KEY = "_metadata"
SCHEMA_VERSION = "1.0"
NPHOTONS_PATH = "_metadata.physics_parameters.nphotons"


def encode_metadata(metadata: dict[str, Any]) -> np.ndarray:
    """JSON text as a 0-d unicode array; adds ``schema_version`` when missing (without mutating)."""
    from ..io.atomic import to_jsonable

    meta = dict(metadata)
    meta.setdefault("schema_version", SCHEMA_VERSION)
    return np.array(json.dumps(to_jsonable(meta), allow_nan=False))


def decode_metadata(arr: np.ndarray, file: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Parse the JSON text held by a 0-d (or 1-element) str/bytes array into a dict."""
    expected = "JSON text of an object, stored as a 0-d unicode array"
    if arr.dtype.kind not in "US" or arr.size != 1:
        raise DataContractError(file, METADATA_KEY, expected, f"{arr.dtype} array of shape {arr.shape}")
    value = arr.reshape(()).item()
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataContractError(file, METADATA_KEY, expected, f"bytes that are not UTF-8 ({exc})") from exc
    try:
        meta = json.loads(value)
    except json.JSONDecodeError as exc:
        snippet = value[:40] + ("..." if len(value) > 40 else "")
        raise DataContractError(file, METADATA_KEY, expected, f"text that is not valid JSON ({exc.msg} at char {exc.pos}: {snippet!r})") from exc
    if not isinstance(meta, dict):
        raise DataContractError(file, METADATA_KEY, expected, f"JSON {type(meta).__name__}")
    return meta


def read_metadata_from(reader: NpzReader, warnings: list[str]) -> dict[str, Any]:
    """Metadata of an open file ({} when absent); top-level NPZ ``nphotons`` is folded in."""
    meta: dict[str, Any] = {}
    if METADATA_KEY in reader:
        header = reader.header(METADATA_KEY)
        if header.dtype.hasobject:
            warnings.append(
                f"{METADATA_KEY}: stored as a pickled object array (reference format, DATA-002); "
                "ignored without unpickling, so nphotons and other metadata are unknown. "
                "Re-save the file with ptycho_engine.data.save_scan to keep them"
            )
        else:
            meta = decode_metadata(reader.read(METADATA_KEY), reader.path)
    if "nphotons" in reader and nphotons_from_metadata(meta, reader.path) is None:
        arr = reader.read("nphotons")
        if arr.size != 1 or arr.dtype.kind not in "fiu":
            raise DataContractError(reader.path, "nphotons", "a numeric scalar", f"{arr.dtype} array of shape {arr.shape}")
        meta.setdefault("physics_parameters", {})["nphotons"] = float(arr.reshape(()).item())
        warnings.append("nphotons: read from a top-level NPZ key (older format); stored under _metadata when re-saved")
    nphotons_from_metadata(meta, reader.path)  # validates the value
    return meta


def nphotons_from_metadata(meta: dict[str, Any], file: str | os.PathLike[str] | None = None) -> float | None:
    """``physics_parameters.nphotons`` (or an older top-level ``nphotons``); None when absent.

    Raises DataContractError when present but not a positive finite number.
    """
    physics = meta.get("physics_parameters")
    value: Any = None
    key = NPHOTONS_PATH
    if isinstance(physics, dict) and physics.get("nphotons") is not None:
        value = physics["nphotons"]
    elif meta.get("nphotons") is not None:
        value, key = meta["nphotons"], "_metadata.nphotons"
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise DataContractError(file, key, "a positive finite number of photons per pattern", repr(value))
    return number


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Cheap metadata read: only ``_metadata`` (and a legacy ``nphotons`` key); {} when absent.

    Never unpickles. A pickled reference-style ``_metadata`` gives {} and a DataContractWarning.
    """
    notes: list[str] = []
    with NpzReader(path) as reader:
        meta = read_metadata_from(reader, notes)
    for note in notes:
        _warnings.warn(f"{path}: {note}", DataContractWarning, stacklevel=2)
    return meta
