"""The allow-list unpickler: plain data and numpy arrays in, anything that names code refused."""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ptycho_engine.io.safe_pickle import UnsafePickleError, safe_loads

from .archives_support import REFERENCE_ARCHIVE


def _member(name: str) -> bytes:
    with zipfile.ZipFile(REFERENCE_ARCHIVE) as zf:
        return zf.read(name)


def test_reference_params_and_manifest_load_as_plain_data() -> None:
    manifest = safe_loads(_member("manifest.dill"), "manifest.dill")
    assert manifest == {"models": ["autoencoder", "diffraction_to_obj"], "version": "1.0"}
    params = safe_loads(_member("diffraction_to_obj/params.dill"), "params.dill")
    probe = params["probe"]  # pickled by the reference as convert_to_tensor(dill _create_array(...))
    assert isinstance(probe, np.ndarray) and probe.dtype == np.complex64 and probe.shape == (64, 64, 1)
    assert np.abs(probe).max() > 0
    assert (params["N"], params["gridsize"], params["amp_activation"]) == (64, 1, "sigmoid")


def test_reference_custom_objects_pickle_is_refused() -> None:
    with pytest.raises(UnsafePickleError, match=r"custom_objects\.dill.*ptycho\.model\.ProbeIllumination"):
        safe_loads(_member("diffraction_to_obj/custom_objects.dill"), "custom_objects.dill")


def test_os_system_is_refused_and_never_called(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()  # protocol 0: os.system('touch ...')
    with pytest.raises(UnsafePickleError, match=r"evil\.dill.*'os\.system'"):
        safe_loads(payload, "evil.dill")
    assert not marker.exists()


class _Boom:
    def __reduce__(self):
        return (eval, ("1 + 1",))


@pytest.mark.parametrize("obj, found", [
    ({"probe": _Boom()}, "builtins.eval"),
    ({"x": np.array([object()], dtype=object)}, "object"),
])
def test_code_and_object_arrays_inside_a_params_dict_are_refused(obj: object, found: str) -> None:
    with pytest.raises(UnsafePickleError, match=found):
        safe_loads(pickle.dumps(obj, protocol=4), "params.dill")


def test_numpy_arrays_scalars_and_plain_values_round_trip() -> None:
    value = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.float64(2.5), "c": [1, "x", None, True],
             "d": (np.complex64(1 + 2j),)}
    back = safe_loads(pickle.dumps(value, protocol=4), "plain.dill")
    np.testing.assert_array_equal(back["a"], value["a"])
    assert back["b"] == 2.5 and back["c"] == [1, "x", None, True] and back["d"][0] == np.complex64(1 + 2j)


def test_truncated_pickle_is_a_named_error() -> None:
    from ptycho_engine.archive import ArchiveError

    data = pickle.dumps({"N": 64, "probe": np.ones(4)}, protocol=4)
    with pytest.raises(ArchiveError, match=r"cut\.dill: not a readable pickle"):
        safe_loads(data[: len(data) // 2], "cut.dill")
