"""``last.ckpt`` is the latest finished epoch, whether or not the monitored metric improved."""
from __future__ import annotations

import pytest
import torch

from ptycho_engine.training.run import train_model


@pytest.mark.slow
def test_last_checkpoint_follows_every_epoch_even_without_improvement(payload_factory):
    # mode 'max' on a training loss that falls: epoch 2 is never "best", yet resume must start at epoch 3
    result = train_model(payload_factory("last", nepochs=2, n_groups=16, checkpoint_monitor_metric="train_loss",
                                         checkpoint_mode="max", preview_every_n_epochs=0))
    assert result.history[1]["train_loss"] < result.history[0]["train_loss"]
    ckpt = torch.load(result.output_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 1 and ckpt["global_step"] == 4  # 0-based epoch 1 = the second; 2 batches per epoch
    best = sorted(p.name for p in (result.output_dir / "checkpoints").glob("epoch*.ckpt"))
    assert best == ["epoch000.ckpt"]
