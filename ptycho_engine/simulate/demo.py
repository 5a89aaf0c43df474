"""Regenerate the bundled demo datasets:  python -m ptycho_engine.simulate.demo [--out DIR]

resources/demo_lines.npz       training scan  (lines object, disk probe, Fermat scan, seed 7)
resources/demo_lines_test.npz  inference scan (a different lines object, same probe/physics, seed 8)
Both go through `simulate_scan` (the shared forward model + Poisson noise) and `save_scan`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..data.contract import save_scan
from .simulator import simulate_scan

__all__ = ["DEMO_SPECS", "build_demo", "main"]

RESOURCES = Path(__file__).resolve().parents[2] / "resources"

# name -> simulate_scan keyword arguments (kept small: a few MB for both files)
DEMO_SPECS: dict[str, dict] = {
    "demo_lines.npz": dict(object_kind="lines", probe_kind="disk", scan_kind="fermat", N=64,
                           n_positions=700, object_size=240, nphotons=1e6, seed=7,
                           phase="independent"),
    "demo_lines_test.npz": dict(object_kind="lines", probe_kind="disk", scan_kind="fermat", N=64,
                                n_positions=256, object_size=160, nphotons=1e6, seed=8,
                                phase="independent"),
}


def build_demo(out_dir: str | Path = RESOURCES) -> list[Path]:
    """Simulate and write every demo file into out_dir; returns the written paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, kwargs in DEMO_SPECS.items():
        scan = simulate_scan(**kwargs)
        written.append(save_scan(out / name, scan))
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ptycho_engine.simulate.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(RESOURCES), help="output directory (default: the repo's resources/)")
    args = ap.parse_args(argv)
    for p in build_demo(args.out):
        print(f"wrote {p} ({p.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
