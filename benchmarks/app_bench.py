"""App start-up time and GUI responsiveness while training (each in a fresh offscreen process).

startup: ``QT_QPA_PLATFORM=offscreen python -c`` imports app.main_window, builds MainWindow (as
app/main.py does, with an isolated QSettings file and no CUDA probe), shows it, processes events,
prints the elapsed time since interpreter start (import included) and since the import.

stall: the window trains a tiny run through its own worker (MainWindow.start_training) while a
QTimer at 10 ms in the GUI thread records every interval; the stall is the longest gap beyond
10 ms. The overhead of GUI streaming = mean epoch time in the GUI run vs ``train_model`` headless
on the same payload (same file, same overrides, fresh processes, epoch 1 excluded when possible).
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from .common import loadavg, log, median, run_child

STARTUP_CODE = r"""
import time; t0 = time.perf_counter()
import sys, tempfile, os
from PySide6.QtWidgets import QApplication
from PySide6.QtCore import QSettings
t_imp0 = time.perf_counter()
import app.main_window as mw
t_imp = time.perf_counter() - t_imp0
qapp = QApplication.instance() or QApplication(sys.argv[:1])
settings = QSettings(os.path.join(tempfile.mkdtemp(), "s.ini"), QSettings.Format.IniFormat)
t1 = time.perf_counter()
w = mw.MainWindow(settings=settings, data_file=None, output_dir=None, check_cuda=False)
w.show()
qapp.processEvents()
t2 = time.perf_counter()
import json; print(json.dumps({"since_interpreter_code_s": t2 - t0, "import_main_window_s": t_imp,
                               "build_show_s": t2 - t1, "torch_imported": "torch" in sys.modules}))
os._exit(0)
"""

OVERRIDES = {"n_groups": 48, "nepochs": 3, "batch_size": 16, "gridsize": 1}
QUICK_OVERRIDES = {"n_groups": 32, "nepochs": 2, "batch_size": 16, "gridsize": 1}


def _overrides() -> dict:
    import os

    return QUICK_OVERRIDES if os.environ.get("PTYCHO_BENCH_QUICK") else OVERRIDES


def _stall_child(data_file: str, out_dir: str) -> dict:
    import os
    import time

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    import app.main_window as mw

    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(os.path.join(tempfile.mkdtemp(), "s.ini"), QSettings.Format.IniFormat)
    w = mw.MainWindow(settings=settings, data_file=data_file, output_dir=out_dir, check_cuda=True)
    w.show()
    state = {"done": False, "result": None, "ticks": [], "loaded": False, "warm": False, "error": None}
    w.scan_loaded.connect(lambda *_: state.update(loaded=True))
    w.cuda_checked.connect(lambda *_: state.update(warm=True))
    w.training_finished.connect(lambda r: state.update(done=True, result=r))
    w.run_failed.connect(lambda m: state.update(done=True, error=m))
    w.run_cancelled.connect(lambda k: state.update(done=True, error="cancelled"))
    deadline = time.monotonic() + 60
    while not (state["loaded"] and state["warm"]) and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.01)
    w.train_form.set_texts({k: str(v) for k, v in _overrides().items()})
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: state["ticks"].append(time.perf_counter()))
    timer.start()
    started = w.start_training()
    t0 = time.perf_counter()
    while not state["done"] and time.perf_counter() - t0 < 1200 and started:
        qapp.processEvents()
        time.sleep(0.001)
    timer.stop()
    ticks = state["ticks"]
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    res = state["result"]
    hist = list(getattr(res, "history", []) or [])
    out = {"started": bool(started), "error": state["error"], "n_ticks": len(ticks),
           "max_gap_ms": 1000 * max(gaps) if gaps else None,
           "p99_gap_ms": 1000 * sorted(gaps)[int(0.99 * (len(gaps) - 1))] if gaps else None,
           "median_gap_ms": 1000 * median(gaps) if gaps else None,
           "gaps_over_50ms": sum(g > 0.05 for g in gaps), "gaps_over_100ms": sum(g > 0.1 for g in gaps),
           "epoch_elapsed_s": [h.get("elapsed_s") for h in hist], "wall_s": time.perf_counter() - t0,
           "load1": loadavg()[0]}
    w.close()
    qapp.processEvents()
    return out


def _headless_child(data_file: str, out_dir: str) -> dict:
    import time

    from ptycho_engine import api

    payload = api.create_training_payload(data_file, out_dir, _overrides())
    t0 = time.perf_counter()
    res = api.train(payload)
    return {"epoch_elapsed_s": [h.get("elapsed_s") for h in res.history], "wall_s": time.perf_counter() - t0,
            "load1": loadavg()[0]}


def _epoch_times(elapsed: list[float]) -> list[float]:
    e = [float(x) for x in elapsed if x is not None]
    return [b - a for a, b in zip([0.0] + e, e)]


def run(quick: bool, data_file: Path) -> dict:
    env = {"QT_QPA_PLATFORM": "offscreen", **({"PTYCHO_BENCH_QUICK": "1"} if quick else {})}
    starts = []
    for _ in range(2 if quick else 3):
        proc = run_child(["-c", STARTUP_CODE], env=env, timeout=300)
        if proc.returncode == 0:
            starts.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        else:
            starts.append({"error": proc.stderr[-1500:]})
    ok = [s for s in starts if "error" not in s]
    out: dict = {"startup_runs": starts, "load1": loadavg()[0],
                 "startup_median_s": median([s["since_interpreter_code_s"] for s in ok]) if ok else None}
    log(f"app startup median {out['startup_median_s']}")
    # headless, GUI, headless: the load drifts, so the GUI run sits between two headless runs
    heads = []
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        for i, kind in enumerate(("headless", "stall", "headless") if not quick else ("headless", "stall")):
            proc = run_child(["-m", "benchmarks.app_bench", kind, str(data_file), str(Path(tmp) / f"{kind}{i}")],
                             env=env, timeout=1500)
            res = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else \
                {"error": proc.stderr[-2000:]}
            if kind == "stall":
                out["gui"] = res
            else:
                heads.append(res)
    out["headless_runs"] = heads
    ok_heads = [h for h in heads if "epoch_elapsed_s" in h]
    if ok_heads:
        out["headless"] = {"epoch_elapsed_s": None, "per_run_epoch_s": [
            median(_epoch_times(h["epoch_elapsed_s"])[1:] or _epoch_times(h["epoch_elapsed_s"])) for h in ok_heads]}
    else:
        out["headless"] = heads[0] if heads else {"error": "not run"}
    h, g = out.get("headless", {}), out.get("gui", {})
    if h.get("per_run_epoch_s") and g.get("epoch_elapsed_s"):
        ge = _epoch_times(g["epoch_elapsed_s"])
        hs = median(h["per_run_epoch_s"])
        out["epoch_s_headless"] = hs
        out["epoch_s_gui"] = median(ge[1:] or ge)
        out["streaming_overhead_pct"] = 100 * (out["epoch_s_gui"] / hs - 1)
    log(f"app stall: max gap {g.get('max_gap_ms')} ms; overhead {out.get('streaming_overhead_pct')} %")
    return out


if __name__ == "__main__":
    fn = {"stall": _stall_child, "headless": _headless_child}[sys.argv[1]]
    result = fn(sys.argv[2], sys.argv[3])
    print(json.dumps(result))
    sys.stdout.flush()
    import os

    os._exit(0)
