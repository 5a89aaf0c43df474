"""Issue 11 items 5, 6, 9: NPZ headers cross-checked before any data are read or cached,
duplicate members refused, amplitudes and probes that cannot be physical refused."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ptycho_engine.data.cache import open_scan, open_scan_streaming
from ptycho_engine.data.contract import ScanData, load_scan, save_scan
from ptycho_engine.data.errors import DataContractError

N, n = 16, 12


def _valid_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:N, :N] - N // 2
    return {
        "diffraction": rng.random((n, N, N)).astype(np.float32),
        "probeGuess": (np.hypot(yy, xx) < N / 4).astype(np.complex64),
        "xcoords": rng.uniform(10, 20, n),
        "ycoords": rng.uniform(10, 20, n),
    }


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _lying_npy(shape: tuple[int, ...], dtype: str, payload_bytes: int) -> bytes:
    """A .npy member whose header claims ``shape`` but which holds only ``payload_bytes`` of data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + bytes(payload_bytes)


def _write(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, data in members.items():
            zf.writestr(f"{key}.npy", data)
    return path


def _members(**replace: bytes) -> dict[str, bytes]:
    out = {k: _npy(v) for k, v in _valid_arrays().items()}
    out.update(replace)
    return out


def test_header_claiming_a_huge_stack_is_refused_before_anything_is_cached(tmp_path):
    # 131072 x 64 x 64 float32 = 2 GiB claimed; the member holds 2 MB
    path = _write(tmp_path / "bomb.npz", _members(diffraction=_lying_npy((131072, 64, 64), "<f4", 2 << 20)))
    cache = tmp_path / "cache"
    for opener in (lambda: open_scan(path, cache_dir=cache), lambda: open_scan_streaming(path, cache_dir=cache),
                   lambda: load_scan(path)):
        with pytest.raises(DataContractError, match="header declares") as info:
            opener()
        assert info.value.key == "diffraction" and info.value.file == str(path)
        assert "2097152 bytes in the file" in str(info.value)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_header_claiming_terabytes_names_file_and_key(tmp_path):
    path = _write(tmp_path / "tera.npz", _members(xcoords=_lying_npy((1 << 40,), "<f8", 64)))
    with pytest.raises(DataContractError) as info:
        load_scan(path)
    assert info.value.key == "xcoords" and "header declares" in str(info.value)


def test_lengths_are_cross_checked_from_headers_before_reading(tmp_path):
    arrays = _valid_arrays()
    path = _write(tmp_path / "short.npz", _members(ycoords=_npy(arrays["ycoords"][:-2])))
    cache = tmp_path / "cache"
    with pytest.raises(DataContractError, match=f"expected a real 1-D array of {n} positions") as info:
        open_scan_streaming(path, cache_dir=cache)
    assert info.value.key == "ycoords"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_rejected_file_leaves_no_cache_entry(tmp_path):
    # the stack converts fine, but the probe's values are refused after conversion
    path = _write(tmp_path / "nanprobe.npz", _members(probeGuess=_npy(np.full((N, N), np.nan, np.complex64))))
    cache = tmp_path / "cache"
    with pytest.raises(DataContractError) as info:
        open_scan_streaming(path, cache_dir=cache)
    assert info.value.key == "probeGuess"
    assert list(cache.iterdir()) == []


def test_two_members_of_the_same_name_are_refused(tmp_path):
    path = tmp_path / "dup.npz"
    members = _members()
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "w") as zf:
        for key, data in members.items():
            zf.writestr(f"{key}.npy", data)
        zf.writestr("diffraction.npy", _npy(np.zeros((n, N, N), np.float32)))
    with pytest.raises(DataContractError, match="two members of that name") as info:
        load_scan(path)
    assert info.value.key == "diffraction"


@pytest.mark.parametrize("value", [1e30, np.finfo(np.float32).max])
def test_amplitudes_no_detector_can_record_are_refused(tmp_path, value):
    arrays = _valid_arrays()
    arrays["diffraction"][3, 4, 5] = value
    path = _write(tmp_path / "huge.npz", {k: _npy(v) for k, v in arrays.items()})
    with pytest.raises(DataContractError, match=r"physical amplitudes <= 1e\+09.*1 larger values") as info:
        load_scan(path)
    assert info.value.key == "diffraction"


def test_near_zero_probe_is_refused(tmp_path):
    arrays = _valid_arrays()
    arrays["probeGuess"] = arrays["probeGuess"] * np.complex64(1e-30)
    with pytest.raises(DataContractError, match="largest \\|value\\| lies between") as info:
        save_scan(tmp_path / "tiny_probe.npz", ScanData(None, arrays["diffraction"], arrays["probeGuess"],
                                                         arrays["xcoords"], arrays["ycoords"]))
    assert info.value.key == "probeGuess"
