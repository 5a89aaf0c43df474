"""Item 11: axes in nm / µm when the scan says how big an object pixel is, in pixels otherwise."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def scan_with_pixel_size(tmp_path_factory) -> object:
    from ptycho_engine.data.contract import save_scan
    from ptycho_engine.simulate import simulate_scan

    scan = simulate_scan("lines", "disk", "fermat", N=64, n_positions=36, object_size=None, nphotons=1e6, seed=5)
    scan.metadata["geometry"] = {"object_pixel_size_m": 12e-9}
    path = tmp_path_factory.mktemp("geo") / "geo.npz"
    save_scan(path, scan)
    return path


def _labels(plot) -> tuple[str, str]:
    return plot.getAxis("bottom").labelString(), plot.getAxis("left").labelString()


def test_axes_follow_the_scans_pixel_size(qtbot, window, wait_scan_done, scan_with_pixel_size):
    images = window.results_view.images
    obj = np.exp(1j * np.linspace(0, 1, 150 * 150)).reshape(150, 150)
    images.set_images(np.abs(obj), np.angle(obj))
    bottom, left = _labels(images.amplitude.plot)
    assert "px" in bottom and "px" in left  # the tiny scan has no geometry
    assert "px" in _labels(window.scan_views.positions.getPlotItem())[0]

    with qtbot.waitSignal(window.scan_loaded, timeout=20_000):
        window.data_panel.choose(str(scan_with_pixel_size))
    images.set_images(np.abs(obj), np.angle(obj))  # 150 px × 12 nm = 1.8 µm across
    qtbot.wait(50)
    for panel in (images.amplitude, images.phase, window.training_views.images.amplitude):
        bottom, left = _labels(panel.plot)
        assert all(("nm)" in t or "µm)" in t) and "px" not in t for t in (bottom, left)), (bottom, left)
    assert images.pixel_size_m == pytest.approx(12e-9)
    assert "µm" in images.readout_at(100, 50)  # the value read-out agrees
    probe_axis = _labels(window.scan_views.probe_amp.plot)[0]
    assert "nm" in probe_axis  # 64 px × 12 nm = 768 nm
    assert "m)" not in _labels(window.scan_views.diffraction.plot)[0]  # detector pixels: not object lengths
    assert "µm" in _labels(window.scan_views.positions.getPlotItem())[0]  # ~0.4–1 µm of scan


def test_extents_and_pattern_position_in_px_and_length(qtbot, window, scan_with_pixel_size):
    extent = window.data_panel._values["x"]
    assert extent.text().endswith(" px")  # the tiny scan has no pixel size: pixels only
    assert "px" in window.scan_views.pattern_note.text() and "nm" not in window.scan_views.pattern_note.text()
    with qtbot.waitSignal(window.scan_loaded, timeout=20_000):
        window.data_panel.choose(str(scan_with_pixel_size))
    text = extent.text()  # e.g. '34.5 … 79.5 px (414 … 954 nm)' at 12 nm per pixel
    lo, hi = (float(v) for v in text.split(" px")[0].split(" … "))
    assert text.endswith(" nm)"), text
    lo_nm, hi_nm = (float(v) for v in text.split("(")[1].removesuffix(" nm)").split(" … "))
    assert lo_nm == pytest.approx(lo * 12, rel=0.01) and hi_nm == pytest.approx(hi * 12, rel=0.01)
    note = window.scan_views.pattern_note.text()
    assert " px (" in note and note.endswith("nm)"), note
