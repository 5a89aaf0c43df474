"""Training data: groups of C = gridsize^2 neighbouring patterns, a seeded validation split.

A group item is (diffraction (C, N, N) float32, rel (C, 2) float32 [x, y] offsets from the group
centre, indices (C,) int64 into the scan). Diffraction stays in the scan's array (possibly a
memmap) and is gathered per item, so large scans are not copied.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


@dataclass
class GroupedScan:
    """The scan's patterns grouped for training (indices refer to the full scan)."""

    diffraction: np.ndarray  # (n, N, N)
    positions: np.ndarray  # (n, 2) [x, y]
    groups: np.ndarray  # (G, C) int64
    centres: np.ndarray  # (G, 2)
    rel: np.ndarray  # (G, C, 2)

    @property
    def n_groups(self) -> int:
        return int(self.groups.shape[0])


class GroupDataset(Dataset):
    """The groups ``ids`` of a :class:`GroupedScan` as (diffraction, rel, indices) tensors."""

    def __init__(self, grouped: GroupedScan, ids: np.ndarray) -> None:
        self.grouped = grouped
        self.ids = np.asarray(ids, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g = self.ids[i]
        idx = self.grouped.groups[g]
        x = np.asarray(self.grouped.diffraction[np.sort(idx)], dtype=np.float32)
        x = x[np.argsort(np.argsort(idx))]  # sorted read (memmap-friendly), original channel order
        return (torch.from_numpy(np.ascontiguousarray(x)),
                torch.from_numpy(self.grouped.rel[g].astype(np.float32)),
                torch.from_numpy(idx.astype(np.int64)))

    def pattern_indices(self) -> np.ndarray:
        """Unique scan indices used by these groups (for statistics such as the input scale)."""
        return np.unique(self.grouped.groups[self.ids])


def build_groups(scan: Any, cfg: Any) -> GroupedScan:
    """Subsample (``n_subsample``, ``subsample_seed``) then group (``n_groups``, ``neighbor_count``).

    ``cfg`` is the canonical TrainingConfig (or anything with those attributes and ``.model``).
    """
    from ..data.grouping import group_geometry, group_positions, subsample

    gridsize = int(cfg.model.gridsize)
    positions = np.stack([np.asarray(scan.xcoords, np.float64), np.asarray(scan.ycoords, np.float64)], axis=1)
    n = positions.shape[0]
    n_subsample = getattr(cfg, "n_subsample", None)
    keep = subsample(n, min(int(n_subsample), n) if n_subsample is not None else None,
                     getattr(cfg, "subsample_seed", None))
    seed = getattr(cfg, "subsample_seed", None)
    if seed is None:
        seed = getattr(cfg, "seed", 42)
    n_groups = getattr(cfg, "n_groups", None)
    local = group_positions(positions[keep], gridsize, int(n_groups) if n_groups is not None else None,
                            int(getattr(cfg, "neighbor_count", 4)), seed,
                            sequential=bool(getattr(cfg, "sequential_sampling", False)),
                            enable_oversampling=bool(getattr(cfg, "enable_oversampling", False)))
    groups = keep[np.asarray(local, dtype=np.int64)].reshape(-1, gridsize * gridsize)
    centres, rel = group_geometry(positions, groups)
    return GroupedScan(diffraction=scan.diffraction, positions=positions, groups=groups,
                       centres=np.asarray(centres, np.float64), rel=np.asarray(rel, np.float64))


def split_groups(n_groups: int, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of group ids into (train, val); val is empty when the fraction is 0.

    At least one group stays in each part when the fraction is > 0 and there are >= 2 groups.
    """
    ids = np.random.default_rng(seed).permutation(n_groups)
    n_val = int(round(validation_fraction * n_groups))
    if validation_fraction > 0 and n_groups >= 2:
        n_val = min(max(n_val, 1), n_groups - 1)
    else:
        n_val = 0
    return np.sort(ids[n_val:]), np.sort(ids[:n_val])


class EpochShuffleSampler(Sampler[int]):
    """A shuffled order that depends only on (seed, epoch), not on how many epochs this process ran.

    Lightning calls ``set_epoch`` with the epoch number before every epoch, including after a
    resume from a checkpoint; so a run interrupted and resumed sees exactly the data order of an
    uninterrupted one (a seeded ``RandomSampler`` would restart its sequence at epoch 1's order).
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = int(n)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % (2**63 - 1))
        return iter(torch.randperm(self.n, generator=gen).tolist())


def make_loader(ds: Dataset, batch_size: int, shuffle: bool, num_workers: int, seed: int,
                pin_memory: bool = False) -> DataLoader:
    """A DataLoader; worker processes only when asked (0 by default: no fork from a GUI thread).

    ``shuffle``: an :class:`EpochShuffleSampler` (order set by seed and epoch: resumable).
    pin_memory: page-locked batches, so the copy to a CUDA device can overlap the computation
    (Lightning and ``inference.predict`` then copy with ``non_blocking=True``); only for CUDA.
    """
    gen = torch.Generator().manual_seed(int(seed))
    sampler = EpochShuffleSampler(len(ds), int(seed)) if shuffle else None  # type: ignore[arg-type]
    return DataLoader(ds, batch_size=int(batch_size), shuffle=False if sampler is not None else shuffle,
                      sampler=sampler, num_workers=int(num_workers), generator=gen,
                      persistent_workers=int(num_workers) > 0, drop_last=False, pin_memory=bool(pin_memory))


def wants_pinned_memory(device: str | torch.device) -> bool:
    """Pinned host batches pay off only for copies to a CUDA device (and need one to exist)."""
    name = str(device)
    if name == "gpu":  # Lightning's alias
        name = "cuda"
    try:
        kind = torch.device(name).type
    except RuntimeError:  # 'auto' or anything torch does not know: no pinning
        return False
    return kind == "cuda" and torch.cuda.is_available()
