"""Forward model: Parseval, photon scale, Poisson statistics, masks and smoothing."""
from __future__ import annotations

import math

import pytest
import torch

from ptycho_engine.physics.forward import (diffraction_amplitude, forward_amplitude, gaussian_smooth,
                                           illuminate, photon_scale, poisson_amplitude, probe_mask)


def _rand_complex(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g))


def test_parseval_holds_per_pattern():
    psi = _rand_complex(5, 3, 16, 16)
    A = diffraction_amplitude(psi)
    assert A.shape == psi.shape and not A.is_complex()
    torch.testing.assert_close((A ** 2).sum((-2, -1)), (psi.abs() ** 2).sum((-2, -1)), rtol=1e-5, atol=1e-4)


def test_plane_wave_goes_to_centre_pixel():
    # A constant field has all its energy at zero frequency, which fftshift puts at (N/2, N/2).
    N = 16
    A = diffraction_amplitude(torch.ones(N, N, dtype=torch.complex64))
    assert torch.argmax(A).item() == (N // 2) * N + N // 2
    assert A[N // 2, N // 2].item() == pytest.approx(N, rel=1e-6)  # ortho: sqrt(N*N)


def test_illuminate_broadcasts_and_applies_mask():
    obj = _rand_complex(4, 2, 8, 8)
    probe = _rand_complex(8, 8, seed=1)
    mask = probe_mask(8, soft=False)
    psi = illuminate(obj, probe, mask)
    torch.testing.assert_close(psi, obj * probe * mask)
    assert torch.all(psi[..., 0, :] == 0)  # hard mask zero at the border


def test_forward_amplitude_matches_composition():
    obj = _rand_complex(3, 16, 16)
    probe = _rand_complex(16, 16, seed=2)
    expected = diffraction_amplitude(gaussian_smooth(obj * probe, 0.8))
    torch.testing.assert_close(forward_amplitude(obj, probe, smoothing_sigma=0.8), expected)
    torch.testing.assert_close(forward_amplitude(obj, probe), diffraction_amplitude(obj * probe))


def test_photon_scale_gives_mean_total_counts():
    A = diffraction_amplitude(_rand_complex(20, 16, 16))
    nph = 1e6
    s = photon_scale(A, nph)
    mean_counts = float(((s * A) ** 2).sum((-2, -1)).mean())
    assert mean_counts == pytest.approx(nph, rel=1e-5)
    # numpy input and the mean-energy form agree
    energy = float((A ** 2).sum((-2, -1)).mean())
    assert photon_scale(A.numpy(), nph) == pytest.approx(s, rel=1e-6)
    assert photon_scale(energy, nph) == pytest.approx(s, rel=1e-6)
    with pytest.raises(ValueError, match="energy"):
        photon_scale(torch.zeros(2, 4, 4), 1e6)
    with pytest.raises(ValueError, match="nphotons"):
        photon_scale(A, 0)


def test_poisson_amplitude_statistics_and_determinism():
    # Constant rate lambda = s^2 A^2 = 50 counts per pixel: counts have mean 50 and variance 50.
    A = torch.full((200, 16, 16), 5.0)
    s = math.sqrt(2.0)
    X = poisson_amplitude(A, s, torch.Generator().manual_seed(3))
    counts = (s * X.double()) ** 2
    assert torch.allclose(counts, counts.round(), atol=1e-6)          # integer counts
    assert float(counts.mean()) == pytest.approx(50.0, rel=0.01)
    assert float(counts.var()) == pytest.approx(50.0, rel=0.05)
    X2 = poisson_amplitude(A, s, torch.Generator().manual_seed(3))
    assert torch.equal(X, X2)
    assert X.dtype == A.dtype


def test_poisson_noise_total_counts_near_nphotons():
    A = diffraction_amplitude(_rand_complex(64, 16, 16, seed=4))
    s = photon_scale(A, 1e5)
    X = poisson_amplitude(A, s, torch.Generator().manual_seed(0))
    total = float(((s * X.double()) ** 2).sum((-2, -1)).mean())
    assert total == pytest.approx(1e5, rel=0.01)


def test_probe_mask_disk_geometry():
    N = 32
    hard = probe_mask(N, soft=False)
    soft = probe_mask(N, soft=True)
    assert hard[N // 2, N // 2] == 1 and hard[0, 0] == 0
    # diameter N/2: radius N/4 = 8 px from pixel (16, 16)
    assert hard[N // 2, N // 2 + 7] == 1 and hard[N // 2, N // 2 + 8] == 0
    assert float(soft.min()) >= 0 and float(soft.max()) <= 1
    assert 0.3 < float(soft[N // 2, N // 2 + 8]) < 0.7          # edge pixel is half way
    assert float(soft.sum()) == pytest.approx(math.pi * (N / 4) ** 2, rel=0.03)


def test_gaussian_smooth_preserves_constant_interior_and_zero_sigma_is_identity():
    f = _rand_complex(2, 16, 16)
    assert gaussian_smooth(f, 0) is f
    c = torch.full((1, 32, 32), 2 + 1j, dtype=torch.complex64)
    sm = gaussian_smooth(c, 1.0)
    torch.testing.assert_close(sm[0, 8:24, 8:24], c[0, 8:24, 8:24])
    # Smoothing is linear and acts on real and imaginary parts separately.
    torch.testing.assert_close(gaussian_smooth(f, 1.0).real, gaussian_smooth(f.real, 1.0))


def test_forward_is_differentiable():
    obj = _rand_complex(2, 8, 8).requires_grad_(True)
    probe = _rand_complex(8, 8, seed=5)
    forward_amplitude(obj, probe, smoothing_sigma=0.5).sum().backward()
    assert obj.grad is not None and torch.isfinite(torch.view_as_real(obj.grad)).all()
