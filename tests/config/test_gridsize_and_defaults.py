"""gridsize 1/2/3 end to end, and the defaults both config families share."""
from __future__ import annotations


import pytest

from ptycho_engine.config import canonical as can
from ptycho_engine.config import params
from ptycho_engine.config import pytorch as pt
from ptycho_engine.config.bridge import translate_activation, translate_grid_size, translate_mode
from ptycho_engine.config.execution import PyTorchExecutionConfig
from ptycho_engine.config.factory import create_inference_payload, create_training_payload, archive_config_dict

pytestmark = pytest.mark.filterwarnings("ignore:accelerator 'auto'")


@pytest.mark.parametrize("gridsize", [1, 2, 3])
def test_gridsize_reaches_every_config(gridsize, mock_train_npz, mock_test_npz, tmp_path):
    C = gridsize ** 2
    p = create_training_payload(mock_train_npz, tmp_path / f"run{gridsize}", {"n_groups": 20, "gridsize": gridsize})
    assert p.tf_training_config.model.gridsize == gridsize
    assert p.tf_training_config.model.C == C
    assert p.pt_data_config.grid_size == (gridsize, gridsize)
    assert p.pt_data_config.C == p.pt_model_config.C_model == p.pt_model_config.C_forward == C
    assert params.cfg["gridsize"] == gridsize
    assert p.overrides_applied["C"]["value"] == C

    # an archive written from this payload gives inference the same geometry
    cfg = archive_config_dict(p.tf_training_config)
    model_dir = tmp_path / f"model{gridsize}"
    _write_archive(model_dir, cfg)
    q = create_inference_payload(model_dir, mock_test_npz, tmp_path / f"inf{gridsize}")
    assert q.tf_inference_config.model == p.tf_training_config.model
    assert q.pt_data_config.C == C and q.pt_data_config.grid_size == (gridsize, gridsize)
    assert q.overrides_applied["gridsize"] == {"value": gridsize, "source": "model_archive"}
    assert params.cfg["gridsize"] == gridsize


def _write_archive(directory, cfg):
    import json
    import zipfile

    directory.mkdir(parents=True)
    with zipfile.ZipFile(directory / "wts.h5.zip", "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format_version": 1, "backend": "pytorch"}))
        zf.writestr("config.json", json.dumps(cfg))


# canonical (class, field) <-> PyTorch-side (class, field), translated to canonical vocabulary
SHARED = [
    ((can.ModelConfig, "N"), (pt.DataConfig, "N"), None),
    ((can.ModelConfig, "gridsize"), (pt.DataConfig, "grid_size"), translate_grid_size),
    ((can.ModelConfig, "n_filters_scale"), (pt.ModelConfig, "n_filters_scale"), None),
    ((can.ModelConfig, "model_type"), (pt.ModelConfig, "mode"), translate_mode),
    ((can.ModelConfig, "amp_activation"), (pt.ModelConfig, "amp_activation"), translate_activation),
    ((can.ModelConfig, "object_big"), (pt.ModelConfig, "object_big"), None),
    ((can.ModelConfig, "probe_big"), (pt.ModelConfig, "probe_big"), None),
    ((can.ModelConfig, "probe_mask"), (pt.ModelConfig, "probe_mask"), None),
    ((can.ModelConfig, "pad_object"), (pt.ModelConfig, "pad_object"), None),
    ((can.ModelConfig, "probe_scale"), (pt.DataConfig, "probe_scale"), None),
    ((can.ModelConfig, "gaussian_smoothing_sigma"), (pt.ModelConfig, "gaussian_smoothing_sigma"), None),
    ((can.TrainingConfig, "neighbor_count"), (pt.DataConfig, "K"), None),
    ((can.InferenceConfig, "neighbor_count"), (pt.DataConfig, "K"), None),
    ((can.TrainingConfig, "nphotons"), (pt.DataConfig, "nphotons"), None),
    ((can.TrainingConfig, "nepochs"), (pt.TrainingConfig, "epochs"), None),
    ((can.TrainingConfig, "batch_size"), (pt.TrainingConfig, "batch_size"), None),
    ((can.TrainingConfig, "nll_weight"), (pt.TrainingConfig, "nll"), lambda v: 1.0 if v else 0.0),
    ((can.TrainingConfig, "torch_loss_mode"), (pt.TrainingConfig, "torch_loss_mode"), None),
    ((can.TrainingConfig, "intensity_scale_trainable"), (pt.ModelConfig, "intensity_scale_trainable"), None),
    ((can.TrainingConfig, "n_groups"), (pt.TrainingConfig, "n_groups"), None),
    ((can.TrainingConfig, "n_subsample"), (pt.DataConfig, "n_subsample"), None),
    ((can.TrainingConfig, "subsample_seed"), (pt.DataConfig, "subsample_seed"), None),
    ((can.TrainingConfig, "output_dir"), (pt.TrainingConfig, "output_dir"), None),
    ((can.InferenceConfig, "stitch_weighting"), (pt.InferenceConfig, "patch_weighting"), None),
    ((PyTorchExecutionConfig, "inference_batch_size"), (pt.InferenceConfig, "batch_size"), None),
]


def _default(cls, name):
    return can.spec_map(cls)[name].default


@pytest.mark.parametrize("canonical, pytorch, translate", SHARED,
                         ids=[f"{c[0].__name__}.{c[1]}" for c, _, _ in SHARED])
def test_shared_concepts_share_defaults(canonical, pytorch, translate):
    pt_value = _default(*pytorch)
    assert (translate(pt_value) if translate else pt_value) == _default(*canonical)


def test_brief_defaults():
    m, t = can.ModelConfig(), can.TrainingConfig()
    d, pm, ptt = pt.DataConfig(), pt.ModelConfig(), pt.TrainingConfig()
    assert (t.neighbor_count, d.K) == (4, 4)
    assert (m.probe_scale, d.probe_scale) == (4.0, 4.0)
    assert (t.nphotons, d.nphotons) == (1e9, 1e9)
    assert (m.object_big, pm.object_big, m.probe_big, pm.probe_big) == (True, True, True, True)
    assert (m.amp_activation, pm.amp_activation) == ("sigmoid", "sigmoid")
    assert (m.gridsize, d.grid_size, d.C) == (1, (1, 1), 1)
    assert (m.n_filters_scale, pm.n_filters_scale) == (2, 2)
    assert (t.nepochs, ptt.epochs, t.batch_size, ptt.batch_size) == (50, 50, 16, 16)


def test_default_pt_configs_bridge_to_default_canonical():
    from ptycho_engine.config import bridge

    assert bridge.to_model_config(pt.DataConfig(), pt.ModelConfig()) == can.ModelConfig()


def test_legacy_registry_defaults_agree_with_canonical():
    from ptycho_engine.config.params import DEFAULT_CFG, update_legacy_dict

    written = update_legacy_dict({}, can.TrainingConfig(n_groups=1))
    for key, value in written.items():
        if key in DEFAULT_CFG and key != "n_groups":
            assert DEFAULT_CFG[key] == value, key
