"""Positive behaviour of the NPZ contract: round trips, legacy formats, counts, no unpickling."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from ptycho_engine.data import (
    DataContractError,
    DataContractWarning,
    ScanData,
    load_scan,
    read_array_headers,
    read_metadata,
    save_scan,
)
from ptycho_engine.data.validation import check_diffraction


class _Exploit:
    """Unpickling this would create a marker file; loading must never get that far."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _scan(**kw) -> ScanData:
    rng = np.random.default_rng(3)
    base = dict(
        path=None,
        diffraction=rng.uniform(0, 1, (10, 16, 16)).astype(np.float32),
        probe=(rng.normal(size=(16, 16)) + 1j * rng.normal(size=(16, 16))).astype(np.complex64),
        xcoords=np.linspace(20.0, 40.0, 10),
        ycoords=np.linspace(21.5, 30.25, 10),
        object_guess=(rng.uniform(0.1, 1, (64, 64)) * np.exp(1j * rng.uniform(-3, 3, (64, 64)))).astype(np.complex64),
        scan_index=np.arange(10) % 2,
        metadata={"physics_parameters": {"nphotons": 1e9, "N": 16}, "creation_info": {"script": "test"}},
    )
    base.update(kw)
    return ScanData(**base)


def test_round_trip_preserves_values_and_metadata(tmp_path):
    scan = _scan()
    path = save_scan(tmp_path / "scan.npz", scan)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.npz"]  # no temp file left behind
    loaded = load_scan(path)
    assert loaded.path == path
    np.testing.assert_array_equal(loaded.diffraction, scan.diffraction)
    np.testing.assert_array_equal(loaded.probe, scan.probe)
    np.testing.assert_array_equal(loaded.xcoords, scan.xcoords)
    np.testing.assert_array_equal(loaded.ycoords, scan.ycoords)
    np.testing.assert_array_equal(loaded.object_guess, scan.object_guess)
    np.testing.assert_array_equal(loaded.scan_index, scan.scan_index)
    assert loaded.diffraction.dtype == np.float32 and loaded.probe.dtype == np.complex64
    assert loaded.xcoords.dtype == np.float64 and loaded.object_guess.dtype == np.complex64
    assert loaded.metadata["physics_parameters"] == {"nphotons": 1e9, "N": 16}
    assert loaded.metadata["creation_info"] == {"script": "test"}
    assert loaded.metadata["schema_version"] == "1.0"
    assert "schema_version" not in scan.metadata  # the caller's dict is not mutated
    assert (loaded.N, loaded.n_patterns, loaded.nphotons, loaded.warnings) == (16, 10, 1e9, [])
    np.testing.assert_array_equal(loaded.positions, np.stack([scan.xcoords, scan.ycoords], axis=1))


def test_saved_file_is_safe_for_plain_numpy(tmp_path):
    path = save_scan(tmp_path / "scan.npz", _scan())
    with np.load(path, allow_pickle=False) as data:  # no object arrays at all
        meta = data["_metadata"]
        assert meta.shape == () and meta.dtype.kind == "U"
        assert json.loads(meta.item())["physics_parameters"]["nphotons"] == 1e9
        assert set(data.files) == {"diffraction", "probeGuess", "xcoords", "ycoords", "objectGuess", "scan_index", "_metadata"}


def test_save_is_atomic_and_refuses_invalid_scans(tmp_path):
    path = save_scan(tmp_path / "scan.npz", _scan())
    before = path.read_bytes()
    bad = _scan(probe=np.ones((16, 16), np.float32))
    with pytest.raises(DataContractError) as info:
        save_scan(path, bad)
    assert info.value.key == "probeGuess" and str(path) in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.npz"]
    with pytest.raises(DataContractError, match="float amplitudes"):
        save_scan(tmp_path / "counts.npz", _scan(diffraction=np.ones((10, 16, 16), np.uint16)))
    assert not (tmp_path / "counts.npz").exists()


def test_unserialisable_metadata_is_a_contract_error(tmp_path):
    with pytest.raises(DataContractError) as info:
        save_scan(tmp_path / "scan.npz", _scan(metadata={"when": object()}))
    assert info.value.key == "_metadata"
    assert not (tmp_path / "scan.npz").exists()


def test_save_without_extension_keeps_the_name(tmp_path):
    path = save_scan(tmp_path / "scan.data", _scan(object_guess=None, scan_index=None))
    assert path.exists() and not (tmp_path / "scan.data.npz").exists()
    loaded = load_scan(path)
    assert loaded.object_guess is None and loaded.scan_index is None
    assert not loaded.summary().has_ground_truth


def test_diff3d_alias(make_npz):
    arrays_diff = np.full((10, 8, 8), 0.25, np.float32)
    path = make_npz(diffraction=None, diff3d=arrays_diff)
    with pytest.warns(DataContractWarning, match="diff3d"):
        scan = load_scan(path)
    np.testing.assert_array_equal(scan.diffraction, arrays_diff)
    assert any("diff3d" in w for w in scan.warnings)
    assert any("diff3d" in w for w in scan.summary().warnings)


def test_diffraction_wins_over_diff3d(make_npz):
    path = make_npz(diff3d=np.zeros((10, 8, 8), np.float32))
    with pytest.warns(DataContractWarning):
        scan = load_scan(path)
    assert scan.diffraction.max() > 0
    assert any("ignored" in w for w in scan.warnings)


def test_legacy_hwn_stack_is_transposed_with_warning(make_npz):
    stack = np.random.default_rng(0).uniform(0, 1, (8, 8, 10))  # (H, W, n), float64 as in Run1084
    path = make_npz(diffraction=stack)
    with pytest.warns(DataContractWarning, match="FORMAT-001"):
        scan = load_scan(path)
    assert scan.diffraction.shape == (10, 8, 8)
    assert scan.diffraction.dtype == np.float32 and scan.diffraction.flags.c_contiguous
    np.testing.assert_allclose(scan.diffraction[3], stack[:, :, 3].astype(np.float32))


def test_uint16_counts_become_sqrt_amplitude_without_overflow(make_npz):
    counts = np.zeros((10, 8, 8), np.uint16)
    counts[0, 0, 0] = 65535
    counts[0, 0, 1] = 300  # 300**2 = 90000 wraps to 24464 in uint16 arithmetic
    counts[5, 3, 3] = 4
    path = make_npz(diffraction=counts)
    with pytest.warns(DataContractWarning, match="sqrt"):
        scan = load_scan(path)
    d = scan.diffraction
    assert d.dtype == np.float32
    assert d[0, 0, 0] == pytest.approx(np.sqrt(65535.0), rel=1e-6)
    assert d[0, 0, 1] == pytest.approx(np.sqrt(300.0), rel=1e-6)
    assert d[5, 3, 3] == pytest.approx(2.0)
    assert float((d.astype(np.float64) ** 2).sum()) == pytest.approx(65535 + 300 + 4, rel=1e-5)
    assert any("photon counts" in w for w in scan.warnings)


def test_legacy_uint16_hwn_counts(make_npz):
    counts = np.full((8, 8, 12), 400, np.uint16)
    with pytest.warns(DataContractWarning):
        scan = load_scan(make_npz(diffraction=counts, xcoords=np.arange(12.0), ycoords=np.arange(12.0), scan_index=None))
    assert scan.diffraction.shape == (12, 8, 8)
    np.testing.assert_allclose(scan.diffraction, 20.0)
    assert len(scan.warnings) == 2


def test_float64_and_complex128_are_narrowed_silently(make_npz):
    path = make_npz(
        diffraction=np.ones((10, 8, 8)), probeGuess=np.ones((8, 8), np.complex128), xcoords=np.arange(10, dtype=np.int32)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scan = load_scan(path)
    assert scan.diffraction.dtype == np.float32 and scan.probe.dtype == np.complex64
    assert scan.xcoords.dtype == np.float64 and scan.warnings == []


def test_loading_never_unpickles_data(make_npz, tmp_path):
    marker = tmp_path / "pwned"
    payload = np.empty(10, dtype=object)
    payload[:] = [_Exploit(marker)] * 10
    path = make_npz(ycoords=payload)
    with pytest.raises(DataContractError) as info:
        load_scan(path)
    assert info.value.key == "ycoords" and "pickled" in str(info.value)
    assert not marker.exists()


def test_pickled_metadata_is_ignored_not_executed(make_npz, tmp_path):
    marker = tmp_path / "pwned"
    meta = np.empty((), dtype=object)
    meta[()] = _Exploit(marker)
    path = make_npz(_metadata=meta)
    with pytest.warns(DataContractWarning, match="DATA-002"):
        scan = load_scan(path)
    assert scan.metadata == {} and scan.nphotons is None
    with pytest.warns(DataContractWarning):
        assert read_metadata(path) == {}
    assert not marker.exists()


def test_read_metadata(make_npz):
    assert read_metadata(make_npz("a.npz"))["physics_parameters"]["nphotons"] == 1e6
    assert read_metadata(make_npz("b.npz", _metadata=None)) == {}
    older = make_npz("c.npz", _metadata=np.array(json.dumps({"nphotons": 2e5})))
    assert read_metadata(older) == {"nphotons": 2e5}
    scan = load_scan(older)
    assert scan.nphotons == 2e5 and scan.summary().nphotons_source == "metadata"


def test_top_level_npz_nphotons_key(make_npz):
    path = make_npz(_metadata=None, nphotons=np.array(5e4))
    with pytest.warns(DataContractWarning, match="older format"):
        scan = load_scan(path)
    assert scan.nphotons == 5e4
    with pytest.warns(DataContractWarning):
        assert read_metadata(path)["physics_parameters"]["nphotons"] == 5e4


def test_summary(make_npz):
    scan = load_scan(make_npz())
    s = scan.summary()
    assert (s.N, s.n_patterns, s.probe_shape) == (8, 10, (8, 8))
    assert s.x_range == (10.0, 20.0) and s.y_range == (12.0, 15.0)
    assert s.has_ground_truth and s.object_shape == (32, 32)
    assert (s.nphotons, s.nphotons_source) == (1e6, "metadata")
    assert s.path == str(scan.path)
    assert json.loads(json.dumps(s.to_dict()))["probe_shape"] == [8, 8]
    no_meta = load_scan(make_npz("x.npz", _metadata=None)).summary()
    assert (no_meta.nphotons, no_meta.nphotons_source) == (None, None)


def test_mmap_load_of_uncompressed_file(tmp_path):
    scan = _scan()
    path = save_scan(tmp_path / "big.npz", scan, compress=False)
    loaded = load_scan(path, mmap=True)
    assert isinstance(loaded.diffraction, np.memmap)
    assert not loaded.diffraction.flags.writeable
    np.testing.assert_array_equal(loaded.diffraction, scan.diffraction)
    compressed = save_scan(tmp_path / "small.npz", scan)
    assert not isinstance(load_scan(compressed, mmap=True).diffraction, np.memmap)  # falls back to reading


def test_float32_diffraction_is_not_copied():
    arr = np.ones((4, 8, 8), np.float32)
    assert check_diffraction(arr, None, "diffraction", []) is arr


def test_read_array_headers_reads_shapes_only(make_npz):
    headers = read_array_headers(make_npz())
    assert headers["probeGuess"].shape == (8, 8) and headers["probeGuess"].dtype == np.complex64
    assert headers["diffraction"].shape == (10, 8, 8)


def test_in_memory_hwn_stack_is_refused_on_save(tmp_path):
    with pytest.raises(DataContractError, match=r"\(H, W, n\)"):
        save_scan(tmp_path / "s.npz", _scan(diffraction=np.ones((16, 16, 40), np.float32), xcoords=np.arange(40.0)))
    assert list(tmp_path.iterdir()) == []
