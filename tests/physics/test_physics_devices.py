"""The shared physics gives the same numbers on an accelerator as on the CPU (skipped without one).

Note: tests/conftest.py hides CUDA by default (CUDA_VISIBLE_DEVICES=""); run with
CUDA_VISIBLE_DEVICES=0 on a GPU machine to exercise this.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ptycho_engine.physics.forward import forward_amplitude, poisson_amplitude, probe_mask
from ptycho_engine.physics.groups import canvas_size, central_support, merge_group, split_group
from ptycho_engine.physics.shifts import extract_patches

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _pipeline(device: str):
    g = torch.Generator().manual_seed(0)
    obj = torch.complex(torch.rand(80, 80, generator=g), torch.rand(80, 80, generator=g)).to(device)
    obj.requires_grad_(True)
    probe = torch.complex(torch.rand(16, 16, generator=g), torch.zeros(16, 16)).to(device)
    pos = torch.tensor([[30.2, 31.7], [38.9, 30.1], [31.5, 39.4], [39.3, 40.8]], dtype=torch.float64)
    centre = pos.mean(0)
    rel = (pos - centre)[None].to(device)
    patches = extract_patches(obj, pos.to(device), 16)[None]
    M = canvas_size(16, 2, float(rel.abs().max()))
    merged = split_group(merge_group(patches, rel, M, central_support(16, device=device)), rel, 16)
    amp = forward_amplitude(merged, probe, probe_mask(16, device=device), smoothing_sigma=0.7)
    amp.sum().backward()
    return amp.detach().cpu(), obj.grad.detach().cpu()


def test_cuda_matches_cpu():
    a_cpu, g_cpu = _pipeline("cpu")
    a_gpu, g_gpu = _pipeline("cuda")
    torch.testing.assert_close(a_gpu, a_cpu, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(g_gpu, g_cpu, rtol=1e-3, atol=1e-4)
    gen = torch.Generator(device="cuda").manual_seed(1)
    noisy = poisson_amplitude(a_gpu.cuda(), 10.0, gen)
    assert noisy.device.type == "cuda" and torch.isfinite(noisy).all()
    assert np.isfinite(noisy.cpu().numpy()).all()
