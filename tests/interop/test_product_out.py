"""product-out.h5: geometry, positions that ptychodus maps inside the object, refined probe and
positions when present, and the real inference run writing it beside reconstruction.npz."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ptycho_engine.data.contract import load_scan, save_scan
from ptycho_engine.inference.outputs import write_product_output
from ptycho_engine.io.ptychodus_batch import export_batch_folder
from ptycho_engine.io.ptychodus_product import read_product

from .conftest import GEOMETRY, read_like_ptychodus, small_scan


def _result(scan, origin=(-3.0, 4.0), shape=(170, 180), **refined):
    obj = np.exp(1j * np.random.default_rng(1).uniform(-1, 1, shape)).astype(np.complex64)
    return SimpleNamespace(object=obj, origin_x=origin[0], origin_y=origin[1], **refined)


def test_product_out_positions_land_where_the_engine_put_each_patch(tmp_path: Path) -> None:
    scan = small_scan(geometry=GEOMETRY)
    used = np.arange(0, scan.n_patterns, 2)
    result = _result(scan)
    path = write_product_output(tmp_path, result, scan, used, losses=[3.0, 2.0, 1.5], comments="test")
    seen = read_like_ptychodus(path)
    np.testing.assert_allclose(seen["x_px"], scan.xcoords[used] - result.origin_x, atol=1e-9, rtol=0)
    np.testing.assert_allclose(seen["y_px"], scan.ycoords[used] - result.origin_y, atol=1e-9, rtol=0)
    height, width = result.object.shape
    assert (seen["x_px"] >= 0).all() and (seen["x_px"] < width).all()
    assert (seen["y_px"] >= 0).all() and (seen["y_px"] < height).all()
    np.testing.assert_array_equal(seen["idx"], scan.scan_index[used])
    np.testing.assert_array_equal(seen["object"][0], result.object)
    np.testing.assert_array_equal(seen["probe"], scan.probe)
    assert seen["geo"]["pixel_width_m"] == seen["probe_px"][0] == GEOMETRY["object_pixel_size_m"]
    assert seen["meta"]["probe_energy_eV"] == 8000.0 and seen["meta"]["detector_object_distance_m"] == 2.0
    np.testing.assert_array_equal(seen["loss"], [3.0, 2.0, 1.5])
    # metres are the scan's lab coordinates: origin + size * x
    back = read_product(path)
    assert back.geometry["origin_x_m"] == pytest.approx(GEOMETRY["origin_x_m"] + 1e-8 * result.origin_x, rel=1e-12)


def test_refined_probe_and_positions_are_written_when_the_result_has_them(tmp_path: Path) -> None:
    scan = small_scan(geometry=None)
    used = np.arange(scan.n_patterns)
    moved = scan.positions + 0.25
    modes = np.stack([scan.probe, 0.1 * scan.probe]).astype(np.complex64)
    path = write_product_output(tmp_path, _result(scan, origin=(0.0, 0.0), probe_refined=modes,
                                                  positions_refined=moved), scan, used)
    seen = read_like_ptychodus(path)
    np.testing.assert_allclose(seen["x_px"], moved[:, 0], atol=1e-9, rtol=0)
    np.testing.assert_array_equal(seen["probe"], modes)
    assert seen["geo"]["pixel_width_m"] == 1.0 and "1 m" in seen["meta"]["comments"]  # no geometry: 1 m per pixel


@pytest.mark.slow
def test_inference_writes_product_out_beside_the_reconstruction(tmp_path: Path) -> None:
    from ptycho_engine import api
    from ptycho_engine.config.execution import PyTorchExecutionConfig

    scan = small_scan(n=40, seed=1, geometry=GEOMETRY)
    scan.bad_pixels = np.zeros((64, 64), bool)
    scan.bad_pixels[3, 7] = scan.bad_pixels[40, 2] = True  # trained with the mask in the loss
    scan.diffraction[:, scan.bad_pixels] = 0.0
    train = export_batch_folder(load_scan(save_scan(tmp_path / "train.npz", scan)), tmp_path / "train-batch")
    test_folder = export_batch_folder(load_scan(save_scan(tmp_path / "test.npz", small_scan(n=20, seed=2,
                                                                                            geometry=GEOMETRY))),
                                      tmp_path / "test-batch")
    exe = PyTorchExecutionConfig(accelerator="cpu", logger_backend="none", enable_checkpointing=False,
                                 preview_every_n_epochs=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trained = api.train(api.create_training_payload(
            train, tmp_path / "model", dict(n_filters_scale=1, nepochs=1, n_groups=16, batch_size=8, gridsize=1),
            exe))
        payload = api.create_inference_payload(tmp_path / "model", test_folder, tmp_path / "recon",
                                               {"refine_epochs": 2}, PyTorchExecutionConfig(accelerator="cpu"))
        result = api.infer(payload)
    from ptycho_engine.archive import load_archive

    extras = load_archive(trained.archive_path).extras  # the training scan's geometry is in the archive
    assert float(extras["geometry_object_pixel_size_m"]) == 1e-8 and float(extras["geometry_probe_energy_eV"]) == 8000
    product = result.files["product_out"]
    assert product == tmp_path / "recon" / "product-out.h5" and result.files["reconstruction"].parent == product.parent
    seen = read_like_ptychodus(product)
    height, width = result.object.shape
    assert seen["x_px"].size == result.n_patterns
    assert (seen["x_px"] >= 0).all() and (seen["x_px"] < width).all()
    assert (seen["y_px"] >= 0).all() and (seen["y_px"] < height).all()
    np.testing.assert_array_equal(seen["object"][0], result.object)
    assert seen["meta"]["probe_energy_eV"] == 8000.0 and seen["geo"]["pixel_width_m"] == 1e-8
    assert len(seen["loss"]) == len(result.refinement["misfit_per_pass"]) >= 2
    with np.load(tmp_path / "recon" / "reconstruction.npz") as rec:
        assert float(rec["object_pixel_size_m"]) == 1e-8
    record = json.loads((tmp_path / "recon" / "inference_config.json").read_text())
    assert record["run"]["geometry"]["probe_energy_eV"] == 8000.0
    assert record["run"]["source"]["format"] == "ptychodus-folder"


def test_product_out_opens_in_ptychodus(tmp_path: Path) -> None:
    """With ptychodus installed: its own reader and its own pixel mapping (api/object.py)."""
    reader = pytest.importorskip("ptychodus.plugins.h5_product_file")
    from ptychodus.api.object import ObjectGeometry

    scan = small_scan(geometry=GEOMETRY)
    used = np.arange(scan.n_patterns)
    result = _result(scan)
    product = reader.H5ProductFileIO().read(write_product_output(tmp_path, result, scan, used, losses=[1.0]))
    geometry: ObjectGeometry = product.object_.get_geometry()
    mapped = np.array([[p.x_px, p.y_px] for p in
                       (geometry.map_coordinates_probe_to_object(q) for q in product.probe_positions)])
    np.testing.assert_allclose(mapped, scan.positions - [result.origin_x, result.origin_y], atol=1e-9, rtol=0)
    assert product.metadata.photon_energy_eV == 8000.0 and len(product.losses) == 1
