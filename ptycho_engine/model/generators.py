"""The registry of generators (the network that maps a group's patterns to its object patches).

A new generator is one module plus one entry here: a class taking
``(N, gridsize, n_filters_scale, amp_activation, pad_object, probe_big, steps=...)`` whose
``forward(x_normalised)`` returns (amplitude, phase) patches, optionally with a
``refine(obj, measured, rel, probe, support, gridsize)`` method that PtychoPINN calls after it.

* ``cnn``      - the reference's skip-less CNN (archives made before the registry are this one)
* ``unrolled`` - the CNN plus learned-step physics updates on the group's own patterns (default)
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ..config.canonical import DEFAULT_GENERATOR, DEFAULT_UNROLL_STEPS
from .network import Generator
from .unrolled import UnrolledGenerator

GENERATORS: dict[str, type[nn.Module]] = {"cnn": Generator, "unrolled": UnrolledGenerator}
#: what an archive without a ``generator`` entry was trained with
LEGACY_GENERATOR = "cnn"
__all__ = ["GENERATORS", "LEGACY_GENERATOR", "DEFAULT_GENERATOR", "DEFAULT_UNROLL_STEPS", "build_generator"]


def build_generator(name: str, *, unroll_steps: int = DEFAULT_UNROLL_STEPS, **arch: Any) -> nn.Module:
    """The generator ``name`` built with the architecture fields ``arch``."""
    if name not in GENERATORS:
        raise ValueError(f"generator: expected one of {sorted(GENERATORS)}, got {name!r}")
    cls = GENERATORS[name]
    if cls is UnrolledGenerator:
        return cls(**arch, steps=int(unroll_steps))
    return cls(**arch)
