"""Inference: reconstruct a scan with a trained model (predict patches -> stitch -> write -> score).

Public API (see :mod:`.run`):
    run_inference(payload, on_event=ignore_events, cancel=None) -> InferenceResult
    InferenceResult(output_dir, object, amplitude, phase, metrics, files, origin_x, origin_y, ...)
Building blocks other parts of the engine may reuse (the training preview, benchmarks):
    predict_patches (batched, cancellable prediction of every group), stitch_prediction (the one
    stitching path: weight map from the probe and the model's object support), compare_with_reference.
"""
from __future__ import annotations

from .compare import compare_with_reference, well_covered_box
from .predict import predict_batch, predict_patches
from .run import InferenceResult, run_inference
from .stitch import stitch_prediction, stitch_weight_amplitude

__all__ = [
    "InferenceResult",
    "compare_with_reference",
    "predict_batch",
    "predict_patches",
    "run_inference",
    "stitch_prediction",
    "stitch_weight_amplitude",
    "well_covered_box",
]
