"""Beamline HDF5 stacks: compressed = uncompressed, chunked reading, crop, masks, named errors, CLI."""
from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest

from ptycho_engine.data.contract import load_scan
from ptycho_engine.data.errors import DataContractError
from ptycho_engine.io import h5util
from ptycho_engine.io.hdf5_stack import StackOptions, convert_hdf5_stack, estimate_center
from ptycho_engine.io.scan_sources import open_any_scan, resolve_scan

N_FRAMES, DET, CENTER = 20, (90, 84), (47, 39)  # detector rows x cols, true pattern centre (row, col)


def _frames() -> np.ndarray:
    """uint32 counts: an Airy-like central disc at CENTER plus noise; a hot and a saturating pixel."""
    rng = np.random.default_rng(0)
    rows, cols = np.indices(DET)
    r = np.hypot(rows - CENTER[0], cols - CENTER[1])
    base = 3000.0 * np.exp(-(r / 5.0) ** 2) + 20.0 * np.exp(-r / 20.0)
    frames = rng.poisson(base * rng.uniform(0.8, 1.2, (N_FRAMES, 1, 1))).astype(np.uint32)
    frames[:, 40, 30] = np.iinfo(np.uint32).max  # detector gap marker
    frames[3, 50, 45] = 70000  # saturates in one frame only
    return frames


def _write_stack(path: Path, frames: np.ndarray, **filters) -> Path:
    with h5py.File(path, "w") as h5:
        h5.create_dataset("/entry/data/data", data=frames, chunks=(4,) + frames.shape[1:], **filters)
        h5.create_dataset("/entry/positions", data=np.stack([np.linspace(40, 80, N_FRAMES),
                                                             np.linspace(45, 60, N_FRAMES)], axis=1))
    return path


def _convert(stack: Path, out: Path, chunk_bytes: int = 3 * 90 * 84 * 4, **options) -> Path:
    opts = StackOptions(**{"positions": ":/entry/positions", "crop": 32, **options})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        convert_hdf5_stack(stack, out, opts, chunk_bytes=chunk_bytes)
    return out


@pytest.mark.parametrize("filters", [
    dict(compression="gzip", compression_opts=4, shuffle=True),
    dict(**hdf5plugin.Bitshuffle(cname="lz4")),
    dict(**hdf5plugin.Blosc(cname="zstd", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE)),
    dict(**hdf5plugin.LZ4()),
])
def test_a_compressed_stack_reads_identical_to_the_uncompressed_one(tmp_path: Path, filters: dict) -> None:
    frames = _frames()
    plain = load_scan(_convert(_write_stack(tmp_path / "plain.h5", frames), tmp_path / "plain.npz"))
    packed = load_scan(_convert(_write_stack(tmp_path / "packed.h5", frames, **filters), tmp_path / "packed.npz"))
    np.testing.assert_array_equal(packed.diffraction, plain.diffraction)
    np.testing.assert_array_equal(packed.probe, plain.probe)
    np.testing.assert_array_equal(packed.xcoords, plain.xcoords)


def test_chunked_reading_matches_one_read_and_crops_around_the_centre(tmp_path: Path) -> None:
    frames = _frames()
    stack = _write_stack(tmp_path / "s.h5", frames)
    small = load_scan(_convert(stack, tmp_path / "a.npz"))  # chunks of 4 frames (the dataset's chunking)
    with h5py.File(stack) as h5:
        assert h5util.frame_chunks(h5["/entry/data/data"], 3 * 90 * 84 * 4) == 4 < N_FRAMES
    whole = load_scan(_convert(stack, tmp_path / "b.npz", chunk_bytes=1 << 30))
    np.testing.assert_array_equal(small.diffraction, whole.diffraction)
    r0, c0 = CENTER[0] - 16, CENTER[1] - 16  # the estimate lands on the true centre
    expected = np.sqrt(frames[:, r0:r0 + 32, c0:c0 + 32].astype(np.float64))
    expected[:, 40 - r0, 30 - c0] = 0.0  # the gap marker is zeroed
    np.testing.assert_allclose(small.diffraction, expected.astype(np.float32), rtol=1e-6)
    assert small.metadata["source"]["center"] == pytest.approx(CENTER, abs=0.5)
    assert small.nphotons == pytest.approx(np.sum(expected.astype(np.float64) ** 2) / N_FRAMES, rel=1e-6)


def test_estimate_center_finds_an_off_centre_disc() -> None:
    rows, cols = np.indices((64, 70))
    img = np.exp(-((rows - 20.3) ** 2 + (cols - 41.7) ** 2) / 18.0)
    assert estimate_center(img) == pytest.approx((20.3, 41.7), abs=0.05)


def test_bad_pixels_and_saturation_are_masked_in_every_frame(tmp_path: Path) -> None:
    frames = _frames()
    stack = _write_stack(tmp_path / "s.h5", frames)
    mask = np.zeros(DET, bool)
    mask[45, 35] = True
    np.save(tmp_path / "mask.npy", mask)
    scan = load_scan(_convert(stack, tmp_path / "m.npz", bad_pixels=str(tmp_path / "mask.npy"), saturation=65535,
                              center=(float(CENTER[0]), float(CENTER[1]))))
    r0, c0 = CENTER[0] - 16, CENTER[1] - 16
    bad = scan.bad_pixels
    # the given bad pixel, the one saturating in a frame, the detector's gap marker
    assert bad[45 - r0, 35 - c0] and bad[50 - r0, 45 - c0] and bad[40 - r0, 30 - c0]
    assert bad.sum() == 3
    assert not scan.diffraction[:, bad].any()


def test_positions_in_metres_use_the_geometry(tmp_path: Path) -> None:
    frames = _frames()
    stack = _write_stack(tmp_path / "s.h5", frames)
    geometry = {"probe_energy_eV": 8000.0, "detector_distance_m": 2.0, "detector_pixel_size_m": 75e-6}
    scan = load_scan(_convert(stack, tmp_path / "m.npz", positions_unit="um", geometry=geometry))
    dx = 1.239841984e-6 / 8000.0 * 2.0 / (32 * 75e-6)
    assert scan.geometry["object_pixel_size_m"] == pytest.approx(dx)
    x_m = np.linspace(40, 80, N_FRAMES) * 1e-6
    np.testing.assert_allclose(scan.geometry["origin_x_m"] + dx * scan.xcoords, x_m, rtol=1e-12)
    assert scan.xcoords.min() == pytest.approx(16.0)  # the first patch starts at the grid's edge


def test_the_cache_converts_a_stack_once(tmp_path: Path, _scan_cache: Path) -> None:
    stack = _write_stack(tmp_path / "s.h5", _frames(), **hdf5plugin.Bitshuffle())
    opts = StackOptions(positions=":/entry/positions", crop=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = resolve_scan(stack, opts)
        assert resolve_scan(stack, opts) == first
        assert resolve_scan(stack, StackOptions(positions=":/entry/positions", crop=16)) != first
        scan = open_any_scan(stack, opts)
    assert scan.N == 32 and scan.metadata["source"]["format"] == "hdf5-stack"


@pytest.mark.parametrize("options, key", [
    (dict(data_path="/entry/nothing"), "/entry/nothing"),
    (dict(positions=":/entry/short"), "/entry/short"),
    (dict(crop=96), "/entry/data/data"),
])
def test_bad_stack_input_is_a_named_error_and_nothing_is_written(tmp_path: Path, options: dict, key: str) -> None:
    stack = _write_stack(tmp_path / "s.h5", _frames())
    with h5py.File(stack, "r+") as h5:
        h5.create_dataset("/entry/short", data=np.zeros((N_FRAMES - 1, 2)))
    opts = StackOptions(**{"positions": ":/entry/positions", "crop": 32, **options})
    with pytest.raises(DataContractError) as info:
        convert_hdf5_stack(stack, tmp_path / "out.npz", opts)
    assert info.value.key == key and info.value.expected and info.value.found
    assert not list(tmp_path.glob("*out.npz*"))


def test_an_unavailable_compression_filter_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = _write_stack(tmp_path / "s.h5", _frames(), **hdf5plugin.Bitshuffle(cname="lz4"))
    monkeypatch.setattr(h5py.h5z, "filter_avail", lambda code: code != hdf5plugin.BSHUF_ID)
    with pytest.raises(DataContractError, match="filter") as info:
        convert_hdf5_stack(stack, tmp_path / "out.npz", StackOptions(positions=":/entry/positions", crop=32))
    assert info.value.key == "/entry/data/data" and "bitshuffle" in info.value.found and "32008" in info.value.found
    assert not (tmp_path / "out.npz").exists()


def test_a_plain_stack_without_positions_says_how_to_convert_it(tmp_path: Path) -> None:
    stack = _write_stack(tmp_path / "s.h5", _frames())
    with pytest.raises(DataContractError, match="convert-hdf5"):
        resolve_scan(stack)


def test_cli_convert_hdf5(tmp_path: Path) -> None:
    from ptycho_engine import cli

    stack = _write_stack(tmp_path / "s.h5", _frames(), **hdf5plugin.Blosc())
    out = tmp_path / "scan.npz"
    assert cli.main(["convert-hdf5", str(stack), "--positions", f"{stack}:/entry/positions", "--crop", "32",
                     "--energy", "8000", "--output", str(out)]) == 0
    scan = load_scan(out)
    assert scan.N == 32 and scan.geometry["probe_energy_eV"] == 8000.0
    assert cli.main(["inspect", str(out)]) == 0
    bad = tmp_path / "bad.npz"
    assert cli.main(["convert-hdf5", str(stack), "--positions", ":/entry/positions", "--data-path", "/dp",
                     "--output", str(bad)]) == 3
    assert not bad.exists()


def test_without_hdf5plugin_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    stack = _write_stack(tmp_path / "s.h5", _frames(), **hdf5plugin.LZ4())
    monkeypatch.setattr(h5py.h5z, "filter_avail", lambda code: code != hdf5plugin.LZ4_ID)
    monkeypatch.setitem(sys.modules, "hdf5plugin", None)  # as if it were not installed
    with pytest.raises(DataContractError, match="pip install hdf5plugin"):
        convert_hdf5_stack(stack, tmp_path / "out.npz", StackOptions(positions=":/entry/positions", crop=32))


def test_a_converted_scan_is_memory_mapped_in_place(tmp_path: Path) -> None:
    from ptycho_engine.data.cache import open_scan_streaming

    out = _convert(_write_stack(tmp_path / "s.h5", _frames()), tmp_path / "s.npz")
    scan = open_scan_streaming(out, cache_dir=tmp_path / "unused")
    assert isinstance(scan.diffraction, np.memmap)
    assert any("memory-mapped in place" in w for w in scan.warnings)
    np.testing.assert_array_equal(np.asarray(scan.diffraction), load_scan(out).diffraction)
