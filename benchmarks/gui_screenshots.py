"""Screenshots of every tab after a 2-epoch run, taken from a real X server (Xvfb).

    python -m benchmarks.gui_screenshots [--out build/gui-screenshots-xvfb] [--size 1500x940]

Without a $DISPLAY it re-runs itself under ``xvfb-run`` (apt-get install xvfb); with
``--offscreen`` it uses Qt's offscreen platform instead (no X server, same widgets). It trains
2 epochs on a tiny simulated scan, reconstructs a second scan with 2 refinement passes, and
saves the screen (X) or the window (offscreen) for each tab, plus the window at 1100 × 750.
People look at these PNGs before calling a GUI change done.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/gui-screenshots-xvfb"))
    ap.add_argument("--size", default="1500x940", help="window size WxH")
    ap.add_argument("--offscreen", action="store_true", help="Qt offscreen platform instead of an X server")
    return ap.parse_args(argv)


def _wait(app, cond, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.02)


def _settle(app, seconds: float = 0.5) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def run(args: argparse.Namespace) -> list[Path]:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "tests" / "gui"))
    from conftest import TINY_OVERRIDES, make_tiny_scan  # the GUI tests' tiny scans

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    work = Path(tempfile.mkdtemp(prefix="ptycho-shots-"))
    train, test = make_tiny_scan(work / "tiny_train.npz", 1), make_tiny_scan(work / "tiny_test.npz", 2)
    w, h = (int(v) for v in args.size.lower().split("x"))
    window = MainWindow(settings=QSettings(str(work / "s.ini"), QSettings.Format.IniFormat), data_file=train,
                        output_dir=work / "runs")
    window.resize(w, h)
    window.show()
    args.out.mkdir(parents=True, exist_ok=True)
    x11 = app.platformName() == "xcb"
    saved: list[Path] = []

    def shot(name: str) -> None:
        _settle(app)
        pix = app.primaryScreen().grabWindow(0) if x11 else window.grab()
        path = args.out / f"{name}.png"
        pix.save(str(path))
        saved.append(path)

    _wait(app, lambda: not window.scan_busy)
    window.train_form.set_texts({**TINY_OVERRIDES, "nepochs": "2"})
    ended: list[str] = []
    for sig, what in ((window.training_finished, "trained"), (window.inference_finished, "inferred"),
                      (window.run_failed, "failed")):
        sig.connect(lambda *_a, what=what: ended.append(what))
    window.start_training()
    _wait(app, lambda: ended)
    window.data_panel.choose(str(test))
    _wait(app, lambda: not window.scan_busy and window.data_panel.summary is not None)
    window.infer_form.set_texts({"n_groups": "16", "refine_epochs": "2"})
    window.start_inference()
    _wait(app, lambda: len(ended) >= 2)
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        shot(f"tab{i + 1}-{window.tabs.tabText(i).lower()}")
    window.tabs.setCurrentWidget(window.results_view)
    window.results_view.images.show_profile(True)
    shot("reconstruction-line-profile")
    window.results_view.show_view("complex")
    shot("reconstruction-complex-view")
    window.results_view.show_view("object")
    window.resize(1100, 750)
    shot("reconstruction-1100x750")
    window.shutdown()
    shutil.rmtree(work, ignore_errors=True)
    return saved


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    elif not os.environ.get("DISPLAY"):
        if shutil.which("xvfb-run") is None:
            print("no $DISPLAY and no xvfb-run (apt-get install xvfb); use --offscreen", file=sys.stderr)
            return 2
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m", "benchmarks.gui_screenshots",
               "--out", str(args.out), "--size", args.size]
        return subprocess.call(cmd, env={**os.environ, "QT_QPA_PLATFORM": "xcb"})
    for path in run(args):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
