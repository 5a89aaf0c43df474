"""Issue 11 items 1, 7, 8, 11 on the command line: SIGTERM / SIGINT stop cleanly with a valid
archive and exit 143 / 130; a busy run folder, a bad settings path or output path is exit 2;
bad archive content is exit 3."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from ptycho_engine import cli
from ptycho_engine.archive import load_archive
from ptycho_engine.io.runlock import RunLock

LONG_TRAIN = ["--nepochs", "200", "--n-groups", "16", "--batch-size", "4", "--n-filters-scale", "1",
              "--validation-fraction", "0.25", "--logger-backend", "none", "--preview-every-n-epochs", "0",
              "--accelerator", "cpu"]
TINY_TRAIN = ["--nepochs", "1", "--n-groups", "12", "--batch-size", "4", "--n-filters-scale", "1",
              "--logger-backend", "none", "--no-enable-checkpointing", "-q", "--accelerator", "cpu"]


@pytest.fixture(scope="module")
def scan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rel") / "scan.npz"
    assert cli.main(["simulate", "--output", str(path), "--n-positions", "30", "--object-size", "110",
                     "--seed", "3"]) == cli.EXIT_OK
    return path


@pytest.fixture(scope="module")
def trained_run(scan_file: Path) -> Path:
    out = scan_file.parent / "run"
    assert cli.main(["train", "--train-data", str(scan_file), "--output-dir", str(out), *TINY_TRAIN]) == cli.EXIT_OK
    return out


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_training_writes_a_valid_archive_and_a_non_zero_exit(scan_file, tmp_path, sig, code):
    out = tmp_path / "run"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    child = subprocess.Popen([sys.executable, "-m", "ptycho_engine.cli", "train", "--train-data", str(scan_file),
                              "--output-dir", str(out), *LONG_TRAIN], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env=env)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = child.stderr.readline()  # type: ignore[union-attr]
            assert line, f"the training process ended early (rc {child.poll()})"
            if line.startswith("epoch 1/200"):
                break
        child.send_signal(sig)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == code, err
    loaded = load_archive(out / "wts.h5.zip")  # the weights of that moment, loadable
    assert int(loaded.extras["epochs_completed"]) >= 1


def test_signal_before_a_run_starts_aborts_with_the_signal_code(monkeypatch, scan_file, tmp_path):
    def fake_train(args):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the payload is being resolved
        raise AssertionError("not reached")

    monkeypatch.setattr(cli, "cmd_train", fake_train)
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser, fake_train))
    assert cli.main(["train", "--train-data", str(scan_file), "--output-dir", str(tmp_path / "r")]) == 143
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None) or callable(signal.getsignal(signal.SIGTERM))


def _with_func(parser, func):
    for action in parser._subparsers._group_actions:  # noqa: SLF001
        action.choices["train"].set_defaults(func=func)
    return parser


def test_busy_run_folder_is_a_usage_error_naming_the_running_one(scan_file, tmp_path, capsys):
    out = tmp_path / "busy"
    with RunLock(out, "training"):
        rc = cli.main(["train", "--train-data", str(scan_file), "--output-dir", str(out), *TINY_TRAIN])
    assert rc == cli.EXIT_USAGE
    assert f"pid {os.getpid()}" in capsys.readouterr().err


def test_config_that_is_a_directory_is_a_usage_error(scan_file, tmp_path, capsys):
    rc = cli.main(["train", "--train-data", str(scan_file), "--output-dir", str(tmp_path / "r"),
                   "--config", str(tmp_path), *TINY_TRAIN])
    assert rc == cli.EXIT_USAGE
    assert "is a directory" in capsys.readouterr().err


def test_empty_output_dir_is_refused(scan_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["train", "--train-data", str(scan_file), "--output-dir", "", *TINY_TRAIN])
    assert rc == cli.EXIT_USAGE
    assert "output directory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_dotted_output_path_creates_only_the_resolved_target(scan_file, tmp_path, monkeypatch):
    work = tmp_path / "w" / "v"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    rc = cli.main(["train", "--train-data", str(scan_file), "--output-dir", "a/../../x/../b", *TINY_TRAIN])
    assert rc == cli.EXIT_OK
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["b", "v"]  # no stray 'a' or 'x'
    assert list(work.iterdir()) == []


def _tampered(trained_run: Path, tmp_path: Path, config_text: str) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    with zipfile.ZipFile(trained_run / "wts.h5.zip") as zin, zipfile.ZipFile(model / "wts.h5.zip", "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, config_text if name == "config.json" else zin.read(name))
    return model


@pytest.mark.parametrize("edit", ["training_not_object", "nested", "bad_value", "n_string"])
def test_bad_archive_content_is_an_input_error_naming_the_file(trained_run, scan_file, tmp_path, capsys, edit):
    cfg = json.loads(zipfile.ZipFile(trained_run / "wts.h5.zip").read("config.json"))
    if edit == "training_not_object":
        cfg["training"] = "x"
        text = json.dumps(cfg)
    elif edit == "nested":
        text = "[" * 100_000 + "]" * 100_000
    elif edit == "n_string":
        cfg["model"]["N"] = "64"
        text = json.dumps(cfg)
    else:
        cfg["model"]["gridsize"] = "two"
        text = json.dumps(cfg)
    model = _tampered(trained_run, tmp_path, text)
    rc = cli.main(["infer", "--model", str(model), "--test-data", str(scan_file), "--output-dir",
                   str(tmp_path / "r"), "-q"])
    err = capsys.readouterr().err
    assert rc == cli.EXIT_DATA, err
    assert "wts.h5.zip" in err and "config.json" in err
    if edit == "n_string":
        assert "model.N" in err and "(64, 128, 256)" in err and "the string '64'" in err, err


RUN_FILES = ("config.json", "history.json", "history.csv", "preview.npz")


@pytest.mark.parametrize("failure", ["init_model_mismatch", "trainer_setup"])
def test_failed_run_into_an_existing_run_folder_keeps_that_runs_files(scan_file, tmp_path, monkeypatch, capsys,
                                                                      failure):
    out = tmp_path / "run"
    base = ["--train-data", str(scan_file), "--output-dir", str(out), *TINY_TRAIN, "--preview-every-n-epochs", "1"]
    assert cli.main(["train", *base]) == cli.EXIT_OK
    before = {name: (out / name).read_bytes() for name in RUN_FILES}
    if failure == "init_model_mismatch":  # the folder's own archive, but a wider network: refused in setup
        args = [*base, "--n-filters-scale", "2", "--init-model", str(out)]
    else:  # everything loads, then the trainer cannot be built: the run never starts
        from ptycho_engine.training import trainer

        def broken(*a, **k):
            raise RuntimeError("trainer setup failed")

        monkeypatch.setattr(trainer, "build_trainer", broken)
        args = [*base, "--nepochs", "2"]
    capsys.readouterr()
    assert cli.main(["train", *args]) != cli.EXIT_OK
    assert {name: (out / name).read_bytes() for name in RUN_FILES} == before
