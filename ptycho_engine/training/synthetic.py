"""Synthetic training data: varied objects simulated through the user's probe, one object at a time.

Each object is a small complex specimen (``simulate.objects``: the families cycle through
``kinds``; amplitude contrast amp_min and phase range phase_max are drawn per object, the phase an
independent pattern of a randomly chosen family), scanned on a jittered raster with the user's
step, and only the patterns its groups use are simulated with the simulator's forward model and
Poisson noise at the user's photon count.

Seeding: object i of epoch e comes from ``SeedSequence(seed, spawn_key=(0, e, i))``, the shuffle
of epoch e from ``(2, e)``, reference (validation) object j from ``(1, j)``. So a run is
deterministic for a seed, epoch e is the same stream whether or not the run was resumed before
it, and the reference objects are never training objects.

Memory: the stream holds at most ``shuffle_objects`` objects' groups (a shuffle buffer) plus the
object being simulated; objects are generated on the fly and dropped.

Units: like a scan of a multi-scan run, each object is normalised by its own statistics,
x' = x a_obj / a_ref (a_ref: the input scale of the pooled reference objects). With c_obj =
nphotons / E_obj from the same patterns, the counts scale in those units is the same for every
object, c_ref = nphotons a_ref^2 / (N/2)^2, so items stay plain (x', rel, indices) and the model's
own probe (the user's) and counts scale serve every item.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from .data import GroupedScan

TRAIN_STREAM, REFERENCE_STREAM, SHUFFLE_STREAM = 0, 1, 2
AMP_MIN_RANGE = (0.1, 0.95)  # from strong absorption contrast to an almost pure phase object
PHASE_MAX_RANGE = (0.1, math.pi / 2)  # phase spans [-phase_max, phase_max] rad
Item = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class SyntheticSetup:
    """Everything one simulated object scan depends on (besides its seed key)."""

    probe: np.ndarray  # (N, N) complex64, the user's
    N: int
    nphotons: float
    step: float
    object_size: int
    kinds: tuple[str, ...]
    groups_per_object: int
    gridsize: int
    neighbor_count: int
    seed: int


def estimate_step(positions: np.ndarray) -> float:
    """The scan step of a scan: the median distance from each position to its nearest neighbour."""
    from scipy.spatial import cKDTree

    xy = np.asarray(positions, dtype=np.float64)
    if len(xy) < 2:
        raise ValueError("cannot estimate the scan step from fewer than 2 positions; give the step explicitly")
    dist, _ = cKDTree(xy).query(xy, k=2)
    step = float(np.median(dist[:, 1]))
    if not step > 0:
        raise ValueError("the scan's positions coincide (median nearest-neighbour distance 0); give the step explicitly")
    return step


def default_object_size(N: int) -> int:
    """Object side: the probe's patch plus room for a few steps either way."""
    return max(160, 2 * int(N) + 32)


def positions_per_object(setup: SyntheticSetup) -> int:
    """Raster positions on one object (the count does not depend on the jitter)."""
    from ..simulate.scans import raster_scan

    shape = (setup.object_size, setup.object_size)
    return len(raster_scan(shape, setup.N, setup.step, np.random.default_rng(0)))


def check_setup(setup: SyntheticSetup) -> int:
    """Refuse a geometry that cannot give ``groups_per_object`` groups; returns positions per object."""
    try:
        n = positions_per_object(setup)
    except ValueError as exc:
        raise ValueError(f"object_size {setup.object_size}: {exc}; raise object_size") from exc
    C = setup.gridsize ** 2
    if setup.groups_per_object > n or C > n:
        raise ValueError(f"groups_per_object {setup.groups_per_object} (groups of C={C}) needs more than the {n} scan "
                         f"positions a {setup.object_size} px object holds at step {setup.step:.3g} px; lower "
                         "groups_per_object or raise object_size")
    return n


@dataclass
class SimulatedObject:
    """One simulated object scan, grouped; diffraction holds only the patterns its groups use."""

    kind: str
    phase_kind: str
    amp_min: float
    phase_max: float
    grouped: GroupedScan
    input_scale: float  # a_obj, from its patterns


def simulate_object(setup: SyntheticSetup, key: tuple[int, ...]) -> SimulatedObject:
    """The object scan with seed key ``key`` (its last entry is the object index: it picks the family)."""
    from ..data.grouping import group_geometry, group_positions
    from ..model.pinn import input_scale_from_data
    from ..physics.forward import photon_scale, poisson_amplitude
    from ..simulate.objects import make_object
    from ..simulate.scans import raster_scan
    from ..simulate.simulator import forward_patterns

    rng = np.random.default_rng(np.random.SeedSequence(int(setup.seed), spawn_key=tuple(int(k) for k in key)))
    kind = setup.kinds[int(key[-1]) % len(setup.kinds)]
    phase_kind = setup.kinds[int(rng.integers(len(setup.kinds)))]
    amp_min = float(rng.uniform(*AMP_MIN_RANGE))
    phase_max = float(rng.uniform(*PHASE_MAX_RANGE))
    size = setup.object_size
    obj = make_object(kind, size, rng, phase="independent", amp_min=amp_min, phase_max=phase_max,
                      phase_kind=phase_kind)
    positions = raster_scan((size, size), setup.N, setup.step, rng)
    groups = group_positions(positions, setup.gridsize, setup.groups_per_object, setup.neighbor_count,
                             int(rng.integers(2 ** 32)))
    used = np.unique(groups)
    A = forward_patterns(obj, setup.probe, positions[used])
    s = photon_scale(A, setup.nphotons)
    noise = torch.Generator().manual_seed(int(rng.integers(2 ** 63 - 1)))
    X = poisson_amplitude(torch.from_numpy(A), s, noise).numpy().astype(np.float32)
    centres, rel = group_geometry(positions, groups)
    grouped = GroupedScan(diffraction=X, positions=positions[used], groups=np.searchsorted(used, groups),
                          centres=np.asarray(centres, np.float64), rel=np.asarray(rel, np.float64))
    return SimulatedObject(kind=kind, phase_kind=phase_kind, amp_min=amp_min, phase_max=phase_max,
                           grouped=grouped, input_scale=input_scale_from_data(X, setup.N))


def object_items(sim: SimulatedObject, reference_scale: float) -> list[Item]:
    """The object's groups as (x', rel, indices), amplitudes in reference units (x a_obj / a_ref)."""
    g = sim.grouped
    factor = np.float32(sim.input_scale / reference_scale)
    return [(torch.from_numpy(np.ascontiguousarray(g.diffraction[g.groups[i]] * factor)),
             torch.from_numpy(g.rel[i].astype(np.float32)), torch.from_numpy(g.groups[i].astype(np.int64)))
            for i in range(g.n_groups)]


def normalised(sim: SimulatedObject, reference_scale: float) -> GroupedScan:
    """The object's grouped scan with amplitudes in reference units (for previews)."""
    g = sim.grouped
    factor = np.float32(sim.input_scale / reference_scale)
    return GroupedScan(diffraction=g.diffraction * factor, positions=g.positions, groups=g.groups,
                       centres=g.centres, rel=g.rel)


class ReferenceSet(Dataset):
    """A fixed set of synthetic objects (never training objects): the units, calibration, preview
    and, when asked, the validation loss of a pretraining run."""

    def __init__(self, setup: SyntheticSetup, n_objects: int) -> None:
        from ..model.pinn import input_scale_from_data

        self.objects = [simulate_object(setup, (REFERENCE_STREAM, j)) for j in range(max(1, int(n_objects)))]
        pooled = np.concatenate([o.grouped.diffraction for o in self.objects])
        self.input_scale = input_scale_from_data(pooled, setup.N)  # a_ref
        self.counts_scale = float(setup.nphotons) * self.input_scale ** 2 / (setup.N / 2) ** 2  # c_ref
        self.items = [item for o in self.objects for item in object_items(o, self.input_scale)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Item:
        return self.items[i]


class SyntheticGroupStream(IterableDataset):
    """``n_objects`` new objects per epoch, their groups shuffled in a bounded buffer.

    Call :meth:`set_epoch` before each epoch (a Lightning callback does); ``len()`` is the number
    of groups per epoch. ``objects_generated``, ``kinds_generated`` and ``peak_buffered_groups``
    record what the stream did (the buffer never holds more than ``shuffle_objects`` objects' groups).
    """

    def __init__(self, setup: SyntheticSetup, reference_scale: float, n_objects: int, shuffle_objects: int) -> None:
        self.setup = setup
        self.reference_scale = float(reference_scale)
        self.n_objects = int(n_objects)
        self.buffer_limit = max(1, int(shuffle_objects)) * setup.groups_per_object
        self.epoch = 0
        self.objects_generated = 0
        self.kinds_generated: Counter[str] = Counter()
        self.peak_buffered_groups = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n_objects * self.setup.groups_per_object

    def __iter__(self) -> Iterator[Item]:
        epoch = self.epoch
        rng = np.random.default_rng(np.random.SeedSequence(int(self.setup.seed), spawn_key=(SHUFFLE_STREAM, epoch)))
        buffer: list[Item] = []
        room = self.setup.groups_per_object  # keep space for the next object's groups
        for i in range(self.n_objects):
            sim = simulate_object(self.setup, (TRAIN_STREAM, epoch, i))
            self.objects_generated += 1
            self.kinds_generated[sim.kind] += 1
            buffer.extend(object_items(sim, self.reference_scale))
            del sim
            self.peak_buffered_groups = max(self.peak_buffered_groups, len(buffer))
            last = i == self.n_objects - 1
            while buffer and (last or len(buffer) > self.buffer_limit - room):
                j = int(rng.integers(len(buffer)))
                buffer[j], buffer[-1] = buffer[-1], buffer[j]
                yield buffer.pop()
