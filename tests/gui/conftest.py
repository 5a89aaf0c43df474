"""Fixtures for the GUI tests: tiny scans, isolated settings, the real window and its teardown."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from app.main_window import MainWindow

N = 64
N_POSITIONS = 36
TINY_OVERRIDES = {"nepochs": "2", "n_groups": "16", "batch_size": "8"}


def make_tiny_scan(path: Path, seed: int, n: int = N) -> Path:
    """A tiny scan (N=64 unless ``n``) with ground truth, simulated by the engine (few positions)."""
    from ptycho_engine.data.contract import save_scan
    from ptycho_engine.simulate import simulate_scan  # the engine's own simulator

    scan = simulate_scan("lines", "disk", "fermat", N=n, n_positions=N_POSITIONS, object_size=None,
                         nphotons=1e6, seed=seed)
    save_scan(path, scan)
    return path


@pytest.fixture(scope="session")
def tiny_scans(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(train, test) scans, made once per session."""
    folder = tmp_path_factory.mktemp("scans")
    return make_tiny_scan(folder / "tiny_train.npz", 1), make_tiny_scan(folder / "tiny_test.npz", 2)


@pytest.fixture(scope="session")
def more_scans(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a third N=64 scan, an N=128 scan that cannot be trained with the others), made once."""
    folder = tmp_path_factory.mktemp("more_scans")
    return make_tiny_scan(folder / "tiny_third.npz", 3), make_tiny_scan(folder / "tiny_n128.npz", 4, n=128)


@pytest.fixture
def malformed_scan(tmp_path: Path) -> Path:
    """An NPZ without probeGuess: the data contract must refuse it."""
    path = tmp_path / "broken.npz"
    np.savez(path, diffraction=np.ones((4, N, N), np.float32), xcoords=np.arange(4.0), ycoords=np.arange(4.0))
    return path


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return tmp_path / "settings" / "ptycho-studio.ini"


@pytest.fixture
def run_window_script(tmp_path: Path, tiny_scans: tuple[Path, Path]):
    """``run(script, timeout)``: the script in a fresh offscreen interpreter, argv = settings file,
    the tiny training scan, an output folder."""
    root = Path(__file__).resolve().parents[2]

    def run(script: str, timeout: int) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "s.ini"), str(tiny_scans[0]), str(tmp_path / "out")],
            cwd=root, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(root)},
        )

    return run


def make_settings(path: Path) -> QSettings:
    """An isolated INI settings file (never the user's real settings)."""
    return QSettings(str(path), QSettings.Format.IniFormat)


def wait_scan(qtbot, window: MainWindow, timeout: int = 20_000) -> None:
    """Wait until the scan check finished (either way) — GUI-thread state only."""
    qtbot.waitUntil(lambda: not window.scan_busy, timeout=timeout)


@pytest.fixture(autouse=True)
def collect_qt_garbage_on_the_gui_thread():
    """Destroy each test's closed windows on the GUI thread, after the test.

    Why: a window left in a reference cycle is otherwise freed by whichever thread next triggers
    Python's cycle collector — in a later test that can be the engine's worker thread, and
    destroying Qt widgets there blocks on the GIL (seen as a hang in a full-suite run).
    """
    yield
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent

    gc.collect()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


@pytest.fixture
def make_window(qtbot, settings_path: Path):
    """Factory: a shown MainWindow on the isolated settings; threads are checked at teardown."""
    made: list[MainWindow] = []

    def _make(**kwargs) -> MainWindow:
        kwargs.setdefault("check_cuda", False)
        w = MainWindow(settings=make_settings(settings_path), **kwargs)
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        made.append(w)
        return w

    yield _make
    for w in made:
        w.shutdown()
        assert w.engine_thread.isFinished() and w.io_thread.isFinished()


@pytest.fixture
def window(qtbot, make_window, tiny_scans, tmp_path: Path) -> MainWindow:
    """The real window on the tiny training scan, tiny training overrides, output in tmp."""
    w = make_window(data_file=tiny_scans[0], output_dir=tmp_path / "run")
    wait_scan(qtbot, w)
    assert w.data_panel.summary is not None, w.data_panel.error
    w.train_form.set_texts(TINY_OVERRIDES)
    return w


@pytest.fixture
def wait_scan_done(qtbot):
    return lambda w, timeout=20_000: wait_scan(qtbot, w, timeout)


class RunRecorder:
    """Records how runs end (GUI-thread signals only), so a test waits for *any* ending and
    then asserts which one it was — a failure shows its message instead of a timeout."""

    def __init__(self, window: MainWindow) -> None:
        self.events: list[tuple[str, object]] = []
        window.training_finished.connect(lambda r: self.events.append(("trained", r)))
        window.pretraining_finished.connect(lambda r: self.events.append(("pretrained", r)))
        window.inference_finished.connect(lambda r: self.events.append(("inferred", r)))
        window.run_failed.connect(lambda m: self.events.append(("failed", m)))
        window.run_cancelled.connect(lambda k: self.events.append(("cancelled", k)))

    def wait(self, qtbot, n: int = 1, timeout: int = 180_000) -> tuple[str, object]:
        qtbot.waitUntil(lambda: len(self.events) >= n, timeout=timeout)
        return self.events[n - 1]


@pytest.fixture
def runs(window) -> RunRecorder:
    return RunRecorder(window)
