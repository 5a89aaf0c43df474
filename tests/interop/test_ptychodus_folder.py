"""ptychodus batch folders and product files as scans: round trip, pairing, mapping, named errors, cache."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from ptycho_engine import api
from ptycho_engine.data.contract import load_scan
from ptycho_engine.data.errors import DataContractError
from ptycho_engine.io.ptychodus_batch import export_batch_folder
from ptycho_engine.io.scan_sources import detect_format, open_any_scan, resolve_scan

from .conftest import GEOMETRY, read_like_ptychodus, small_scan, write_foreign_folder


def _open(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_any_scan(path)


def test_npz_to_ptychodus_folder_and_back_is_the_same_scan(npz_scan: Path, tmp_path: Path) -> None:
    a = load_scan(npz_scan)
    folder = export_batch_folder(a, tmp_path / "batch")
    assert detect_format(folder) == ("ptychodus-folder", folder)
    b = _open(folder)
    np.testing.assert_allclose(b.xcoords, a.xcoords, rtol=0, atol=1e-9)
    np.testing.assert_allclose(b.ycoords, a.ycoords, rtol=0, atol=1e-9)
    np.testing.assert_allclose(b.diffraction, a.diffraction, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(b.probe, a.probe)
    np.testing.assert_array_equal(b.object_guess, a.object_guess)
    np.testing.assert_array_equal(b.scan_index, a.scan_index)
    assert b.nphotons == a.nphotons
    for key, value in GEOMETRY.items():
        assert b.geometry[key] == pytest.approx(value, rel=1e-12, abs=1e-18)
    # the far-field relation fills in the detector pixel: lambda z / (N dx)
    lam = 1.239841984e-6 / GEOMETRY["probe_energy_eV"]
    assert b.geometry["detector_pixel_size_m"] == pytest.approx(lam * 2.0 / (64 * 1e-8), rel=1e-9)
    summary = b.summary()
    assert summary.source_format == "ptychodus-folder" and summary.source_path == str(folder)


def test_a_scan_in_pixels_only_stays_in_pixels(tmp_path: Path) -> None:
    a = small_scan(geometry=None)
    a.object_guess = None  # the exporter writes a placeholder grid covering the positions
    b = _open(export_batch_folder(a, tmp_path / "batch"))
    assert b.geometry == {}
    assert b.object_guess is None
    np.testing.assert_allclose(b.xcoords, a.xcoords, atol=1e-9, rtol=0)
    np.testing.assert_allclose(b.ycoords, a.ycoords, atol=1e-9, rtol=0)


def test_the_exported_product_opens_with_ptychodus_reader(npz_scan: Path, tmp_path: Path) -> None:
    folder = export_batch_folder(load_scan(npz_scan), tmp_path / "batch")
    seen = read_like_ptychodus(folder / "product-in.h5")
    a = load_scan(npz_scan)
    np.testing.assert_allclose(seen["x_px"], a.xcoords, atol=1e-9, rtol=0)
    assert seen["meta"]["probe_energy_eV"] == 8000.0
    reader = pytest.importorskip("ptychodus.plugins.h5_product_file")  # the real one, where installed
    product = reader.H5ProductFileIO().read(folder / "product-in.h5")
    assert len(product.probe_positions) == a.n_patterns
    from ptychodus.api import io as ptychodus_io

    if hasattr(ptychodus_io, "load_diffraction_data"):  # ptychodus >= 1.7 reads the batch's patterns
        data = ptychodus_io.load_diffraction_data(folder / "diffraction.h5")
        np.testing.assert_array_equal(data._indexes, a.scan_index)


def test_a_foreign_folder_pairs_by_index_maps_like_ptychodus_and_masks_bad_pixels(tmp_path: Path) -> None:
    truth = write_foreign_folder(tmp_path / "f", modes=2)
    scan = _open(tmp_path / "f")
    order, pattern_idx = truth["order"], truth["pattern_idx"]
    # pattern k (storage order) has index pattern_idx[k]: its position is that index's position
    pos_row = (pattern_idx - 7) // 3
    np.testing.assert_allclose(scan.xcoords, truth["x_px"][pos_row], atol=1e-9, rtol=0)
    np.testing.assert_allclose(scan.ycoords, truth["y_px"][pos_row], atol=1e-9, rtol=0)
    np.testing.assert_array_equal(scan.scan_index, pattern_idx)
    counts = truth["counts"][order].astype(np.float64)
    good = ~truth["bad"]
    np.testing.assert_allclose(scan.diffraction[:, good], np.sqrt(counts[:, good]).astype(np.float32), rtol=1e-6)
    assert not scan.diffraction[:, truth["bad"]].any()
    np.testing.assert_array_equal(scan.bad_pixels, truth["bad"])
    assert scan.nphotons == pytest.approx(counts[:, good].sum() / counts.shape[0])
    np.testing.assert_array_equal(scan.probe, truth["probe"][0])
    assert any("modes" in w for w in scan.warnings)
    g = scan.geometry
    assert g["probe_energy_eV"] == 10000.0 and g["detector_distance_m"] == 1.5 and g["object_pixel_size_m"] == 2e-8
    assert g["origin_x_m"] == pytest.approx(truth["cx"] - truth["dx"] * (truth["W"] - 1) / 2)
    assert g["detector_pixel_size_m"] == 75e-6  # ptychodus 1.7 keeps it on the patterns
    # the product-in.h5 path and the diffraction.h5 path stand for the folder too
    assert detect_format(tmp_path / "f" / "product-in.h5")[0] == "ptychodus-folder"
    assert resolve_scan(tmp_path / "f" / "diffraction.h5") == resolve_scan(tmp_path / "f")


@pytest.mark.parametrize("change, key", [
    (dict(drop_attr="photon_energy_eV"), "@photon_energy_eV"),
    (dict(drop_attr="detector_object_distance_m"), "@detector_object_distance_m"),
    (dict(drop_dataset="probe_position_y_m"), "probe_position_y_m"),
    (dict(drop_dataset="probe_position_indexes"), "probe_position_indexes"),
    (dict(drop_dataset="object"), "object"),
    (dict(drop_dataset="probe"), "probe"),
    (dict(n_patterns=12), "patterns"),
    (dict(probe_pixel=3e-8), "probe@pixel_width_m"),
])
def test_a_broken_folder_is_a_named_error_and_nothing_is_cached(tmp_path: Path, _scan_cache: Path, change: dict,
                                                                key: str) -> None:
    write_foreign_folder(tmp_path / "f", **change)
    with pytest.raises(DataContractError) as info:
        resolve_scan(tmp_path / "f")
    assert info.value.key == key
    assert info.value.file is not None and info.value.expected and info.value.found
    assert not list(_scan_cache.glob("*.npz")) and not list(_scan_cache.glob(".*tmp"))


def test_a_pattern_index_without_a_position_is_named(tmp_path: Path) -> None:
    write_foreign_folder(tmp_path / "f")
    with h5py.File(tmp_path / "f" / "diffraction.h5", "r+") as h5:
        idx = h5["indexes"][()]
        idx[0] = 999
        h5["indexes"][...] = idx
    with pytest.raises(DataContractError, match="999") as info:
        resolve_scan(tmp_path / "f")
    assert info.value.key == "indexes"


def test_a_folder_without_product_in_is_named(tmp_path: Path) -> None:
    write_foreign_folder(tmp_path / "f")
    (tmp_path / "f" / "product-in.h5").unlink()
    with pytest.raises(DataContractError) as info:
        resolve_scan(tmp_path / "f")
    assert info.value.key == "product-in.h5"


def test_a_product_file_with_raw_data_is_a_scan(tmp_path: Path) -> None:
    """The layout PtychoPINN's exporter writes: positions in metres without the object centre,
    the pixel positions, amplitudes and guesses under raw_data (hard links)."""
    a = small_scan(geometry=None)
    path = tmp_path / "bundle.h5"
    with h5py.File(path, "w") as f:
        f.attrs.update({"name": "x", "comments": "", "detector_object_distance_m": 1.0, "probe_energy_eV": 9000.0,
                        "probe_photon_count": 0.0, "exposure_time_s": 1.0})
        f.create_dataset("probe_position_indexes", data=np.zeros(a.n_patterns, np.int64))
        f.create_dataset("probe_position_x_m", data=a.xcoords * 5e-9)
        f.create_dataset("probe_position_y_m", data=a.ycoords * 5e-9)
        p = f.create_dataset("probe", data=a.probe)
        p.attrs.update({"pixel_width_m": 5e-9, "pixel_height_m": 5e-9})
        o = f.create_dataset("object", data=a.object_guess)
        o.attrs.update({"center_x_m": 0.0, "center_y_m": 0.0, "pixel_width_m": 5e-9, "pixel_height_m": 5e-9})
        f.create_dataset("object_layer_spacing_m", data=np.zeros(0))
        f.create_dataset("loss_values", data=np.zeros(0))
        g = f.create_group("raw_data")
        g.create_dataset("diffraction", data=a.diffraction, compression="gzip")
        g.create_dataset("xcoords", data=a.xcoords)
        g.create_dataset("ycoords", data=a.ycoords)
        g.create_dataset("scan_index", data=np.zeros(a.n_patterns, np.int64))
        g["probeGuess"] = f["probe"]
        g["objectGuess"] = f["object"]
    assert detect_format(path)[0] == "ptychodus-product"
    b = _open(path)
    np.testing.assert_array_equal(b.diffraction, a.diffraction)
    np.testing.assert_array_equal(b.xcoords, a.xcoords)
    np.testing.assert_array_equal(b.object_guess, a.object_guess)
    assert b.geometry["object_pixel_size_m"] == 5e-9 and b.geometry["probe_energy_eV"] == 9000.0


def test_a_product_without_patterns_is_named(tmp_path: Path) -> None:
    write_foreign_folder(tmp_path / "f")
    lone = tmp_path / "lone.h5"
    os.replace(tmp_path / "f" / "product-in.h5", lone)
    with pytest.raises(DataContractError) as info:
        resolve_scan(lone)
    assert info.value.key == "raw_data"


def test_the_cache_converts_once_and_again_when_the_source_changes(npz_scan: Path, tmp_path: Path,
                                                                   _scan_cache: Path) -> None:
    folder = export_batch_folder(load_scan(npz_scan), tmp_path / "batch")
    first = resolve_scan(folder)
    stamp = first.stat().st_mtime_ns
    assert resolve_scan(folder) == first and first.stat().st_mtime_ns == stamp  # not converted again
    with h5py.File(folder / "diffraction.h5", "r+") as h5:
        h5["patterns"][0] = h5["patterns"][0] * 4
    st = (folder / "diffraction.h5").stat()
    os.utime(folder / "diffraction.h5", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = resolve_scan(folder)
    assert second != first and not first.exists()
    np.testing.assert_allclose(_open(folder).diffraction[0], 2 * load_scan(npz_scan).diffraction[0], rtol=1e-6)
    assert [p.name for p in _scan_cache.glob("*.npz")] == [second.name]


def test_api_and_cli_accept_a_folder_where_a_scan_goes(npz_scan: Path, tmp_path: Path) -> None:
    from ptycho_engine import cli

    folder = export_batch_folder(load_scan(npz_scan), tmp_path / "batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scan = api.load_scan(folder)
        payload = api.create_training_payload(folder, tmp_path / "run", {"n_groups": 8, "nepochs": 1})
    assert scan.summary().geometry["object_pixel_size_m"] == 1e-8
    assert payload.tf_training_config.model.N == 64
    assert cli.main(["inspect", str(folder)]) == 0
    write_foreign_folder(tmp_path / "bad", drop_attr="detector_object_distance_m")
    assert cli.main(["inspect", str(tmp_path / "bad")]) == 3
    out = tmp_path / "never"
    assert cli.main(["train", "--train-data", str(tmp_path / "bad"), "--output-dir", str(out), "--n-groups", "8"]) == 3
    assert cli.main(["infer", "--model", str(tmp_path / "run"), "--test-data", str(tmp_path / "bad"),
                     "--output-dir", str(out)]) == 3
    assert not out.exists()
