"""Starting a run from a trained model (fine-tuning): weights in, data statistics fresh, strict checks."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from ptycho_engine.archive import load_archive
from ptycho_engine.config.init_model import resolve_init_model
from ptycho_engine.config.schema import ConfigError
from ptycho_engine.events import CancelToken, LogLine
from ptycho_engine.model.pinn import PtychoPINN
from ptycho_engine.training.init_model import DATA_STATE, load_initial_weights
from ptycho_engine.training.run import train_model

from .conftest import simulate_tiny_scan


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_scan):
    """A 1-epoch model on the tiny scan (gridsize 1, n_filters_scale 1)."""
    from .conftest import make_payload

    out = tmp_path_factory.mktemp("init") / "base"
    return train_model(make_payload(tiny_scan, out, nepochs=1, n_groups=16, enable_checkpointing=False,
                                    preview_every_n_epochs=0)).archive_path


@pytest.fixture(scope="module")
def other_scan(tmp_path_factory):
    """Another scan of the same kind, with another exposure (other data statistics)."""
    return simulate_tiny_scan(tmp_path_factory.mktemp("other") / "other.npz", n=30, nphotons=1e4, seed=9)


def test_starting_weights_are_the_archives_and_statistics_stay_the_runs(trained):
    archived = load_archive(trained).model.state_dict()
    torch.manual_seed(123)
    probe = np.ones((64, 64), np.complex64)
    model = PtychoPINN(probe, N=64, gridsize=1, n_filters_scale=1, input_scale=7.0, counts_scale=11.0,
                       generator="unrolled")
    assert any(not torch.equal(model.state_dict()[k], v) for k, v in archived.items() if k not in DATA_STATE)
    assert load_initial_weights(model, str(trained.parent)) == trained  # a run folder works
    state = model.state_dict()
    for key, value in archived.items():
        if key not in DATA_STATE:
            assert torch.equal(state[key], value), key
    assert float(model.input_scale) == 7.0 and float(model.counts_scale) == 11.0  # this run's data
    assert torch.equal(model.probe, torch.from_numpy(probe))


@pytest.mark.slow
def test_fine_tune_starts_from_the_archive_with_fresh_scales(trained, other_scan, tmp_path):
    from .conftest import make_payload

    events: list = []
    token = CancelToken()
    token.cancel()  # stop before the first batch: the archive then holds the starting weights
    payload = make_payload(other_scan, tmp_path / "ft", nepochs=1, n_groups=16, training={"init_model": str(trained)})
    result = train_model(payload, on_event=events.append, cancel=token)
    start, base = load_archive(result.archive_path).model, load_archive(trained).model
    for key, value in base.state_dict().items():
        if key.startswith("generator"):
            assert torch.equal(start.state_dict()[key], value), key
    assert float(start.input_scale) != pytest.approx(float(base.input_scale))  # recomputed from the new scan
    assert float(start.counts_scale) != pytest.approx(float(base.counts_scale))
    assert any("starting from the network weights of" in e.message for e in events if isinstance(e, LogLine))
    finished = train_model(make_payload(other_scan, tmp_path / "ft2", nepochs=1, n_groups=16,
                                        training={"init_model": str(trained)}))
    assert finished.status == "completed" and np.isfinite(finished.history[0]["train_loss"])


def test_mismatched_architecture_is_refused_naming_the_field(trained, tiny_scan, tmp_path):
    from .conftest import make_payload

    with pytest.raises(ConfigError, match="n_filters_scale: model 1, this run 2"):
        make_payload(tiny_scan, tmp_path / "bad", n_filters_scale=2, training={"init_model": str(trained)})
    model = PtychoPINN(np.ones((64, 64), np.complex64), N=64, gridsize=2, n_filters_scale=1)
    with pytest.raises(ConfigError, match="gridsize: model 1, this run 2"):
        load_initial_weights(model, trained)


def test_shipped_model_missing_is_a_clear_error(tmp_path, monkeypatch, trained, tiny_scan):
    from .conftest import make_payload

    monkeypatch.setenv("PTYCHO_STUDIO_RESOURCES", str(tmp_path / "resources"))
    with pytest.raises(FileNotFoundError, match="no pretrained model is shipped.*resources/pretrained/wts.h5.zip"):
        resolve_init_model("shipped")
    with pytest.raises(FileNotFoundError, match="no pretrained model is shipped"):
        make_payload(tiny_scan, tmp_path / "o", training={"init_model": "shipped"})
    (tmp_path / "resources" / "pretrained").mkdir(parents=True)
    shutil.copy(trained, tmp_path / "resources" / "pretrained" / "wts.h5.zip")
    assert resolve_init_model(" Shipped ") == tmp_path / "resources" / "pretrained" / "wts.h5.zip"
    assert resolve_init_model("") is None and resolve_init_model("scratch") is None
    with pytest.raises(FileNotFoundError, match="no such path"):
        resolve_init_model(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="holds no wts.h5.zip"):
        resolve_init_model(str(tmp_path))
