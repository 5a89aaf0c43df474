"""Shared helpers: machine description, load average, timing statistics, result records.

Why the load average everywhere: the benchmark machine is shared (2 cores), so every number is
stored next to the 1-minute load average at the moment it was taken, and repeated measurements
are summarised by their median.
"""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parent.parent


def loadavg() -> list[float]:
    """(1, 5, 15)-minute load averages, rounded."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Unix
        return []


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, load, GPU, library versions (for the results file)."""
    import lightning
    import numpy
    import torch

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        affinity = os.cpu_count()
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    gpu = None
    if torch.cuda.is_available():
        gpu = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "hostname": platform.node(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "torch_threads": torch.get_num_threads(),
        "memory_gib": mem_gib,
        "loadavg_at_start": loadavg(),
        "gpu": gpu,
        "cuda_available": bool(torch.cuda.is_available()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "numpy": numpy.__version__,
    }


def machine_tag() -> str:
    """Short file-name-safe machine label: host + cores."""
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in platform.node())[:24] or "host"
    return f"{host}-{os.cpu_count()}cpu"


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """``with timed() as t: ...`` -> t['s'] wall seconds, t['load'] 1-min load at the end."""
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        yield out
    finally:
        out["s"] = time.perf_counter() - t0
        out["load"] = loadavg()[0] if loadavg() else float("nan")


def run_child(args: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run ``python -m ...`` in a fresh interpreter from the repo root (for RSS and start-up)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, *args], cwd=REPO, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {loadavg()[:1]}] {msg}", flush=True)
