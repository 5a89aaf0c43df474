"""Write a contract NPZ whose diffraction stack arrives chunk by chunk (never whole in memory).

Every non-NPZ scan source (ptychodus folder or product, beamline HDF5) is converted into such a
file once. Members are stored uncompressed (``ZIP_STORED``): the contract's reader then
memory-maps the diffraction in place for large scans instead of copying it again. The small
arrays are validated by the contract before the first byte is written, each diffraction chunk as
it arrives; the file goes to a temp name and is renamed only when complete, so a failure (bad
chunk, cancel, full disk) leaves nothing behind.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..data.errors import DataContractError
from ..data.metadata import METADATA_KEY, encode_metadata
from ..data.validation import check_diffraction
from .atomic import atomic_writer

__all__ = ["write_streamed_scan"]


def _write_member(zf: zipfile.ZipFile, key: str, arr: np.ndarray) -> None:
    with zf.open(f"{key}.npy", "w", force_zip64=True) as w:
        np.lib.format.write_array(w, np.asarray(arr), allow_pickle=False)


def write_streamed_scan(target: str | os.PathLike[str], n: int, N: int,  # noqa: N803
                        chunks: Iterable[np.ndarray], arrays: dict[str, np.ndarray],
                        metadata: dict[str, Any], source: str | os.PathLike[str] | None = None) -> Path:
    """Write ``target``: ``diffraction`` (n, N, N) float32 amplitude from ``chunks`` (each (k, N, N),
    in order, k summing to n), then ``arrays`` (probeGuess, xcoords, ... already validated by the
    caller) and ``metadata``. ``source`` names the original file in error messages."""
    path = Path(target)
    where = source if source is not None else path
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False,
              "shape": (int(n), int(N), int(N))}
    with atomic_writer(path, "wb") as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            with zf.open("diffraction.npy", "w", force_zip64=True) as w:
                np.lib.format.write_array_header_2_0(w, header)
                done = 0
                for chunk in chunks:
                    block = np.ascontiguousarray(chunk, dtype="<f4")
                    if block.ndim != 3 or block.shape[1:] != (N, N) or done + block.shape[0] > n:
                        raise DataContractError(where, "diffraction", f"({n}, {N}, {N}) patterns",
                                                f"a chunk of shape {block.shape} after {done} patterns")
                    # element-wise checks (finite, >= 0, <= the physical maximum) on a (k*N*N, 1, 1) view
                    check_diffraction(block.reshape(-1, 1, 1), where, "diffraction", [], allow_counts=False)
                    w.write(memoryview(block).cast("B"))
                    done += block.shape[0]
                if done != n:
                    raise DataContractError(where, "diffraction", f"{n} patterns", f"{done} patterns")
            for key, arr in arrays.items():
                _write_member(zf, key, arr)
            _write_member(zf, METADATA_KEY, encode_metadata(metadata))
    return path
