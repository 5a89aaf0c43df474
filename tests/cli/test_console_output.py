"""What a normal ``ptycho-engine`` run prints: results, progress and plain ``info:`` lines, no
developer noise (Python warnings with source lines, debug lines, third-party deprecations);
``--verbose`` brings the debug lines back (issue 15). Run as the user runs it, in a subprocess."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--nepochs", "1", "--batch-size", "4", "--n-filters-scale", "1", "--validation-fraction", "0.25",
        "--logger-backend", "none", "--no-enable-checkpointing"]
#: a Python warning as Python prints it ("path.py:12: UserWarning: ..."), or its source line
SOURCE_LINE = re.compile(r"\.py:\d+:|\w+Warning: |^\s+File \"|Traceback", re.MULTILINE)

pytestmark = pytest.mark.slow


def _engine(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("PYTHONWARNINGS", None)  # what a user gets by default
    proc = subprocess.run([sys.executable, "-c", "import sys; from ptycho_engine.cli import main; sys.exit(main())",
                           *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=240,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    work = tmp_path_factory.mktemp("console")
    out = {"simulate": _engine("simulate", "--output", "scan.npz", "--n-positions", "30", "--object-size", "110",
                               "--seed", "3", cwd=work)}
    # n_groups 100 > 30 positions: reduced, which the user should be told once
    out["train"] = _engine("train", "--train-data", "scan.npz", "--output-dir", "run", "--n-groups", "100", *TINY,
                           cwd=work)
    out["infer"] = _engine("infer", "--model", "run", "--test-data", "scan.npz", "--output-dir", "rec", cwd=work)
    out["verbose"] = _engine("train", "--train-data", "scan.npz", "--output-dir", "run_v", "--n-groups", "8", *TINY,
                             "--verbose", cwd=work)
    return out


@pytest.mark.parametrize("command", ["simulate", "train", "infer"])
def test_normal_runs_print_no_developer_noise(runs, command: str) -> None:
    text = runs[command].stdout + runs[command].stderr
    assert not SOURCE_LINE.search(text), text
    assert "[debug]" not in text and not re.search(r"^debug:", text, re.MULTILINE), text
    assert "deprecated" not in text.lower(), text  # third-party deprecations are filtered


def test_facts_the_user_should_know_are_one_plain_info_line(runs) -> None:
    for command in ("train", "infer"):
        err = runs[command].stderr.splitlines()
        if not torch.cuda.is_available():
            cpu = [line for line in err if "CUDA is not available" in line]
            assert len(cpu) == 1 and cpu[0].startswith("info: "), err
    reduced = [line for line in runs["train"].stderr.splitlines() if "n_groups 100" in line]
    assert len(reduced) == 1 and reduced[0].startswith("info: ") and "using 30" in reduced[0]


def test_verbose_shows_debug_lines(runs) -> None:
    err = runs["verbose"].stderr
    assert re.search(r"^debug: config\.json written", err, re.MULTILINE), err
    assert "debug: config.json" not in runs["train"].stderr
    if not torch.cuda.is_available():  # and Python's own warning display, with the source
        assert re.search(r"\.py:\d+: EngineNotice: accelerator 'auto'", err), err
