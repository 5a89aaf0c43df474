"""The "straightforward per-batch PyTorch baseline" of the SAME network and loss.

What it is: the textbook loop a researcher writes first -- a per-item ``Dataset`` (one group per
``__getitem__``, gathered from the scan array), ``DataLoader(batch_size=B, shuffle=True)`` with the
default collate, and for each batch ``loss = compute_loss(model(x, rel)); opt.zero_grad();
loss.backward(); opt.step()`` with ``torch.optim.Adam``. No Lightning, no callbacks, no logging,
no events, default torch threads, and the plain NCHW memory layout (the engine's channels-last
convolutions are one of the speed-ups measured against it). It exists only as the yardstick for the engine's Lightning
training step (``benchmarks.train_bench``); both use ``PtychoPINN`` and ``compute_loss``.

Run it alone:  python -m benchmarks.baseline_loop --N 64 --gridsize 1 --batch 16 --steps 4
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .setup_model import grouped_data, make_model


class PerItemGroups(Dataset):
    """One group per item: (diffraction (C, N, N), rel (C, 2)) -- the plain way."""

    def __init__(self, grouped) -> None:
        self.g = grouped

    def __len__(self) -> int:
        return self.g.n_groups

    def __getitem__(self, i: int):
        idx = self.g.groups[i]
        return (torch.from_numpy(np.asarray(self.g.diffraction[idx], dtype=np.float32)),
                torch.from_numpy(self.g.rel[i].astype(np.float32)))


def baseline_throughput(N: int, gridsize: int, batch: int, warmup: int = 1, measure: int = 3,
                        device: str = "cpu") -> dict:
    """Groups/s of the plain loop, steady state: batch-end to batch-end after ``warmup`` batches."""
    from ptycho_engine.model.loss import LossWeights, compute_loss

    grouped, scan = grouped_data(batch * (warmup + measure), N, gridsize)
    model = make_model(scan, N, gridsize)
    model.generator.set_channels_last(False)
    model = model.to(device)
    loader = DataLoader(PerItemGroups(grouped), batch_size=batch, shuffle=True)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    weights = LossWeights()
    model.train()
    ends, cpu = [], []
    for x, rel in loader:
        x, rel = x.to(device), rel.to(device)
        pred = model(x, rel)
        loss = compute_loss(pred, x, model.counts_scale, model.input_scale, weights)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        ends.append(time.perf_counter())
        cpu.append(time.process_time())
    steps = np.diff(ends[warmup - 1:]) if warmup >= 1 else np.diff(ends)
    cpus = np.diff(cpu[warmup - 1:]) if warmup >= 1 else np.diff(cpu)
    return {"impl": "baseline_loop", "N": N, "gridsize": gridsize, "batch": batch, "device": device,
            "measured_steps": int(len(steps)), "step_s": [round(float(s), 4) for s in steps],
            "groups_per_s": float(batch / np.median(steps)),
            "cpu_s_per_step": float(np.median(cpus)), "groups_per_cpu_s": float(batch / np.median(cpus)),
            "loss_last": float(loss.detach())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--N", type=int, default=64)
    ap.add_argument("--gridsize", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=4, help="measured steps (after 1 warm-up)")
    args = ap.parse_args()
    print(baseline_throughput(args.N, args.gridsize, args.batch, 1, args.steps))


if __name__ == "__main__":
    main()
