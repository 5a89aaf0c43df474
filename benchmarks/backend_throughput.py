"""Training and inference throughput of the PyTorch and TensorFlow backends, side by side.

Both backends run the engine's own entry points (``api.train`` / ``api.infer``) on the same scan
with the same settings and seed, so the numbers include everything a user waits for (data
loading, events, previews off). Each backend runs in its own child process, so neither pays for
the other's thread pools or imports.

* training: groups/s over the epochs after the first (the first holds tf.function tracing and
  torch's first-call set-up), from ``history.json``'s elapsed times;
* inference: scan patterns/s of the prediction + stitching stage (``InferenceResult.predict_s``).

    python -m benchmarks.backend_throughput                 # demo scan, small sizes (~2-3 min on 2 cores)
    python -m benchmarks.backend_throughput --epochs 4 --n-groups 512 --repeats 2 --write

Run it on a quiet machine: every row records the 1-minute load average. ``--write`` saves
``benchmarks/results/<date>_<machine>_backend_throughput.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import REPO, loadavg, machine_tag

CHILD = """
import json, os, sys, time
from ptycho_engine import api
cfg = json.loads(sys.argv[1])
out = cfg["out"]
overrides = dict(cfg["overrides"], backend=cfg["backend"])
payload = api.create_training_payload(cfg["train"], out + "/train", overrides)
t = time.monotonic(); r = api.train(payload); train_s = time.monotonic() - t
hist = r.history
steady = [b["elapsed_s"] - a["elapsed_s"] for a, b in zip(hist, hist[1:])] or [hist[0]["elapsed_s"]]
n_train = cfg["n_train"]
ip = api.create_inference_payload(out + "/train", cfg["test"], out + "/infer",
                                  {"backend": cfg["backend"], "inference_batch_size": cfg["infer_batch"],
                                   "phase_sync_passes": 0})
res = api.infer(ip)
epoch_s = sorted(steady)[len(steady) // 2]
print("RESULT " + json.dumps({"backend": cfg["backend"], "train_s": train_s, "first_epoch_s": hist[0]["elapsed_s"],
      "steady_epoch_s": epoch_s, "train_groups_per_s": n_train / epoch_s,
      "final_train_loss": hist[-1]["train_loss"], "infer_predict_s": res.predict_s,
      "infer_patterns_per_s": res.n_patterns / res.predict_s, "infer_patterns": res.n_patterns,
      "load": [round(x, 2) for x in os.getloadavg()]}))
"""


def run_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One backend in a fresh interpreter; returns its RESULT record."""
    n_val = round(args.n_groups * 0.1)
    cfg = {"backend": backend, "out": str(workdir / backend), "train": str(args.train), "test": str(args.test),
           "n_train": args.n_groups - n_val, "infer_batch": args.batch_size,
           "overrides": {"n_groups": args.n_groups, "nepochs": args.epochs, "batch_size": args.batch_size,
                         "gridsize": args.gridsize, "n_filters_scale": args.n_filters_scale, "generator": "cnn",
                         "probe_big": False, "validation_fraction": 0.1, "preview_every_n_epochs": 0,
                         "enable_checkpointing": False, "logger_backend": "none", "seed": 7}}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_HOME=str(workdir / "keras-home"))
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=3600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{backend} run failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    head = (f"Backends side by side: {Path(args.train).name} -> {Path(args.test).name}, N=64, gridsize "
            f"{args.gridsize}, n_filters_scale {args.n_filters_scale}, generator cnn, {args.n_groups} groups, "
            f"batch {args.batch_size}, {args.epochs} epochs, CPU threads as the engine sets them\n\n")
    lines = ["| backend | train groups/s (steady) | first epoch s | steady epoch s | infer patterns/s | "
             "final train loss | load (1/5/15 min) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['backend']} | {r['train_groups_per_s']:.1f} | {r['first_epoch_s']:.1f} | "
                     f"{r['steady_epoch_s']:.1f} | {r['infer_patterns_per_s']:.1f} | {r['final_train_loss']:.4g} | "
                     f"{'/'.join(str(x) for x in r['load'])} |")
    return head + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    res = REPO / "resources"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", default=str(res / "demo_lines.npz"))
    p.add_argument("--test", default=str(res / "demo_lines_test.npz"))
    p.add_argument("--n-groups", type=int, default=128)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--gridsize", type=int, default=2)
    p.add_argument("--n-filters-scale", type=int, default=1)
    p.add_argument("--backends", default="pytorch,tensorflow")
    p.add_argument("--repeats", type=int, default=1,
                   help="alternate the backends this many times (a shared machine's load drifts)")
    p.add_argument("--write", action="store_true", help="save the results under benchmarks/results/")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="backend-bench-") as tmp:
        for repeat in range(max(1, args.repeats)):
            for backend in args.backends.split(","):
                print(f"[{time.strftime('%H:%M:%S')}] {backend} (load {loadavg()})", flush=True)
                rows.append(run_backend(backend.strip(), args, Path(tmp) / str(repeat)))
    text = table(rows, args)
    print(text)
    if args.write:
        stem = REPO / "benchmarks" / "results" / f"{time.strftime('%Y-%m-%d')}_{machine_tag()}_backend_throughput"
        stem.with_suffix(".json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
        stem.with_suffix(".md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
