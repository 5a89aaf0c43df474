"""--generator / --unroll-steps reach the trained model and its archive; --phase-sync-passes reaches
inference (the config and the stitching call)."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from ptycho_engine import api, cli
from ptycho_engine.archive import load_archive, read_archive_config
from ptycho_engine.config.factory import ConfigError, archive_config_dict
from ptycho_engine.config.overrides import inference_override_fields, training_override_fields
from ptycho_engine.model.network import Generator
from ptycho_engine.model.pinn import PtychoPINN
from ptycho_engine.model.unrolled import UnrolledGenerator

TINY_TRAIN = ["--nepochs", "1", "--n-groups", "4", "--batch-size", "4", "--n-filters-scale", "1",
              "--validation-fraction", "0", "--logger-backend", "none", "--no-enable-checkpointing", "-q"]


@pytest.fixture(scope="module")
def scan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("genflags") / "scan.npz"
    assert cli.main(["simulate", "--output", str(path), "--n-positions", "16", "--object-size", "100",
                     "--seed", "5"]) == cli.EXIT_OK
    return path


@pytest.fixture(scope="module")
def cnn_run(scan_file: Path) -> Path:
    """A real (1 epoch, 4 groups) training run with --generator cnn --unroll-steps 3."""
    out = scan_file.parent / "cnn-run"
    rc = cli.main(["train", "--train-data", str(scan_file), "--output-dir", str(out), "--generator", "cnn",
                   "--unroll-steps", "3", *TINY_TRAIN])
    assert rc == cli.EXIT_OK
    return out


def _training_payload(scan_file: Path, out: Path, *flags: str):
    args = cli.build_parser().parse_args(["train", "--train-data", str(scan_file), "--output-dir", str(out),
                                          *flags])
    overrides = cli.collect_overrides(args, training_override_fields())
    return api.create_training_payload(scan_file, out, overrides, cli_defaults=cli.TRAIN_CLI_DEFAULTS)


@pytest.mark.parametrize("flags, generator, steps", [
    (("--generator", "cnn", "--unroll-steps", "3"), "cnn", 3),
    (("--generator", "unrolled", "--unroll-steps", "3"), "unrolled", 3),
    ((), "unrolled", 10),  # the schema defaults
])
def test_generator_flags_reach_the_training_config_and_model(scan_file, tmp_path, flags, generator, steps):
    payload = _training_payload(scan_file, tmp_path / "o", *flags)
    model_cfg = payload.tf_training_config.model
    assert (model_cfg.generator, model_cfg.unroll_steps) == (generator, steps)
    if flags:
        assert payload.overrides_applied["generator"]["source"] == "override"
        assert payload.overrides_applied["unroll_steps"]["value"] == steps
    archived = archive_config_dict(payload.tf_training_config)["model"]
    assert (archived["generator"], archived["unroll_steps"]) == (generator, steps)
    model = PtychoPINN.from_config(archived, None, api.load_scan(scan_file).probe)
    if generator == "cnn":
        assert type(model.generator) is Generator
    else:
        assert isinstance(model.generator, UnrolledGenerator) and model.generator.step_sizes.numel() == steps


def test_bad_generator_flags_are_usage_errors(scan_file, tmp_path, capsys):
    for flags, name in ((["--generator", "resnet"], "generator"), (["--unroll-steps", "0"], "unroll_steps")):
        rc = cli.main(["train", "--train-data", str(scan_file), "--output-dir", str(tmp_path / "o"), *flags])
        assert rc == cli.EXIT_USAGE
        assert name in capsys.readouterr().err


def test_trained_archive_records_the_generator(cnn_run: Path) -> None:
    archive = cnn_run / "wts.h5.zip"
    cfg = read_archive_config(archive)
    assert cfg["model"]["generator"] == "cnn" and cfg["model"]["unroll_steps"] == 3
    raw = json.loads(zipfile.ZipFile(archive).read("config.json"))
    assert raw["model"]["generator"] == "cnn"  # written, not just defaulted on read
    loaded = load_archive(archive)
    assert type(loaded.model.generator) is Generator and loaded.model.arch["generator"] == "cnn"
    assert not any("step_sizes" in k for k in loaded.model.state_dict())


def _inference_payload(model_dir: Path, scan_file: Path, out: Path, *flags: str):
    args = cli.build_parser().parse_args(["infer", "--model", str(model_dir), "--test-data", str(scan_file),
                                          "--output-dir", str(out), *flags])
    overrides = cli.collect_overrides(args, inference_override_fields())
    return api.create_inference_payload(model_dir, scan_file, out, overrides)


def test_phase_sync_passes_flag_reaches_the_inference_config(cnn_run, scan_file, tmp_path):
    payload = _inference_payload(cnn_run, scan_file, tmp_path / "r0", "--phase-sync-passes", "0")
    assert payload.tf_inference_config.phase_sync_passes == 0
    assert payload.overrides_applied["phase_sync_passes"]["source"] == "override"
    # the model fields come from the archive
    assert payload.tf_inference_config.model.generator == "cnn"
    assert payload.tf_inference_config.model.unroll_steps == 3
    default = _inference_payload(cnn_run, scan_file, tmp_path / "r5")
    assert default.tf_inference_config.phase_sync_passes == 5


@pytest.mark.parametrize("passes", [0, 2])
def test_phase_sync_passes_reaches_the_stitching(cnn_run, scan_file, tmp_path, monkeypatch, passes):
    import ptycho_engine.inference.reconstruct as reconstruct_mod

    seen: list[int] = []
    real = reconstruct_mod.predict_and_stitch

    def spy(*args, **kw):
        seen.append(kw.get("phase_sync_passes"))
        return real(*args, **kw)

    monkeypatch.setattr(reconstruct_mod, "predict_and_stitch", spy)
    out = tmp_path / f"r{passes}"
    rc = cli.main(["infer", "--model", str(cnn_run), "--test-data", str(scan_file), "--output-dir", str(out),
                   "--phase-sync-passes", str(passes), "-q"])
    assert rc == cli.EXIT_OK
    assert seen == [passes]
    assert (out / "reconstruction.npz").is_file()


def test_inference_cannot_switch_the_generator_of_an_archive(cnn_run, scan_file, tmp_path):
    # (the infer command has no model flags; an override through the API or --set is checked)
    with pytest.raises(ConfigError, match="generator"):
        api.create_inference_payload(cnn_run, scan_file, tmp_path / "r", {"generator": "unrolled"})


def test_old_archive_without_generator_resolves_to_cnn_for_inference(cnn_run, scan_file, tmp_path):
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    with zipfile.ZipFile(cnn_run / "wts.h5.zip") as zin, zipfile.ZipFile(old_dir / "wts.h5.zip", "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "config.json":
                cfg = json.loads(data)
                del cfg["model"]["generator"], cfg["model"]["unroll_steps"]
                data = json.dumps(cfg).encode()
            zout.writestr(name, data)
    payload = _inference_payload(old_dir, scan_file, tmp_path / "r")
    assert payload.tf_inference_config.model.generator == "cnn"
    assert payload.overrides_applied["generator"]["source"] == "model_archive"
    assert type(load_archive(old_dir / "wts.h5.zip").model.generator) is Generator
