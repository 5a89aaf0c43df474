"""Atomic writers and PNG output (phase in the cyclic 'twilight' colormap)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ptycho_engine.io import atomic_write_bytes, atomic_write_json, atomic_write_text, atomic_writer
from ptycho_engine.io.images import colorize, write_amplitude_png, write_phase_png, write_png


def test_atomic_writes_round_trip_and_leave_no_temp(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "sub" / "b.txt", "héllo\n")
    atomic_write_json(tmp_path / "c.json", {"x": np.float32(1.5), "arr": np.arange(3), "nan": float("nan"), "p": tmp_path})
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "sub" / "b.txt").read_text(encoding="utf-8") == "héllo\n"
    data = json.loads((tmp_path / "c.json").read_text())
    assert data == {"x": 1.5, "arr": [0, 1, 2], "nan": None, "p": str(tmp_path)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "c.json", "sub"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "history.json"
    atomic_write_json(target, {"epoch": 1})
    with pytest.raises(RuntimeError):
        with atomic_writer(target, "wb") as fh:
            fh.write(b'{"epoch": 2, "trunc')
            raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"epoch": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json"]
    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"epoch": 1}


def test_write_png_gray_range(tmp_path):
    import matplotlib.image

    img = np.linspace(0.0, 2.0, 12).reshape(3, 4)
    path = write_png(tmp_path / "amp.png", img)
    back = matplotlib.image.imread(path)
    assert back.shape == (3, 4, 4)
    assert back[0, 0, :3].tolist() == [0.0, 0.0, 0.0]  # vmin -> black
    assert back[-1, -1, :3].tolist() == [1.0, 1.0, 1.0]  # vmax -> white
    clipped = colorize(img, vmin=0.0, vmax=1.0)
    assert (clipped[-1, -1, :3] == 255).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["amp.png"]


def test_phase_png_is_cyclic(tmp_path):
    import matplotlib.image

    obj = np.exp(1j * np.array([[-math.pi + 1e-9, math.pi - 1e-9, 0.0, 1.0]]))
    path = write_phase_png(tmp_path / "phase.png", obj)
    back = (matplotlib.image.imread(path) * 255).round()
    np.testing.assert_allclose(back[0, 0], back[0, 1], atol=1)  # +pi and -pi share a colour
    assert not np.allclose(back[0, 2], back[0, 0], atol=10)
    rgba = colorize(np.array([[0.0, math.pi]]), cmap="twilight")  # default phase range [-pi, pi]
    low = colorize(np.array([[-math.pi]]), cmap="twilight")[0, 0]
    np.testing.assert_allclose(rgba[0, 1].astype(int), low.astype(int), atol=1)  # both ends of the cycle


def test_amplitude_png_and_bad_inputs(tmp_path):
    write_amplitude_png(tmp_path / "a.png", np.ones((4, 4)) * np.exp(0.3j))  # constant image is fine
    assert (tmp_path / "a.png").stat().st_size > 0
    with pytest.raises(ValueError, match="2-D"):
        write_png(tmp_path / "x.png", np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="real"):
        write_png(tmp_path / "x.png", np.ones((2, 2), complex))
    rgba = colorize(np.array([[np.nan, 1.0], [2.0, 3.0]]))
    assert rgba[0, 0, 3] == 0 and rgba[1, 1, 3] == 255  # NaN is transparent
