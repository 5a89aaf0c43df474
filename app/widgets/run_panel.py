"""Train / Infer / Pretrain… / Cancel, the progress bar (epoch, step, ETA) and why a button is disabled."""
from __future__ import annotations

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ptycho_engine.events import StepProgress

from ..eta import EtaClock
from .elided_label import ElidedLabel


TITLES = {"train": "Training", "pretrain": "Pretraining", "infer": "Inference"}


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
        self.eta = EtaClock()
        self._line = ""  # the step part of the progress line; the times are added each second
        self.ticker = QTimer(self)
        self.ticker.setInterval(1000)
        self.ticker.timeout.connect(self._tick)
        self.finish("Ready.", ok=False, bar_text="idle")

    def set_allowed(self, train_reason: str | None, infer_reason: str | None, running: bool,
                    shown_reason: str | None = None) -> None:
        """Enable what may run; a disabled button's tooltip says why, the red line says
        ``shown_reason`` (a shorter form of the same reason) or the reason itself."""
        self.train_button.setEnabled(train_reason is None)
        self.train_button.setToolTip(train_reason or "Train a model on the selected scan")
        self.infer_button.setEnabled(infer_reason is None)
        self.infer_button.setToolTip(infer_reason or "Reconstruct the selected scan with the model")
        self.cancel_button.setEnabled(running)
        self.pretrain_button.setEnabled(not running)
        line = shown_reason or train_reason
        self.reason_label.setText(f"Train disabled: {line}" if line and not running else "")

    def start(self, kind: str, what: str = "") -> None:
        """A run began; ``what`` names the scan(s) and the run folder, shown until it ends."""
        self.kind = kind
        self.what = what
        self.progress.setRange(0, 0)  # busy indicator until the first step arrives
        self.progress.setFormat("starting…")
        self._line = f"{TITLES.get(kind, kind)} {what}: configuring" if what else f"{TITLES.get(kind, kind)}: configuring"
        self.eta.start()
        self.ticker.start()
        self._tick()

    def show_step(self, kind: str, step: StepProgress, n_epochs: int | None) -> None:
        total = max(int(step.total_steps), 1)
        self.progress.setRange(0, total)
        self.progress.setValue(min(int(step.step), total))
        self.progress.setFormat(f"%p%  (step {step.step}/{step.total_steps})")
        self.eta.update(step.elapsed_s, step.eta_s)
        scan = f" {getattr(self, 'what', '').split(' → ')[0]}".rstrip()
        if kind in ("train", "pretrain"):
            epochs = f"/{n_epochs}" if n_epochs else ""
            what = "Pretraining" if kind == "pretrain" else "Training"
            self._line = f"{what}{scan}: epoch {step.epoch}{epochs} · step {step.step}/{step.total_steps}"
        elif step.phase == "refine":
            self._line = f"Refining{scan} against its patterns: pass {step.step}/{step.total_steps}"
        else:
            self._line = f"Reconstructing{scan}: batch {step.step}/{step.total_steps}"
        self._tick()

    @Slot()
    def _tick(self) -> None:
        """Once a second while running: elapsed counts up, remaining counts down."""
        self.progress_label.setText(f"{self._line} · {self.eta.text()}")

    def cancelling(self) -> None:
        self.cancel_button.setEnabled(False)
        self._line = "Cancelling after the current batch…"
        self._tick()

    def finish(self, text: str, ok: bool, bar_text: str | None = None) -> None:
        self.ticker.stop()
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if ok else 0)
        self.progress.setFormat(bar_text or text.split(":")[0])
        self.progress_label.setText(text)
