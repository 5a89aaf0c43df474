"""The LightningModule: automatic optimisation (so ``accumulate_grad_batches`` works, §8.8),
Adam at the execution config's learning rate, and the scheduler choice.

Scheduler names (execution_config.scheduler):
* ``Default`` -- a constant learning rate (the torch reference's meaning; CONFIG's help says so).
* ``ReduceLROnPlateau`` -- the TF reference's schedule: factor 0.5, patience 2, min_lr = lr / 10,
  on the validation loss (the training loss without a validation split).
* ``Exponential`` -- lr * 0.95**epoch.
* ``CosineAnnealing`` -- cosine from lr to lr / 100 over nepochs.

Batches are ``(x, rel, indices)`` (one scan: the model's probe and counts scale) or
``(x, rel, indices, scan, counts_scale)`` when a run mixes scans: each item then brings its own
photon-count scale, and its scan's probe comes from ``scan_probes`` (a bank with one probe per
scan, stored as real (S, N, N, 2) so it travels with checkpoints; None = the model's probe).
"""
from __future__ import annotations

from typing import Any

import lightning as L
import torch

from ..events import CancelledError, CancelToken
from ..model.loss import LossWeights, compute_loss
from ..model.pinn import PtychoPINN

SCHEDULERS = ("Default", "Exponential", "ReduceLROnPlateau", "CosineAnnealing")


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the run stops before that step changes the weights."""

    def __init__(self, message: str, epoch: int, step: int) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step


class PinnModule(L.LightningModule):
    """Wraps :class:`PtychoPINN`; logs ``train_loss``/``val_loss`` (epoch means) and loss terms."""

    def __init__(self, model: PtychoPINN, weights: LossWeights, learning_rate: float = 1e-3,
                 scheduler: str = "Default", nepochs: int = 1, plateau_monitor: str = "val_loss",
                 cancel: CancelToken | None = None, scan_probes: torch.Tensor | None = None,
                 pixel_masks: torch.Tensor | None = None) -> None:
        super().__init__()
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler: expected one of {list(SCHEDULERS)}, got {scheduler!r}")
        if not learning_rate or learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
        self.model = model
        self.weights = weights
        self.learning_rate = float(learning_rate)
        self.scheduler_name = scheduler
        self.nepochs = max(1, int(nepochs))
        self.plateau_monitor = plateau_monitor
        self.cancel = cancel
        if scan_probes is not None:
            scan_probes = torch.view_as_real(scan_probes.to(torch.complex64)).clone()
        self.register_buffer("scan_probes", scan_probes)
        # (S, N, N) 1 = good detector pixel, 0 = bad (data.contract bad_pixels), one per scan of the
        # bank; not persistent: it belongs to the data, and checkpoints stay as they were
        self.register_buffer("pixel_masks", None if pixel_masks is None else pixel_masks.to(torch.float32),
                             persistent=False)

    def batch_physics(self, batch: Any) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(per-item probes (B, N, N) or None, counts scale: per item (B, 1, 1, 1) or the model's)."""
        if len(batch) < 5:
            return None, self.model.counts_scale
        scan, counts = batch[3], batch[4]
        probe = None
        if self.scan_probes is not None:
            probe = torch.view_as_complex(self.scan_probes[scan.long()].contiguous())
        return probe, counts.to(torch.float32).view(-1, 1, 1, 1)

    def forward(self, x: torch.Tensor, rel: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(x, rel)

    def _step(self, batch: Any, prefix: str) -> torch.Tensor:
        x, rel = batch[0], batch[1]
        probe, counts_scale = self.batch_physics(batch)
        pred, obj = self.model.forward_with_object(x, rel, probe)
        if self.pixel_masks is not None:  # bad pixels: prediction and data both 0 -> no loss, no gradient
            mask = self.pixel_masks[batch[3].long()].unsqueeze(1) if len(batch) >= 5 else self.pixel_masks[0]
            pred, x = pred * mask, x * mask
        terms = compute_loss(pred, x, counts_scale, self.model.input_scale, self.weights,
                             obj if self.weights.realspace_weight > 0 else None)
        if prefix == "train" and not bool(torch.isfinite(terms["loss"]).all()):
            self._non_finite(terms["loss"], x)
        bs = x.shape[0]
        self.log(f"{prefix}_loss", terms["loss"], on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=bs, sync_dist=True)
        for name, value in terms.items():
            if name != "loss":
                self.log(f"{prefix}_{name}", value, on_step=False, on_epoch=True, batch_size=bs, sync_dist=True)
        return terms["loss"]

    def _non_finite(self, loss: torch.Tensor, x: torch.Tensor) -> None:
        """Stop at the first NaN / infinite training loss, before it reaches the optimiser."""
        epoch, step = int(self.current_epoch) + 1, int(self.global_step)
        x_max = float(x.detach().abs().max()) if x.numel() else float("nan")
        probe_max = float(self.model.probe.detach().abs().max())
        raise NonFiniteLossError(
            f"the training loss became {float(loss.detach().float().reshape(-1)[0])} at epoch {epoch}, "
            f"optimiser step {step}. Likely causes: diffraction amplitudes far too large or wrongly scaled "
            f"(largest in this batch {x_max:.4g}; they must be sqrt(photon counts)), a probe that is "
            f"(nearly) zero (largest |probe| {probe_max:.4g}), or a learning rate too high "
            f"({self.learning_rate:g}; try a smaller one or gradient_clip_val)", epoch, step)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # raising (rather than should_stop) stops before this batch and skips the end-of-epoch
        # validation and checkpointing; train_model catches it and still writes the archive
        if self.cancel is not None and self.cancel.cancelled:
            raise CancelledError("cancelled by user")

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.cancel is not None and self.cancel.cancelled:
            raise CancelledError("cancelled by user")
        return self._step(batch, "val")

    def configure_optimizers(self) -> Any:
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=self.learning_rate)
        name = self.scheduler_name
        if name == "Default":
            return opt
        if name == "ReduceLROnPlateau":
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2,
                                                               min_lr=self.learning_rate / 10)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch",
                                                       "monitor": self.plateau_monitor, "strict": False}}
        if name == "Exponential":
            sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95)
        else:
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.nepochs,
                                                               eta_min=self.learning_rate / 100)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
