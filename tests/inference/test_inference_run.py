"""run_inference end to end with tiny trained models: files, shapes, events, coverage, errors, cancel."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from ptycho_engine.events import CancelledError, CancelToken, LogLine, RunFinished, StepProgress
from ptycho_engine.inference import InferenceResult, run_inference

RESULT_FILES = ("reconstruction.npz", "amplitude.png", "phase.png")


def _result_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith(".write-test"))


def test_trained_model_writes_complete_run_directory(model_gs1, infer_data, tmp_path, make_payload, events):
    out = tmp_path / "recon"
    payload = make_payload(model_gs1, infer_data["test"], out, inference_batch_size=8)
    result = run_inference(payload, on_event=events)

    assert isinstance(result, InferenceResult)
    assert result.output_dir == out
    for name in RESULT_FILES + ("metrics.json", "comparison.png", "inference_config.json"):
        assert (out / name).is_file(), name
    assert {"reconstruction", "amplitude_png", "phase_png", "metrics", "comparison_png", "config"} <= set(result.files)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    with np.load(out / "reconstruction.npz", allow_pickle=False) as npz:
        assert set(npz.files) == {"object", "amplitude", "phase", "origin_x", "origin_y", "weight"}
        obj = npz["object"]
        assert obj.dtype == np.complex64 and obj.ndim == 2
        H, W = obj.shape
        for key in ("amplitude", "phase", "weight"):
            assert npz[key].shape == (H, W) and npz[key].dtype == np.float32
        np.testing.assert_array_equal(obj, result.object)
        np.testing.assert_allclose(npz["amplitude"], np.abs(obj), rtol=1e-6)
        assert float(npz["origin_x"]) == result.origin_x and float(npz["origin_y"]) == result.origin_y
    # the canvas covers every patch: scan extent + N (stitching adds a 1 px margin)
    x = np.load(infer_data["test"])["xcoords"]
    y = np.load(infer_data["test"])["ycoords"]
    assert result.origin_x <= x.min() - 32 and result.origin_y <= y.min() - 32
    assert result.origin_x + W >= x.max() + 32 and result.origin_y + H >= y.max() + 32
    assert np.all(np.isfinite(result.object))
    assert np.all(np.abs(result.phase) <= np.pi + 1e-6)
    covered = result.weight > 0.1 * result.weight.max()
    assert result.amplitude[covered].min() > 0

    for png in ("amplitude.png", "phase.png"):
        img = matplotlib.image.imread(out / png)
        assert img.shape[:2] == (H, W)

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(result.metrics))  # what is returned is what was written
    for part in ("amplitude", "phase"):
        m = metrics[part]
        assert -1.0 <= m["ssim"] <= 1.0
        assert m["mae"] >= 0 and m["mse"] >= 0
        assert m["psnr_db"] is None or 0 < m["psnr_db"] < 200
        assert m["frc"]["resolution_px"] >= 2.0
    assert metrics["amplitude_ssim"] == metrics["amplitude"]["ssim"]
    assert metrics["phase_frc_resolution_px"] == metrics["phase"]["frc"]["resolution_px"]
    region = metrics["region"]
    assert region["covered_share"] > 0.9
    ref = region["reference"]
    assert 0 <= ref["row0"] < ref["row1"] <= 128 and 0 <= ref["col0"] < ref["col1"] <= 128

    steps = events.of(StepProgress)
    assert [s.step for s in steps] == list(range(1, 5))  # 30 groups in batches of 8
    assert all(s.total_steps == 4 for s in steps)
    assert events.of(LogLine)
    assert isinstance(events[-1], RunFinished) and events[-1].status == "completed"
    config = json.loads((out / "inference_config.json").read_text())
    assert config["run"]["n_groups"] == 30 and config["run"]["batch_size"] == 8


def test_gridsize2_uses_every_pattern_when_n_groups_is_none(model_gs2, infer_data, tmp_path, make_payload):
    payload = make_payload(model_gs2, infer_data["test"], tmp_path / "gs2")
    assert payload.tf_inference_config.n_groups is None
    result = run_inference(payload)
    assert result.n_patterns == 30  # every pattern of the scan is in at least one group
    assert result.n_groups == 30
    assert np.all(np.isfinite(result.object))
    assert result.metrics is not None and -1 <= result.metrics["phase"]["ssim"] <= 1


def test_n_groups_and_subsample_limit_the_patterns_used(model_gs1, infer_data, tmp_path, make_payload):
    payload = make_payload(model_gs1, infer_data["test"], tmp_path / "few", {"n_groups": 10})
    assert run_inference(payload).n_patterns == 10
    payload = make_payload(model_gs1, infer_data["test"], tmp_path / "sub",
                                     {"n_subsample": 12, "subsample_seed": 3})
    assert run_inference(payload).n_patterns == 12


def test_scan_without_reference_writes_no_metrics_and_removes_stale_ones(model_gs1, infer_data, tmp_path, make_payload):
    out = tmp_path / "noref"
    out.mkdir()
    (out / "metrics.json").write_text("{}")  # left by an earlier run on another scan
    result = run_inference(make_payload(model_gs1, infer_data["no_ref"], out))
    assert result.metrics is None
    assert "metrics" not in result.files
    assert not (out / "metrics.json").exists()
    assert all((out / name).is_file() for name in RESULT_FILES)


def test_different_N_scan_is_refused_by_the_factory(model_gs1, infer_data, tmp_path, make_payload):
    from ptycho_engine.config.schema import ConfigError

    with pytest.raises(ConfigError, match=r"128x128.*N=64"):
        make_payload(model_gs1, infer_data["n128"], tmp_path / "n128")


def test_N_mismatch_is_caught_by_run_inference_itself(model_gs1, infer_data, tmp_path, make_payload, make_scan, events):
    """A payload built for a matching scan whose file was then replaced by one of another N."""
    scan = tmp_path / "swap.npz"
    make_scan(scan, n=10, seed=5)
    out = tmp_path / "swap-out"
    payload = make_payload(model_gs1, scan, out)
    make_scan(scan, n=6, N=128, size=256, seed=6)
    with pytest.raises(ValueError, match=r"swap\.npz has 128x128 diffraction patterns.*N=64"):
        run_inference(payload, on_event=events)
    assert events[-1] == RunFinished(status="failed", output_dir=str(out), message=events[-1].message)
    assert _result_files(out) == []


def test_gridsize_mismatch_between_payload_and_model_is_an_error(model_gs1, model_gs2, infer_data, tmp_path,
                                                                 make_payload):
    payload = make_payload(model_gs1, infer_data["test"], tmp_path / "g")
    payload.tf_inference_config = dataclasses.replace(payload.tf_inference_config,
                                                      model_path=model_gs2 / "wts.h5.zip")
    with pytest.raises(ValueError, match=r"gridsize=1.*gridsize=2"):
        run_inference(payload)


def test_corrupt_archive_raises_the_archive_error(model_gs1, infer_data, tmp_path, make_payload):
    from ptycho_engine.archive import ArchiveError

    bad_dir = tmp_path / "bad-model"
    bad_dir.mkdir()
    good = (model_gs1 / "wts.h5.zip").read_bytes()
    (bad_dir / "wts.h5.zip").write_bytes(good)
    out = tmp_path / "bad-out"
    payload = make_payload(bad_dir, infer_data["test"], out)
    (bad_dir / "wts.h5.zip").write_bytes(good[: len(good) // 2])  # truncated after the payload was made
    with pytest.raises(ArchiveError):
        run_inference(payload)
    assert _result_files(out) == []


def test_unwritable_output_dir_fails_before_any_work(model_gs1, infer_data, tmp_path, monkeypatch, make_payload):
    import ptycho_engine.archive as archive

    payload = make_payload(model_gs1, infer_data["test"], tmp_path / "ok")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    payload.tf_inference_config = dataclasses.replace(payload.tf_inference_config, output_dir=blocker / "out")

    def must_not_load(*_a, **_k):
        raise AssertionError("the archive was loaded before the output directory was checked")

    monkeypatch.setattr(archive, "load_archive", must_not_load)
    with pytest.raises(PermissionError, match="not writable"):
        run_inference(payload)


def test_cancel_mid_way_writes_nothing_and_keeps_previous_results(model_gs1, infer_data, tmp_path, make_payload,
                                                                  events):
    out = tmp_path / "cancel"
    payload = make_payload(model_gs1, infer_data["test"], out, inference_batch_size=4)
    run_inference(payload)  # a complete earlier run in the same directory
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    token = CancelToken()

    def on_event(event):
        events(event)
        if isinstance(event, StepProgress) and event.step == 2:
            token.cancel()

    with pytest.raises(CancelledError):
        run_inference(payload, on_event=on_event, cancel=token)
    steps = events.of(StepProgress)
    assert [s.step for s in steps] == [1, 2] and steps[0].total_steps == 8  # stopped within one batch
    assert isinstance(events[-1], RunFinished) and events[-1].status == "cancelled"
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # no file replaced, none half-written, no temp files left


def test_cancel_before_start_in_a_fresh_directory_leaves_it_empty(model_gs1, infer_data, tmp_path, make_payload):
    out = tmp_path / "fresh"
    payload = make_payload(model_gs1, infer_data["test"], out)
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        run_inference(payload, cancel=token)
    assert _result_files(out) == []
