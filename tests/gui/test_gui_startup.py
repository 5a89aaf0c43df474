"""Startup stays light: the window opens without importing torch (measured in a fresh process)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

SCRIPT = r"""
import json, os, sys, time
t0 = time.perf_counter()
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
import app.main_window as mw
t_import = time.perf_counter() - t0
qapp = QApplication([])
w = mw.MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat),
                  data_file=sys.argv[2], output_dir=sys.argv[3], check_cuda=False)
w.show()
qapp.processEvents()
t_shown = time.perf_counter() - t0
deadline = time.time() + 20
while w.scan_busy and time.time() < deadline:
    qapp.processEvents()
torch_loaded = "torch" in sys.modules
w.close()
print(json.dumps({"import_s": t_import, "shown_s": t_shown, "torch": torch_loaded,
                  "scan_ok": w.data_panel.summary is not None}))
"""


def test_window_opens_fast_without_torch(run_window_script):
    proc = run_window_script(SCRIPT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["torch"] is False  # not even after the scan was checked and shown
    assert report["scan_ok"] is True
    assert report["shown_s"] < 10.0, report  # generous for a loaded 2-core CI box


def test_main_parses_data_and_output(tmp_path):
    from app.main import parse_args

    args = parse_args(["--data", "scan.npz", "--output", str(tmp_path)])
    assert args.data == Path("scan.npz") and args.output == tmp_path
