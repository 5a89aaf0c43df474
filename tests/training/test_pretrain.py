"""Synthetic pretraining through the user's probe: stream, determinism, cancel, resume, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ptycho_engine import api, cli
from ptycho_engine.archive import load_archive, read_archive_config
from ptycho_engine.config.execution import PyTorchExecutionConfig
from ptycho_engine.data.contract import load_scan, save_scan
from ptycho_engine.events import CancelToken, LogLine, RunFinished, StepProgress
from ptycho_engine.simulate.simulator import simulate_scan
from ptycho_engine.training.synthetic import (ReferenceSet, SyntheticGroupStream, SyntheticSetup, check_setup,
                                              estimate_step, simulate_object)

SYNTH = dict(n_objects=3, groups_per_object=6, object_size=96, step=8.0, shuffle_objects=2)
TRAIN = dict(n_filters_scale=1, nepochs=1, batch_size=6)


@pytest.fixture(scope="module")
def probe_scan(tmp_path_factory) -> Path:
    """A user's scan: focused probe (phase structure), 1e5 photons."""
    scan = simulate_scan("grf", "focused", "fermat", N=64, n_positions=20, object_size=110, nphotons=1e5, seed=5)
    return save_scan(tmp_path_factory.mktemp("pre") / "user.npz", scan)


def _exe(**kwargs) -> PyTorchExecutionConfig:
    return PyTorchExecutionConfig(**{"accelerator": "cpu", "logger_backend": "none", "preview_every_n_epochs": 0,
                                     **kwargs})


def _pretrain(probe_scan: Path, out: Path, synthetic: dict | None = None, cancel: CancelToken | None = None,
              on_event=None, exe: dict | None = None, **overrides):
    payload = api.create_pretraining_payload(probe_scan, out, {**TRAIN, **overrides}, {**SYNTH, **(synthetic or {})},
                                             _exe(**(exe or {})))
    return api.pretrain(payload, on_event=on_event or (lambda e: None), cancel=cancel)


def _weights(archive: Path) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in load_archive(archive).model.state_dict().items()}


def _setup(probe: np.ndarray, **kwargs) -> SyntheticSetup:
    base = dict(probe=probe, N=64, nphotons=1e5, step=8.0, object_size=96, kinds=("lines", "grf", "cells"),
                groups_per_object=6, gridsize=1, neighbor_count=4, seed=3)
    return SyntheticSetup(**{**base, **kwargs})


def test_stream_cycles_every_family_with_bounded_memory(probe_scan):
    probe = load_scan(probe_scan).probe
    setup = _setup(probe)
    stream = SyntheticGroupStream(setup, reference_scale=1.0, n_objects=6, shuffle_objects=2)
    items = list(stream)
    assert len(items) == len(stream) == 36
    assert stream.objects_generated == 6 and dict(stream.kinds_generated) == {"lines": 2, "grf": 2, "cells": 2}
    assert stream.peak_buffered_groups <= 2 * setup.groups_per_object  # never more than 2 objects' groups held
    x, rel, idx = items[0]
    assert x.shape == (1, 64, 64) and x.dtype == torch.float32 and rel.shape == (1, 2) and idx.shape == (1,)
    # the same epoch is the same stream; the next epoch has new objects
    again = list(stream)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(items, again))
    stream.set_epoch(1)
    assert not torch.equal(torch.stack([i[0] for i in list(stream)]), torch.stack([i[0] for i in items]))


def test_objects_vary_in_contrast_and_reference_objects_are_not_training_objects(probe_scan):
    setup = _setup(load_scan(probe_scan).probe)
    sims = [simulate_object(setup, (0, 0, i)) for i in range(3)]
    assert [s.kind for s in sims] == ["lines", "grf", "cells"]
    assert len({round(s.amp_min, 6) for s in sims}) == 3 and len({round(s.phase_max, 6) for s in sims}) == 3
    assert all(0.1 <= s.amp_min <= 0.95 and 0.1 <= s.phase_max <= np.pi / 2 for s in sims)
    reference = simulate_object(setup, (1, 0))
    assert not np.array_equal(reference.grouped.diffraction, sims[0].grouped.diffraction)
    # only the patterns the groups use are simulated
    assert len(sims[0].grouped.diffraction) == setup.groups_per_object and sims[0].grouped.groups.max() < 6


def test_step_estimate_and_geometry_checks(probe_scan):
    xy = np.stack(np.meshgrid(np.arange(5) * 7.0, np.arange(4) * 7.0), -1).reshape(-1, 2)
    assert estimate_step(xy) == pytest.approx(7.0)
    with pytest.raises(ValueError, match="fewer than 2"):
        estimate_step(xy[:1])
    with pytest.raises(ValueError, match="groups_per_object 500"):
        check_setup(_setup(load_scan(probe_scan).probe, groups_per_object=500))


@pytest.mark.slow
def test_same_seed_same_weights_and_another_seed_differs(probe_scan, tmp_path):
    events: list = []
    first = _pretrain(probe_scan, tmp_path / "a", on_event=events.append)
    second = _pretrain(probe_scan, tmp_path / "b")
    other = _pretrain(probe_scan, tmp_path / "c", seed=7)
    assert first.status == second.status == "completed"
    a, b, c = (_weights(r.archive_path) for r in (first, second, other))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a if k.startswith("generator"))
    # the physics uses the user's probe, unchanged
    loaded = load_archive(first.archive_path)
    np.testing.assert_array_equal(loaded.model.probe.numpy(), load_scan(probe_scan).probe)
    assert any("pretraining on synthetic objects" in e.message and "user.npz" in e.message
               for e in events if isinstance(e, LogLine))
    record = read_archive_config(first.archive_path)["training"]["synthetic_pretraining"]
    assert record["object_kinds"] == ["lines", "grf", "cells"] and record["nphotons"] == 1e5


@pytest.mark.slow
def test_cancel_within_one_batch_writes_an_archive_and_physics_uses_the_scans_probe(probe_scan, tmp_path,
                                                                                    monkeypatch):
    from ptycho_engine.simulate import simulator

    probes: list[np.ndarray] = []
    original = simulator.forward_patterns

    def recording(obj, probe, positions):
        probes.append(np.array(probe))
        return original(obj, probe, positions)

    monkeypatch.setattr(simulator, "forward_patterns", recording)
    token = CancelToken()
    steps: list[int] = []
    events: list = []

    def on_event(event):
        events.append(event)
        if isinstance(event, StepProgress):
            steps.append(event.step)
            token.cancel()

    result = _pretrain(probe_scan, tmp_path / "cancel", cancel=token, on_event=on_event, nepochs=3)
    assert result.status == "cancelled" and steps == [1]
    assert isinstance(events[-1], RunFinished) and events[-1].status == "cancelled"
    assert np.isfinite(load_archive(result.archive_path).model.gain)
    user_probe = load_scan(probe_scan).probe
    assert probes and all(np.array_equal(p, user_probe) for p in probes)  # simulation: the user's probe
    np.testing.assert_array_equal(load_archive(result.archive_path).model.probe.numpy(), user_probe)  # physics


@pytest.mark.slow
def test_resume_sees_the_stream_an_uninterrupted_run_saw(probe_scan, tmp_path):
    straight = _pretrain(probe_scan, tmp_path / "straight", nepochs=2)
    _pretrain(probe_scan, tmp_path / "resumed", nepochs=1)
    resumed = _pretrain(probe_scan, tmp_path / "resumed", nepochs=2, exe={"resume": True})
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    a, b = _weights(straight.archive_path), _weights(resumed.archive_path)
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_cli_pretrain_then_infer_and_fine_tune(probe_scan, tmp_path):
    out = tmp_path / "pre"
    rc = cli.main(["pretrain", "--probe-from", str(probe_scan), "--output-dir", str(out), "--n-objects", "3",
                   "--groups-per-object", "6", "--object-size", "96", "--nepochs", "1", "--batch-size", "6",
                   "--n-filters-scale", "1", "--val-data", str(probe_scan), "--logger-backend", "none",
                   "--preview-every-n-epochs", "0", "-q"])
    assert rc == cli.EXIT_OK and (out / "wts.h5.zip").is_file()
    history = json.loads((out / "history.json").read_text())
    assert np.isfinite(history[0]["val_loss"])  # validated on the user's scan
    record = json.loads((out / "config.json").read_text())["synthetic_pretraining"]
    assert record["step"] == pytest.approx(estimate_step(load_scan(probe_scan).positions))
    assert cli.main(["infer", "--model", str(out), "--test-data", str(probe_scan), "--output-dir",
                     str(tmp_path / "recon"), "-q"]) == cli.EXIT_OK
    assert cli.main(["train", "--train-data", str(probe_scan), "--output-dir", str(tmp_path / "fine"),
                     "--init-model", str(out), "--nepochs", "1", "--n-groups", "8", "--batch-size", "4",
                     "--n-filters-scale", "1", "--logger-backend", "none", "--no-enable-checkpointing",
                     "--preview-every-n-epochs", "0", "-q"]) == cli.EXIT_OK


def test_reference_set_units(probe_scan):
    setup = _setup(load_scan(probe_scan).probe)
    ref = ReferenceSet(setup, 2)
    assert len(ref) == 2 * setup.groups_per_object
    # every object normalised by its own statistics: mean energy (N/2)^2 / a_ref^2 per object
    G = setup.groups_per_object
    for j in range(len(ref.objects)):
        x = torch.stack([item[0] for item in ref.items[j * G:(j + 1) * G]])
        energy = float(x.double().square().sum((-2, -1)).mean())
        assert energy == pytest.approx((32 / ref.input_scale) ** 2, rel=1e-5)
    assert ref.counts_scale == pytest.approx(1e5 * ref.input_scale ** 2 / 32 ** 2)
