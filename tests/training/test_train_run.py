"""End-to-end training runs on a tiny simulated scan (N=64, 16-32 groups, 1-2 epochs, seconds each)."""
from __future__ import annotations

import json
import threading
import zipfile

import numpy as np
import pytest
import torch

from ptycho_engine.archive import load_archive, read_archive_config
from ptycho_engine.events import CancelToken, EpochEnd, LogLine, Preview, RunFinished, StepProgress
from ptycho_engine.training.run import train_model


def _collect():
    events = []
    return events, events.append


def _batch(scan_path, gridsize, n=4):
    from ptycho_engine.data.contract import load_scan
    from ptycho_engine.data.grouping import group_geometry, group_positions

    scan = load_scan(scan_path)
    idx = group_positions(scan.positions, gridsize, n, 4, 0)
    _, rel = group_geometry(scan.positions, idx)
    x = torch.from_numpy(scan.diffraction[idx.reshape(-1)].reshape(n, gridsize ** 2, 64, 64))
    return x, torch.from_numpy(rel.astype(np.float32))


@pytest.mark.slow
def test_two_epochs_history_files_events_and_archive(payload_factory, tiny_scan):
    events, on_event = _collect()
    payload = payload_factory("run", gridsize=2, logger_backend="csv")
    result = train_model(payload, on_event=on_event)
    out = result.output_dir
    assert result.status == "completed" and result.archive_path == out / "wts.h5.zip"
    assert [r["epoch"] for r in result.history] == [1, 2]
    assert all(np.isfinite(r["train_loss"]) and np.isfinite(r["val_loss"]) and r["lr"] == 1e-3 for r in result.history)
    assert json.loads((out / "history.json").read_text()) == result.history
    assert (out / "history.csv").read_text().splitlines()[0] == "epoch,train_loss,val_loss,lr,elapsed_s"
    assert len((out / "history.csv").read_text().splitlines()) == 3
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert list((out / "logs").rglob("metrics.csv"))
    assert json.loads((out / "config.json").read_text())
    with np.load(out / "preview.npz") as prev:
        assert prev["amplitude"].ndim == 2 and prev["amplitude"].shape == prev["phase"].shape
    kinds = [type(e) for e in events]
    assert kinds.count(EpochEnd) == 2 and kinds.count(Preview) == 2 and StepProgress in kinds
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert ends[0].val_loss is not None and ends[1].n_epochs == 2
    assert [e for e in events if isinstance(e, StepProgress)][-1].eta_s == pytest.approx(0.0)

    loaded = load_archive(result.archive_path)
    cfg = read_archive_config(result.archive_path)
    assert cfg["model"]["gridsize"] == 2 and cfg["model"]["N"] == 64
    x, rel = _batch(tiny_scan, 2)
    ckpt_model = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    state = {k[len("model."):]: v for k, v in ckpt_model.items()}
    assert torch.equal(loaded.model.log_gain.detach(), state["log_gain"])
    with torch.no_grad():
        a = loaded.model(x, rel)
        loaded2 = load_archive(result.archive_path)
        assert torch.equal(a, loaded2.model(x, rel))
    assert float(loaded.model.input_scale) > 0 and float(loaded.model.counts_scale) > 0


@pytest.mark.slow
def test_cancel_stops_within_one_batch_and_leaves_valid_archive(payload_factory):
    token = CancelToken()
    steps = []

    def on_event(event):
        if isinstance(event, StepProgress):
            steps.append(event.step)
            token.cancel()  # cancel after the first optimiser step
        events.append(event)

    events = []
    result = train_model(payload_factory("cancel", nepochs=5, n_groups=32, batch_size=4), on_event=on_event,
                         cancel=token)
    assert result.status == "cancelled"
    assert steps == [1]  # the next batch never ran
    assert result.history == []
    assert isinstance(events[-1], RunFinished) and events[-1].status == "cancelled"
    loaded = load_archive(result.archive_path)
    assert np.isfinite(loaded.model.gain)


@pytest.mark.slow
def test_cancel_before_start_still_writes_archive(payload_factory):
    token = CancelToken()
    token.cancel()
    result = train_model(payload_factory("precancel", nepochs=1), cancel=token)
    assert result.status == "cancelled" and load_archive(result.archive_path).model is not None


@pytest.mark.slow
def test_accumulation_two_and_bf16_mixed_on_cpu(payload_factory):
    events, on_event = _collect()
    result = train_model(payload_factory("accbf16", nepochs=1, n_groups=16, batch_size=4, accum_steps=2,
                                         precision="bf16-mixed", gradient_clip_val=1.0, scheduler="Exponential"),
                         on_event=on_event)
    assert result.status == "completed" and len(result.history) == 1
    assert np.isfinite(result.history[0]["train_loss"])
    steps = [e for e in events if isinstance(e, StepProgress)]
    # 16 groups, 10% validation -> 14 train groups, 4 batches, accumulated by 2 -> 2 optimiser steps
    assert [e.step for e in steps] == [1, 2] and steps[-1].total_steps == 2
    assert any("bf16-mixed" in e.message for e in events if isinstance(e, LogLine))


@pytest.mark.slow
def test_resume_continues_from_last_checkpoint(payload_factory):
    first = train_model(payload_factory("resume", nepochs=1, n_groups=16, scheduler="ReduceLROnPlateau"))
    assert [r["epoch"] for r in first.history] == [1]
    events, on_event = _collect()
    second = train_model(payload_factory("resume", nepochs=2, n_groups=16, scheduler="ReduceLROnPlateau",
                                         resume=True), on_event=on_event)
    assert [r["epoch"] for r in second.history] == [1, 2]
    assert second.history[0] == first.history[0]
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [2]
    assert any("resumed at epoch 2" in e.message for e in events if isinstance(e, LogLine))


def test_resume_without_checkpoint_is_an_error(payload_factory):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train_model(payload_factory("noresume", resume=True))


@pytest.mark.slow
def test_no_validation_split_and_no_checkpointing(payload_factory):
    result = train_model(payload_factory("noval", nepochs=1, n_groups=8, training={"validation_fraction": 0.0},
                                         enable_checkpointing=False, preview_every_n_epochs=0,
                                         logger_backend="tensorboard", scheduler="CosineAnnealing"))
    assert result.history[0]["val_loss"] is None
    assert not (result.output_dir / "checkpoints").exists()
    assert not (result.output_dir / "preview.npz").exists()
    assert zipfile.ZipFile(result.archive_path).testzip() is None


def test_multiprocess_strategy_refused_from_worker_thread(payload_factory):
    errors = []

    def work():
        try:
            train_model(payload_factory("ddp", strategy="ddp"))
        except ValueError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=work)
    t.start()
    t.join(60)
    assert errors and "worker thread" in errors[0] and "command line" in errors[0]


def test_fp16_on_cpu_refused(payload_factory):
    with pytest.raises(ValueError, match="bf16-mixed"):
        train_model(payload_factory("fp16", precision="16-mixed"))


def test_unwritable_output_dir(payload_factory, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    payload = payload_factory("unused")
    from dataclasses import replace

    payload.tf_training_config = replace(payload.tf_training_config, output_dir=blocker / "run")
    with pytest.raises(PermissionError, match="not writable"):
        train_model(payload)


def test_supervised_and_mismatched_n_are_refused(payload_factory):
    with pytest.raises(ValueError, match="model_type"):
        train_model(payload_factory("sup", model={"model_type": "supervised"}))


def test_failure_before_training_emits_failed_run_finished(payload_factory):
    events, on_event = _collect()
    with pytest.raises(ValueError):
        train_model(payload_factory("failed", precision="16-mixed"), on_event=on_event)
    assert isinstance(events[-1], RunFinished) and events[-1].status == "failed" and "16-mixed" in events[-1].message
