"""Training on several scans: per-scan probes, exposures and statistics, mixed batches, checks."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ptycho_engine import api, cli
from ptycho_engine.archive import load_archive, read_archive_config
from ptycho_engine.config.execution import PyTorchExecutionConfig
from ptycho_engine.data.contract import DataContractError, save_scan
from ptycho_engine.events import LogLine
from ptycho_engine.simulate.simulator import simulate_scan

TINY = dict(n_filters_scale=1, nepochs=1, n_groups=16, batch_size=8)
EXE = PyTorchExecutionConfig(accelerator="cpu", logger_backend="none", enable_checkpointing=False,
                             preview_every_n_epochs=0)


def _sim(path: Path, probe: str, nphotons: float, seed: int, N: int = 64, n: int = 20) -> Path:
    scan = simulate_scan("grf", probe, "fermat", N=N, n_positions=n, object_size=110 if N == 64 else 60,
                         nphotons=nphotons, seed=seed)
    return save_scan(path, scan)


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict[str, Path]:
    """Two training scans (disk probe 1e6 photons, focused probe 1e4), a validation scan, an N=32 scan."""
    root = tmp_path_factory.mktemp("multi")
    folder = root / "both"
    folder.mkdir()
    return {
        "a": _sim(folder / "a_disk.npz", "disk", 1e6, 1),
        "b": _sim(folder / "b_focused.npz", "focused", 1e4, 2),
        "val": _sim(root / "val.npz", "focused", 1e5, 3),
        "small": _sim(root / "n32.npz", "disk", 1e6, 4, N=32),
        "folder": folder,
    }


def _payload(data, out: Path, **overrides):
    return api.create_training_payload(data, out, {**TINY, **overrides}, EXE)


def _scan_set(payload):
    from ptycho_engine.data.cache import open_scan
    from ptycho_engine.training.run import check_scan
    from ptycho_engine.training.runtime import explicitly_set
    from ptycho_engine.training.scans import compute_scales, prepare_scans

    cfg = payload.tf_training_config
    scan_set = prepare_scans(cfg, open_scan, explicitly_set(payload, "nphotons"), check=check_scan)
    compute_scales(scan_set)
    return scan_set


def test_two_scans_with_different_probes_and_exposures_train_together(scans, tmp_path):
    events: list = []
    result = api.train(_payload([scans["a"], scans["b"]], tmp_path / "run"), on_event=events.append)
    assert result.status == "completed" and np.isfinite(result.history[0]["train_loss"])
    lines = [e.message for e in events if isinstance(e, LogLine)]
    assert any("2 training scan(s)" in m for m in lines)
    assert any(m.startswith("scan 2/2 b_focused.npz") and "nphotons 10000" in m for m in lines)
    cfg = read_archive_config(result.archive_path)
    assert cfg["training"]["train_data_files"] == [str(scans["a"]), str(scans["b"])]
    loaded = load_archive(result.archive_path)
    from ptycho_engine.data.contract import load_scan

    np.testing.assert_array_equal(loaded.model.probe.numpy(), load_scan(scans["a"]).probe)  # the first scan's
    np.testing.assert_allclose(loaded.extras["scan_nphotons"], [1e6, 1e4])


def test_each_scan_keeps_its_photons_unless_nphotons_is_set(scans, tmp_path):
    own = _scan_set(_payload([scans["a"], scans["b"]], tmp_path / "own"))
    assert [s.nphotons for s in own.scans] == [1e6, 1e4]
    forced = _scan_set(_payload([scans["a"], scans["b"]], tmp_path / "forced", nphotons=5e5))
    assert [s.nphotons for s in forced.scans] == [5e5, 5e5]


def test_shuffled_batches_mix_groups_of_both_scans(scans, tmp_path):
    from ptycho_engine.training.data import make_loader

    scan_set = _scan_set(_payload([scans["a"], scans["b"]], tmp_path / "mix"))
    ds = scan_set.train_dataset()
    assert len(ds) == scan_set.n_train() == sum(len(s.train_ids) for s in scan_set.scans)
    batches = [b[3].tolist() for b in make_loader(ds, 8, True, 0, 42)]
    assert sorted(sum(batches, [])) == [0] * len(scan_set.scans[0].train_ids) + [1] * len(scan_set.scans[1].train_ids)
    assert any(set(b) == {0, 1} for b in batches)
    # items carry their scan's amplitudes in scan-0 units and its counts scale in those units
    a, b = scan_set.scans
    x_b, _, idx_b, sid, counts = ds[len(a.train_ids)]
    factor = b.input_scale / a.input_scale
    np.testing.assert_allclose(x_b.numpy(), b.scan.diffraction[idx_b.numpy()] * factor, rtol=1e-6)
    assert int(sid) == 1 and float(counts) == pytest.approx(b.counts_scale / factor ** 2, rel=1e-6)


def test_mixed_batch_loss_is_the_sum_of_single_scan_losses(scans, tmp_path):
    """Each item uses its own scan's probe and counts: the loss of a mixed batch is the item-weighted
    sum of the two scans' losses, each equal to that of a one-scan model in the scan's own units."""
    from ptycho_engine.model.loss import compute_loss
    from ptycho_engine.model.pinn import PtychoPINN
    from ptycho_engine.training.data import GroupDataset
    from ptycho_engine.training.fit import loss_weights
    from ptycho_engine.training.module import PinnModule
    from ptycho_engine.training.scans import calibrate_bank

    payload = _payload([scans["a"], scans["b"]], tmp_path / "loss")
    cfg = payload.tf_training_config
    scan_set = _scan_set(payload)
    a, b = scan_set.scans
    torch.manual_seed(0)
    model = PtychoPINN.from_config(cfg.model, cfg, a.scan.probe, input_scale=a.input_scale,
                                   counts_scale=a.counts_scale)
    g0, bank = calibrate_bank(model, scan_set)
    module = PinnModule(model, loss_weights(cfg), scan_probes=bank).eval()
    ds = scan_set.train_dataset()
    n_a = 3
    items = [ds[i] for i in range(n_a)] + [ds[len(a.train_ids) + i] for i in range(2)]
    collate = torch.utils.data.default_collate

    def module_loss(batch):
        with torch.no_grad():
            probe, counts = module.batch_physics(batch)
            pred = model(batch[0], batch[1], probe)
            return compute_loss(pred, batch[0], counts, model.input_scale, module.weights)["loss"]

    mixed = module_loss(collate(items))
    only_a, only_b = module_loss(collate(items[:n_a])), module_loss(collate(items[n_a:]))
    torch.testing.assert_close(mixed, (n_a * only_a + 2 * only_b) / 5, rtol=1e-5, atol=0)
    # scan b alone, in its own units: its probe, its input and counts scales, its calibrated gain
    alone = PtychoPINN.from_config(cfg.model, cfg, b.scan.probe, input_scale=b.input_scale,
                                   counts_scale=b.counts_scale)
    alone.generator.load_state_dict(model.generator.state_dict())
    raw_ds = GroupDataset(b.grouped, b.train_ids)
    g_b = alone.calibrate_gain(*collate([raw_ds[i] for i in range(min(64, len(raw_ds)))])[:2])
    raw = collate([raw_ds[i] for i in range(2)])
    with torch.no_grad():
        alone.eval()
        # one trainable gain for all scans: the bank holds g_b - g_0, so shift the one-scan model alike
        alone.log_gain.fill_(g_b + float(model.log_gain) - g0)
        pred_b = alone(raw[0], raw[1])
        expected_b = compute_loss(pred_b, raw[0], alone.counts_scale, alone.input_scale, module.weights)["loss"]
    torch.testing.assert_close(only_b, expected_b, rtol=1e-4, atol=0)
    assert not torch.allclose(only_b, module_loss(collate([(*it[:3], torch.tensor(0), it[4]) for it in items[n_a:]])))


def test_mismatched_pattern_size_names_both_files_and_shapes(scans, tmp_path):
    with pytest.raises(DataContractError) as info:
        _payload([scans["a"], scans["small"]], tmp_path / "bad")
    text = str(info.value)
    assert str(scans["a"]) in text and str(scans["small"]) in text and "64x64" in text and "32x32" in text


def test_mismatched_scan_refused_by_the_trainer_too(scans, tmp_path):
    """A payload built by hand (no factory checks) is still refused when the scans are opened."""
    from dataclasses import replace

    payload = _payload(scans["a"], tmp_path / "bypass")
    cfg = payload.tf_training_config
    payload.tf_training_config = replace(cfg, train_data_files=(scans["a"], scans["small"]))
    with pytest.raises(DataContractError, match="n32.npz"):
        api.train(payload)


def test_folder_argument_takes_every_scan_in_it_sorted(scans, tmp_path):
    payload = _payload(scans["folder"], tmp_path / "folder")
    assert payload.tf_training_config.training_files == (scans["a"], scans["b"])
    assert payload.tf_training_config.train_data_file == scans["a"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="holds no .npz"):
        _payload(empty, tmp_path / "o")
    with pytest.raises(ValueError, match="given twice"):
        _payload([scans["a"], scans["folder"]], tmp_path / "o")


def test_validation_scan_replaces_the_split(scans, tmp_path):
    payload = _payload([scans["a"]], tmp_path / "val", validation_data_file=scans["val"])
    scan_set = _scan_set(payload)
    assert scan_set.mixed and scan_set.validation is not None
    assert all(len(s.val_ids) == 0 for s in scan_set.scans)  # every training group trains
    val = scan_set.val_dataset()
    assert len(val) == scan_set.validation.grouped.n_groups and {int(val[i][3]) for i in range(len(val))} == {1}
    assert scan_set.validation.nphotons == 1e5


def test_cli_repeated_train_data_and_val_data(scans, tmp_path):
    out = tmp_path / "cli"
    rc = cli.main(["train", "--train-data", str(scans["a"]), "--train-data", str(scans["b"]),
                   "--val-data", str(scans["val"]), "--output-dir", str(out), "--nepochs", "1", "--n-groups", "12",
                   "--batch-size", "8", "--n-filters-scale", "1", "--logger-backend", "none",
                   "--no-enable-checkpointing", "--preview-every-n-epochs", "0", "-q"])
    assert rc == cli.EXIT_OK
    history = json.loads((out / "history.json").read_text())
    assert history[0]["val_loss"] is not None and np.isfinite(history[0]["val_loss"])
    training = json.loads((out / "config.json").read_text())["tf_training_config"]
    assert training["train_data_files"] == [str(scans["a"]), str(scans["b"])]
    assert training["validation_data_file"] == str(scans["val"])
    assert cli.main(["train", "--train-data", str(scans["a"]), "--train-data", str(scans["small"]),
                     "--output-dir", str(tmp_path / "bad"), "--n-groups", "4", "-q"]) == cli.EXIT_DATA
