"""An allow-list unpickler for the reference implementation's ``.dill`` archive members.

Why: the reference (PtychoPINN, TensorFlow backend) stores its manifest and params dict with
``dill.dump``; a pickle can run any callable it names. Here only plain data (dicts, lists,
numbers, strings, bytes) and numpy arrays / dtypes / scalars can be rebuilt; every other global
is refused with :class:`UnsafePickleError` before anything is called. Two reference wrappers
are replaced by inert stand-ins that only accept numpy arrays:

* ``dill._dill._create_array(f, args, state, npdict)``: dill's numpy array reconstruction;
  ``f`` must be numpy's own ``_reconstruct`` and ``npdict`` empty.
* ``tensorflow.python.framework.ops.convert_to_tensor(array)``: how the reference pickles its
  probe tensor; here the identity on a numpy array (TensorFlow is never imported).

Object-dtype arrays are refused (they would carry arbitrary pickled objects).
"""
from __future__ import annotations

import io
import pickle
from typing import Any, Callable

import numpy as np

from ..archive import ArchiveError


class UnsafePickleError(ArchiveError):
    """A pickle names a global outside the allow-list, or is not a plain-data pickle."""


def _np_reconstruct() -> Callable[..., Any]:
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return _reconstruct


def _np_scalar() -> Callable[..., Any]:
    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    return scalar


class _Refuse(Exception):
    """Raised inside a stand-in; turned into UnsafePickleError with the file's name."""


def _checked_dtype(*args: Any) -> np.dtype:
    dt = np.dtype(*args)
    if dt.hasobject:
        raise _Refuse(f"numpy dtype {dt!r} holds Python objects")
    return dt


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise _Refuse(f"array subtype {subtype!r} (only numpy.ndarray)")
    if np.dtype(dtype).hasobject:
        raise _Refuse("an object-dtype array")
    return _np_reconstruct()(subtype, shape, dtype)


def _scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise _Refuse(f"a numpy scalar of dtype {dtype!r}")
    return _np_scalar()(dtype, data) if data is not None else _np_scalar()(dtype)


def _create_array(f: Any, args: Any, state: Any, npdict: Any = None) -> np.ndarray:
    if f is not _reconstruct:
        raise _Refuse(f"dill _create_array with constructor {f!r} (only numpy's _reconstruct)")
    if npdict:
        raise _Refuse("dill _create_array with an instance __dict__")
    array = f(*args)
    array.__setstate__(state)
    return array


def _convert_to_tensor(value: Any, *args: Any, **kwargs: Any) -> np.ndarray:
    if not isinstance(value, np.ndarray) or args or kwargs:
        raise _Refuse(f"convert_to_tensor of {type(value).__name__} (only of one numpy array)")
    return value


#: (module, name) -> the callable rebuilt in its place
ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _checked_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("dill._dill", "_create_array"): _create_array,
    ("tensorflow.python.framework.ops", "convert_to_tensor"): _convert_to_tensor,
}


class _AllowListUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, where: str) -> None:
        super().__init__(io.BytesIO(data))
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        fn = ALLOWED.get((module, name))
        if fn is None:
            raise UnsafePickleError(f"{self.where}: refuses to unpickle the global '{module}.{name}'; expected only "
                                    "plain data and numpy arrays (nothing that runs code)")
        return fn

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.where}: persistent ids are not plain data (found {pid!r:.60})")


def safe_loads(data: bytes, where: str) -> Any:
    """The plain-data object pickled in ``data``; ``where`` names the file/member in errors."""
    try:
        return _AllowListUnpickler(data, where).load()
    except UnsafePickleError:
        raise
    except _Refuse as exc:
        raise UnsafePickleError(f"{where}: refuses to unpickle {exc}; expected only plain numpy arrays") from exc
    except RecursionError as exc:
        raise UnsafePickleError(f"{where}: nested too deeply to be a plain-data pickle") from exc
    except Exception as exc:  # truncated or malformed pickles
        raise ArchiveError(f"{where}: not a readable pickle ({type(exc).__name__}: {exc})") from exc
