"""A long session must not crash: PySide6 6.12.0 on CPython 3.11 leaks references to True/None on
every signal, slot call and processEvents, and the interpreter aborts after a few thousand
(pyproject.toml excludes that release). Run in a fresh process, because a leaking build aborts."""
from __future__ import annotations

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


def test_many_signals_do_not_crash_the_interpreter(run_window_script):
    proc = run_window_script(SCRIPT, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("survived")
