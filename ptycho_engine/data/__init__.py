"""Scan data: the NPZ contract (load/save/validate) and, from PHYSICS, grouping of positions."""
from __future__ import annotations

from .contract import (
    DataContractError,
    DataContractWarning,
    ScanData,
    ScanSummary,
    load_scan,
    read_metadata,
    save_scan,
    validate_scan,
)
from .npz_io import read_array_headers

__all__ = [
    "DataContractError",
    "DataContractWarning",
    "ScanData",
    "ScanSummary",
    "load_scan",
    "read_array_headers",
    "read_metadata",
    "save_scan",
    "validate_scan",
]
