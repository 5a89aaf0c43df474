"""The malformed-file corpus: every broken file gives a DataContractError naming key and file."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from ptycho_engine.data import DataContractError, load_scan, read_metadata

n, N = 10, 8
good_diff = np.ones((n, N, N), np.float32)
good_probe = np.ones((N, N), np.complex64)


def _with(arr: np.ndarray, index: tuple, value: float) -> np.ndarray:
    arr = arr.copy()
    arr[index] = value
    return arr


# (case id, changes to a valid file, offending key, fragment the message must contain)
CORPUS = [
    ("missing_diffraction", {"diffraction": None}, "diffraction", "missing"),
    ("missing_probe", {"probeGuess": None}, "probeGuess", "missing"),
    ("missing_xcoords", {"xcoords": None}, "xcoords", "missing"),
    ("missing_ycoords", {"ycoords": None}, "ycoords", "missing"),
    ("complex_diffraction", {"diffraction": good_diff.astype(np.complex64)}, "diffraction", "complex64"),
    ("bool_diffraction", {"diffraction": good_diff > 0}, "diffraction", "bool"),
    ("one_d_diffraction", {"diffraction": np.ones(n * N * N, np.float32)}, "diffraction", "(640,)"),
    ("non_square_patterns", {"diffraction": np.ones((n, N, 6), np.float32)}, "diffraction", "8 x 6"),
    ("empty_diffraction", {"diffraction": np.ones((0, N, N), np.float32)}, "diffraction", "empty"),
    ("nan_diffraction", {"diffraction": _with(good_diff, (3, 2, 2), np.nan)}, "diffraction", "1 NaN"),
    ("inf_diffraction", {"diffraction": _with(good_diff, (0, 0, 0), np.inf)}, "diffraction", "1 infinite"),
    ("negative_amplitude", {"diffraction": _with(good_diff, (1, 1, 1), -0.5)}, "diffraction", "negative"),
    ("negative_counts", {"diffraction": _with(good_diff.astype(np.int32), (1, 1, 1), -3)}, "diffraction", "negative"),
    ("real_probe", {"probeGuess": np.ones((N, N), np.float32)}, "probeGuess", "complex"),
    ("non_square_probe", {"probeGuess": np.ones((N, N + 2), np.complex64)}, "probeGuess", "non-square"),
    ("probe_size_mismatch", {"probeGuess": np.ones((16, 16), np.complex64)}, "probeGuess", "N = 16"),
    ("empty_probe", {"probeGuess": np.ones((0, 0), np.complex64)}, "probeGuess", "empty"),
    ("nan_probe", {"probeGuess": _with(good_probe, (0, 1), np.nan)}, "probeGuess", "NaN"),
    ("string_xcoords", {"xcoords": np.array(["a"] * n)}, "xcoords", "<U1"),
    ("short_xcoords", {"xcoords": np.arange(n - 1, dtype=float)}, "xcoords", "9 positions"),
    ("long_ycoords", {"ycoords": np.arange(n + 3, dtype=float)}, "ycoords", "13 positions"),
    ("inf_ycoords", {"ycoords": _with(np.arange(n, dtype=float), (4,), np.inf)}, "ycoords", "infinite"),
    ("two_d_coords", {"xcoords": np.zeros((n, 1))}, "xcoords", "(10, 1)"),
    ("scan_index_length", {"scan_index": np.zeros(n + 1, np.int64)}, "scan_index", "(11,)"),
    ("real_object", {"objectGuess": np.ones((32, 32), np.float32)}, "objectGuess", "float32"),
    ("positions_off_object", {"xcoords": np.linspace(10.0, 40.0, n)}, "xcoords", "outside"),
    ("positions_in_metres", {"ycoords": np.linspace(-2e-6, 2e-6, n)}, "ycoords", "not metres"),
    ("object_array_coords", {"xcoords": np.array([1.0, "x", None] + [0.0] * 7, dtype=object)}, "xcoords", "object array"),
    ("bad_metadata_json", {"_metadata": np.array("{not json")}, "_metadata", "not valid JSON"),
    ("metadata_not_object", {"_metadata": np.array(json.dumps([1, 2]))}, "_metadata", "JSON list"),
    ("metadata_numeric", {"_metadata": np.array(3.0)}, "_metadata", "float64"),
    (
        "negative_nphotons",
        {"_metadata": np.array(json.dumps({"physics_parameters": {"nphotons": -5}}))},
        "_metadata.physics_parameters.nphotons",
        "-5",
    ),
    ("diff3d_with_nan", {"diffraction": None, "diff3d": _with(good_diff, (0, 0, 1), np.nan)}, "diff3d", "NaN"),
]


@pytest.mark.parametrize("changes, key, fragment", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_malformed_file_is_refused_with_key_and_file(make_npz, changes, key, fragment):
    path = make_npz("broken_scan.npz", **changes)
    with pytest.raises(DataContractError) as info:
        load_scan(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.key == key
    assert err.file == str(path)
    message = str(err)
    assert f"'{key}'" in message
    assert str(path) in message
    assert fragment in message
    assert "expected" in message and "found" in message


def test_corpus_has_at_least_fifteen_distinct_files():
    assert len({c[0] for c in CORPUS}) >= 15


def test_missing_key_lists_what_the_file_holds(make_npz):
    path = make_npz(probeGuess=None)
    with pytest.raises(DataContractError, match="the file holds: .*diffraction.*xcoords"):
        load_scan(path)


def test_truncated_zip(make_npz):
    path = make_npz()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataContractError) as info:
        load_scan(path)
    assert info.value.key is None
    assert str(path) in str(info.value)
    assert "truncated" in str(info.value)


def test_corrupt_member_names_its_key(make_npz):
    path = make_npz()
    with zipfile.ZipFile(path) as zf:
        zinfo = zf.getinfo("diffraction.npy")
    raw = bytearray(path.read_bytes())
    middle = zinfo.header_offset + 30 + len(zinfo.filename) + zinfo.file_size // 2
    raw[middle : middle + 16] = b"\xff" * 16  # data changed, CRC no longer matches
    path.write_bytes(bytes(raw))
    with pytest.raises(DataContractError) as info:
        load_scan(path)
    assert info.value.key == "diffraction"
    assert str(path) in str(info.value)
    # the metadata can still be read: read_metadata touches only _metadata
    assert read_metadata(path)["physics_parameters"]["nphotons"] == 1e6


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"x,y\n1,2\n", "unknown file type"),
        (b"", "empty file"),
        (b"\x89HDF\r\n\x1a\n" + b"\0" * 32, "HDF5"),
    ],
    ids=["text", "empty", "hdf5"],
)
def test_not_an_npz_at_all(tmp_path, content, fragment):
    path = tmp_path / "scan.npz"
    path.write_bytes(content)
    with pytest.raises(DataContractError) as info:
        load_scan(path)
    assert str(path) in str(info.value) and fragment in str(info.value)
    assert "expected a NumPy .npz archive" in str(info.value)


def test_single_npy_file_is_not_an_npz(tmp_path):
    path = tmp_path / "scan.npy"
    np.save(path, np.ones((3, 8, 8), np.float32))
    with pytest.raises(DataContractError, match="single-array .npy"):
        load_scan(path)


def test_pickle_file_is_refused(tmp_path):
    import pickle

    path = tmp_path / "scan.pkl"
    path.write_bytes(pickle.dumps({"diffraction": [1, 2]}))
    with pytest.raises(DataContractError, match="pickle"):
        load_scan(path)


def test_missing_file_names_it(tmp_path):
    path = tmp_path / "nowhere" / "scan.npz"
    with pytest.raises(FileNotFoundError) as info:
        load_scan(path)
    assert str(path) in str(info.value)
    with pytest.raises(FileNotFoundError):
        read_metadata(path)


def test_directory_is_refused(tmp_path):
    with pytest.raises(DataContractError, match="directory"):
        load_scan(tmp_path)


def test_error_message_names_all_four_parts():
    err = DataContractError("/data/a.npz", "xcoords", "a real 1-D array", "a string array")
    assert (err.file, err.key, err.expected, err.found) == ("/data/a.npz", "xcoords", "a real 1-D array", "a string array")
    assert str(err) == "/data/a.npz: key 'xcoords': expected a real 1-D array; found a string array"
    import pickle

    again = pickle.loads(pickle.dumps(err))  # crosses thread/process boundaries intact
    assert again.key == "xcoords" and str(again) == str(err)
