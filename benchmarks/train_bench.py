"""Training throughput of the engine's Lightning step (groups/s, steady state).

The step measured is exactly what ``train_model`` runs: ``PinnModule`` (PtychoPINN + compute_loss +
Lightning logging) in a Trainer from ``training.trainer.build_trainer`` with the default execution
config (deterministic, Adam, ...), fed by ``training.data.GroupDataset``/``make_loader``. Only the
checkpoint and CSV logger are off (they act at epoch end, outside the measured window anyway).

Throughput = batch / median(batch-end -> batch-end interval) after ``warmup`` batches, so data
loading, Lightning's hooks and the optimiser step are all inside the interval.

Variants (``opts``) used by the speed study: ``loader='batched'`` (one sorted gather per batch
instead of B per-item ``__getitem__`` + collate), ``channels_last`` (True/False: NHWC convolutions, the
engine's default), ``compile``
(torch.compile of the generator), ``threads`` (torch.set_num_threads), precision 'bf16-mixed'.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from .setup_model import grouped_data, make_model


class BatchedGroups(Dataset):
    """Batched fetch: ``ds[list_of_ids]`` -> whole-batch tensors with ONE sorted gather."""

    def __init__(self, grouped, ids: np.ndarray) -> None:
        self.g, self.ids = grouped, np.asarray(ids, np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, items):
        gids = self.ids[np.asarray(items, dtype=np.int64)]
        idx = self.g.groups[gids]  # (B, C)
        flat = idx.reshape(-1)
        order = np.argsort(flat, kind="stable")
        x = np.empty((flat.size,) + self.g.diffraction.shape[1:], np.float32)
        x[order] = self.g.diffraction[flat[order]]  # sorted read (memmap friendly)
        x = x.reshape(idx.shape + self.g.diffraction.shape[1:])
        return (torch.from_numpy(x), torch.from_numpy(self.g.rel[gids].astype(np.float32)),
                torch.from_numpy(idx.astype(np.int64)))


def batched_loader(grouped, ids: np.ndarray, batch: int, seed: int = 42) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    ds = BatchedGroups(grouped, ids)
    return DataLoader(ds, batch_size=None, sampler=BatchSampler(RandomSampler(ds, generator=gen), batch, False))


class BatchTimer:
    """Lightning callback: wall time at the end of every training batch."""

    def __new__(cls, sync_cuda: bool):
        import lightning as L

        class _Timer(L.Callback):
            def __init__(self) -> None:
                self.ends: list[float] = []
                self.cpu: list[float] = []

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
                if sync_cuda:
                    torch.cuda.synchronize()
                self.ends.append(time.perf_counter())
                self.cpu.append(time.process_time())

        return _Timer()


def lightning_throughput(N: int, gridsize: int, batch: int, warmup: int = 1, measure: int = 3,
                         device: str = "cpu", precision: str = "32-true", **opts: Any) -> dict[str, Any]:
    from ptycho_engine.config.execution import PyTorchExecutionConfig
    from ptycho_engine.model.loss import LossWeights
    from ptycho_engine.training.data import GroupDataset, make_loader
    from ptycho_engine.training.module import PinnModule
    from ptycho_engine.training.run import quiet_lightning
    from ptycho_engine.training.trainer import build_trainer

    quiet_lightning()
    threads = opts.get("threads")
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    grouped, scan = grouped_data(batch * (warmup + measure), N, gridsize)
    model = make_model(scan, N, gridsize, generator=opts.get("generator", "cnn"))
    if "channels_last" in opts:  # the engine's default is on; opts can turn it off
        model.generator.set_channels_last(bool(opts["channels_last"]))
    if opts.get("compile"):
        model.generator = torch.compile(model.generator)
    ids = np.arange(grouped.n_groups)
    if opts.get("loader") == "batched":
        loader = batched_loader(grouped, ids, batch)
    else:
        loader = make_loader(GroupDataset(grouped, ids), batch, True, 0, 42)
    module = PinnModule(model, LossWeights(), learning_rate=1e-3)
    accelerator = "cuda" if device == "cuda" else "cpu"
    exe = PyTorchExecutionConfig(accelerator=accelerator, precision=precision, enable_checkpointing=False,
                                 logger_backend="none", enable_progress_bar=False)
    timer = BatchTimer(sync_cuda=device == "cuda")
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        trainer, _ = build_trainer(exe, Path(tmp), 1, [timer], False, len(loader))
        trainer.fit(module, loader)
    torch.set_num_threads(old_threads)
    steps = np.diff(timer.ends[warmup - 1:])
    cpu = np.diff(timer.cpu[warmup - 1:])
    return {"impl": "lightning", "N": N, "gridsize": gridsize, "batch": batch, "device": device,
            "precision": precision,
            "opts": {k: v for k, v in {**opts, "precision": precision if precision != "32-true" else None}.items() if v},
            "measured_steps": int(len(steps)), "step_s": [round(float(s), 4) for s in steps],
            "groups_per_s": float(batch / np.median(steps)),
            "cpu_s_per_step": float(np.median(cpu)), "groups_per_cpu_s": float(batch / np.median(cpu))}
