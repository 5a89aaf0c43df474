"""Objects, probes, scans and the bundled demo files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ptycho_engine.data.contract import load_scan
from ptycho_engine.simulate.demo import DEMO_SPECS
from ptycho_engine.simulate.objects import grf_pattern, lines_pattern, make_object
from ptycho_engine.simulate.probes import disk_probe, focused_probe
from ptycho_engine.simulate.scans import fermat_scan, min_buffer, raster_scan, random_scan

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def test_patterns_are_normalised_and_seeded():
    for fn in (lines_pattern, grf_pattern):
        a = fn(48, np.random.default_rng(0))
        b = fn(48, np.random.default_rng(0))
        assert a.shape == (48, 48) and a.min() == 0.0 and a.max() == 1.0
        assert np.array_equal(a, b)
        assert not np.array_equal(a, fn(48, np.random.default_rng(1)))


def test_object_phase_modes():
    rng = np.random.default_rng
    derived = make_object("lines", 40, rng(0), phase="derived")
    amp = np.abs(derived)
    # derived phase is a monotone function of the amplitude: phase = 2 a - 1 with a = (amp - .2) / .8
    np.testing.assert_allclose(np.angle(derived), 2 * (amp - 0.2) / 0.8 - 1, atol=1e-5)
    indep = make_object("lines", 40, rng(0), phase="independent")
    assert abs(np.corrcoef(np.abs(indep).ravel(), np.angle(indep).ravel())[0, 1]) < 0.9
    assert np.all(np.angle(make_object("grf", 40, rng(0), phase="zero")) == 0)
    with pytest.raises(ValueError):
        make_object("lines", 40, rng(0), phase="random")


def test_disk_probe_is_the_reference_ideal_probe():
    p = disk_probe(64)
    assert p.dtype == np.complex64 and np.all(np.angle(p) == 0)
    a = np.abs(p)
    assert a.max() == pytest.approx(1.0) and a[32, 32] == pytest.approx(1.0)
    diameter = (a[32] > 0.5).sum()
    assert 20 <= diameter <= 24                                   # ~2.35 N/(0.7 pi^2) at N=64


def test_focused_probe_has_phase_and_fits_the_window():
    p = focused_probe(64, np.random.default_rng(0))
    I = np.abs(p) ** 2
    yy, xx = np.mgrid[:64, :64] - 32
    r = np.hypot(yy, xx)
    assert I[r < 16].sum() / I.sum() > 0.9                        # inside the central N/2 disk
    assert np.ptp(np.angle(p[r < 8])) > 1.0                        # real phase structure
    assert np.array_equal(p, focused_probe(64, np.random.default_rng(0)))


def test_scans_respect_buffer_and_density():
    rng = np.random.default_rng
    shape, N = (100, 120), 16
    b = min_buffer(N)
    for pos in (raster_scan(shape, N, 6.0, rng(0)), random_scan(shape, N, 200, rng(0)),
                fermat_scan(shape, N, rng(0), n_positions=200)):
        assert pos.ndim == 2 and pos.shape[1] == 2
        assert pos[:, 0].min() >= b and pos[:, 0].max() <= 120 - b
        assert pos[:, 1].min() >= b and pos[:, 1].max() <= 100 - b
    assert len(fermat_scan(shape, N, rng(0), n_positions=200)) == 200
    f = fermat_scan(shape, N, rng(0), n_positions=200)
    d = np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1)) + np.eye(len(f)) * 1e9
    assert d.min(axis=1).mean() == pytest.approx(np.sqrt((120 - 2 * b) * (100 - 2 * b) / 200), rel=0.35)
    with pytest.raises(ValueError, match="buffer"):
        random_scan(shape, N, 10, rng(0), buffer=3)


@pytest.mark.parametrize("name", sorted(DEMO_SPECS))
def test_bundled_demo_files_match_their_spec(name):
    path = RESOURCES / name
    assert path.stat().st_size < 5e6
    scan = load_scan(path)
    spec = DEMO_SPECS[name]
    assert scan.warnings == []
    assert scan.n_patterns == spec["n_positions"] and scan.N == spec["N"]
    assert scan.object_guess.shape == (spec["object_size"],) * 2
    assert scan.nphotons == spec["nphotons"]
    assert scan.metadata["creation_info"]["seed"] == spec["seed"]
