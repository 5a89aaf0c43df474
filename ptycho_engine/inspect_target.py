"""Plain-text descriptions of scans, model archives and run directories (``ptycho-engine inspect``)."""
from __future__ import annotations

import json
from pathlib import Path

from .runs import ARCHIVE_NAME, load_run


def describe(target: Path) -> str:
    """Describe whatever ``target`` is; raises FileNotFoundError / DataContractError / ArchiveError."""
    from .io.ptychodus_batch import is_batch_folder

    if target.is_dir() and not is_batch_folder(target):
        return describe_run(target)
    if not target.exists():
        raise FileNotFoundError(f"No such file or directory: {target}")
    if target.name.endswith(".zip"):
        return describe_archive(target)
    return describe_scan(target)


def describe_scan(path: Path) -> str:
    from .api import load_scan  # any supported format (ptychodus folders and products via the scan cache)

    summary = load_scan(path).summary()
    lines = [
        f"scan: {path}",
        f"  patterns: {summary.n_patterns} of {summary.N}x{summary.N} pixels",
        f"  probe: {summary.probe_shape}",
        f"  positions: x {summary.x_range[0]:.1f}..{summary.x_range[1]:.1f}, "
        f"y {summary.y_range[0]:.1f}..{summary.y_range[1]:.1f} (object pixels)",
        f"  ground truth object: {'yes' if summary.has_ground_truth else 'no'}",
        f"  nphotons: {summary.nphotons if summary.nphotons is not None else 'not recorded'}"
        + (f" (from {summary.nphotons_source})" if summary.nphotons_source else ""),
    ]
    if summary.source_format not in (None, "npz"):
        lines.insert(1, f"  format: {summary.source_format} (converted once into {summary.path})")
    if summary.geometry:
        lines.append("  geometry: " + ", ".join(f"{k} {v:.6g}" for k, v in summary.geometry.items()))
    if summary.n_bad_pixels:
        lines.append(f"  bad pixels: {summary.n_bad_pixels} masked")
    lines += [f"  warning: {w}" for w in summary.warnings]
    return "\n".join(lines)


def describe_archive(path: Path) -> str:
    from .archive import read_archive_config, read_manifest

    manifest = read_manifest(path)
    config = read_archive_config(path)
    return "\n".join([
        f"model archive: {path}",
        "  manifest: " + json.dumps(manifest, sort_keys=True),
        "  model: " + json.dumps(config.get("model", {}), sort_keys=True, default=str),
    ])


def describe_run(path: Path) -> str:
    record = load_run(path)
    lines = [f"run directory: {path}"]
    if record.archive_path:
        lines.append(describe_archive(record.archive_path))
    if record.history:
        last = record.history[-1]
        lines.append(f"  epochs: {len(record.history)}; last train loss {last.get('train_loss')}, "
                     f"val loss {last.get('val_loss')}")
    if record.reconstruction:
        obj = record.reconstruction.get("object")
        if obj is not None:
            lines.append(f"  reconstruction: {obj.shape[1]}x{obj.shape[0]} pixels")
    if record.metrics:
        from .metrics.evaluate import HEADLINE_KEYS

        shown = {k: record.metrics[k] for k in HEADLINE_KEYS if k in record.metrics}
        lines.append("  metrics: " + json.dumps(shown))
    if len(lines) == 1:
        lines.append(f"  (nothing recognised: no {ARCHIVE_NAME}, history.json or reconstruction.npz)")
    return "\n".join(lines)
