"""The window's plain-Python rules, without Qt: when Train/Infer may run, where runs go, the ETA."""
from __future__ import annotations

import os
from pathlib import Path

from app import run_folders, run_rules
from app.eta import EtaClock, fmt_duration


def test_train_and_infer_reasons():
    ok = run_rules.Readiness(scan_loaded=True, output_dir=Path("/runs"), model_dir=Path("/m"))
    assert run_rules.train_reason(ok) is None and run_rules.infer_reason(ok) is None
    assert run_rules.train_reason(run_rules.Readiness(running=True)) == "A run is in progress."
    busy = run_rules.Readiness(scans_busy=True, n_scans=3)
    assert run_rules.train_reason(busy) == "Checking the scan files…"
    bad = run_rules.Readiness(scan_error="no probeGuess", output_dir=Path("/r"))
    assert run_rules.infer_reason(bad) == "The scan file is not usable: no probeGuess"
    no_model = run_rules.Readiness(scan_loaded=True, output_dir=Path("/r"))
    assert "No model yet" in run_rules.infer_reason(no_model)
    init = run_rules.Readiness(scan_loaded=True, output_dir=Path("/r"), init_model_problem="N differs")
    assert run_rules.train_reason(init) == "Fix the starting model (init_model): N differs"
    assert run_rules.pretrain_reason(ok, None, None) == "Choose a folder for the pretraining run."


def test_train_target_new_folder_unless_the_folder_is_a_run(tmp_path: Path):
    out, replaces = run_folders.train_target(tmp_path, "scan a", now=0)
    assert not replaces and out.parent == tmp_path and out.name.endswith("-scan_a")
    out.mkdir()
    again, _ = run_folders.train_target(tmp_path, "scan a", now=0)  # same second: a distinct folder
    assert again != out and again.name == out.name + "-2"
    (out / "wts.h5.zip").write_bytes(b"")
    assert run_folders.train_target(out, "other") == (out, True)
    assert "wts.h5.zip" in run_folders.overwrite_text(out) and "history.json" not in run_folders.overwrite_text(out)


def test_inference_target_with_the_model_or_beside_a_read_only_one(tmp_path: Path, monkeypatch):
    model = tmp_path / "run1"
    model.mkdir()
    target = run_folders.inference_target(model, "test", tmp_path / "runs", now=0)
    assert target.parent == model / "reconstructions" and target.name.startswith("test-")
    shipped = run_folders.inference_target(model, "test", tmp_path / "runs", now=0, read_only=(tmp_path,))
    assert shipped.parent == tmp_path / "runs" / "reconstructions"  # never inside the bundled resources
    monkeypatch.setattr(run_folders.os, "access", lambda path, mode: Path(path) != model)
    fallback = run_folders.inference_target(model, "test", tmp_path / "runs", now=0)
    assert fallback.parent == tmp_path / "runs" / "reconstructions" and fallback.name.startswith("run1-test-")


def test_status_and_reconstruction_listing(tmp_path: Path):
    run = tmp_path / "run"
    (run / "reconstructions" / "old").mkdir(parents=True)
    (run / "reconstructions" / "new").mkdir()
    (run / "reconstructions" / "empty").mkdir()
    (run / "wts.h5.zip").write_bytes(b"")
    for i, name in enumerate(("old", "new")):
        f = run / "reconstructions" / name / "reconstruction.npz"
        f.write_bytes(b"")
        os.utime(f.parent, (1000 + i, 1000 + i))
    assert [p.name for p in run_folders.reconstructions(run)] == ["new", "old"]
    assert run_folders.model_of_reconstruction(run / "reconstructions" / "new") == run
    assert run_folders.status_note(run) == ""
    run_folders.write_status(run, "cancelled", epochs_done=3, n_epochs=500)
    assert run_folders.status_note(run).startswith("cancelled after 3 of 500 epochs")


def test_eta_counts_down_between_steps_and_is_smoothed():
    now = [100.0]
    clock = EtaClock(lambda: now[0])
    assert clock.text() == "elapsed 0:00 · remaining —"
    clock.update(10.0, 60.0)
    now[0] += 5
    assert clock.elapsed() == 15.0 and clock.remaining() == 55.0
    clock.update(15.0, 155.0)  # a jump in the raw estimate moves the shown one only part way
    assert 55.0 < clock.remaining() < 155.0
    assert fmt_duration(3725) == "1:02:05" and "remaining" in clock.text()
