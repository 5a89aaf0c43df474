"""Reading the reference implementation's own wts.h5.zip (PtychoPINN, TensorFlow backend)."""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ptycho_engine import api, cli
from ptycho_engine.archive import ArchiveError, load_archive, read_archive_config, read_manifest
from ptycho_engine.io.safe_pickle import safe_loads

from .archives_support import REFERENCE_ARCHIVE, SHARED_ARCHIVE

TOLERANCE = 1e-5


def test_reference_archive_reproduces_the_reference_patches(reference_archive: Path, reference_patches) -> None:
    x = reference_patches["diffraction"]  # (8, 64, 64): gridsize 1 takes (B, N, N) ...
    patches = api.predict_patches(reference_archive, x)
    assert patches.shape == x.shape and patches.dtype == np.complex64  # ... and gives the same shape back
    expected = reference_patches["object_patches"]
    assert np.abs(expected).max() > 0.1  # a real object, not zeros
    assert np.abs(patches - expected).max() <= TOLERANCE


@pytest.mark.skipif(not SHARED_ARCHIVE.is_file(), reason="the shared fixture folder is not beside this checkout")
def test_the_full_shared_archive_reproduces_the_reference_patches(reference_patches) -> None:
    loaded = load_archive(SHARED_ARCHIVE)
    patches = api.predict_patches(loaded, reference_patches["diffraction"][:, None])  # (B, 1, N, N) works too
    assert patches.shape == (8, 1, 64, 64)
    assert np.abs(patches[:, 0] - reference_patches["object_patches"]).max() <= TOLERANCE


def test_imported_model_carries_the_reference_geometry_probe_and_scale(reference_archive: Path) -> None:
    archive = reference_archive / "wts.h5.zip"
    manifest = read_manifest(archive)
    assert manifest["format"] == "ptychopinn-tf-keras3" and manifest["backend"] == "tensorflow"
    assert manifest["intensity_scale"] == pytest.approx(31.25, rel=1e-6)
    model_cfg = read_archive_config(archive)["model"]
    assert {k: model_cfg[k] for k in ("N", "gridsize", "n_filters_scale", "amp_activation", "probe_big",
                                      "pad_object", "generator")} == {
        "N": 64, "gridsize": 1, "n_filters_scale": 1, "amp_activation": "sigmoid", "probe_big": True,
        "pad_object": True, "generator": "cnn"}
    loaded = load_archive(archive)
    with zipfile.ZipFile(archive) as zf:
        probe = safe_loads(zf.read("diffraction_to_obj/params.dill"), "params")["probe"][..., 0]
    np.testing.assert_array_equal(loaded.model.probe.numpy(), probe)
    assert float(loaded.model.input_scale) == pytest.approx(1 / 31.25, rel=1e-6)


def test_infer_reconstructs_a_scan_with_the_reference_model(tmp_path: Path, reference_archive: Path) -> None:
    scan = tmp_path / "scan.npz"
    assert cli.main(["simulate", "--output", str(scan), "--n-positions", "12", "--object-size", "96"]) == 0
    assert cli.main(["infer", "--model", str(reference_archive), "--test-data", str(scan),
                     "--output-dir", str(tmp_path / "out"), "-q"]) == 0
    with np.load(tmp_path / "out" / "reconstruction.npz") as z:
        obj = z["object"] if "object" in z.files else z[z.files[0]]
    assert np.isfinite(obj).all() and np.abs(obj).max() > 0


def test_each_scan_is_normalised_the_way_the_reference_does(reference_archive: Path, reference_patches) -> None:
    from ptycho_engine.io.reference_archive import adapt_to_scan

    loaded = load_archive(reference_archive / "wts.h5.zip")
    raw = reference_patches["diffraction"] * 3.0  # the same patterns in other units
    a = adapt_to_scan(loaded, raw)
    assert a == pytest.approx(np.sqrt(32 ** 2 / (raw.astype(np.float64) ** 2).sum((1, 2)).mean()))
    # the network now sees a * raw, as the reference's does when fed s * a * raw
    ours = api.predict_patches(loaded, raw)
    s = loaded.extras["intensity_scale"]
    reference_fed = api.predict_patches(load_archive(reference_archive / "wts.h5.zip"), raw * a * s)
    assert np.abs(ours - reference_fed).max() <= TOLERANCE


def _rewrite(src: Path, dst: Path, replace: dict[str, bytes | None]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in replace:
                if replace[info.filename] is not None:
                    zout.writestr(info.filename, replace[info.filename])
            else:
                zout.writestr(info, zin.read(info.filename))
        for name, data in replace.items():
            if name not in zin.namelist() and data is not None:
                zout.writestr(name, data)
    return dst


def test_a_pickle_naming_os_system_is_refused_with_exit_3_and_nothing_written(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    folder = tmp_path / "evil"
    folder.mkdir()
    archive = _rewrite(REFERENCE_ARCHIVE, folder / "wts.h5.zip", {"diffraction_to_obj/params.dill": evil})
    with pytest.raises(ArchiveError, match=r"diffraction_to_obj/params\.dill.*'os\.system'"):
        load_archive(archive)
    scan = tmp_path / "scan.npz"
    assert cli.main(["simulate", "--output", str(scan), "--n-positions", "8", "--object-size", "80"]) == 0
    out = tmp_path / "out"
    assert cli.main(["infer", "--model", str(folder), "--test-data", str(scan), "--output-dir", str(out)]) == 3
    assert cli.main(["export", "--format", "ptychopinn", str(folder), str(tmp_path / "exp")]) == 3
    assert not marker.exists() and not out.exists() and not (tmp_path / "exp").exists()


def test_the_tensorflow_savedmodel_layout_is_refused_by_name(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    archive = _rewrite(REFERENCE_ARCHIVE, tmp_path / "wts.h5.zip", {
        "diffraction_to_obj/model.keras": None, "diffraction_to_obj/saved_model.pb": b"\x08\x01",
        "diffraction_to_obj/variables/variables.index": b"x"})
    with pytest.raises(ArchiveError, match=r"SavedModel layout.*saved_model\.pb.*model\.keras"):
        load_archive(archive)
    assert cli.main(["inspect", str(archive)]) == 3
    assert "saved_model.pb" in capsys.readouterr().err


def test_params_that_disagree_with_the_layer_graph_are_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(REFERENCE_ARCHIVE) as zf:
        params = safe_loads(zf.read("diffraction_to_obj/params.dill"), "params")
    params["amp_activation"] = "swish"  # the graph's 'amp' layer says sigmoid
    archive = _rewrite(REFERENCE_ARCHIVE, tmp_path / "wts.h5.zip",
                       {"diffraction_to_obj/params.dill": pickle.dumps(params, protocol=4)})
    with pytest.raises(ArchiveError, match=r"layer 'amp': expected activation 'swish'.*found 'sigmoid'"):
        load_archive(archive)


def test_unknown_members_are_refused(tmp_path: Path) -> None:
    archive = _rewrite(REFERENCE_ARCHIVE, tmp_path / "wts.h5.zip", {"diffraction_to_obj/extra.bin": b"?"})
    with pytest.raises(ArchiveError, match=r"unexpected member\(s\) \['diffraction_to_obj/extra\.bin'\]"):
        read_manifest(archive)


def test_patches_of_the_wrong_shape_name_what_the_model_takes(reference_archive: Path) -> None:
    with pytest.raises(ValueError, match=r"expects \(B, 64, 64\) or \(B, 1, 64, 64\), found shape \(2, 4, 64, 64\)"):
        api.predict_patches(reference_archive, np.zeros((2, 4, 64, 64), np.float32))


def test_a_graph_that_disagrees_with_params_probe_big_is_refused(tmp_path: Path) -> None:
    with zipfile.ZipFile(REFERENCE_ARCHIVE) as zf:
        params = safe_loads(zf.read("diffraction_to_obj/params.dill"), "params")
    params["probe.big"] = False  # the graph still has the border branch
    archive = _rewrite(REFERENCE_ARCHIVE, tmp_path / "wts.h5.zip",
                       {"diffraction_to_obj/params.dill": pickle.dumps(params, protocol=4)})
    with pytest.raises(ArchiveError, match=r"has convolutions for \['amp_head\.border_last'.*'probe_big': False"):
        load_archive(archive)


def test_weights_whose_header_claims_another_shape_are_refused_before_reading(tmp_path: Path) -> None:
    import h5py

    with zipfile.ZipFile(REFERENCE_ARCHIVE) as zf:
        keras_zip = zf.read("diffraction_to_obj/model.keras")
    with zipfile.ZipFile(io.BytesIO(keras_zip)) as k:
        members = {n: k.read(n) for n in k.namelist()}
    buf = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buf, "a") as h5:
        del h5["layers/conv2d/vars/0"]
        h5["layers/conv2d/vars"].create_dataset("0", shape=(3, 3, 1, 4096), dtype="f4", compression="gzip")
    members["model.weights.h5"] = buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as k:
        for name, data in members.items():
            k.writestr(name, data)
    archive = _rewrite(REFERENCE_ARCHIVE, tmp_path / "wts.h5.zip", {"diffraction_to_obj/model.keras": out.getvalue()})
    with pytest.raises(ArchiveError, match=r"layer 'conv2d' kernel: expected shape \(3, 3, 1, 32\).*found \(3, 3, 1, 4096\)"):
        load_archive(archive)
