"""Bridge translations, the legacy params.cfg registry, the execution config and config dataclasses."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ptycho_engine.config import bridge, params
from ptycho_engine.config import canonical as can
from ptycho_engine.config import pytorch as pt
from ptycho_engine.config.execution import PyTorchExecutionConfig, explicit_execution_values, resolve_accelerator
from ptycho_engine.config.schema import ConfigError


# ------------------------------------------------------------------ bridge
def test_translate_grid_size():
    assert bridge.translate_grid_size((3, 3)) == 3
    assert bridge.translate_grid_size(2) == 2
    with pytest.raises(ValueError, match="Non-square grids"):
        bridge.translate_grid_size((2, 1))


@pytest.mark.parametrize("name, expected", [("silu", "swish"), ("SiLU", "swish"), ("swish", "swish"),
                                            ("sigmoid", "sigmoid"), ("softplus", "softplus"), ("relu", "relu")])
def test_translate_activation(name, expected):
    assert bridge.translate_activation(name) == expected


def test_translate_activation_rejects_unknown():
    with pytest.raises(ValueError, match="Unknown activation 'gelu'"):
        bridge.translate_activation("gelu")


def test_translate_mode_both_ways():
    assert bridge.translate_mode("Unsupervised") == "pinn"
    assert bridge.translate_mode("Supervised") == "supervised"
    assert bridge.mode_for_model_type("pinn") == "Unsupervised"
    with pytest.raises(ValueError, match="Invalid mode 'Semi'"):
        bridge.translate_mode("Semi")


def test_to_training_config_maps_every_renamed_field():
    data = pt.DataConfig(N=128, grid_size=(2, 2), C=4, K=7, nphotons=1e5, probe_scale=2.0, subsample_seed=3)
    model = pt.ModelConfig(mode="Supervised", amp_activation="silu", object_big=False, probe_mask=True,
                           intensity_scale_trainable=False, C_model=4, C_forward=4)
    training = pt.TrainingConfig(epochs=9, batch_size=24, nll=False, n_groups=100,
                                 train_data_file="/d/train.npz", output_dir="/d/out")
    tf_model = bridge.to_model_config(data, model)
    assert tf_model == can.ModelConfig(N=128, gridsize=2, model_type="supervised", amp_activation="swish",
                                       object_big=False, probe_mask=True, probe_scale=2.0)
    tf = bridge.to_training_config(tf_model, data, model, training, {"mae_weight": 1.0, "seed": 7})
    assert (tf.nepochs, tf.batch_size, tf.nll_weight, tf.neighbor_count) == (9, 24, 0.0, 7)
    assert (tf.nphotons, tf.subsample_seed, tf.intensity_scale_trainable) == (1e5, 3, False)
    assert (tf.mae_weight, tf.seed, tf.backend) == (1.0, 7, "pytorch")
    assert tf.train_data_file == Path("/d/train.npz") and tf.output_dir == Path("/d/out")


def test_bridge_is_side_effect_free_and_strict():
    before = dict(params.cfg)
    data, model = pt.DataConfig(), pt.ModelConfig()
    tf_model = bridge.to_model_config(data, model)
    with pytest.raises(ValueError, match="n_groups is required"):
        bridge.to_training_config(tf_model, data, model, pt.TrainingConfig(train_data_file="x.npz"))
    with pytest.raises(ValueError, match="train_data_file is required"):
        bridge.to_training_config(tf_model, data, model, pt.TrainingConfig(n_groups=4))
    with pytest.raises(ConfigError, match="has no field"):
        bridge.to_model_config(data, model, {"nepochs": 3})
    with pytest.raises(ValueError, match="model_path is required"):
        bridge.to_inference_config(tf_model, data, pt.InferenceConfig(), {"test_data_file": "t.npz"})
    inf = bridge.to_inference_config(tf_model, data, pt.InferenceConfig(patch_weighting="uniform"),
                                     {"model_path": "m/wts.h5.zip", "test_data_file": "t.npz"})
    assert inf.stitch_weighting == "uniform" and inf.model_path == Path("m/wts.h5.zip") and inf.n_groups is None
    assert params.cfg == before


# ------------------------------------------------------------------ params.cfg
def test_update_legacy_dict_mappings_and_none_values():
    cfg = {"n_subsample": 77, "test_data_file_path": "/stale.npz"}
    config = can.TrainingConfig(model=can.ModelConfig(object_big=False, probe_big=False, probe_mask=True),
                                probe_trainable=True, intensity_scale_trainable=False, positions_provided=False,
                                output_dir=Path("/runs/a"), train_data_file=Path("/d/t.npz"), n_groups=5)
    params.update_legacy_dict(cfg, config)
    assert cfg["object.big"] is False and cfg["probe.big"] is False and cfg["probe.mask"] is True
    assert cfg["probe.trainable"] is True and cfg["intensity_scale.trainable"] is False
    assert cfg["positions.provided"] is False
    assert cfg["output_prefix"] == "/runs/a" and cfg["train_data_file_path"] == "/d/t.npz"
    assert cfg["test_data_file_path"] is None  # None is written: the stale path is gone (bug §8.24)
    assert cfg["n_subsample"] is None
    assert cfg["gridsize"] == 1 and cfg["N"] == 64  # the nested model is flattened
    assert "model" not in cfg and "object_big" not in cfg
    with pytest.raises(TypeError):
        params.update_legacy_dict(cfg, {"N": 64})


def test_params_reset_get_and_snapshot():
    params.cfg["gridsize"] = 2
    params.cfg["probe"] = object()  # runtime-written, not JSON
    assert params.get("bigN") == 64 + 1 * 4
    assert params.get("padded_size") == 68 + 10
    assert params.get("padding_size") == 4 + 10
    snap = params.snapshot()
    json.dumps(snap)
    assert "probe" not in snap and snap["gridsize"] == 2
    ref = params.cfg
    params.reset()
    assert ref is params.cfg and params.cfg == params.DEFAULT_CFG and params.populated_by() is None


def test_populate_switching_configs_leaves_nothing_stale(tmp_path):
    from ptycho_engine.config.factory import populate_legacy_params

    train = can.TrainingConfig(model=can.ModelConfig(gridsize=2), n_groups=10, nepochs=3,
                               test_data_file=tmp_path / "t.npz")
    populate_legacy_params(train)
    assert params.cfg["nepochs"] == 3 and params.cfg["test_data_file_path"] == str(tmp_path / "t.npz")
    inference = can.InferenceConfig(model_path=tmp_path / "m.zip", test_data_file=tmp_path / "u.npz")
    with pytest.warns(UserWarning, match="already populated"):
        populate_legacy_params(inference)
    assert params.cfg["gridsize"] == 1 and params.cfg["nepochs"] == 50  # nothing left from training
    assert params.cfg["model_path"] == str(tmp_path / "m.zip")


# ------------------------------------------------------------------ execution config
def test_execution_defaults_and_explicit_values():
    ex = PyTorchExecutionConfig()
    assert ex.accelerator == "auto" and ex.learning_rate == 1e-3 and ex.preview_every_n_epochs == 1
    assert ex.resume is False and ex.logger_backend == "csv" and ex.deterministic is True
    assert explicit_execution_values(ex) == {}
    assert explicit_execution_values(PyTorchExecutionConfig(learning_rate=1e-4, resume=True)) == {
        "learning_rate": 1e-4, "resume": True}
    with pytest.raises(TypeError):
        explicit_execution_values({"learning_rate": 1e-4})


def test_execution_validation():
    with pytest.raises(ConfigError, match="learning_rate: expected a value in"):
        PyTorchExecutionConfig(learning_rate=0.0)
    with pytest.raises(ConfigError, match="precision: expected one of"):
        PyTorchExecutionConfig(precision="64")
    with pytest.raises(ConfigError, match="accum_steps"):
        PyTorchExecutionConfig(accum_steps=0)
    assert PyTorchExecutionConfig(num_workers="3").num_workers == 3


def test_resolve_accelerator(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert resolve_accelerator("cpu") == "cpu"
    with pytest.warns(UserWarning, match="CUDA is not available"):
        assert resolve_accelerator("auto") == "cpu"
    with pytest.raises(ConfigError, match="'cuda' requested but CUDA is not available"):
        resolve_accelerator("cuda")
    with pytest.raises(ConfigError, match="expected one of"):
        resolve_accelerator("tpu")


def test_config_import_does_not_import_torch_or_qt():
    code = ("import sys, ptycho_engine.config.factory, ptycho_engine.config; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'lightning')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------ config dataclasses
def test_configs_validate_and_coerce():
    m = can.ModelConfig(gridsize="2", probe_scale=3)
    assert m.gridsize == 2 and isinstance(m.probe_scale, float) and m.C == 4
    with pytest.raises(ConfigError, match="gridsize"):
        can.ModelConfig(gridsize=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.gridsize = 3  # type: ignore[misc]
    t = can.TrainingConfig(train_data_file="a.npz", model={"N": 128})
    assert t.train_data_file == Path("a.npz") and t.model.N == 128
    with pytest.raises(ConfigError, match="realspace_mae_weight > 0 needs realspace_weight > 0"):
        can.TrainingConfig(realspace_mae_weight=0.5)
    with pytest.raises(ConfigError, match="enable_oversampling needs gridsize > 1"):
        can.TrainingConfig(enable_oversampling=True)
    with pytest.raises(ConfigError, match="model_path is required"):
        can.InferenceConfig(test_data_file="t.npz")
    with pytest.raises(ConfigError, match="C must equal"):
        pt.DataConfig(grid_size=(2, 2), C=1)
    with pytest.raises(ConfigError, match="C_model .* C_forward"):
        pt.ModelConfig(C_model=4, C_forward=1)


def test_config_dict_round_trip():
    t = can.TrainingConfig(model=can.ModelConfig(gridsize=2), n_groups=8, train_data_file=Path("/x.npz"))
    d = can.config_to_dict(t)
    json.dumps(d)
    assert d["model"]["gridsize"] == 2 and d["train_data_file"] == "/x.npz"
    assert can.config_from_dict(can.TrainingConfig, d) == t
    assert can.config_from_dict(can.ModelConfig, {"N": 64, "future_field": 1}) == can.ModelConfig()
    with pytest.raises(ConfigError, match="unknown fields"):
        can.config_from_dict(can.ModelConfig, {"future_field": 1}, strict=True)
