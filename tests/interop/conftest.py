"""Small scans and ptychodus-style files for the interoperability tests (made in fixtures, seconds)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

#: geometry of the test scans: 10 nm pixels, 8 keV, 2 m, lab origin away from 0
GEOMETRY = {"object_pixel_size_m": 1e-8, "probe_energy_eV": 8000.0, "detector_distance_m": 2.0,
            "exposure_time_s": 0.1, "origin_x_m": 1.25e-3, "origin_y_m": -2.0e-4}


@pytest.fixture(autouse=True)
def _scan_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test converts into its own cache folder."""
    cache = tmp_path / "scan-cache"
    monkeypatch.setenv("PTYCHO_STUDIO_CACHE", str(cache))
    return cache


def small_scan(n: int = 24, N: int = 64, seed: int = 3, geometry: dict[str, float] | None = None) -> Any:  # noqa: N803
    """A simulated ScanData (ground truth object, Poisson counts) with optional geometry."""
    from ptycho_engine.simulate import simulate_scan

    scan = simulate_scan(object_kind="lines", probe_kind="disk", scan_kind="fermat", N=N, n_positions=n,
                         object_size=160, nphotons=1e5, seed=seed)
    scan.scan_index = np.arange(n, dtype=np.int64) + 100  # pattern ids that are not 0..n-1
    if geometry is not None:
        scan.metadata["geometry"] = dict(geometry)
    return scan


@pytest.fixture
def npz_scan(tmp_path: Path) -> Path:
    from ptycho_engine.data.contract import save_scan

    return save_scan(tmp_path / "scan.npz", small_scan(geometry=GEOMETRY))


def write_foreign_folder(folder: Path, n: int = 10, N: int = 16, *, drop_attr: str | None = None,  # noqa: N803
                         drop_dataset: str | None = None, n_patterns: int | None = None,
                         probe_pixel: float | None = None, modes: int = 1) -> dict[str, Any]:
    """A batch folder written the way ptychodus writes one (no engine-specific attributes):
    shuffled pattern order, non-trivial object centre, bad pixels, multi-mode probe on request."""
    rng = np.random.default_rng(5)
    folder.mkdir(parents=True, exist_ok=True)
    dx, dy = 2e-8, 2e-8
    H, W = 96, 80  # noqa: N806
    cx, cy = 3e-6, -1e-6
    idx = np.arange(n) * 3 + 7
    x_px = rng.uniform(20, 60, n)
    y_px = rng.uniform(20, 70, n)
    x_m, y_m = cx + dx * (x_px - (W - 1) / 2), cy + dy * (y_px - (H - 1) / 2)  # ptychodus 1.7's mapping
    probe = (rng.standard_normal((modes, N, N)) + 1j * rng.standard_normal((modes, N, N))).astype(np.complex64)
    counts = rng.poisson(50, (n_patterns or n, N, N)).astype(np.uint32)
    bad = np.zeros((N, N), bool)
    bad[3, 4] = bad[10, 11] = True
    counts[:, 3, 4] = 4_000_000_000  # a hot pixel
    order = rng.permutation(n_patterns or n)
    pattern_idx = (np.arange(n_patterns or n) * 3 + 7)[order]
    with h5py.File(folder / "diffraction.h5", "w") as h5:
        ds = h5.create_dataset("patterns", data=counts[order], compression="lzf")
        ds.attrs["detector_pixel_width_m"] = ds.attrs["detector_pixel_height_m"] = 75e-6
        h5.create_dataset("indexes", data=pattern_idx)
        h5.create_dataset("bad_pixels", data=bad)
    with h5py.File(folder / "product-in.h5", "w") as h5:
        attrs = {"name": "foreign", "comments": "", "detector_object_distance_m": 1.5, "photon_energy_eV": 10000.0,
                 "probe_photon_count": 0.0, "exposure_time_s": 0.5, "mass_attenuation_m2_per_kg": 0.0}
        for key, value in attrs.items():
            if key != drop_attr:
                h5.attrs[key] = value
        data = {"probe_position_indexes": idx, "probe_position_x_m": x_m, "probe_position_y_m": y_m,
                "object_layer_spacing_m": np.zeros(0), "loss_values": np.zeros(0)}
        for key, value in data.items():
            if key != drop_dataset:
                h5.create_dataset(key, data=value)
        if drop_dataset != "probe":
            p = h5.create_dataset("probe", data=probe if modes > 1 else probe[0])
            p.attrs["pixel_width_m"] = probe_pixel if probe_pixel is not None else dx
            p.attrs["pixel_height_m"] = dy
        if drop_dataset != "object":
            o = h5.create_dataset("object", data=np.ones((1, H, W), np.complex64))
            o.attrs.update({"center_x_m": cx, "center_y_m": cy, "pixel_width_m": dx, "pixel_height_m": dy})
    return {"idx": idx, "x_px": x_px, "y_px": y_px, "counts": counts, "order": order, "pattern_idx": pattern_idx,
            "bad": bad, "probe": probe, "W": W, "H": H, "cx": cx, "dx": dx}


def read_like_ptychodus(path: Path) -> dict[str, Any]:
    """What ptychodus reads from a product, with the keys *both* of its readers require (up to
    2025: ``plugins/h5_product_file.py``; 1.7: ``api/io.py::load_product``) and the checks its
    Object / ProbeSequence constructors make; positions mapped as ptychodus 1.7 maps them."""
    with h5py.File(path, "r") as h5:
        meta = {k: h5.attrs[k] for k in ("name", "comments", "detector_object_distance_m", "probe_energy_eV",
                                         "photon_energy_eV", "exposure_time_s", "mass_attenuation_m2_kg")}
        meta = {k: (str(v) if k in ("name", "comments") else float(v)) for k, v in meta.items()}
        assert meta["probe_energy_eV"] == meta["photon_energy_eV"]
        idx, x_m, y_m = (h5[k][()] for k in ("probe_position_indexes", "probe_position_x_m", "probe_position_y_m"))
        probe = h5["probe"]
        probe_px = float(probe.attrs["pixel_width_m"]), float(probe.attrs["pixel_height_m"])
        probe = probe[()]
        obj = h5["object"]
        geo = {k: float(obj.attrs[k]) for k in ("pixel_width_m", "pixel_height_m", "center_x_m", "center_y_m")}
        obj = obj[()]
        spacing = h5["object_layer_spacing_m"][()]
        loss = h5["loss_values"][()]
        assert h5["loss_epochs"].shape == loss.shape
    assert np.iscomplexobj(probe) and probe.ndim in (2, 3, 4)
    assert np.iscomplexobj(obj) and obj.ndim in (2, 3)
    layers = obj.shape[0] if obj.ndim == 3 else 1
    assert len(spacing) + 1 == layers
    width, height = obj.shape[-1], obj.shape[-2]
    # ptychodus 1.7 api/object.py ObjectGeometry.map_coordinates_probe_to_object
    x_px = (x_m - geo["center_x_m"]) / geo["pixel_width_m"] + (width - 1) / 2
    y_px = (y_m - geo["center_y_m"]) / geo["pixel_height_m"] + (height - 1) / 2
    return {"meta": meta, "idx": idx, "x_px": x_px, "y_px": y_px, "probe": probe, "probe_px": probe_px,
            "object": obj, "geo": geo, "loss": loss}
