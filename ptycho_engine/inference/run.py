"""``run_inference(payload)``: reconstruct a scan with a trained model and write the run directory.

Order (cheap checks first, so a mistake costs seconds, not a reconstruction): output directory
writable -> device resolved -> archive loaded strictly -> scan loaded and validated -> N and
gridsize of scan, payload and model agree -> groups built with the training code (every pattern
used when ``n_groups`` is None) -> batched prediction (StepProgress per batch, cancel checked
before each) -> stitching at each patch's absolute position (group centre + rel) -> optional
physics refinement against the scan's patterns (``refine_epochs`` > 0, :mod:`.refine`) -> metrics
against objectGuess when present (of the network's object too when refined) -> files written
atomically.

A cancel raises :class:`~ptycho_engine.events.CancelledError` after a ``RunFinished('cancelled')``
event; it is honoured until the writing starts, so a cancelled run writes nothing. Any other
failure emits ``RunFinished('failed')`` and re-raises.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..events import CancelledError, CancelToken, EventCallback, LogLine, RunFinished, StepProgress, ignore_events


@dataclass
class InferenceResult:
    """What an inference run produced (the arrays are also in ``files['reconstruction']``)."""

    output_dir: Path
    object: np.ndarray  # (H, W) complex64 stitched object
    amplitude: np.ndarray  # (H, W) float32
    phase: np.ndarray  # (H, W) float32, radians
    metrics: dict[str, Any] | None  # evaluate_reconstruction output + region; None without objectGuess
    files: dict[str, Path]
    origin_x: float  # object column coordinate of pixel [0, 0]
    origin_y: float  # object row coordinate of pixel [0, 0]
    weight: np.ndarray | None = field(default=None, repr=False)  # (H, W) stitching weight
    n_patterns: int = 0  # scan patterns used (after subsampling)
    n_groups: int = 0
    device: str = "cpu"
    elapsed_s: float = 0.0
    predict_s: float = 0.0  # time spent predicting patches (for patterns/s)
    refinement: dict[str, Any] | None = None  # what refinement did (None when refine_epochs is 0)
    probe_refined: np.ndarray | None = None  # (N, N), or (modes, N, N), when refinement moved the probe
    positions_initial: np.ndarray | None = None  # (n, 2) [x, y] of the patterns used, when positions moved
    positions_refined: np.ndarray | None = None  # (n, 2) [x, y] after position refinement


def _device(payload: Any) -> str:
    from ..config.execution import resolve_accelerator

    exe = getattr(payload, "execution_config", None)
    return resolve_accelerator(getattr(exe, "accelerator", "auto") or "auto")


def _batch_size(payload: Any, archive_cfg: dict[str, Any]) -> int:
    """execution_config.inference_batch_size, else pt_inference_config.batch_size, else the
    model's training batch size (the documented meaning of 'empty'), else a default."""
    from .predict import DEFAULT_BATCH_SIZE

    for value in (getattr(getattr(payload, "execution_config", None), "inference_batch_size", None),
                  getattr(getattr(payload, "pt_inference_config", None), "batch_size", None),
                  (archive_cfg.get("training") or {}).get("batch_size")):
        if value:
            return int(value)
    return DEFAULT_BATCH_SIZE


def _weighting(payload: Any) -> str:
    cfg = payload.tf_inference_config
    value = getattr(cfg, "stitch_weighting", None)
    if value is None:
        value = getattr(getattr(payload, "pt_inference_config", None), "patch_weighting", None)
    return value or "probe"


def check_geometry(scan: Any, model: Any, cfg: Any, archive: Path) -> None:
    """Scan, payload and model must agree on N and gridsize; the message names all three."""
    file = scan.path
    if scan.N != model.N:
        raise ValueError(f"{file} has {scan.N}x{scan.N} diffraction patterns but the model at {archive} was "
                         f"trained with N={model.N}; reconstruct scans of the size the model was trained on")
    want_N = getattr(cfg.model, "N", model.N)
    if want_N != model.N:
        raise ValueError(f"the inference configuration says N={want_N} but the model at {archive} has N={model.N}; "
                         "rebuild the payload with create_inference_payload")
    want_g = getattr(cfg.model, "gridsize", model.gridsize)
    if want_g != model.gridsize:
        raise ValueError(f"the inference configuration says gridsize={want_g} but the model at {archive} was "
                         f"trained with gridsize={model.gridsize}; rebuild the payload with create_inference_payload")
    C = model.gridsize ** 2
    if scan.n_patterns < C:
        raise ValueError(f"{file} has {scan.n_patterns} patterns but the model's gridsize {model.gridsize} needs "
                         f"at least {C} per group")


def _group(scan: Any, cfg: Any, model: Any) -> Any:
    """Groups of the model's gridsize via the training code (``training.data.build_groups``)."""
    from types import SimpleNamespace

    from ..training.data import build_groups

    view = SimpleNamespace(
        model=SimpleNamespace(gridsize=model.gridsize),
        n_groups=getattr(cfg, "n_groups", None),
        n_subsample=getattr(cfg, "n_subsample", None),
        subsample_seed=getattr(cfg, "subsample_seed", None),
        neighbor_count=getattr(cfg, "neighbor_count", 4),
        enable_oversampling=getattr(cfg, "enable_oversampling", False),
        sequential_sampling=False,
        seed=42,
    )
    try:
        return build_groups(scan, view)
    except ValueError as exc:
        raise ValueError(f"cannot group the patterns of {scan.path}: {exc}") from exc


def _config_record(payload: Any, extra: dict[str, Any]) -> dict[str, Any]:
    try:
        from ..config.factory import payload_to_dict

        out = payload_to_dict(payload)
    except (ImportError, TypeError):
        from ..config.canonical import config_to_dict

        out = {"kind": "inference", "tf_inference_config": config_to_dict(payload.tf_inference_config)}
    out["run"] = extra
    return out


def run_inference(payload: Any, on_event: EventCallback = ignore_events,
                  cancel: CancelToken | None = None) -> InferenceResult:
    """Reconstruct ``payload.tf_inference_config.test_data_file`` with the model at ``model_path``."""
    cfg = payload.tf_inference_config
    out = Path(cfg.output_dir)
    try:
        return _run(payload, cfg, out, on_event, cancel)
    except CancelledError:
        on_event(RunFinished(status="cancelled", output_dir=str(out), message="inference cancelled; nothing written"))
        raise
    except BaseException as exc:
        on_event(RunFinished(status="failed", output_dir=str(out), message=f"{type(exc).__name__}: {exc}"))
        raise


def _run(payload: Any, cfg: Any, out: Path, on_event: EventCallback, cancel: CancelToken | None) -> InferenceResult:
    from ..archive import load_archive
    from ..data.cache import open_scan
    from ..metrics.evaluate import headline_metrics
    from ..training.run import ensure_writable, set_cpu_threads
    from .compare import compare_with_reference
    from .outputs import write_outputs, write_product_output
    from .reconstruct import predict_and_stitch

    t0 = time.monotonic()
    ensure_writable(out)
    device = _device(payload)
    if device == "cpu":
        set_cpu_threads()
    archive = Path(cfg.model_path)
    loaded = load_archive(archive, device=device)
    model = loaded.model
    scan = open_scan(Path(cfg.test_data_file))  # memory-mapped when the scan is larger than ~1 GiB
    check_geometry(scan, model, cfg, archive)
    for note in scan.warnings:
        on_event(LogLine(f"{scan.path.name}: {note}", level="WARNING"))
    if cancel is not None:
        cancel.raise_if_cancelled()

    grouped = _group(scan, cfg, model)
    G, C = grouped.groups.shape
    used = np.unique(grouped.groups)
    from ..io.reference_archive import adapt_to_scan  # a PtychoPINN archive normalises each scan itself

    adapt_to_scan(loaded, scan.diffraction, used)
    if getattr(cfg, "backend", "pytorch") == "tensorflow":  # the same weights, run by Keras (issue 14)
        from ..tf_backend.predict import facade_for

        model = facade_for(model)
        on_event(LogLine(f"TensorFlow backend (archive trained with {loaded.manifest.get('backend', 'pytorch')})"))
    batch_size = _batch_size(payload, loaded.config)
    exe = getattr(payload, "execution_config", None)
    on_event(LogLine(f"model {archive} (N={model.N}, gridsize={model.gridsize}) on {device}; "
                     f"{scan.n_patterns} patterns in {scan.path.name}, {G} groups of C={C} covering "
                     f"{len(used)} patterns; batches of {batch_size}"))

    t_pred = time.monotonic()

    def progress(step: int, total: int) -> None:
        elapsed = time.monotonic() - t_pred
        eta = elapsed / step * (total - step) if step else None
        on_event(StepProgress(epoch=0, step=step, total_steps=total, elapsed_s=elapsed, eta_s=eta))

    # predicted and stitched chunk by chunk: memory stays flat however large the scan
    weighting = _weighting(payload)
    stitched = predict_and_stitch(model, grouped, device, batch_size, probe=scan.probe, weighting=weighting,
                                  arch=getattr(model, "arch", None),
                                  num_workers=int(getattr(exe, "num_workers", 0) or 0),
                                  precision=str(getattr(exe, "precision", "32-true")),
                                  on_batch=progress, cancel=cancel,
                                  phase_sync_passes=int(getattr(cfg, "phase_sync_passes", 0) or 0))
    predict_s = time.monotonic() - t_pred
    rate = len(used) / predict_s if predict_s > 0 else float("inf")
    on_event(LogLine(f"predicted and stitched {G * C} patches in {predict_s:.2f} s ({rate:.1f} scan patterns/s)"))
    obj = network_obj = stitched.object
    refinement, refined = None, {}
    if int(getattr(cfg, "refine_epochs", 0) or 0) > 0:
        obj, refinement, refined = _refine(scan, used, stitched, cfg, device, on_event, cancel)

    def score(image: np.ndarray) -> tuple[dict[str, Any] | None, tuple[np.ndarray, np.ndarray] | None]:
        m, c, note = compare_with_reference(image, stitched.weight, stitched.origin_x, stitched.origin_y,
                                            scan.object_guess)
        if note:
            on_event(LogLine(note, level="WARNING"))
        return m, c

    metrics, crops = None, None
    if scan.object_guess is not None:
        metrics, crops = score(obj)
        if metrics is not None and refinement is not None:
            network_metrics, _ = score(network_obj)
            metrics["network_only"] = None if network_metrics is None else headline_metrics(network_metrics)
            metrics["refinement"] = refinement
    if cancel is not None:
        cancel.raise_if_cancelled()  # last chance: nothing has been written yet

    record = {"archive": str(archive), "device": device, "n_patterns_scan": scan.n_patterns,
              "n_patterns_used": int(len(used)), "n_groups": int(G), "gridsize": int(model.gridsize),
              "batch_size": batch_size, "stitch_weighting": weighting, "canvas_shape": list(obj.shape),
              "origin_x": stitched.origin_x, "origin_y": stitched.origin_y, "predict_s": predict_s,
              "patterns_per_s": rate, "engine_version": loaded.manifest.get("engine_version"),
              "refinement": refinement, "geometry": scan.geometry or None,
              "source": scan.metadata.get("source") if isinstance(scan.metadata.get("source"), dict) else None}
    files = write_outputs(out, obj, stitched.weight, stitched.origin_x, stitched.origin_y, metrics, crops,
                          _config_record(payload, record),
                          network_object=network_obj if refinement is not None else None,
                          geometry=scan.geometry or None, arrays=refined)
    elapsed = time.monotonic() - t0
    result = InferenceResult(output_dir=out, object=obj, amplitude=np.abs(obj).astype(np.float32),
                             phase=np.angle(obj).astype(np.float32), metrics=metrics, files=files,
                             origin_x=stitched.origin_x, origin_y=stitched.origin_y, weight=stitched.weight,
                             n_patterns=int(len(used)), n_groups=int(G), device=device, elapsed_s=elapsed,
                             predict_s=predict_s, refinement=refinement, **refined)
    # the same result as a ptychodus product (refined probe / positions when the result has them)
    files["product_out"] = write_product_output(
        out, result, scan, used, losses=(refinement or {}).get("misfit_per_pass"),
        comments=f"Ptycho Studio reconstruction with the model {archive}"
                 + (f", {refinement.get('epochs')} refinement passes" if refinement else ""))
    if metrics is not None:
        net = metrics.get("network_only")
        before = "" if net is None else (f" (network alone: {net['amplitude_ssim']:.3f}, "
                                         f"{net['phase_ssim']:.3f})")
        on_event(LogLine(f"metrics vs objectGuess: amplitude SSIM {metrics['amplitude']['ssim']:.3f}, "
                         f"phase SSIM {metrics['phase']['ssim']:.3f}{before}"))
    on_event(LogLine(f"inference finished in {elapsed:.1f} s: {obj.shape[0]}x{obj.shape[1]} object written to {out}"))
    on_event(RunFinished(status="completed", output_dir=str(out)))
    return result


def _refine(scan: Any, used: np.ndarray, stitched: Any, cfg: Any, device: str, on_event: EventCallback,
            cancel: CancelToken | None) -> tuple[np.ndarray, dict[str, Any], dict[str, np.ndarray]]:
    """Refine the stitched object against the patterns used (and the probe / positions when asked).

    Returns the object, the record for metrics.json / inference_config.json, and the refined
    arrays for reconstruction.npz (``probe_refined``, ``positions_initial``, ``positions_refined``).
    """
    from .refine import refine_object

    epochs = int(cfg.refine_epochs)
    options = {"tolerance": float(getattr(cfg, "refine_tolerance", 1e-3)),
               "noise_model": str(getattr(cfg, "refine_noise_model", "amplitude")),
               "refine_probe": bool(getattr(cfg, "refine_probe", False)),
               "probe_modes": int(getattr(cfg, "refine_probe_modes", 1) or 1),
               "refine_positions": bool(getattr(cfg, "refine_positions", False))}
    t = time.monotonic()
    moving = [name for name, on in (("probe", options["refine_probe"]), ("positions", options["refine_positions"]))
              if on]
    fixed = [name for name in ("probe", "positions") if name not in moving]
    on_event(LogLine(f"refining the object{''.join(' and ' + m for m in moving)} against {len(used)} measured "
                     f"patterns, at most {epochs} passes ({options['noise_model']} noise model"
                     + (f"; {' and '.join(fixed)} of {scan.path.name} held fixed)" if fixed else ")")))

    def progress(epoch: int, total: int, misfit: float) -> None:
        elapsed = time.monotonic() - t
        on_event(StepProgress(epoch=epoch, step=epoch, total_steps=total, elapsed_s=elapsed,
                              eta_s=elapsed / epoch * (total - epoch), phase="refine"))

    positions = np.stack([np.asarray(scan.xcoords)[used], np.asarray(scan.ycoords)[used]], axis=1)
    result = refine_object(stitched.object, stitched.origin_x, stitched.origin_y, scan.diffraction, used,
                           positions, scan.probe, epochs=epochs, device=device, on_epoch=progress, cancel=cancel,
                           bad_pixels=getattr(scan, "bad_pixels", None), **options)
    info = {"epochs": epochs, "passes": result.passes, "stop_reason": result.stop_reason,
            "misfit_before": result.misfit[0], "misfit_after": result.misfit[-1],
            "misfit_per_pass": [float(m) for m in result.misfit],
            "amplitude_scale": result.scale, "seconds": result.seconds, **options,
            "loss": "mean squared amplitude misfit |F(P*O)| - X over the patterns used"}
    arrays: dict[str, np.ndarray] = {}
    if result.probe is not None:
        arrays["probe_refined"] = result.probe[0] if len(result.probe) == 1 else result.probe
    if result.positions is not None:
        arrays["positions_initial"] = positions
        arrays["positions_refined"] = result.positions
        shift = result.positions - positions
        info["position_shift_rms_px"] = float(np.sqrt(np.mean(np.sum(shift ** 2, axis=1))))
    on_event(LogLine(f"refinement: amplitude misfit {result.misfit[0]:.3g} -> {result.misfit[-1]:.3g} "
                     f"in {result.passes} passes, {result.seconds:.1f} s; {result.stop_reason}"
                     f" (start object scaled by {result.scale:.3g})"))
    # pixels no pattern lit keep the stitched value; elsewhere the refined one
    lit = stitched.weight > 0
    return np.where(lit, result.object, stitched.object).astype(np.complex64), info, arrays
