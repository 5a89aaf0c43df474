"""KNN grouping: determinism, neighbourhoods, channel order, oversampling and errors."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from ptycho_engine.data.grouping import group_geometry, group_positions, subsample


@pytest.fixture
def xy():
    return np.random.default_rng(0).uniform(0, 100, (60, 2))


def test_deterministic_for_a_seed(xy):
    a = group_positions(xy, 2, 30, K=6, seed=7)
    b = group_positions(xy, 2, 30, K=6, seed=7)
    c = group_positions(xy, 2, 30, K=6, seed=8)
    assert a.shape == (30, 4) and a.dtype == np.int64
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_members_are_seed_plus_k_nearest(xy):
    K = 5
    groups = group_positions(xy, 2, None, K=K, seed=1)
    assert groups.shape == (60, 4)
    tree = cKDTree(xy)
    _, nn = tree.query(xy, k=K + 1)
    for seed_idx, g in enumerate(groups):                           # n_groups=None: one group per point
        assert seed_idx in g and len(set(g)) == 4
        assert set(g) - {seed_idx} <= set(nn[seed_idx, 1:])


def test_channels_are_row_major(xy):
    groups = group_positions(xy, 2, None, K=6, seed=3)
    p = xy[groups]                                                  # (G, 4, 2)
    assert np.all(p[:, [0, 1], 1].max(axis=1) <= p[:, [2, 3], 1].min(axis=1))   # top row above
    assert np.all(p[:, 0, 0] <= p[:, 1, 0]) and np.all(p[:, 2, 0] <= p[:, 3, 0])  # x sorted in rows


def test_gridsize_one_and_sequential(xy):
    g = group_positions(xy, 1, 10, K=4, seed=0)
    assert g.shape == (10, 1) and np.all(np.diff(g[:, 0]) > 0)
    assert np.array_equal(group_positions(xy, 1, 5, K=4, seed=0, sequential=True)[:, 0], np.arange(5))
    gs = group_positions(xy, 2, 5, K=4, seed=0, sequential=True)
    assert [i in row for i, row in enumerate(gs)] == [True] * 5
    assert np.array_equal(group_positions(xy, 1, None, K=4, seed=0)[:, 0], np.arange(60))


def test_oversampling(xy):
    with pytest.raises(ValueError, match="enable_oversampling"):
        group_positions(xy, 2, 200, K=6, seed=0)
    with pytest.raises(ValueError, match="gridsize > 1"):
        group_positions(xy, 1, 200, K=6, seed=0, enable_oversampling=True)
    g = group_positions(xy, 2, 200, K=6, seed=0, enable_oversampling=True)
    assert g.shape == (200, 4)
    # every position seeds 3 or 4 groups (balanced), so each point is used at least 3 times
    counts = np.bincount(g.ravel(), minlength=60)
    assert counts.min() >= 3
    assert np.array_equal(g, group_positions(xy, 2, 200, K=6, seed=0, enable_oversampling=True))
    with pytest.raises(ValueError, match="distinct groups"):
        group_positions(xy[:5], 2, 1000, K=3, seed=0, enable_oversampling=True)


def test_impossible_requests_raise(xy):
    with pytest.raises(ValueError, match="at least C"):
        group_positions(xy[:3], 2, None, K=6, seed=0)
    with pytest.raises(ValueError, match="too small"):
        group_positions(xy, 3, None, K=4, seed=0)                  # needs C - 1 = 8 neighbours
    with pytest.raises(ValueError, match="n_groups"):
        group_positions(xy, 2, 0, K=6, seed=0)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        group_positions(np.zeros((5, 3)), 1, None, K=4, seed=0)


def test_group_geometry(xy):
    groups = group_positions(xy, 2, 20, K=6, seed=2)
    centres, rel = group_geometry(xy, groups)
    assert centres.shape == (20, 2) and rel.shape == (20, 4, 2)
    np.testing.assert_allclose(rel.sum(axis=1), 0, atol=1e-10)
    np.testing.assert_allclose(centres[:, None, :] + rel, xy[groups])


def test_subsample():
    a = subsample(100, 10, seed=5)
    assert len(a) == 10 and np.all(np.diff(a) > 0)
    assert np.array_equal(a, subsample(100, 10, seed=5))
    assert np.array_equal(subsample(7, None, seed=1), np.arange(7))
    with pytest.raises(ValueError):
        subsample(5, 6, seed=0)
