"""Phase synchronisation of groups before stitching.

A "perfect model" returns the true patches of objectGuess (integer positions: cutting and
stitching are exact inverses), but every group with its own random constant phase offset, the
ambiguity no diffraction pattern records. Stitched as they are, the offsets wash out the
object's phase; synchronised, the stitched object is the truth up to one global phase.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import ptycho_engine.inference.predict as predict_mod
import ptycho_engine.inference.reconstruct as reconstruct_mod
from ptycho_engine.data.contract import load_scan
from ptycho_engine.inference.compare import compare_with_reference
from ptycho_engine.inference.phase_sync import DEFAULT_PASSES, align_group_phases, spatial_order
from ptycho_engine.inference.reconstruct import predict_and_stitch
from ptycho_engine.inference.stitch import stitch_prediction
from ptycho_engine.physics.shifts import extract_patches
from ptycho_engine.training.data import build_groups

ARCH = {"pad_object": True, "probe_big": True}


#: passes that bring offsets drawn from the whole circle to one global phase on this scan (the
#: default 5 does not: see test_default_passes_recover_arbitrary_offsets)
MANY_PASSES = 40


@pytest.fixture(scope="module")
def scene(infer_data):
    """(grouped gridsize-2 scan, probe, objectGuess, true patches (G, C, N, N))."""
    scan = load_scan(infer_data["test_int"])
    cfg = SimpleNamespace(model=SimpleNamespace(gridsize=2), n_groups=None, n_subsample=None, subsample_seed=None,
                          seed=1, neighbor_count=4, sequential_sampling=False, enable_oversampling=False)
    grouped = build_groups(scan, cfg)
    G, C = grouped.groups.shape
    N = int(scan.probe.shape[0])
    obj = np.asarray(scan.object_guess)
    true = extract_patches(torch.from_numpy(obj), torch.from_numpy(grouped.positions[grouped.groups.reshape(-1)]),
                           N).numpy().reshape(G, C, N, N).astype(np.complex64)
    return grouped, scan.probe, obj, true


def _offsets(grouped, scale: float, seed: int = 7) -> np.ndarray:
    """One random offset in [-scale, scale] per group (groups with the same members share it)."""
    rows = [tuple(r) for r in grouped.groups.tolist()]
    unique = sorted(set(rows))
    draw = dict(zip(unique, np.random.default_rng(seed).uniform(-scale, scale, len(unique))))
    return np.array([draw[r] for r in rows])


def _turned(true: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    return (true * np.exp(1j * offsets)[:, None, None, None]).astype(np.complex64)


def _positions(grouped) -> np.ndarray:
    return (grouped.centres[:, None, :] + grouped.rel).reshape(-1, 2)


def _stitch(patches: np.ndarray, grouped, probe):
    N = patches.shape[-1]
    return stitch_prediction(patches.reshape(-1, N, N), _positions(grouped), probe=probe, weighting="probe",
                             arch=ARCH)


def _align(patches: np.ndarray, grouped, probe, passes: int) -> np.ndarray:
    frame = _stitch(patches, grouped, probe)
    local = _positions(grouped) - np.array([frame.origin_x, frame.origin_y])
    return align_group_phases(patches.copy(), local, frame.object.shape, probe=probe, weighting="probe", arch=ARCH,
                              passes=passes)


def _scores(result, reference) -> dict:
    metrics, _, note = compare_with_reference(result.object, result.weight, result.origin_x, result.origin_y,
                                              reference)
    assert metrics is not None, note
    return metrics


def _offset_predictor(grouped, true, offsets):
    """predict_batch replacement: a group's true patches turned by that group's offset."""
    by_members = {tuple(row): g for g, row in enumerate(grouped.groups.tolist())}
    turned = _turned(true, offsets)

    def predict(model, x, rel, indices):
        ids = [by_members[tuple(row)] for row in indices.cpu().numpy().tolist()]
        return torch.from_numpy(turned[ids])

    return predict


# ----------------------------------------------------------------------------- align_group_phases
def test_offsets_wash_out_the_phase_and_sync_restores_it(scene):
    grouped, probe, obj, true = scene
    G, C, N, _ = true.shape
    assert G >= 10
    truth = _scores(_stitch(true, grouped, probe), obj)
    assert truth["phase_ssim"] > 0.99  # the perfect model without offsets

    turned = _turned(true, _offsets(grouped, np.pi))
    plain = _scores(_stitch(turned, grouped, probe), obj)
    assert plain["phase_ssim"] < truth["phase_ssim"] - 0.3  # clearly worse

    synced = _align(turned, grouped, probe, MANY_PASSES)
    # only a constant phase per group changed: amplitudes identical, one unit phasor per group
    assert synced.shape == turned.shape and synced.dtype == np.complex64
    np.testing.assert_allclose(np.abs(synced), np.abs(turned), rtol=1e-5, atol=1e-6)
    ratio = (synced / turned).reshape(G, -1)  # objectGuess has no zeros (amplitude >= 0.3)
    assert np.abs(ratio - ratio[:, :1]).max() < 1e-4
    np.testing.assert_allclose(np.abs(ratio), 1.0, atol=1e-4)
    assert np.abs(np.angle(ratio[:, 0])).max() > 0.5  # and it did turn them
    # what is left is one global phase
    residual = np.angle((synced * np.conj(true)).reshape(G, -1).sum(axis=1))
    assert np.abs(np.angle(np.exp(1j * (residual - residual[0])))).max() < 0.05

    result = _stitch(synced, grouped, probe)
    fixed = _scores(result, obj)
    assert fixed["phase_ssim"] > 0.98 and fixed["amplitude_ssim"] > 0.99
    # the stitched amplitude is that of the un-turned truth
    ref = _stitch(true, grouped, probe)
    well = ref.weight > 0.1 * ref.weight.max()
    np.testing.assert_allclose(np.abs(result.object[well]), np.abs(ref.object[well]), atol=1e-3)
    assert np.abs(np.abs(_stitch(turned, grouped, probe).object[well]) - np.abs(ref.object[well])).max() > 0.1


def test_more_passes_never_hurt_and_converge(scene):
    grouped, probe, obj, true = scene
    turned = _turned(true, _offsets(grouped, np.pi))
    ssim = [_scores(_stitch(_align(turned, grouped, probe, k), grouped, probe), obj)["phase_ssim"]
            for k in (0, DEFAULT_PASSES, 2 * DEFAULT_PASSES, MANY_PASSES)]
    assert all(b > a - 1e-3 for a, b in zip(ssim, ssim[1:])), ssim
    assert ssim[-1] > 0.99


def test_greedy_start_alone_aligns_offsets_spread_over_the_circle(scene):
    """passes=0: only the greedy start (groups in spatial order, each turned towards those placed)."""
    grouped, probe, obj, true = scene
    turned = _turned(true, _offsets(grouped, np.pi))
    plain = _scores(_stitch(turned, grouped, probe), obj)["phase_ssim"]
    greedy = _scores(_stitch(_align(turned, grouped, probe, 0), grouped, probe), obj)["phase_ssim"]
    assert plain < 0.5 and greedy > 0.97, (plain, greedy)


def test_a_group_that_overlaps_nothing_keeps_its_phase():
    N = 64
    rng = np.random.default_rng(0)
    patches = np.exp(1j * rng.uniform(-1, 1, (2, 1, N, N))).astype(np.complex64)
    patches[1] *= np.exp(2.0j)
    positions = np.array([[40.0, 40.0], [300.0, 300.0]])  # far apart
    out = align_group_phases(patches.copy(), positions, (360, 360), probe=None, weighting="uniform", arch=None,
                             passes=3)
    np.testing.assert_allclose(out, patches, rtol=1e-5, atol=1e-5)


def test_align_group_phases_does_not_modify_its_input(scene):
    grouped, probe, _, true = scene
    turned = _turned(true, _offsets(grouped, np.pi))
    before = turned.copy()
    frame = _stitch(turned, grouped, probe)
    local = _positions(grouped) - np.array([frame.origin_x, frame.origin_y])
    align_group_phases(turned, local, frame.object.shape, probe=probe, weighting="probe", arch=ARCH, passes=1)
    np.testing.assert_array_equal(turned, before)


# ----------------------------------------------------------------------------- predict_and_stitch
@pytest.mark.parametrize("chunk_groups", [None, 3])
def test_predict_and_stitch_with_sync_recovers_the_phase(scene, monkeypatch, chunk_groups):
    grouped, probe, obj, true = scene
    monkeypatch.setattr(predict_mod, "predict_batch", _offset_predictor(grouped, true, _offsets(grouped, np.pi)))
    kw = dict(probe=probe, weighting="probe", arch=ARCH, chunk_groups=chunk_groups)
    if chunk_groups is not None:
        assert grouped.n_groups > 3 * chunk_groups  # several chunks, each aligned to what came before
    plain = _scores(predict_and_stitch(object(), grouped, "cpu", 4, **kw, phase_sync_passes=0), obj)
    default = _scores(predict_and_stitch(object(), grouped, "cpu", 4, **kw, phase_sync_passes=DEFAULT_PASSES), obj)
    result = predict_and_stitch(object(), grouped, "cpu", 4, **kw, phase_sync_passes=MANY_PASSES)
    synced = _scores(result, obj)
    assert plain["phase_ssim"] < 0.5
    assert default["phase_ssim"] > plain["phase_ssim"]
    assert synced["phase_ssim"] > 0.98, synced["phase_ssim"]
    assert synced["amplitude_ssim"] > 0.99
    ref = _stitch(true, grouped, probe)
    assert (result.origin_x, result.origin_y) == (ref.origin_x, ref.origin_y)
    well = ref.weight > 0.1 * ref.weight.max()
    np.testing.assert_allclose(np.abs(result.object[well]), np.abs(ref.object[well]), atol=2e-3)
    np.testing.assert_allclose(result.weight, ref.weight, rtol=1e-4, atol=1e-5 * float(ref.weight.max()))


@pytest.mark.parametrize("chunk_groups", [None, 3])
def test_default_passes_recover_small_offsets(scene, monkeypatch, chunk_groups):
    """Offsets within +-0.5 rad: the default 5 passes bring the phase back."""
    grouped, probe, obj, true = scene
    monkeypatch.setattr(predict_mod, "predict_batch", _offset_predictor(grouped, true, _offsets(grouped, 0.5)))
    kw = dict(probe=probe, weighting="probe", arch=ARCH, chunk_groups=chunk_groups)
    plain = _scores(predict_and_stitch(object(), grouped, "cpu", 4, **kw, phase_sync_passes=0), obj)
    synced = _scores(predict_and_stitch(object(), grouped, "cpu", 4, **kw, phase_sync_passes=DEFAULT_PASSES), obj)
    assert plain["phase_ssim"] < 0.92
    assert synced["phase_ssim"] > 0.98, synced["phase_ssim"]


def test_default_passes_recover_arbitrary_offsets(scene, monkeypatch):
    grouped, probe, obj, true = scene
    monkeypatch.setattr(predict_mod, "predict_batch", _offset_predictor(grouped, true, _offsets(grouped, np.pi)))
    result = predict_and_stitch(object(), grouped, "cpu", 4, probe=probe, weighting="probe", arch=ARCH,
                                phase_sync_passes=DEFAULT_PASSES)
    assert _scores(result, obj)["phase_ssim"] > 0.98


def _spy_ids(monkeypatch) -> list[np.ndarray]:
    seen: list[np.ndarray] = []
    real = reconstruct_mod.predict_patches

    def spy(*args, ids=None, **kw):
        seen.append(np.asarray(ids))
        return real(*args, ids=ids, **kw)

    monkeypatch.setattr(reconstruct_mod, "predict_patches", spy)
    return seen


def test_zero_passes_is_the_old_behaviour(scene, monkeypatch):
    """phase_sync_passes=0 (the default): groups in their own order, no alignment, same canvas."""
    grouped, probe, _, true = scene
    offsets = _offsets(grouped, np.pi)
    monkeypatch.setattr(predict_mod, "predict_batch", _offset_predictor(grouped, true, offsets))
    seen = _spy_ids(monkeypatch)

    def boom(*a, **k):
        raise AssertionError("align_group_phases must not run with zero passes")

    monkeypatch.setattr(reconstruct_mod, "align_group_phases", boom)
    G = grouped.n_groups
    kw = dict(probe=probe, weighting="probe", arch=ARCH)
    default = predict_and_stitch(object(), grouped, "cpu", 4, **kw, chunk_groups=4)
    assert len(seen) > 1 and np.array_equal(np.concatenate(seen), np.arange(G))  # natural order, in chunks
    zero = predict_and_stitch(object(), grouped, "cpu", 4, **kw, chunk_groups=4, phase_sync_passes=0)
    np.testing.assert_array_equal(zero.object, default.object)
    np.testing.assert_array_equal(zero.weight, default.weight)
    # and it equals one plain stitch of the predicted (offset) patches
    whole = _stitch(_turned(true, offsets), grouped, probe)
    covered = whole.weight > 1e-3 * whole.weight.max()
    np.testing.assert_allclose(zero.object[covered], whole.object[covered], rtol=1e-4, atol=2e-4)
    assert (zero.origin_x, zero.origin_y) == (whole.origin_x, whole.origin_y)


def test_sync_takes_the_groups_in_spatial_order(scene, monkeypatch):
    grouped, probe, _, true = scene
    monkeypatch.setattr(predict_mod, "predict_batch", _offset_predictor(grouped, true, _offsets(grouped, 1.0)))
    seen = _spy_ids(monkeypatch)
    predict_and_stitch(object(), grouped, "cpu", 4, probe=probe, weighting="probe", arch=ARCH, chunk_groups=5,
                       phase_sync_passes=2)
    N = grouped.diffraction.shape[-1]
    assert len(seen) > 1
    np.testing.assert_array_equal(np.concatenate(seen), spatial_order(grouped.centres, N / 2))
    assert not np.array_equal(np.concatenate(seen), np.arange(grouped.n_groups))


# ----------------------------------------------------------------------------- spatial_order
def test_spatial_order_is_a_serpentine_permutation():
    rng = np.random.default_rng(3)
    centres = rng.uniform(0, 200, (60, 2))
    band = 32.0
    order = spatial_order(centres, band)
    assert order.dtype.kind == "i" and order.shape == (60,)
    np.testing.assert_array_equal(np.sort(order), np.arange(60))
    rows = np.floor((centres[order, 1] - centres[:, 1].min()) / band)
    assert np.all(np.diff(rows) >= 0)  # bands from top to bottom
    for r in np.unique(rows):
        xs = centres[order[rows == r], 0]
        step = np.diff(xs)
        assert np.all(step >= 0) if int(r) % 2 == 0 else np.all(step <= 0)  # serpentine
    # consecutive groups are neighbours: far shorter hops than in the scan's own (random) order
    hop = lambda ids: np.linalg.norm(np.diff(centres[ids], axis=0), axis=1).mean()  # noqa: E731
    assert hop(order) < 0.6 * hop(np.arange(60))


def test_spatial_order_degenerate_inputs():
    np.testing.assert_array_equal(spatial_order(np.zeros((1, 2)), 10.0), [0])
    np.testing.assert_array_equal(np.sort(spatial_order(np.zeros((5, 2)), 0.0)), np.arange(5))  # band <= 1 clamps
    line = np.stack([np.array([5.0, 1.0, 3.0]), np.zeros(3)], axis=1)
    np.testing.assert_array_equal(spatial_order(line, 8.0), [1, 2, 0])
