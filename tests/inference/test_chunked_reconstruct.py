"""Predicting and stitching in chunks gives the object a single stitch gives, with bounded memory."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ptycho_engine.data.contract import load_scan
from ptycho_engine.events import CancelledError, CancelToken
from ptycho_engine.inference.predict import predict_patches
from ptycho_engine.inference.reconstruct import chunk_groups_for, predict_and_stitch
from ptycho_engine.inference.stitch import stitch_prediction
from ptycho_engine.training.data import build_groups


class StandIn(torch.nn.Module):
    """A deterministic 'network': object patch = amplitude · exp(i · amplitude / 3)."""

    def predict_object(self, x: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
        return torch.polar(x, x / 3.0)


@pytest.fixture(scope="module")
def grouped(infer_data):
    scan = load_scan(infer_data["test"])
    cfg = SimpleNamespace(model=SimpleNamespace(gridsize=2), n_groups=None, n_subsample=None, subsample_seed=None,
                          seed=1, neighbor_count=4, sequential_sampling=False, enable_oversampling=False)
    return build_groups(scan, cfg), scan.probe


@pytest.mark.parametrize("weighting", ["probe", "uniform"])
def test_chunks_match_one_stitch(grouped, weighting):
    groups, probe = grouped
    arch = {"pad_object": True, "probe_big": True}
    patches = predict_patches(StandIn(), groups, "cpu", 8)
    positions = (groups.centres[:, None, :] + groups.rel).reshape(-1, 2)
    whole = stitch_prediction(patches.reshape(-1, 64, 64), positions, probe=probe, weighting=weighting, arch=arch)
    steps: list[tuple[int, int]] = []
    chunked = predict_and_stitch(StandIn(), groups, "cpu", 4, probe=probe, weighting=weighting, arch=arch,
                                 chunk_groups=7, on_batch=lambda i, n: steps.append((i, n)))
    assert (chunked.origin_x, chunked.origin_y) == (whole.origin_x, whole.origin_y)
    assert chunked.object.shape == whole.object.shape
    covered = whole.weight > 1e-3 * whole.weight.max()
    np.testing.assert_allclose(chunked.object[covered], whole.object[covered], rtol=1e-4, atol=1e-5)
    # only pixels below 1e-6 of a chunk's peak weight (dropped per chunk) may differ
    np.testing.assert_allclose(chunked.weight, whole.weight, rtol=1e-4, atol=1e-5 * whole.weight.max())
    # progress counts batches across all chunks, ending at the total
    assert [i for i, _ in steps] == list(range(1, len(steps) + 1)) and steps[-1][0] == steps[-1][1]


def test_cancel_between_chunks(grouped):
    groups, probe = grouped
    token = CancelToken()
    seen = []

    def on_batch(i, n):
        seen.append(i)
        token.cancel()

    with pytest.raises(CancelledError):
        predict_and_stitch(StandIn(), groups, "cpu", 4, probe=probe, weighting="probe", arch=None,
                           chunk_groups=3, on_batch=on_batch, cancel=token)
    assert seen == [1]


def test_chunk_size_bounds_memory():
    assert chunk_groups_for(C=4, N=64, chunk_bytes=256 << 20) == 2048  # 2048·4·64²·8 B = 256 MiB
    assert chunk_groups_for(C=9, N=256, chunk_bytes=1) == 1
