"""Optional: Keras 3 itself reads our exported model.keras (skipped where TensorFlow is not installed).

The reference's loader calls ``keras.models.load_model(model.keras, custom_objects, compile=False)``
and copies ``get_weights()`` into its own model. Its custom layers are replaced here by stand-ins
(keras_standins.py) that compute the same diffraction -> object path; the first test checks the
stand-ins against the reference's own archive and patches. Loading by the reference's own code
(which needs its package, TensorFlow Probability and dill) is not run here.
"""
from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ptycho_engine import api
from ptycho_engine.archive import load_archive

from .archives_support import REFERENCE_ARCHIVE, SHARED_ARCHIVE, make_model_dir
from .keras_standins import make_standins

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def ks():
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    return make_standins(keras, tf)


def _unzip(archive: Path, folder: Path) -> Path:
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    return folder


def _obj(ks, model_keras: Path, x: np.ndarray, log_scale: float) -> np.ndarray:
    """The 'obj' layer output for x (B, C, N, N), through Keras, channels last, no offsets."""
    ks.LOG_SCALE["value"] = log_scale
    model = ks.load(str(model_keras))
    B, C = x.shape[:2]
    out = ks.obj_model(model).predict([np.moveaxis(x, 1, -1), np.zeros((B, 1, 2, C), np.float32)], verbose=0)
    return np.moveaxis(out, -1, 1)


def test_the_standins_reproduce_the_reference_archive(ks, tmp_path: Path, reference_patches) -> None:
    folder = _unzip(REFERENCE_ARCHIVE, tmp_path / "ref")
    x = reference_patches["diffraction"][:, None]
    got = _obj(ks, folder / "diffraction_to_obj" / "model.keras", x, math.log(31.250001907348633))
    assert np.abs(got[:, 0] - reference_patches["object_patches"]).max() <= TOLERANCE


@pytest.mark.parametrize("arch", [dict(gridsize=2), dict(N=128, probe_big=False),
                                  dict(pad_object=False, amp_activation="softplus")])
def test_keras_loads_both_exported_models_and_predicts_our_patches(ks, tmp_path: Path, arch: dict) -> None:
    src = make_model_dir(tmp_path / "ours", zero_dropped_channels=not arch.get("probe_big", True), **arch)
    out = _unzip(api.export_model(src, tmp_path / "exp.zip"), tmp_path / "exp")
    ours = load_archive(src / "wts.h5.zip")
    s = load_archive(tmp_path / "exp.zip").extras["intensity_scale"]
    N, C = ours.model.N, ours.model.C
    x = np.random.default_rng(2).random((2, C, N, N), dtype=np.float32)
    expected = api.predict_patches(ours, x)
    for name in ("diffraction_to_obj", "autoencoder") if C > 1 else ("diffraction_to_obj",):
        got = _obj(ks, out / name / "model.keras", x * float(ours.model.input_scale) * s, math.log(s))
        assert np.abs(got - expected).max() <= TOLERANCE, name


@pytest.mark.parametrize("name", ["diffraction_to_obj", "autoencoder"])
def test_reexported_reference_gives_the_reference_weights_in_its_order(ks, tmp_path: Path, name: str) -> None:
    source = SHARED_ARCHIVE if name == "autoencoder" else REFERENCE_ARCHIVE
    if not source.is_file():
        pytest.skip("the shared fixture (with the autoencoder) is not beside this checkout")
    ref = _unzip(source, tmp_path / "ref")
    again = _unzip(api.export_model(source, tmp_path / "again.zip"), tmp_path / "again")
    # what the reference's loader copies with set_weights(loaded.get_weights()), in order
    a = ks.load(str(ref / name / "model.keras")).get_weights()
    b = ks.load(str(again / name / "model.keras")).get_weights()
    assert len(a) == len(b) == 44
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
