"""The generator registry and the unrolled generator (CNN + learned-step amplitude projections).

The physics checks run on a tiny noise-free group cut from a smooth object at INTEGER offsets,
so merging and splitting the group canvas are exact and the true patches are a consistent
solution: projecting them onto the measured amplitudes must leave them where they are, and a
flat start must move towards them. A flipped update sign or a wrong fftshift convention of the
target makes the misfit explode or stall, which the asserts below catch.
"""
from __future__ import annotations

import copy
import json
import math
import zipfile

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from ptycho_engine.archive import ArchiveError, load_archive, read_archive_config, save_archive
from ptycho_engine.config.canonical import (GENERATOR_NAMES, ModelConfig, TrainingConfig,
                                            config_to_dict)
from ptycho_engine.model.generators import GENERATORS, LEGACY_GENERATOR, build_generator
from ptycho_engine.model.network import Generator
from ptycho_engine.model.pinn import PtychoPINN
from ptycho_engine.model.unrolled import UnrolledGenerator, projection_steps
from ptycho_engine.physics.forward import forward_amplitude
from ptycho_engine.physics.groups import canvas_size, merge_group, split_group
from ptycho_engine.physics.shifts import extract_patches

N = 64
ARCH = dict(N=N, gridsize=2, n_filters_scale=1, amp_activation="sigmoid", pad_object=True, probe_big=True)
#: integer offsets (mean zero) of a 2x2 group: canvas merge/split are exact
REL_GS2 = [[-4.0, -3.0], [4.0, -3.0], [-4.0, 3.0], [4.0, 3.0]]


def _object(size: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    amp = gaussian_filter(rng.random((size, size)), 3)
    amp = 0.3 + 0.7 * (amp - amp.min()) / (amp.max() - amp.min())
    phase = gaussian_filter(rng.standard_normal((size, size)), 4)
    phase = phase / np.abs(phase).max()
    return (amp * np.exp(1j * phase)).astype(np.complex64)


def _probe(n: int = N) -> torch.Tensor:
    """A soft disk with a curved phase (a real probe would hide a P / conj(P) mix-up)."""
    yy, xx = np.mgrid[:n, :n] - n // 2
    disk = gaussian_filter((np.hypot(yy, xx) < n / 4).astype(float), 1.0)
    return torch.from_numpy((disk * np.exp(0.01j * (xx ** 2 + yy ** 2) + 0.1j * xx)).astype(np.complex64))


def _group(gridsize: int, B: int = 2):
    """(true patches (B, C, N, N), measured amplitudes (B, C, N, N), rel (B, C, 2) or None, probe)."""
    rel = torch.tensor(REL_GS2 if gridsize == 2 else [[0.0, 0.0]])
    C = rel.shape[0]
    centres = torch.tensor([[60.0, 64.0], [70.0, 58.0], [64.0, 66.0]])[:B]
    pos = (centres[:, None, :] + rel[None]).reshape(-1, 2).double()
    true = extract_patches(torch.from_numpy(_object()), pos, N).reshape(B, C, N, N).to(torch.complex64)
    probe = _probe()
    measured = forward_amplitude(true, probe)
    return true, measured, (rel.expand(B, C, 2).clone() if gridsize > 1 else None), probe


def _misfit(obj: torch.Tensor, measured: torch.Tensor, probe: torch.Tensor) -> float:
    """Relative amplitude misfit || |F(P O)| - measured || / || measured ||."""
    pred = forward_amplitude(obj, probe)
    return float((pred - measured).square().sum().sqrt() / measured.square().sum().sqrt())


def _model(generator: str, gridsize: int = 2, unroll_steps: int = 3, **kw) -> PtychoPINN:
    torch.manual_seed(0)
    return PtychoPINN(_probe().numpy(), N=N, gridsize=gridsize, n_filters_scale=1, generator=generator,
                      unroll_steps=unroll_steps, **kw)


# ----------------------------------------------------------------------------- the registry
def test_registry_names_are_the_schema_choices():
    assert set(GENERATORS) == set(GENERATOR_NAMES)
    assert len(GENERATORS) == len(GENERATOR_NAMES)
    assert LEGACY_GENERATOR == "cnn"
    assert GENERATORS["cnn"] is Generator and GENERATORS["unrolled"] is UnrolledGenerator


def test_unknown_generator_names_the_choices():
    with pytest.raises(ValueError) as err:
        build_generator("transformer", **ARCH)
    msg = str(err.value)
    assert "transformer" in msg and all(name in msg for name in GENERATOR_NAMES)
    with pytest.raises(ValueError, match="cnn"):
        PtychoPINN(_probe().numpy(), N=N, generator="bogus")


def test_state_dict_keys_cnn_equal_reference_unrolled_adds_step_sizes():
    ref = set(Generator(**ARCH).state_dict())
    cnn = build_generator("cnn", **ARCH)
    unrolled = build_generator("unrolled", unroll_steps=7, **ARCH)
    assert type(cnn) is Generator and isinstance(unrolled, UnrolledGenerator)
    assert set(cnn.state_dict()) == ref
    assert set(unrolled.state_dict()) == ref | {"step_sizes"}
    assert tuple(unrolled.state_dict()["step_sizes"].shape) == (7,)
    # the same layout inside the model
    assert set(_model("unrolled").state_dict()) == set(_model("cnn").state_dict()) | {"generator.step_sizes"}


def test_unroll_steps_below_one_is_rejected():
    with pytest.raises(ValueError, match="unroll_steps"):
        build_generator("unrolled", unroll_steps=0, **ARCH)


def test_schema_default_is_unrolled_and_pinn_default_is_legacy():
    m = ModelConfig(N=64)
    assert m.generator == "unrolled" and m.unroll_steps == 10
    model = PtychoPINN.from_config(m, None, _probe().numpy())
    assert isinstance(model.generator, UnrolledGenerator) and model.generator.step_sizes.numel() == 10
    assert model.arch["generator"] == "unrolled" and model.arch["unroll_steps"] == 10
    # a model config that does not name a generator (an old archive) builds the reference CNN
    legacy = PtychoPINN.from_config({"N": 64, "gridsize": 1, "n_filters_scale": 1}, None, _probe().numpy())
    assert type(legacy.generator) is Generator and legacy.arch["generator"] == "cnn"
    assert "unroll_steps" not in legacy.arch


# ----------------------------------------------------------------------------- archives
def _archive_cfg(generator: str, gridsize: int = 2) -> dict:
    t = config_to_dict(TrainingConfig(model=ModelConfig(N=64, gridsize=gridsize, n_filters_scale=1,
                                                        generator=generator, unroll_steps=4), n_groups=8))
    return {"model": t.pop("model"), "training": t}


def _strip_generator(src, dst):
    """Rewrite ``src`` as an archive written before the registry: no generator / unroll_steps anywhere."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "config.json":
                cfg = json.loads(data)
                cfg["model"].pop("generator")
                cfg["model"].pop("unroll_steps", None)
                data = json.dumps(cfg).encode()
            elif name == "manifest.json":
                man = json.loads(data)
                man.get("architecture", {}).pop("generator", None)
                man.get("architecture", {}).pop("unroll_steps", None)
                data = json.dumps(man).encode()
            zout.writestr(name, data)
    return dst


def test_archive_without_generator_key_loads_as_cnn(tmp_path):
    cfg = _archive_cfg("cnn")
    torch.manual_seed(3)
    model = PtychoPINN.from_config(cfg["model"], cfg["training"], _probe().numpy(), log_gain=0.3)
    saved = save_archive(tmp_path / "new.zip", model, cfg)
    old = _strip_generator(saved, tmp_path / "wts.h5.zip")
    raw = json.loads(zipfile.ZipFile(old).read("config.json"))
    assert "generator" not in raw["model"]  # really an "old" archive

    assert read_archive_config(old)["model"]["generator"] == "cnn"
    loaded = load_archive(old)
    assert type(loaded.model.generator) is Generator
    assert loaded.model.arch["generator"] == "cnn" and not hasattr(loaded.model.generator, "refine")
    x = torch.rand(2, 4, N, N)
    rel = torch.tensor(REL_GS2).expand(2, 4, 2)
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded.model.predict_object(x, rel), model.predict_object(x, rel))


def test_unrolled_archive_round_trip_keeps_step_sizes(tmp_path):
    cfg = _archive_cfg("unrolled")
    torch.manual_seed(4)
    model = PtychoPINN.from_config(cfg["model"], cfg["training"], _probe().numpy())
    with torch.no_grad():
        model.generator.step_sizes.copy_(torch.tensor([0.9, 0.5, 0.25, 0.125]))
    path = save_archive(tmp_path / "wts.h5.zip", model, cfg)
    assert read_archive_config(path)["model"]["generator"] == "unrolled"
    loaded = load_archive(path)
    assert isinstance(loaded.model.generator, UnrolledGenerator)
    assert torch.equal(loaded.model.generator.step_sizes, model.generator.step_sizes)
    x = torch.rand(1, 4, N, N)
    rel = torch.tensor(REL_GS2).expand(1, 4, 2)
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded.model.predict_object(x, rel), model.predict_object(x, rel))
    # an unrolled archive that lost its generator entry is not silently loaded as a CNN
    with pytest.raises(ArchiveError, match="step_sizes"):
        load_archive(_strip_generator(path, tmp_path / "stripped.zip"))


# ----------------------------------------------------------------------------- the unrolled stage
def test_zero_step_sizes_give_the_cnn_object_on_a_consistent_canvas():
    unrolled, cnn = _model("unrolled"), _model("cnn")
    missing, unexpected = cnn.load_state_dict(unrolled.state_dict(), strict=False)
    assert missing == [] and unexpected == ["generator.step_sizes"]
    x = torch.rand(3, 4, N, N) * 2
    rel = torch.tensor(REL_GS2).expand(3, 4, 2).clone()
    unrolled.eval(), cnn.eval()
    with torch.no_grad():
        unrolled.generator.step_sizes.zero_()
        got = unrolled.predict_object(x, rel)
        raw = cnn.predict_object(x, rel)
        M = canvas_size(N, 2, float(rel.abs().max()))
        expected = split_group(merge_group(raw, rel, M), rel, N)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
        # the CNN's patches disagree where they overlap; the canvas makes them agree
        assert float((raw - expected).abs().max()) > 1e-3
        torch.testing.assert_close(split_group(merge_group(got, rel, M), rel, N), got, rtol=1e-5, atol=1e-6)
        # tiny steps stay next to it
        unrolled.generator.step_sizes.fill_(1e-6)
        assert float((unrolled.predict_object(x, rel) - expected).abs().max()) < 1e-4


def test_zero_step_sizes_gridsize1_is_exactly_the_cnn():
    unrolled, cnn = _model("unrolled", gridsize=1), _model("cnn", gridsize=1)
    cnn.load_state_dict(unrolled.state_dict(), strict=False)
    x = torch.rand(2, 1, N, N)
    unrolled.eval(), cnn.eval()
    with torch.no_grad():
        unrolled.generator.step_sizes.zero_()
        torch.testing.assert_close(unrolled.predict_object(x), cnn.predict_object(x), rtol=0, atol=1e-7)


@pytest.mark.parametrize("gridsize", [1, 2])
def test_true_object_is_a_fixed_point(gridsize):
    true, measured, rel, probe = _group(gridsize)
    out = projection_steps(true, measured, rel, probe, torch.ones(10), None, gridsize)
    assert float((out - true).abs().max()) < 1e-3
    assert _misfit(out, measured, probe) < 1e-4


@pytest.mark.parametrize("gridsize, factor", [(1, 5), (2, 10)])
def test_flat_start_converges_towards_the_measured_amplitudes(gridsize, factor):
    true, measured, rel, probe = _group(gridsize)
    flat = torch.ones_like(true)
    before = _misfit(flat, measured, probe)
    assert before > 0.3  # the start is far off
    gen = UnrolledGenerator(**{**ARCH, "gridsize": gridsize}, steps=10)  # default steps: ones
    with torch.no_grad():
        out = gen.refine(flat, measured, rel, probe, None, gridsize)
        one = projection_steps(flat, measured, rel, probe, torch.ones(1), None, gridsize)
    after = _misfit(out, measured, probe)
    assert after < before / factor, (before, after)
    assert after < _misfit(one, measured, probe) < before  # every step helps
    # the object itself moved towards the truth (in the lit region, up to the global phase)
    lit = (probe.abs() > 0.5 * probe.abs().max()).expand_as(true)
    turn = torch.exp(-1j * torch.angle((out[lit] * true[lit].conj()).sum()))
    err_after = float((out[lit] * turn - true[lit]).abs().mean())
    err_before = float((flat[lit] - true[lit]).abs().mean())
    assert err_after < 0.5 * err_before


def test_predict_object_feeds_measured_amplitudes_in_object_units():
    """x is in file units (gain x object units): the stage must divide by the gain."""
    true, measured, rel, probe = _group(2)
    model = _model("unrolled", unroll_steps=5, log_gain=math.log(7.0))
    model.eval()
    model._network_object = lambda x: true.clone()  # a "CNN" that already knows the answer
    with torch.no_grad():
        out = model.predict_object(measured * 7.0, rel)
        assert float((out - true).abs().max()) < 1e-3
        pred = model(measured * 7.0, rel)
    torch.testing.assert_close(pred, measured * 7.0, rtol=1e-3, atol=1e-3 * float(measured.max()) * 7)


def test_gradients_reach_step_sizes_and_cnn_weights():
    model = _model("unrolled", unroll_steps=3)
    model.train()
    _, measured, rel, _ = _group(2, B=2)
    x = measured * 3.0
    pred = model(x, rel)
    loss = (pred - x).square().mean()
    loss.backward()
    g = model.generator.step_sizes.grad
    assert g is not None and g.shape == (3,) and torch.isfinite(g).all() and float(g.abs().sum()) > 0
    first = model.generator.encoder[0][0].weight.grad
    last = model.generator.phase_head.last.weight.grad
    for grad in (first, last):
        assert grad is not None and torch.isfinite(grad).all() and float(grad.abs().sum()) > 0


def test_per_item_probe_shared_by_all_items_matches_the_model_probe():
    model = _model("unrolled", unroll_steps=3)
    model.eval()
    x = torch.rand(3, 4, N, N)
    rel = torch.tensor(REL_GS2).expand(3, 4, 2).clone()
    per_item = model.probe.detach().expand(3, N, N).clone()
    with torch.no_grad():
        torch.testing.assert_close(model.predict_object(x, rel, per_item), model.predict_object(x, rel),
                                   rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(model(x, rel, per_item), model(x, rel), rtol=1e-5, atol=1e-6)


def test_per_item_probes_act_per_item():
    model = _model("unrolled", unroll_steps=3)
    model.eval()
    x = torch.rand(2, 4, N, N)
    rel = torch.tensor(REL_GS2).expand(2, 4, 2).clone()
    yy, xx = np.mgrid[:N, :N]
    other = (model.probe.detach() * 0.6 * torch.from_numpy(np.exp(0.2j * xx).astype(np.complex64)))
    probes = torch.stack([model.probe.detach(), other])
    twin = copy.deepcopy(model)
    with torch.no_grad():
        twin.probe_ri.copy_(torch.view_as_real(other))
        mixed = model.predict_object(x, rel, probes)
        # (batch size 1 vs 2 changes the CNN's rounding, ~1e-7, which the updates carry on)
        torch.testing.assert_close(mixed[:1], model.predict_object(x[:1], rel[:1]), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(mixed[1:], twin.predict_object(x[1:], rel[1:]), rtol=1e-4, atol=1e-4)
        assert float((mixed[1:] - model.predict_object(x[1:], rel[1:])).abs().max()) > 1e-1
    with pytest.raises(ValueError, match="per-item probe"):
        model.predict_object(x, rel, probes[:1])


def test_gridsize1_unrolled_model_runs_without_offsets():
    model = _model("unrolled", gridsize=1, unroll_steps=2)
    x = torch.rand(3, 1, N, N)
    pred, obj = model.forward_with_object(x, None)
    assert pred.shape == obj.shape == (3, 1, N, N)
    assert torch.isfinite(pred).all() and torch.isfinite(torch.view_as_real(obj)).all()
    pred.sum().backward()
    assert model.generator.step_sizes.grad is not None
    probe = model.probe.detach().expand(3, N, N)
    with torch.no_grad():
        torch.testing.assert_close(model.predict_object(x, None, probe), model.predict_object(x), rtol=1e-5,
                                   atol=1e-6)


def test_gridsize2_without_offsets_is_an_error():
    model = _model("unrolled", gridsize=2)
    with pytest.raises(ValueError, match="rel"):
        model.predict_object(torch.rand(1, 4, N, N), None)


def test_calibrate_gain_uses_the_network_object_not_the_unrolled_one():
    """The unrolled stage pulls any start onto x / gain, so calibrating on its output would find
    gain ~ 1 whatever the data; the calibration must use the CNN's own patches."""
    unrolled = _model("unrolled")
    # object_big=False: this CNN's physics uses its patches as they are, like the unrolled model's
    cnn = _model("cnn", object_big=False)
    cnn.load_state_dict(unrolled.state_dict(), strict=False)
    _, measured, rel, _ = _group(2)
    x = measured * 5.0
    with torch.no_grad():
        g_u = unrolled.calibrate_gain(x, rel)
        g_c = cnn.calibrate_gain(x, rel)
        assert g_u == pytest.approx(g_c, rel=1e-5, abs=1e-7)
        assert unrolled.log_gain.item() == pytest.approx(g_u)
        # what calibrating on the unrolled output would have given: ~0, far from the right value
        unrolled.log_gain.zero_()
        e_full = float(unrolled(x, rel).double().square().sum((-2, -1)).mean())
    e_obs = float(x.double().square().sum((-2, -1)).mean())
    assert abs(0.5 * math.log(e_obs / e_full)) < 0.05
    assert abs(g_u) > 0.5


@pytest.mark.parametrize("kw", [{}, {"probe_mask": True}], ids=["plain", "probe_mask"])
def test_data_made_by_the_models_own_physics_is_a_fixed_point(kw):
    """Whatever forward model the PINN uses, amplitudes it made itself from an object must leave
    that object in place (else the unrolled stage fits a different physics than the loss)."""
    true, _, rel, _ = _group(2)
    model = _model("unrolled", unroll_steps=10, **kw)
    model.eval()
    with torch.no_grad():
        x = model._physics(true, rel)
        model._network_object = lambda _x: true.clone()
        out = model.predict_object(x, rel)
        pred = model(x, rel)
    assert float((out - true).abs().max()) < 1e-3
    assert float((pred - x).norm() / x.norm()) < 1e-3


def test_unrolled_refuses_exit_wave_smoothing_it_does_not_model():
    with pytest.raises(ValueError, match="gaussian_smoothing_sigma"):
        _model("unrolled", unroll_steps=3, gaussian_smoothing_sigma=1.0)
