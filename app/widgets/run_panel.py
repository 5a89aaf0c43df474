"""Train / Infer / Pretrain… / Cancel, the progress bar (epoch, step, ETA) and why a button is disabled."""
from __future__ import annotations

import math

from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ptycho_engine.events import StepProgress

from .elided_label import ElidedLabel


TITLES = {"train": "Training", "pretrain": "Pretraining", "infer": "Inference"}


def fmt_duration(seconds: float | None) -> str:
    """'m:ss' or 'h:mm:ss'; '—' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"


class RunPanel(QGroupBox):
    """Buttons and progress only; the window decides what may run and reacts to clicks."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Run", parent)
        self.train_button = QPushButton("▶  Train")
        self.infer_button = QPushButton("Infer")
        self.pretrain_button = QPushButton("Pretrain…")
        self.pretrain_button.setToolTip("Pretrain the network on synthetic objects simulated through the scan's "
                                        "probe, then start training from it")
        self.cancel_button = QPushButton("■  Cancel")
        self.train_button.setDefault(True)
        buttons = QHBoxLayout()
        for button, stretch in ((self.train_button, 2), (self.infer_button, 1), (self.pretrain_button, 1),
                                (self.cancel_button, 1)):
            button.setMinimumHeight(30)
            buttons.addWidget(button, stretch)
        self.progress = QProgressBar()
        self.progress_label = ElidedLabel("Ready.")
        self.reason_label = QLabel("")
        self.reason_label.setWordWrap(True)
        self.reason_label.setStyleSheet("color: #c62828;")
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.reason_label)
        self.finish("Ready.", ok=False, bar_text="idle")

    def set_allowed(self, train_reason: str | None, infer_reason: str | None, running: bool) -> None:
        """Enable what may run; a disabled button's tooltip (and the red line) says why."""
        self.train_button.setEnabled(train_reason is None)
        self.train_button.setToolTip(train_reason or "Train a model on the selected scan")
        self.infer_button.setEnabled(infer_reason is None)
        self.infer_button.setToolTip(infer_reason or "Reconstruct the selected scan with the model")
        self.cancel_button.setEnabled(running)
        self.pretrain_button.setEnabled(not running)
        self.reason_label.setText(f"Train disabled: {train_reason}" if train_reason and not running else "")

    def start(self, kind: str) -> None:
        self.progress.setRange(0, 0)  # busy indicator until the first step arrives
        self.progress.setFormat("starting…")
        self.progress_label.setText(f"{TITLES.get(kind, kind)}: configuring…")

    def show_step(self, kind: str, step: StepProgress, n_epochs: int | None) -> None:
        total = max(int(step.total_steps), 1)
        self.progress.setRange(0, total)
        self.progress.setValue(min(int(step.step), total))
        self.progress.setFormat(f"%p%  (step {step.step}/{step.total_steps})")
        eta = f"elapsed {fmt_duration(step.elapsed_s)} · ETA {fmt_duration(step.eta_s)}"
        if kind in ("train", "pretrain"):
            epochs = f"/{n_epochs}" if n_epochs else ""
            what = "Pretraining: epoch" if kind == "pretrain" else "Epoch"
            self.progress_label.setText(f"{what} {step.epoch}{epochs} · step {step.step}/{step.total_steps} · {eta}")
        elif step.phase == "refine":
            self.progress_label.setText(f"Refining against the scan: pass {step.step}/{step.total_steps} · {eta}")
        else:
            self.progress_label.setText(f"Reconstructing: batch {step.step}/{step.total_steps} · {eta}")

    def cancelling(self) -> None:
        self.cancel_button.setEnabled(False)
        self.progress_label.setText("Cancelling after the current batch…")

    def finish(self, text: str, ok: bool, bar_text: str | None = None) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if ok else 0)
        self.progress.setFormat(bar_text or text.split(":")[0])
        self.progress_label.setText(text)
