"""Writing our CNN models as PtychoPINN archives (``ptycho-engine export --format ptychopinn``)."""
from __future__ import annotations

import json
import pickletools
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ptycho_engine import api, cli
from ptycho_engine.archive import load_archive
from ptycho_engine.io.safe_pickle import safe_loads

from .archives_support import REFERENCE_ARCHIVE, make_model_dir

TOLERANCE = 1e-5
ALLOWED_GLOBALS = {"numpy._core.multiarray _reconstruct", "numpy.core.multiarray _reconstruct", "numpy ndarray",
                   "numpy dtype", "tensorflow.python.framework.ops convert_to_tensor"}


def _globals(data: bytes) -> set[str]:
    """Every global a pickle names, read from its opcodes without loading it."""
    found: set[str] = set()
    pushed: list[object] = []  # what each opcode pushed, memo lookups resolved (enough for STACK_GLOBAL)
    memo: dict[int, object] = {}
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            pushed.append(arg)
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            pushed.append(memo[int(arg)])
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1]
        elif op.name == "STACK_GLOBAL":
            found.add(f"{pushed[-2]} {pushed[-1]}")
            pushed.append(None)
        elif op.name == "GLOBAL":
            found.add(arg)
        else:
            pushed.append(None)
    return found


@pytest.mark.parametrize("arch", [dict(gridsize=1), dict(gridsize=2, amp_activation="swish")])
def test_exported_archive_reimports_to_the_same_patches(tmp_path: Path, arch: dict) -> None:
    src = make_model_dir(tmp_path / "ours", **arch)
    assert cli.main(["export", "--format", "ptychopinn", str(src), str(tmp_path / "exported")]) == 0
    exported = tmp_path / "exported" / "wts.h5.zip"
    with zipfile.ZipFile(exported) as zf:
        names = set(zf.namelist())
        assert {"manifest.dill", "diffraction_to_obj/model.keras", "autoencoder/model.keras",
                "diffraction_to_obj/params.dill", "diffraction_to_obj/model.h5",
                "diffraction_to_obj/custom_objects.dill"} <= names
        for name in names:
            if name.endswith(".dill"):
                assert _globals(zf.read(name)) <= ALLOWED_GLOBALS, name
    ours, back = load_archive(src / "wts.h5.zip"), load_archive(exported)
    C = ours.model.C
    x = np.random.default_rng(1).random((3, C, 64, 64), dtype=np.float32)
    x = x[:, 0] if C == 1 else x
    # the reference's network takes s * a * X (a = our input scale) and divides by s itself
    s = back.extras["intensity_scale"]
    assert s == pytest.approx(np.sqrt(50.0) / 0.7, rel=1e-6)
    expected = api.predict_patches(ours, x)
    got = api.predict_patches(back, x * float(ours.model.input_scale) * s)
    assert got.shape == x.shape and np.abs(expected).max() > 0.01
    assert np.abs(got - expected).max() <= TOLERANCE
    for key, value in ours.model.generator.state_dict().items():
        np.testing.assert_array_equal(back.model.generator.state_dict()[key].numpy(), value.numpy(), err_msg=key)
    # the physics agrees too: the exported probe absorbs our input scale and gain
    np.testing.assert_allclose(back.model.probe.numpy(),
                               ours.model.probe.numpy() * float(ours.model.input_scale) * ours.model.gain, rtol=1e-6)


def test_reexported_reference_archive_has_the_reference_graph_and_weights(tmp_path: Path) -> None:
    out = api.export_model(REFERENCE_ARCHIVE, tmp_path / "again.zip")

    def keras_member(archive: Path, inner: str) -> bytes:
        with zipfile.ZipFile(archive) as zf, zipfile.ZipFile(zf.open("diffraction_to_obj/model.keras")) as k:
            return k.read(inner)

    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if k != "shared_object_id"}
        return [strip(v) for v in o] if isinstance(o, list) else o

    mine, theirs = (strip(json.loads(keras_member(p, "config.json"))) for p in (out, REFERENCE_ARCHIVE))
    assert mine == theirs  # layer for layer what the reference's create_model_with_gridsize builds
    import h5py
    import io

    def conv_vars(archive: Path) -> dict[str, tuple]:
        found = {}
        with h5py.File(io.BytesIO(keras_member(archive, "model.weights.h5")), "r") as h5:
            for path, group in h5["layers"].items():
                if "0" in group["vars"]:
                    found[path] = (group["vars"].attrs["name"], group["vars/0"][()], group["vars/1"][()])
        return found

    a, b = conv_vars(out), conv_vars(REFERENCE_ARCHIVE)
    assert sorted(a) == sorted(b) and len(a) == 22
    for path in a:  # same h5 path, same layer, same kernel and bias
        assert a[path][0] == b[path][0]
        np.testing.assert_array_equal(a[path][1], b[path][1])
        np.testing.assert_array_equal(a[path][2], b[path][2])
    with zipfile.ZipFile(out) as zf, zipfile.ZipFile(REFERENCE_ARCHIVE) as ref:
        mine_p = safe_loads(zf.read("diffraction_to_obj/params.dill"), "exported params")
        ref_p = safe_loads(ref.read("diffraction_to_obj/params.dill"), "reference params")
    np.testing.assert_array_equal(mine_p["probe"], ref_p["probe"])
    for key in ("N", "gridsize", "n_filters_scale", "object.big", "probe.big", "pad_object", "amp_activation",
                "intensity_scale"):
        assert mine_p[key] == pytest.approx(ref_p[key]) if isinstance(ref_p[key], float) else mine_p[key] == ref_p[key]


def test_the_unrolled_generator_is_refused_with_exit_3_and_nothing_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_model_dir(tmp_path / "ours", generator="unrolled", unroll_steps=2)
    out = tmp_path / "exported.zip"
    assert cli.main(["export", "--format", "ptychopinn", str(src), str(out)]) == 3
    assert "generator 'unrolled' cannot be exported" in capsys.readouterr().err
    assert not out.exists()


def test_a_head_using_channels_the_reference_drops_is_refused(tmp_path: Path) -> None:
    from ptycho_engine.io.reference_export import ExportError

    src = make_model_dir(tmp_path / "ours", probe_big=False)  # random weights on all decoder channels
    with pytest.raises(ExportError, match=r"probe_big false.*ignores the last 4 decoder channels"):
        api.export_model(src, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()
