"""The one benchmark command.

    python -m benchmarks.run [--quick] [--out benchmarks/results] [--only train,infer,memory,app,quality,profile]

Writes ``<out>/<YYYY-MM-DD>_<machine>[_quick].json`` (everything, machine-readable) and ``.md``
(the summary tables). ``--quick`` is the ~5-minute smoke version (small sizes, few steps); the
full run takes ~40 min on 2 busy cores. Big datasets are generated once under ``--data-dir``
(default benchmarks/.data, git-ignored). See benchmarks/README.md for what each number means.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import traceback
from pathlib import Path

from .common import REPO, loadavg, log, machine_info, machine_tag
from .report import markdown

SECTIONS = ("train", "infer", "memory", "app", "quality", "profile")


def _train(quick: bool) -> dict:
    import torch

    from .baseline_loop import baseline_throughput
    from .train_bench import lightning_throughput

    if quick:
        grid = [(64, 1, 16), (64, 2, 16)]
        warmup, measure = 1, 2
    else:
        grid = [(64, g, b) for g in (1, 2) for b in (16, 64)] + [(128, g, b) for g in (1, 2) for b in (16, 64)]
        warmup, measure = 1, 6  # 3 steps proved too few: single rows of one config differed by x1.4
    rows, notes = [], []

    def one(fn, impl, N, g, b, m, **kw):
        t0 = time.perf_counter()
        row = fn(N, g, b, warmup, m, **kw)
        row["load1"] = loadavg()[0]
        row["bench_wall_s"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        log(f"train {impl} {kw or ''} N={N} g={g} b={b}: {row['groups_per_s']:.2f} groups/s "
            f"({row['groups_per_cpu_s']:.2f} per CPU-s)")

    for N, g, b in grid:
        if (N, b) == (128, 64):  # ~1 min per step here: Lightning only, 2 measured steps
            one(lightning_throughput, "lightning", N, g, b, 2)
            continue
        # A-B-B-A order for the cheap configs (the load drifts); medians over the repeats
        order = ["lightning", "baseline", "baseline", "lightning"] if (N, b) == (64, 16) and not quick else \
            ["lightning", "baseline"]
        for impl in order:
            one(lightning_throughput if impl == "lightning" else baseline_throughput, impl, N, g, b, measure)
    if not quick:
        notes.append("N=128 batch 64: Lightning only, 2 measured steps (about a minute per step on 2 busy cores)")
        for g in (1, 2):  # the engine's step with changes proposed in the report
            one(lightning_throughput, "lightning", 64, g, 16, measure, loader="batched")
            one(lightning_throughput, "lightning", 64, g, 16, measure, precision="bf16-mixed")
            one(lightning_throughput, "lightning", 64, g, 16, measure, threads=1)
            one(baseline_throughput, "baseline", 64, g, 16, measure)  # re-measured next to the variants
        for g in (1, 2):  # what the unrolled generator (the default for new runs) costs per step, interleaved
            one(lightning_throughput, "lightning", 64, g, 16, measure, generator="cnn")
            one(lightning_throughput, "lightning", 64, g, 16, measure, generator="unrolled")
        one(lightning_throughput, "lightning", 64, 1, 64, measure, threads=1)
    else:
        one(lightning_throughput, "lightning", 64, 1, 16, measure, threads=1)
    if torch.cuda.is_available():
        for N, g, b in grid:
            for precision in ("32-true", "bf16-mixed"):
                row = lightning_throughput(N, g, b, 2, 10, device="cuda", precision=precision)
                rows.append(row)
            rows.append(baseline_throughput(N, g, b, 2, 10, device="cuda"))
    else:
        notes.append("CUDA fp32 / bf16-mixed: skipped, torch.cuda.is_available() is False on this machine "
                     "(code path: train_bench.lightning_throughput(device='cuda', precision=...))")
    return {"rows": rows, "notes": notes, "warmup_batches": warmup}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (~5 min)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--data-dir", type=Path, default=REPO / "benchmarks" / ".data")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {SECTIONS}")
    args = ap.parse_args(argv)
    os.environ.setdefault("PTYCHO_STUDIO_CACHE", str(args.data_dir / "cache"))
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    t_start = time.perf_counter()
    results: dict = {"mode": "quick" if args.quick else "full", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     "machine": machine_info(), "sections": {}}
    args.out.mkdir(parents=True, exist_ok=True)
    part = "" if set(sections) == set(SECTIONS) else "_" + "-".join(sections)  # never overwrite a full run
    stem = f"{time.strftime('%Y-%m-%d')}_{machine_tag()}{'_quick' if args.quick else ''}{part}"
    json_path, md_path = args.out / f"{stem}.json", args.out / f"{stem}.md"
    with tempfile.TemporaryDirectory(prefix="ptycho-bench-") as tmp:
        work = Path(tmp)
        for name in sections:
            log(f"== {name}")
            t0 = time.perf_counter()
            try:
                if name == "train":
                    res = _train(args.quick)
                elif name == "infer":
                    from . import infer_stitch

                    res = infer_stitch.run(args.quick)
                elif name == "memory":
                    from . import memory

                    res = memory.run(args.quick, args.data_dir)
                elif name == "app":
                    from . import app_bench

                    from ptycho_engine.api import demo_dataset_path

                    res = app_bench.run(args.quick, demo_dataset_path())
                elif name == "quality":
                    from . import quality

                    res = quality.run(args.quick, args.data_dir, work)
                else:
                    from . import profile_step

                    res = profile_step.run(args.quick)
            except Exception as exc:  # one broken section must not lose the others
                res = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
                log(f"{name} FAILED: {exc}")
            res["section_wall_s"] = round(time.perf_counter() - t0, 1)
            res["loadavg_after"] = loadavg()
            results["sections"][name] = res
            results["elapsed_s"] = round(time.perf_counter() - t_start, 1)
            json_path.write_text(json.dumps(results, indent=1, default=str))  # partial results survive
            md_path.write_text(markdown(results))
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    json_path.write_text(json.dumps(results, indent=1, default=str))
    md_path.write_text(markdown(results))
    log(f"wrote {json_path} and {md_path} ({results['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
