"""A process killed while saving a model never leaves a broken ``wts.h5.zip`` behind.

A child process saves archives to the same path in a loop, each with a different gain; it is
SIGKILLed at several moments. Afterwards the archive must load (strictly) and hold the gain of a
save that completed, never a mix or a truncated file.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ptycho_engine.archive import load_archive

CHILD = r"""
import sys, numpy as np, torch
from pathlib import Path
from ptycho_engine.archive import save_archive
from ptycho_engine.config.canonical import ModelConfig, TrainingConfig, config_to_dict
from ptycho_engine.model.pinn import PtychoPINN
t = config_to_dict(TrainingConfig(model=ModelConfig(N=64, gridsize=1, n_filters_scale=1), n_groups=8))
cfg = {"model": t.pop("model"), "training": t}
probe = np.ones((64, 64), np.complex64)
target = Path(sys.argv[1])
for i in range(10_000):
    model = PtychoPINN.from_config(cfg["model"], cfg["training"], probe, log_gain=float(i))
    save_archive(target, model, cfg, {"N": 64}, extras={"save_number": i})
    print(i, flush=True)
"""


@pytest.mark.parametrize("kill_after_saves", [1, 3])
def test_kill_during_save_leaves_a_complete_archive(tmp_path: Path, kill_after_saves: int) -> None:
    target = tmp_path / "wts.h5.zip"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(target)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        done = -1
        while done < kill_after_saves:
            line = child.stdout.readline()  # type: ignore[union-attr]
            assert line, "the saving process died on its own"
            done = int(line)
        time.sleep(0.003 * kill_after_saves)  # land somewhere inside a later save
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    loaded = load_archive(target)
    save_number = int(loaded.extras["save_number"])
    assert save_number >= kill_after_saves
    assert float(loaded.model.log_gain.detach()) == pytest.approx(save_number)
