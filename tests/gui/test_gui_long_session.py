"""A long session must not crash: PySide6 6.12.0 on CPython 3.11 leaks references to True/None on
every signal, slot call and processEvents, and the interpreter aborts after a few thousand
(pyproject.toml excludes that release). Run in a fresh process, because a leaking build aborts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

SCRIPT = r"""
import sys
from PySide6.QtCore import QObject, QSettings, Signal, Slot
from PySide6.QtWidgets import QApplication, QPushButton
qapp = QApplication([])
from app.main_window import MainWindow
w = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat), data_file=sys.argv[2],
               output_dir=sys.argv[3], check_cuda=False)
class Relay(QObject):
    ping = Signal(object)
    @Slot(object)
    def pong(self, _x): pass
    @Slot()
    def clicked(self): pass
relay = Relay(); relay.ping.connect(relay.pong)
button = QPushButton(); button.clicked.connect(relay.clicked)
for i in range(60_000):  # far more than True's / None's reference counts in this process
    relay.ping.emit(i)
    button.click()
    if i % 10 == 0:
        qapp.processEvents()
w.close()
print("survived")
"""


def test_many_signals_do_not_crash_the_interpreter(tmp_path, tiny_scans):
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "s.ini"), str(tiny_scans[0]), str(tmp_path / "out")],
        cwd=root, capture_output=True, text=True, timeout=180,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(root)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("survived")
