"""Rebuild the pretrained starting model shipped in resources/pretrained/:

    python -m ptycho_engine.simulate.shipped [--out DIR]

Synthetic pretraining only (``api.pretrain``): objects of every family the simulator has (lines,
Gaussian random fields, cells), each with its own amplitude and phase contrast, simulated through
the demo scan's probe (the reference's ideal disk, N = 64) at its photon count and scan step,
SHIPPED_SETTINGS below, fixed seed. No measured or ground-truth data of any test scan is used.
Fine-tuning from it (``init_model = "shipped"``) replaces the probe, the input and photon scales
and the gain by the user's own; only the network's weights are reused.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[2] / "resources"

#: training settings (schema fields) of the shipped model
SHIPPED_SETTINGS = {"gridsize": 2, "n_filters_scale": 1, "probe_big": False, "generator": "unrolled",
                    "unroll_steps": 10, "batch_size": 8, "nepochs": 8, "seed": 2026}
#: the synthetic stream: new objects every epoch
SHIPPED_STREAM = {"n_objects": 64, "groups_per_object": 16}
SHIPPED_EXECUTION = {"learning_rate": 1e-3, "scheduler": "CosineAnnealing", "logger_backend": "none"}


def build_shipped_model(out_dir: Path = RESOURCES / "pretrained", on_event=None) -> Path:
    """Pretrain with the settings above and copy the archive to ``out_dir/wts.h5.zip``."""
    from .. import api
    from ..config.execution import PyTorchExecutionConfig
    from ..events import ignore_events
    from ..io.atomic import atomic_write_bytes

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ptycho-shipped-") as tmp:
        payload = api.create_pretraining_payload(api.demo_dataset_path(), Path(tmp) / "run", SHIPPED_SETTINGS,
                                                 SHIPPED_STREAM, PyTorchExecutionConfig(**SHIPPED_EXECUTION))
        result = api.pretrain(payload, on_event or ignore_events)
        if result.status != "completed":
            raise RuntimeError(f"pretraining ended {result.status}; nothing shipped")
        target = out_dir / result.archive_path.name
        atomic_write_bytes(target, result.archive_path.read_bytes())
        shutil.copyfile(Path(tmp) / "run" / "history.json", out_dir / "history.json")
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ptycho_engine.simulate.shipped", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(RESOURCES / "pretrained"), help="output folder (default: resources/pretrained)")
    args = ap.parse_args(argv)

    def show(event) -> None:
        from ..events import EpochEnd, LogLine

        if isinstance(event, (EpochEnd, LogLine)):
            print(event, flush=True)

    print(f"wrote {build_shipped_model(Path(args.out), show)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
