"""Pinned host memory is asked for only where it pays: copies to a CUDA device that exists."""
from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from ptycho_engine.training.data import make_loader, wants_pinned_memory


def test_no_pinning_for_cpu_or_unknown_devices():
    assert not wants_pinned_memory("cpu")
    assert not wants_pinned_memory(torch.device("cpu"))
    assert not wants_pinned_memory("auto")  # never a crash on an unresolved name


def test_cuda_pins_only_when_a_cuda_device_exists(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert wants_pinned_memory("cuda") and wants_pinned_memory("gpu") and wants_pinned_memory(torch.device("cuda", 0))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not wants_pinned_memory("cuda")


def test_make_loader_passes_the_choice_on():
    ds = TensorDataset(torch.arange(10.0))
    assert make_loader(ds, 4, False, 0, 0, pin_memory=True).pin_memory
    plain = make_loader(ds, 4, False, 0, 0)
    assert not plain.pin_memory
    assert [b[0].tolist() for b in plain] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
