"""``backend = 'tensorflow'`` end to end on a tiny scan: the run folder, events, cancel, archives
that record their backend and load on either backend, ``ptycho-engine convert``."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ptycho_engine import api, cli
from ptycho_engine.archive import load_archive, read_manifest
from ptycho_engine.events import CancelToken, EpochEnd, Preview, RunFinished, StepProgress

#: the PyTorch twin of the TF run of ``tf_events`` (same settings, same seed)
TINY = ["--nepochs", "2", "--n-groups", "8", "--batch-size", "4", "--n-filters-scale", "1", "--gridsize", "2",
        "--generator", "cnn", "--validation-fraction", "0.25", "--logger-backend", "none", "-q"]


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tfscan") / "scan.npz"
    assert cli.main(["simulate", "--output", str(path), "--n-positions", "24", "--object-size", "110",
                     "--seed", "3"]) == cli.EXIT_OK
    return path


@pytest.fixture(scope="module")
def tf_events(scan: Path, tf) -> tuple[Path, list]:
    """A TF training run through the API (the CLI one is in the unrolled test), with its events."""
    out, events = scan.parent / "tf-run", []
    payload = api.create_training_payload(scan, out, {
        "nepochs": 2, "n_groups": 8, "batch_size": 4, "n_filters_scale": 1, "gridsize": 2, "generator": "cnn",
        "validation_fraction": 0.25, "logger_backend": "none", "backend": "tensorflow"})
    assert api.train(payload, on_event=events.append).status == "completed"
    return out, events


@pytest.fixture(scope="module")
def tf_run(tf_events: tuple[Path, list]) -> Path:
    return tf_events[0]


@pytest.fixture(scope="module")
def torch_run(scan: Path) -> Path:
    out = scan.parent / "torch-run"
    assert cli.main(["train", "--train-data", str(scan), "--output-dir", str(out), *TINY]) == cli.EXIT_OK
    return out


def _files(run: Path) -> set[str]:
    return {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file() and not p.name.startswith(".")
            and p.parent.name != "checkpoints"}


def test_tensorflow_run_folder_matches_the_pytorch_layout(tf_run, torch_run):
    assert _files(tf_run) == _files(torch_run)
    assert {"wts.h5.zip", "config.json", "history.csv", "history.json", "preview.npz"} <= _files(tf_run)
    assert (tf_run / "checkpoints" / "last.weights.h5").is_file()
    history = json.loads((tf_run / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2] and all(np.isfinite(r["train_loss"]) for r in history)
    assert json.loads((tf_run / "config.json").read_text())["backend"] == "tensorflow"


def test_archives_record_their_backend_and_load_on_both(tf_run, torch_run, scan):
    assert read_manifest(tf_run / "wts.h5.zip")["backend"] == "tensorflow"
    assert read_manifest(torch_run / "wts.h5.zip")["backend"] == "pytorch"
    objects = {}
    for run in (tf_run, torch_run):
        for backend in ("pytorch", "tensorflow"):
            payload = api.create_inference_payload(run, scan, run.parent / f"infer-{run.name}-{backend}",
                                                   {"backend": backend})
            objects[run.name, backend] = api.infer(payload).object
    for run in (tf_run, torch_run):
        a, b = objects[run.name, "pytorch"], objects[run.name, "tensorflow"]
        assert np.abs(a).max() > 0.05
        assert np.abs(a - b).max() <= 1e-5  # the same weights give the same reconstruction


def test_same_seed_same_first_epoch_on_both_backends(tf_run, torch_run):
    """Same data, split, initial weights and calibrated gain: the first epoch's losses agree closely."""
    tf_hist = json.loads((tf_run / "history.json").read_text())
    pt_hist = json.loads((torch_run / "history.json").read_text())
    assert tf_hist[0]["train_loss"] == pytest.approx(pt_hist[0]["train_loss"], rel=0.05)


def test_events_and_cancel_within_one_batch(scan, tf, tmp_path):
    token, events = CancelToken(), []

    def on_event(event):
        events.append(event)
        if isinstance(event, StepProgress):
            token.cancel()

    payload = api.create_training_payload(scan, tmp_path / "cancelled", {
        "n_groups": 8, "batch_size": 2, "nepochs": 3, "n_filters_scale": 1, "gridsize": 2, "generator": "cnn",
        "backend": "tensorflow", "validation_fraction": 0.0})
    result = api.train(payload, on_event=on_event, cancel=token)
    assert result.status == "cancelled"
    assert sum(isinstance(e, StepProgress) for e in events) == 1  # stopped before the next batch
    assert not any(isinstance(e, EpochEnd) for e in events)
    assert [e.status for e in events if isinstance(e, RunFinished)] == ["cancelled"]
    assert load_archive(result.archive_path).manifest["backend"] == "tensorflow"


def test_epoch_events_and_previews(tf_events):
    kinds = [type(e).__name__ for e in tf_events[1]]
    assert kinds.count("EpochEnd") == 2 and kinds.count("Preview") == 2 and kinds[-1] == "RunFinished"
    assert kinds.count("StepProgress") == 4  # 6 training groups in batches of 4, two epochs
    preview = next(e for e in tf_events[1] if isinstance(e, Preview))
    assert preview.amplitude.ndim == 2 and np.isfinite(preview.amplitude).all()
    ends = [e for e in tf_events[1] if isinstance(e, EpochEnd)]
    assert all(np.isfinite(e.train_loss) and e.val_loss is not None and e.learning_rate == 1e-3 for e in ends)


def test_convert_both_ways_keeps_every_tensor(tf_run, torch_run, tmp_path):
    for run, to in ((torch_run, "tensorflow"), (tf_run, "pytorch")):
        out = tmp_path / f"{run.name}-to-{to}"
        keras_file = tmp_path / f"{run.name}.weights.h5"
        assert cli.main(["convert", "--model", str(run), "--to", to, "-o", str(out),
                         "--keras-weights", str(keras_file)]) == cli.EXIT_OK
        assert keras_file.is_file()
        src, dst = load_archive(run / "wts.h5.zip"), load_archive(out / "wts.h5.zip")
        assert dst.manifest["backend"] == to
        for key, value in src.model.state_dict().items():
            assert np.array_equal(value.numpy(), dst.model.state_dict()[key].numpy()), key
        assert dst.extras["nphotons"] == src.extras["nphotons"]
        with zipfile.ZipFile(out / "wts.h5.zip") as zf:
            assert sorted(zf.namelist()) == ["config.json", "manifest.json", "params.json", "weights.h5"]


def test_unrolled_model_reconstructs_another_probe_alike_on_both_backends(scan, tmp_path, tf):
    """`train --backend tensorflow` of the unrolled generator; its updates then use the probe of the
    scan being reconstructed on both backends alike."""
    other = tmp_path / "focused.npz"
    assert cli.main(["simulate", "--output", str(other), "--n-positions", "24", "--object-size", "110",
                     "--probe", "focused", "--seed", "4"]) == cli.EXIT_OK
    run = tmp_path / "unrolled-run"  # trained by the CLI on TensorFlow
    assert cli.main(["train", "--train-data", str(scan), "--output-dir", str(run), "--backend", "tensorflow",
                     "--generator", "unrolled",
                     "--unroll-steps", "2", "--nepochs", "1", "--n-groups", "8", "--batch-size", "4",
                     "--n-filters-scale", "1", "--gridsize", "2", "--no-probe-big",
                     "--validation-fraction", "0", "--logger-backend", "none", "--no-enable-checkpointing",
                     "-q"]) == cli.EXIT_OK
    objects = {}
    for backend in ("pytorch", "tensorflow"):
        payload = api.create_inference_payload(run, other, tmp_path / f"infer-{backend}", {"backend": backend})
        objects[backend] = api.infer(payload).object
    assert np.abs(objects["pytorch"]).max() > 0.05
    assert np.abs(objects["pytorch"] - objects["tensorflow"]).max() <= 1e-5


BLOCK_TF = """
import importlib.abc, sys
class NoTF(importlib.abc.MetaPathFinder):  # as if the tf extra were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras"):
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, NoTF())
import importlib.util
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in ("tensorflow", "keras") else real(name, *a)
from ptycho_engine import api
from ptycho_engine.tf_backend import BackendUnavailableError
run, scan, out = sys.argv[1:4]
result = api.infer(api.create_inference_payload(run, scan, out))  # PyTorch runs the TF-trained model
assert result.object.shape[0] > 0
try:
    api.create_inference_payload(run, scan, out + "-tf", {"backend": "tensorflow"})
except BackendUnavailableError as exc:
    print("REFUSED", exc)
assert not {"tensorflow", "keras"} & set(sys.modules)
"""


def test_tensorflow_archive_runs_where_only_pytorch_is_installed(tf_run, scan, tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", BLOCK_TF, str(tf_run), str(scan), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "REFUSED" in proc.stdout and 'pip install -c constraints.txt -e ".[tf]"' in proc.stdout
    assert (tmp_path / "out" / "reconstruction.npz").is_file()
