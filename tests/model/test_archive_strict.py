"""Issue 11 items 4, 8, 9: archive bombs refused from the zip directory / dataset headers before
reading, strict config and weights, and bad content always an ArchiveError naming file and key."""
from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import h5py
import numpy as np
import pytest
import torch

from ptycho_engine.archive import ArchiveError, load_archive, read_archive_config, read_manifest, save_archive
from ptycho_engine.config.canonical import ModelConfig, TrainingConfig, config_to_dict
from ptycho_engine.model.pinn import PtychoPINN


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    t = config_to_dict(TrainingConfig(model=ModelConfig(N=64, gridsize=1, n_filters_scale=1), n_groups=8))
    cfg = {"model": t.pop("model"), "training": t}
    model = PtychoPINN.from_config(cfg["model"], cfg["training"], np.ones((64, 64), np.complex64))
    path = tmp_path_factory.mktemp("strict") / "wts.h5.zip"
    save_archive(path, model, cfg, {"N": 64})
    return path


def _rewrite(src, dst, replace=None, add=None, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression=compression) as zout:
        for name in zin.namelist():
            zout.writestr(name, (replace or {}).get(name, zin.read(name)))
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def _weights_with(src, edit):
    buf = io.BytesIO(zipfile.ZipFile(src).read("weights.h5"))
    with h5py.File(buf, "a") as h5:
        edit(h5)
    return buf.getvalue()


def _config(src):
    return json.loads(zipfile.ZipFile(src).read("config.json"))


def test_inflating_weights_member_is_refused_from_the_directory_without_reading(saved, tmp_path):
    # 64 MiB of zeros deflate to ~64 kB; the tiny architecture needs far less: refused, nothing inflated
    bomb = _rewrite(saved, tmp_path / "bomb.zip", replace={"weights.h5": bytes(64 << 20)})
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match=r"'weights.h5' would unpack to 67108864 bytes.*refused before reading"):
            load_archive(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


@pytest.mark.parametrize("reader", [read_manifest, read_archive_config, load_archive])
def test_bloated_json_member_is_refused_before_reading(saved, tmp_path, reader):
    bloated = json.dumps({"format_version": 1, "pad": " " * (4 << 20)}).encode()
    bomb = _rewrite(saved, tmp_path / "manifest_bomb.zip", replace={"manifest.json": bloated})
    with pytest.raises(ArchiveError, match="'manifest.json' would unpack to"):
        reader(bomb)


def test_extra_large_compressed_dataset_inside_weights_is_refused_by_its_header(saved, tmp_path):
    def edit(h5):
        h5["extras"].create_dataset("payload", shape=(64 << 20,), dtype="f4", compression="gzip", fillvalue=0)

    bomb = _rewrite(saved, tmp_path / "h5bomb.zip", replace={"weights.h5": _weights_with(saved, edit)})
    with pytest.raises(ArchiveError, match="'extras/payload' holds 268435456 bytes"):
        load_archive(bomb)


def test_unknown_member_is_refused(saved, tmp_path):
    with pytest.raises(ArchiveError, match=r"unexpected archive member\(s\) \['notes.txt'\]"):
        load_archive(_rewrite(saved, tmp_path / "extra.zip", add={"notes.txt": b"hi"}))


def test_duplicate_member_is_refused(saved, tmp_path):
    with pytest.warns(UserWarning):  # zipfile warns about the duplicate name while writing
        dup = _rewrite(saved, tmp_path / "dup.zip", add={"config.json": b"{}"})
    with pytest.raises(ArchiveError, match="appear more than once"):
        load_archive(dup)


def test_unknown_group_in_weights_is_refused(saved, tmp_path):
    data = _weights_with(saved, lambda h5: h5.create_group("hidden"))
    with pytest.raises(ArchiveError, match=r"weights.h5 has unknown entries \['hidden'\]"):
        load_archive(_rewrite(saved, tmp_path / "group.zip", replace={"weights.h5": data}))


def test_integer_weights_are_refused_not_cast(saved, tmp_path):
    def edit(h5):
        sd = h5["state_dict"]
        key = next(k for k in sd if sd[k].dtype.kind == "f" and sd[k].ndim > 1 and k != "probe_ri")
        data = sd[key][()]
        del sd[key]
        sd.create_dataset(key, data=np.round(data).astype(np.int32))

    with pytest.raises(ArchiveError, match="expected floating-point values, found dtype int32"):
        load_archive(_rewrite(saved, tmp_path / "int.zip", replace={"weights.h5": _weights_with(saved, edit)}))


def test_boolean_format_version_is_refused(saved, tmp_path):
    manifest = json.loads(zipfile.ZipFile(saved).read("manifest.json"))
    manifest["format_version"] = True
    bad = _rewrite(saved, tmp_path / "bool.zip", replace={"manifest.json": json.dumps(manifest)})
    with pytest.raises(ArchiveError, match="'format_version': expected an integer, found True"):
        read_manifest(bad)


def test_unknown_config_key_is_refused(saved, tmp_path):
    cfg = _config(saved)
    cfg["model"]["n_filterz_scale"] = 2
    bad = _rewrite(saved, tmp_path / "unknown.zip", replace={"config.json": json.dumps(cfg)})
    with pytest.raises(ArchiveError, match=r"section 'model' has unknown key\(s\) \['n_filterz_scale'\]"):
        load_archive(bad)


def test_training_section_of_the_wrong_type_is_an_archive_error(saved, tmp_path):
    cfg = _config(saved)
    cfg["training"] = "x"
    bad = _rewrite(saved, tmp_path / "training.zip", replace={"config.json": json.dumps(cfg)})
    for reader in (read_archive_config, load_archive):
        with pytest.raises(ArchiveError, match="key 'training': expected an object"):
            reader(bad)


def test_deeply_nested_json_is_an_archive_error(saved, tmp_path):
    bad = _rewrite(saved, tmp_path / "nested.zip", replace={"config.json": "[" * 100_000 + "]" * 100_000})
    with pytest.raises(ArchiveError, match="config.json is nested too deeply"):
        read_archive_config(bad)


def test_save_archive_refuses_non_finite_weights(tmp_path):
    t = config_to_dict(TrainingConfig(model=ModelConfig(N=64, gridsize=1, n_filters_scale=1), n_groups=8))
    cfg = {"model": t.pop("model"), "training": t}
    model = PtychoPINN.from_config(cfg["model"], cfg["training"], np.ones((64, 64), np.complex64))
    with torch.no_grad():
        next(p for p in model.parameters() if p.ndim > 1).view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        save_archive(tmp_path / "wts.h5.zip", model, cfg, {})
    assert not (tmp_path / "wts.h5.zip").exists()


@pytest.mark.parametrize("value, found", [("64", "the string '64'"), (65, "int 65"), (True, "bool True"),
                                          (64.0, "float 64.0")])
@pytest.mark.parametrize("reader", [read_archive_config, load_archive])
def test_pattern_size_that_is_not_a_supported_integer_names_file_and_key(saved, tmp_path, reader, value, found):
    cfg = _config(saved)
    cfg["model"]["N"] = value
    bad = _rewrite(saved, tmp_path / "n.zip", replace={"config.json": json.dumps(cfg)})
    with pytest.raises(ArchiveError, match=r"n\.zip: config\.json key 'model\.N': expected an integer in "
                                           r"\(64, 128, 256\), found " + found.replace(".", r"\.")):
        reader(bad)
