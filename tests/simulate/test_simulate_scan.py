"""Simulator: determinism, contract-valid output, physics consistency, patches inside the object."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ptycho_engine.data.contract import load_scan, save_scan
from ptycho_engine.physics.forward import forward_amplitude
from ptycho_engine.physics.shifts import extract_patches
from ptycho_engine.simulate.simulator import simulate_scan

SMALL = dict(N=16, object_size=48, nphotons=1e5)


@pytest.mark.parametrize("obj,probe,scan", [("lines", "disk", "fermat"), ("grf", "focused", "raster"),
                                            ("lines", "focused", "random")])
def test_same_seed_identical_file_contents(tmp_path, obj, probe, scan):
    kw = dict(SMALL, object_kind=obj, probe_kind=probe, scan_kind=scan, n_positions=40, seed=3)
    if scan == "raster":
        kw.update(n_positions=None, step=4.0)
    a = save_scan(tmp_path / "a.npz", simulate_scan(**kw))
    b = save_scan(tmp_path / "b.npz", simulate_scan(**kw))
    assert a.read_bytes() == b.read_bytes()
    c = simulate_scan(**dict(kw, seed=4))
    assert not np.array_equal(load_scan(a).diffraction, c.diffraction)


def test_output_is_contract_valid_and_complete(tmp_path):
    scan = simulate_scan("lines", "disk", "fermat", n_positions=50, seed=1, **SMALL)
    path = save_scan(tmp_path / "s.npz", scan)
    back = load_scan(path)
    assert back.warnings == []
    assert back.diffraction.shape == (50, 16, 16) and back.diffraction.dtype == np.float32
    assert back.probe.shape == (16, 16) and back.probe.dtype == np.complex64
    assert back.object_guess.shape == (48, 48) and back.object_guess.dtype == np.complex64
    assert back.nphotons == 1e5
    meta = back.metadata
    assert meta["physics_parameters"]["N"] == 16
    assert meta["creation_info"]["object_kind"] == "lines"
    assert meta["creation_info"]["probe_kind"] == "disk"
    assert meta["creation_info"]["seed"] == 1
    amp = np.abs(back.object_guess)
    assert 0.19 < amp.min() and amp.max() <= 1.0 + 1e-6
    assert np.abs(np.angle(back.object_guess)).max() <= 1.0 + 1e-5


@pytest.mark.parametrize("scan_kind", ["fermat", "raster", "random"])
def test_patches_stay_inside_the_object(scan_kind):
    N, S = 16, 40
    scan = simulate_scan("grf", "disk", scan_kind, N=N, n_positions=60, object_size=S, seed=2)
    x, y = scan.xcoords, scan.ycoords
    for c in (x, y):
        assert np.floor(c).min() - N // 2 >= 0                     # first pixel touched
        assert np.floor(c).max() + N // 2 <= S - 1                  # last pixel (bilinear +1)
    assert len(x) > 10


def test_diffraction_matches_shared_forward_model_and_photon_count():
    scan = simulate_scan("lines", "focused", "fermat", n_positions=60, seed=5, N=16, object_size=48,
                         nphotons=1e7)
    s = scan.metadata["physics_parameters"]["photon_scale"]
    pos = np.stack([scan.xcoords, scan.ycoords], axis=1)
    patches = extract_patches(torch.from_numpy(scan.object_guess), pos, 16)
    A = forward_amplitude(patches, torch.from_numpy(scan.probe)).numpy()
    counts = (s * scan.diffraction.astype(np.float64)) ** 2
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-2 * counts.max() ** 0.5)  # integers
    assert counts.sum(axis=(1, 2)).mean() == pytest.approx(1e7, rel=0.01)
    # noise-free expectation: E[k] = s^2 A^2 ; at 1e7 photons the noisy amplitude is close to A
    np.testing.assert_allclose(counts.sum(axis=(1, 2)), ((s * A) ** 2).sum(axis=(1, 2)), rtol=0.01)
    bright = A > 0.2 * A.max()
    assert np.abs(scan.diffraction[bright] - A[bright]).max() / A.max() < 0.05


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="object kind"):
        simulate_scan("stars", "disk", "fermat", n_positions=10, **SMALL)
    with pytest.raises(ValueError, match="probe kind"):
        simulate_scan("lines", "laser", "fermat", n_positions=10, **SMALL)
    with pytest.raises(ValueError, match="scan kind"):
        simulate_scan("lines", "disk", "spiral", n_positions=10, **SMALL)
    with pytest.raises(ValueError, match="even"):
        simulate_scan("lines", "disk", "fermat", N=15, n_positions=10)
    with pytest.raises(ValueError, match="too small"):
        simulate_scan("lines", "disk", "fermat", N=16, object_size=16, n_positions=10)
    with pytest.raises(ValueError, match="buffer"):
        simulate_scan("lines", "disk", "fermat", n_positions=10, buffer=2, **SMALL)


def test_object_size_none_fits_the_scan():
    scan = simulate_scan("grf", "disk", "raster", N=16, n_positions=36, object_size=None, seed=0)
    assert scan.n_patterns == 36                                   # a 6 x 6 raster
    side = scan.object_guess.shape[0]
    assert side == int(np.ceil(6 * 16 / 8)) + 2 * (16 // 2 + 1)
    assert scan.xcoords.max() + 8 <= side - 1
