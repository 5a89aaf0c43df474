"""wts.h5.zip: round trip, cheap config read, and a corruption corpus that must raise ArchiveError."""
from __future__ import annotations

import io
import json
import zipfile

import h5py
import numpy as np
import pytest
import torch

from ptycho_engine.archive import ArchiveError, load_archive, read_archive_config, save_archive
from ptycho_engine.config.canonical import ModelConfig, TrainingConfig, config_to_dict
from ptycho_engine.model.pinn import PtychoPINN


def _config(gridsize=1, n_filters_scale=1):
    t = config_to_dict(TrainingConfig(model=ModelConfig(N=64, gridsize=gridsize, n_filters_scale=n_filters_scale),
                                      n_groups=8))
    return {"model": t.pop("model"), "training": t}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(1)
    cfg = _config(gridsize=2)
    probe = np.exp(1j * np.linspace(0, 1, 64 * 64)).reshape(64, 64).astype(np.complex64)
    model = PtychoPINN.from_config(cfg["model"], cfg["training"], probe, input_scale=1.7, counts_scale=321.0,
                                   log_gain=0.25)
    path = tmp_path_factory.mktemp("arch") / "wts.h5.zip"
    save_archive(path, model, cfg, {"N": 64, "gridsize": 2}, extras={"nphotons": 1e6})
    return path, model, cfg


def _rewrite(src, dst, replace=None, drop=()):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            data = (replace or {}).get(name, zin.read(name))
            zout.writestr(name, data)
    return dst


def _weights_with(src, edit):
    raw = zipfile.ZipFile(src).read("weights.h5")
    buf = io.BytesIO(raw)
    with h5py.File(buf, "a") as h5:
        edit(h5)
    return buf.getvalue()


def test_round_trip_identical_predictions(saved):
    path, model, cfg = saved
    loaded = load_archive(path)
    x = torch.rand(2, 4, 64, 64)
    rel = torch.tensor([[-2.0, -2.0], [2.0, -2.0], [-2.0, 2.0], [2.0, 2.0]]).expand(2, 4, 2)
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded.model(x, rel), model(x, rel))
        assert torch.equal(loaded.model.predict_object(x, rel), model.predict_object(x, rel))
    assert loaded.model.gain == pytest.approx(np.exp(0.25))
    assert float(loaded.model.input_scale) == pytest.approx(1.7)
    assert float(loaded.model.counts_scale) == pytest.approx(321.0)
    assert loaded.manifest["format_version"] == 1 and loaded.manifest["backend"] == "pytorch"
    assert loaded.params == {"N": 64, "gridsize": 2}
    assert loaded.extras["nphotons"] == 1e6 and loaded.extras["probe"].dtype == np.complex64
    assert not loaded.model.training and loaded.device == "cpu"
    assert next(loaded.model.parameters()).device.type == "cpu"


def test_read_archive_config_is_the_saved_config(saved):
    path, _, cfg = saved
    got = read_archive_config(path)
    assert got["model"] == cfg["model"] and got["training"]["n_groups"] == 8
    assert set(got) == {"model", "training"}


def test_archive_written_atomically_leaves_no_temp(saved):
    path, _, _ = saved
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_missing_file(tmp_path):
    with pytest.raises(ArchiveError, match="not found"):
        load_archive(tmp_path / "nope.zip")


def test_garbage_file(tmp_path):
    bad = tmp_path / "wts.h5.zip"
    bad.write_bytes(b"this is not a zip file at all" * 10)
    with pytest.raises(ArchiveError, match="not a valid"):
        load_archive(bad)
    with pytest.raises(ArchiveError, match="not a valid"):
        read_archive_config(bad)


def test_truncated_zip(saved, tmp_path):
    path, _, _ = saved
    raw = path.read_bytes()
    bad = tmp_path / "trunc.zip"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ArchiveError):
        load_archive(bad)


def test_missing_weights_member(saved, tmp_path):
    path, _, _ = saved
    bad = _rewrite(path, tmp_path / "noweights.zip", drop=("weights.h5",))
    with pytest.raises(ArchiveError, match="weights.h5.*missing"):
        load_archive(bad)


def test_missing_config_member(saved, tmp_path):
    path, _, _ = saved
    bad = _rewrite(path, tmp_path / "noconfig.zip", drop=("config.json",))
    with pytest.raises(ArchiveError, match="config.json.*missing"):
        read_archive_config(bad)


def test_newer_format_version(saved, tmp_path):
    path, _, _ = saved
    manifest = json.loads(zipfile.ZipFile(path).read("manifest.json"))
    manifest["format_version"] = 99
    bad = _rewrite(path, tmp_path / "newer.zip", replace={"manifest.json": json.dumps(manifest)})
    with pytest.raises(ArchiveError, match="newer"):
        load_archive(bad)
    with pytest.raises(ArchiveError, match="newer"):
        read_archive_config(bad)


def test_shape_mismatch_wrong_architecture(saved, tmp_path):
    path, _, cfg = saved
    wrong = {"model": dict(cfg["model"], n_filters_scale=2), "training": cfg["training"]}
    bad = _rewrite(path, tmp_path / "wrongarch.zip", replace={"config.json": json.dumps(wrong)})
    with pytest.raises(ArchiveError, match="shape.*wrong architecture"):
        load_archive(bad)


def test_missing_tensor(saved, tmp_path):
    path, _, _ = saved
    raw = _weights_with(path, lambda h5: h5["state_dict"].pop("log_gain"))
    bad = _rewrite(path, tmp_path / "missing.zip", replace={"weights.h5": raw})
    with pytest.raises(ArchiveError, match="missing tensor.*log_gain"):
        load_archive(bad)


def test_unexpected_tensor(saved, tmp_path):
    path, _, _ = saved
    raw = _weights_with(path, lambda h5: h5["state_dict"].create_dataset("attention.weight", data=np.ones(3)))
    bad = _rewrite(path, tmp_path / "unexpected.zip", replace={"weights.h5": raw})
    with pytest.raises(ArchiveError, match="unexpected tensor.*attention"):
        load_archive(bad)


def test_corrupt_weights_bytes(saved, tmp_path):
    path, _, _ = saved
    bad = _rewrite(path, tmp_path / "badh5.zip", replace={"weights.h5": b"\x89HDF garbage"})
    with pytest.raises(ArchiveError, match="weights.h5"):
        load_archive(bad)


def test_invalid_json(saved, tmp_path):
    path, _, _ = saved
    bad = _rewrite(path, tmp_path / "badjson.zip", replace={"config.json": b"{not json"})
    with pytest.raises(ArchiveError, match="not valid JSON"):
        load_archive(bad)
