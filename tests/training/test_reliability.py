"""Issue 11: resumable data order, atomic checkpoints with fallback, stale temp files, the run
lock, and stopping at the first non-finite loss (tiny data, seconds each)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
import torch

from ptycho_engine.archive import load_archive
from ptycho_engine.config.schema import ConfigError
from ptycho_engine.events import LogLine
from ptycho_engine.io.runlock import LOCK_NAME, RunLock, RunLockedError
from ptycho_engine.training.module import NonFiniteLossError
from ptycho_engine.training.run import train_model

TINY = dict(n_groups=16, batch_size=4, preview_every_n_epochs=0)


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_archive(run_dir / "wts.h5.zip").model.state_dict()


def test_interrupted_and_resumed_equals_uninterrupted(payload_factory):
    # item 2: the data order of epoch 2 after a resume is the uninterrupted run's epoch 2
    straight = train_model(payload_factory("straight", nepochs=2, **TINY))
    train_model(payload_factory("resumed", nepochs=1, **TINY))
    resumed = train_model(payload_factory("resumed", nepochs=2, resume=True, **TINY))
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    a, b = _weights(straight.output_dir), _weights(resumed.output_dir)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.history[1]["train_loss"] == straight.history[1]["train_loss"]


def test_checkpoints_are_written_beside_their_target_not_in_the_temp_folder(payload_factory, tmp_path, monkeypatch):
    # item 3: Lightning's default went through the system temp folder (a copy across file systems)
    spy = tmp_path / "system-tmp"
    spy.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spy))
    result = train_model(payload_factory("atomic", nepochs=1, **TINY))
    assert (result.output_dir / "checkpoints" / "last.ckpt").is_file()
    assert [p.name for p in spy.rglob("*ckpt*")] == []
    assert [p.name for p in (result.output_dir / "checkpoints").iterdir() if p.name.endswith(".tmp")] == []


def test_resume_falls_back_to_the_newest_intact_checkpoint(payload_factory):
    # item 3: a truncated last.ckpt (killed or full disk) no longer stops the resume
    first = train_model(payload_factory("fallback", nepochs=2, **TINY))
    last = first.output_dir / "checkpoints" / "last.ckpt"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])
    events = []
    result = train_model(payload_factory("fallback", nepochs=3, resume=True, **TINY), on_event=events.append)
    notes = [e.message for e in events if isinstance(e, LogLine) and e.level == "WARNING"]
    assert any("last.ckpt is damaged or truncated; resuming from the newest intact checkpoint" in n for n in notes)
    assert result.status == "completed" and result.history[-1]["epoch"] == 3


def test_stale_temp_files_of_killed_writes_are_cleaned_at_the_next_run(payload_factory, tmp_path):
    out = tmp_path / "stale"
    (out / "checkpoints").mkdir(parents=True)
    orphans = [out / ".wts.h5.zip.k2j3.tmp", out / "checkpoints" / ".last.ckpt.abcd.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"x" * 1000)
    keep = out / "notes.tmp"  # not one of ours (not hidden): left alone
    keep.write_text("mine")
    train_model(payload_factory("stale", nepochs=1, **TINY))
    assert not any(p.exists() for p in orphans)
    assert keep.exists()


def test_a_second_run_into_a_busy_folder_is_refused_naming_the_running_one(payload_factory, tmp_path):
    # item 7: the lock is held by a live run (here: this process, through another handle)
    payload = payload_factory("busy", nepochs=1, **TINY)
    with RunLock(tmp_path / "busy", "training"):
        with pytest.raises(RunLockedError) as info:
            train_model(payload)
    assert isinstance(info.value, ConfigError)  # exit 2 on the command line
    assert f"pid {os.getpid()}" in str(info.value) and "another run is writing" in str(info.value)
    assert not (tmp_path / "busy" / "wts.h5.zip").exists()


def test_a_stale_lock_of_a_dead_run_is_taken_over_with_a_warning(payload_factory, tmp_path):
    out = tmp_path / "dead"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": 999999, "host": "somewhere", "started": 0, "what": "training"}))
    events = []
    result = train_model(payload_factory("dead", nepochs=1, **TINY), on_event=events.append)
    assert result.status == "completed"
    warnings = [e.message for e in events if isinstance(e, LogLine) and e.level == "WARNING"]
    assert any("taking over the lock" in w and "pid 999999" in w for w in warnings)
    assert (out / LOCK_NAME).read_text() == ""  # released


def test_first_non_finite_loss_stops_the_run_and_keeps_the_last_finite_weights(payload_factory, monkeypatch):
    # item 6: before, NaN losses trained on to the end, 'completed', exit 0
    import ptycho_engine.training.module as module

    real = module.compute_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        terms = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] >= 3:
            terms = dict(terms, loss=terms["loss"] * float("nan"))
        return terms

    monkeypatch.setattr(module, "compute_loss", poisoned)
    payload = payload_factory("nan", nepochs=3, **TINY)
    with pytest.raises(NonFiniteLossError, match="training loss became nan at epoch 1.*Likely causes"):
        train_model(payload)
    archive = Path(payload.tf_training_config.output_dir) / "wts.h5.zip"
    loaded = load_archive(archive)  # the loader accepts what was written: finite weights
    assert all(bool(torch.isfinite(t).all()) for t in loaded.model.state_dict().values() if t.is_floating_point())


def test_non_finite_loss_at_the_first_step_keeps_the_initial_weights(payload_factory, monkeypatch):
    import ptycho_engine.training.module as module

    real = module.compute_loss

    def poisoned(*args, **kwargs):
        return dict(real(*args, **kwargs), loss=torch.tensor(float("inf"), requires_grad=True))

    monkeypatch.setattr(module, "compute_loss", poisoned)
    payload = payload_factory("inf", nepochs=1, **TINY)
    with pytest.raises(NonFiniteLossError, match="inf at epoch 1, optimiser step 0"):
        train_model(payload)
    # no finite step was ever taken, but the initial weights are finite: they are kept
    assert (Path(payload.tf_training_config.output_dir) / "wts.h5.zip").is_file()
