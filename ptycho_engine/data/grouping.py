"""Neighbour groups of C = gridsize**2 scan positions ("sample then group") and subsampling.

Choices (documented because the reference was ambiguous):
* Seeds: `n_groups` seed points drawn without replacement with `np.random.default_rng(seed)`
  (or the first `n_groups` points when sequential=True); `n_groups=None` = every point once.
  Seeds are kept in ascending index order so groups follow the scan order.
* Group of a seed: the seed ITSELF plus C - 1 points drawn at random (same rng) from its K nearest
  neighbours (self excluded; ties broken by index). Including the seed keeps every group local to
  its seed and makes n_groups=None use every pattern. C == 1: the seed alone.
* Channel order inside a group: row-major like a gridsize x gridsize grid - members sorted by y,
  split into gridsize rows of gridsize, each row sorted by x. Why: the network sees C channels and
  benefits from a consistent spatial meaning per channel (reference: channel c <-> cell (c//g, c%g)).
* Oversampling (n_groups > n points) needs enable_oversampling=True and gridsize > 1: every point
  is a seed ceil(n_groups/n) times (balanced), and repeated seeds get distinct neighbour subsets
  while possible; at most n * comb(K, C-1) distinct groups exist (more -> ValueError).
* K larger than n - 1 is clamped to n - 1.

Public API:
    group_positions(xy, gridsize, n_groups, K, seed, sequential=False, enable_oversampling=False)
        -> np.ndarray (G, C) int64 indices into xy
    group_geometry(xy, indices) -> (centres (G, 2), rel (G, C, 2))   rel = p - centre, [x, y]
    subsample(n_points, n_subsample, seed) -> np.ndarray sorted int64 indices
"""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["group_positions", "group_geometry", "subsample"]


def _check_xy(xy) -> np.ndarray:
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"positions must be an (n, 2) array of [x, y], got shape {xy.shape}")
    if not np.all(np.isfinite(xy)):
        raise ValueError("positions contain NaN or inf")
    return xy


def subsample(n_points: int, n_subsample: int | None, seed: int | None) -> np.ndarray:
    """Sorted indices of `n_subsample` points kept at random (seeded); None = all points."""
    if n_points < 0:
        raise ValueError(f"n_points must be >= 0, got {n_points}")
    if n_subsample is None:
        return np.arange(n_points, dtype=np.int64)
    n_subsample = int(n_subsample)
    if n_subsample < 1 or n_subsample > n_points:
        raise ValueError(f"n_subsample must be in [1, {n_points}] (the number of patterns), "
                         f"got {n_subsample}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_points, size=n_subsample, replace=False)).astype(np.int64)


def _neighbours(xy: np.ndarray, seeds: np.ndarray, K: int) -> np.ndarray:
    """(len(seeds), K) indices of each seed's K nearest other points (self removed, by index)."""
    tree = cKDTree(xy)
    _, nn = tree.query(xy[seeds], k=K + 1)
    nn = np.asarray(nn, dtype=np.int64).reshape(len(seeds), K + 1)
    is_self = nn == seeds[:, None]
    # Drop self where present, otherwise the farthest (a duplicate position displaced self).
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), K)
    keep = np.ones_like(nn, dtype=bool)
    keep[np.arange(len(seeds)), drop] = False
    return nn[keep].reshape(len(seeds), K)


def _order_row_major(xy: np.ndarray, groups: np.ndarray, gridsize: int) -> np.ndarray:
    """Order each group's members like a gridsize x gridsize grid (by y, then x within a row)."""
    G, C = groups.shape
    p = xy[groups]                                                     # (G, C, 2)
    by_y = np.argsort(p[..., 1], axis=1, kind="stable")
    g = np.take_along_axis(groups, by_y, axis=1).reshape(G, gridsize, gridsize)
    px = xy[g][..., 0]                                                  # (G, g, g)
    by_x = np.argsort(px, axis=2, kind="stable")
    return np.take_along_axis(g, by_x, axis=2).reshape(G, C)


def _pick(rng: np.random.Generator, nn: np.ndarray, m: int) -> np.ndarray:
    """For each row choose m of its K neighbours at random, without replacement."""
    keys = rng.random(nn.shape)
    order = np.argsort(keys, axis=1)[:, :m]
    return np.take_along_axis(nn, order, axis=1)


def _fill_unique(seeds: np.ndarray, nn: np.ndarray, others: np.ndarray, m: int) -> np.ndarray:
    """Deterministic fallback: give repeated (seed, subset) rows unused subsets by enumeration."""
    from itertools import combinations

    others = others.copy()
    used: dict[int, set] = {}
    for row, s in enumerate(seeds):
        t = tuple(others[row])
        seen = used.setdefault(int(s), set())
        if t in seen:
            for comb in combinations(sorted(nn[row]), m):
                if comb not in seen:
                    t = comb
                    others[row] = comb
                    break
        seen.add(t)
    return others


def group_positions(xy, gridsize: int, n_groups: int | None, K: int, seed: int | None,
                    sequential: bool = False, enable_oversampling: bool = False) -> np.ndarray:
    """KNN groups of C = gridsize**2 position indices, (G, C) int64 (see module docstring)."""
    xy = _check_xy(xy)
    n = len(xy)
    gridsize = int(gridsize)
    if gridsize < 1:
        raise ValueError(f"gridsize must be >= 1, got {gridsize}")
    C = gridsize * gridsize
    if n < C:
        raise ValueError(f"need at least C = gridsize**2 = {C} positions to form a group, got {n}")
    if n_groups is not None:
        n_groups = int(n_groups)
        if n_groups < 1:
            raise ValueError(f"n_groups must be >= 1 (or None for all points), got {n_groups}")
    G = n if n_groups is None else n_groups
    rng = np.random.default_rng(seed)

    if C == 1:
        if G > n:
            raise ValueError(f"n_groups={G} exceeds the {n} positions; oversampling needs "
                             "gridsize > 1 (at gridsize 1 every group is a single pattern)")
        if n_groups is None or sequential:
            seeds = np.arange(G, dtype=np.int64)
        else:
            seeds = np.sort(rng.choice(n, size=G, replace=False)).astype(np.int64)
        return seeds[:, None]

    K = int(K)
    if K < C - 1:
        raise ValueError(f"neighbor_count K={K} is too small: a group needs C - 1 = {C - 1} "
                         f"neighbours of its seed (gridsize={gridsize})")
    K = min(K, n - 1)

    if G <= n:
        if n_groups is None or sequential:
            seeds = np.arange(G, dtype=np.int64)
        else:
            seeds = np.sort(rng.choice(n, size=G, replace=False)).astype(np.int64)
        others = _pick(rng, _neighbours(xy, seeds, K), C - 1)
    else:
        if not enable_oversampling:
            raise ValueError(f"n_groups={G} exceeds the {n} positions: set enable_oversampling=True "
                             "(gridsize > 1) to draw several neighbour groups per position")
        per_seed = math.comb(K, C - 1)
        if G > n * per_seed:
            raise ValueError(f"n_groups={G} exceeds the {n * per_seed} distinct groups available "
                             f"({n} positions x comb(K={K}, C-1={C - 1}) = {per_seed}); "
                             "raise neighbor_count or lower n_groups")
        reps = -(-G // n)
        seeds = np.concatenate([rng.permutation(n) for _ in range(reps)])[:G]
        seeds = np.sort(seeds).astype(np.int64)
        nn = _neighbours(xy, np.arange(n, dtype=np.int64), K)[seeds]
        others = np.sort(_pick(rng, nn, C - 1), axis=1)
        # Re-draw repeated (seed, subset) pairs until unique (bounded; duplicates are rare).
        for _ in range(100):
            key = np.concatenate([seeds[:, None], others], axis=1)
            _, first = np.unique(key, axis=0, return_index=True)
            dup = np.ones(G, dtype=bool)
            dup[first] = False
            if not dup.any():
                break
            others[dup] = np.sort(_pick(rng, nn[dup], C - 1), axis=1)
        else:
            others = _fill_unique(seeds, nn, others, C - 1)
    groups = np.concatenate([seeds[:, None], others], axis=1)
    return _order_row_major(xy, groups, gridsize)


def group_geometry(xy, indices) -> tuple[np.ndarray, np.ndarray]:
    """Group centres (G, 2) = mean of members and offsets rel (G, C, 2) = p - centre, as [x, y]."""
    xy = _check_xy(xy)
    idx = np.asarray(indices, dtype=np.int64)
    if idx.ndim != 2:
        raise ValueError(f"indices must be (G, C), got shape {idx.shape}")
    p = xy[idx]
    centres = p.mean(axis=1)
    return centres, p - centres[:, None, :]
