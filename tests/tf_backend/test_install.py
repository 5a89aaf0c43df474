"""TensorFlow stays optional and lazy: no import at start-up, a clear error (exit 2) when missing,
thread pools sized like torch's."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ptycho_engine import cli, tf_backend

ROOT = Path(__file__).resolve().parents[2]


def test_engine_and_backend_modules_import_without_tensorflow():
    code = ("import sys, pkgutil, importlib, ptycho_engine.cli, ptycho_engine.api, ptycho_engine.tf_backend as t\n"
            "for info in pkgutil.walk_packages(t.__path__, 'ptycho_engine.tf_backend.'):\n"
            "    importlib.import_module(info.name)\n"
            "ptycho_engine.cli.build_parser()\n"
            "print(t.available())\n"
            "assert not {'tensorflow', 'keras'} & set(sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_only_the_backend_package_imports_tensorflow():
    offenders = []
    for path in (ROOT / "ptycho_engine").rglob("*.py"):
        if "tf_backend" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"^\s*(import|from)\s+(tensorflow|keras)\b", text, re.MULTILINE):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def _hide_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(tf_backend.importlib.util, "find_spec",
                        lambda name, *a: None if name.split(".")[0] in ("tensorflow", "keras") else real(name, *a))


def test_available_says_how_to_install_when_missing(monkeypatch):
    _hide_tensorflow(monkeypatch)
    ok, why = tf_backend.available()
    assert not ok and "tensorflow" in why and 'pip install -c constraints.txt -e ".[tf]"' in why
    with pytest.raises(tf_backend.BackendUnavailableError, match="not installed"):
        tf_backend.require()


def test_cli_train_and_infer_exit_2_when_tensorflow_is_missing(monkeypatch, tmp_path, capsys):
    scan = tmp_path / "scan.npz"
    assert cli.main(["simulate", "--output", str(scan), "--n-positions", "12", "--object-size", "90"]) == 0
    _hide_tensorflow(monkeypatch)
    rc = cli.main(["train", "--train-data", str(scan), "--output-dir", str(tmp_path / "run"), "--backend",
                   "tensorflow", "--generator", "cnn", "--n-groups", "4", "-q"])
    err = capsys.readouterr().err
    assert rc == cli.EXIT_USAGE and "[tf]" in err and "not installed" in err
    assert not (tmp_path / "run" / "wts.h5.zip").exists()


def test_a_generator_without_a_keras_twin_is_refused_clearly():
    from ptycho_engine.config.schema import ConfigError

    for name in ("cnn", "unrolled"):  # every generator of the registry maps today
        tf_backend.check_generator(name)
    with pytest.raises(ConfigError, match="generator 'attention' is not implemented on the TensorFlow backend"):
        tf_backend.check_generator("attention")


def test_thread_pools_match_torch(tf, tmp_path):
    """In a fresh process: TensorFlow gets the engine's torch intra-op thread count and one inter-op thread."""
    code = ("import torch\n"
            "from ptycho_engine.tf_backend.runtime import import_tf\ntf = import_tf()\n"
            "print(tf.config.threading.get_intra_op_parallelism_threads(),"
            " tf.config.threading.get_inter_op_parallelism_threads(), torch.get_num_threads())\n")
    env = dict(os.environ, KERAS_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    intra, inter, torch_threads = proc.stdout.split()
    assert intra == torch_threads and inter == "1"


def test_import_leaves_no_banner_on_stderr(tf, tmp_path):
    code = ("from ptycho_engine.tf_backend.runtime import import_tf\n"
            "tf = import_tf()\nimport sys\nprint('after', file=sys.stderr)\n")
    env = dict(os.environ, KERAS_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.strip() == "after"  # no absl / oneDNN banner, and stderr works afterwards
