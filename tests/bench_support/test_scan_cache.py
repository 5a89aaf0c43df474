"""open_scan_streaming: a memmap of the diffraction, converted once, reused, rebuilt on change."""
from __future__ import annotations

import os
import tracemalloc
import warnings

import numpy as np
import pytest

from ptycho_engine.data.cache import cache_path_for, open_scan, open_scan_streaming
from ptycho_engine.data.contract import DataContractError, ScanData, load_scan, save_scan

N = 16


def _scan(n: int = 96, seed: int = 0) -> ScanData:
    rng = np.random.default_rng(seed)
    probe = (rng.random((N, N)) + 1j * rng.random((N, N))).astype(np.complex64)
    return ScanData(path=None, diffraction=rng.random((n, N, N)).astype(np.float32), probe=probe,
                    xcoords=rng.random(n) * 50, ycoords=rng.random(n) * 50,
                    metadata={"physics_parameters": {"nphotons": 1e6}})


@pytest.fixture
def compressed(tmp_path):
    path = tmp_path / "scan.npz"
    save_scan(path, _scan(), compress=True)
    return path


def test_values_identical_to_load_scan_and_read_only(compressed, tmp_path):
    cache = tmp_path / "cache"
    scan = open_scan_streaming(compressed, cache_dir=cache)
    ref = load_scan(compressed)
    assert isinstance(scan.diffraction, np.memmap)
    assert scan.diffraction.shape == ref.diffraction.shape and scan.diffraction.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(scan.diffraction), ref.diffraction)
    np.testing.assert_array_equal(scan.probe, ref.probe)
    np.testing.assert_array_equal(scan.xcoords, ref.xcoords)
    assert scan.nphotons == 1e6
    with pytest.raises(ValueError):
        scan.diffraction[0, 0, 0] = 1.0  # read-only map


def test_cache_created_once_then_reused(compressed, tmp_path):
    cache = tmp_path / "cache"
    first = open_scan_streaming(compressed, cache_dir=cache, chunk_bytes=4096)
    target = cache_path_for(compressed, cache)
    assert target.is_file() and any("converted once" in w for w in first.warnings)
    mtime = target.stat().st_mtime_ns
    second = open_scan_streaming(compressed, cache_dir=cache)
    assert any("from cache" in w for w in second.warnings)
    assert target.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in cache.iterdir()) == [target.name]


def test_cache_invalidated_when_source_changes(compressed, tmp_path):
    cache = tmp_path / "cache"
    open_scan_streaming(compressed, cache_dir=cache)
    old = cache_path_for(compressed, cache)
    changed = _scan(seed=1)
    save_scan(compressed, changed, compress=True)
    st = compressed.stat()
    os.utime(compressed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # distinct mtime even on coarse clocks
    new = cache_path_for(compressed, cache)
    assert new != old
    scan = open_scan_streaming(compressed, cache_dir=cache)
    np.testing.assert_array_equal(np.asarray(scan.diffraction), changed.diffraction)
    assert not old.exists() and new.is_file()  # the stale entry was dropped


def test_uncompressed_float32_is_mapped_in_place(tmp_path):
    path = tmp_path / "plain.npz"
    save_scan(path, _scan(), compress=False)
    cache = tmp_path / "cache"
    scan = open_scan_streaming(path, cache_dir=cache)
    assert isinstance(scan.diffraction, np.memmap)
    assert os.path.samefile(scan.diffraction.filename, path)
    assert not cache.exists()


def test_integer_counts_and_legacy_layout_converted_like_load_scan(tmp_path):
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 500, size=(N, N, 40), dtype=np.uint16)  # legacy (H, W, n) photon counts
    path = tmp_path / "legacy.npz"
    np.savez_compressed(path, diff3d=counts, probeGuess=np.ones((N, N), np.complex64),
                        xcoords=np.arange(40.0), ycoords=np.arange(40.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = load_scan(path)
        scan = open_scan_streaming(path, cache_dir=tmp_path / "c", chunk_bytes=N * 40 * 2 * 3)
    np.testing.assert_array_equal(np.asarray(scan.diffraction), ref.diffraction)
    assert any("FORMAT-001" in w for w in scan.warnings)
    assert any("photon counts" in w for w in scan.warnings)


def test_invalid_values_rejected_by_contract_checks(tmp_path):
    bad = _scan()
    path = tmp_path / "bad.npz"
    save_scan(path, bad, compress=True)
    arrays = dict(np.load(path))
    arrays["diffraction"] = arrays["diffraction"].copy()
    arrays["diffraction"][5, 2, 2] = np.nan
    np.savez_compressed(path, **arrays)
    with pytest.raises(DataContractError) as err:
        open_scan_streaming(path, cache_dir=tmp_path / "c")
    assert "NaN" in str(err.value)
    assert not list((tmp_path / "c").glob("*.npy"))  # no half-built cache entry left behind


def test_conversion_never_allocates_the_full_array(tmp_path, monkeypatch):
    # the contract's own chunked checks use chunks of _CHUNK_ELEMENTS; make them small too
    monkeypatch.setattr("ptycho_engine.data.validation._CHUNK_ELEMENTS", 64 * N * N)
    n = 6000
    rng = np.random.default_rng(5)
    path = tmp_path / "big.npz"
    full_bytes = n * N * N * 4  # 6 MB
    np.savez_compressed(path, diffraction=rng.random((n, N, N), dtype=np.float32),
                        probeGuess=np.ones((N, N), np.complex64), xcoords=np.arange(n, dtype=float),
                        ycoords=np.arange(n, dtype=float))
    tracemalloc.start()
    try:
        scan = open_scan_streaming(path, cache_dir=tmp_path / "c", chunk_bytes=64 * N * N * 4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert scan.n_patterns == n
    assert peak < full_bytes / 8, f"peak traced allocation {peak} B vs full array {full_bytes} B"


def test_open_scan_streams_only_above_the_threshold(compressed, tmp_path):
    small = open_scan(compressed, cache_dir=tmp_path / "c")
    assert not isinstance(small.diffraction, np.memmap)
    big = open_scan(compressed, stream_above_bytes=1024, cache_dir=tmp_path / "c")
    assert isinstance(big.diffraction, np.memmap)
    np.testing.assert_array_equal(np.asarray(big.diffraction), small.diffraction)
