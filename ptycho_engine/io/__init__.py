"""File output helpers shared by the whole engine: atomic writes and PNG images.

Everything that writes a result file goes through :mod:`ptycho_engine.io.atomic`, so a crash or
a cancel never leaves a half-written file where a reader (the GUI, a resumed run) would find it.
"""
from __future__ import annotations

from .atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, atomic_writer, to_jsonable

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "atomic_writer",
    "to_jsonable",
]
