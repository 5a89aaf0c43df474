"""The training scans of a run: each validated, grouped and normalised on its own, then mixed.

Why per scan: scans taken with different probes or exposures have different amplitude units and
photon counts. Each scan s keeps its own statistics -- input scale a_s and counts scale c_s, the
same formulas as a one-scan run -- and its amplitudes are expressed in the first scan's units,
x' = x a_s / a_0, so the network (whose input scale is a_0) sees every scan normalised by its own
statistics, and the Poisson loss still counts the scan's own photons with c'_s = c_s (a_0/a_s)^2
(c'_s x'^2 = c_s x^2). Items then carry (scan index, c'_s); the physics uses the scan's probe from
a bank (``scan_probes``) whose entries are scaled by g_s / g_0, the gain each scan calibrates to
on its own, so one trainable gain fits every scan.

A run with one scan and no validation scan takes exactly the one-scan path (plain 3-tuples, the
model's probe and counts scale): its results are bitwise those of earlier versions.

nphotons: the first scan uses the resolved ``nphotons``; another scan uses its own metadata value
unless the user set ``nphotons`` explicitly (then it applies to all), else the resolved value.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from .data import GroupDataset, GroupedScan, build_groups, split_groups

#: items per scan used to calibrate its gain (as many as the one-scan path uses)
CALIBRATION_ITEMS = 64


@dataclass
class PreparedScan:
    """One scan of the run, grouped, with its statistics (a_s, c_s) in the file's units.

    ``train_ids`` are the groups its statistics and gain calibration use: the training groups of a
    training scan, every group of the validation scan (whose ``val_ids`` stay empty).
    """

    index: int
    path: Path
    scan: Any  # ScanData
    grouped: GroupedScan
    train_ids: np.ndarray
    val_ids: np.ndarray
    nphotons: float
    input_scale: float = 0.0
    counts_scale: float = 0.0
    role: str = "train"  # 'train' or 'validation'

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else f"scan {self.index}"


class ScanGroupDataset(Dataset):
    """Groups of one scan in a mixed run: (x a_s/a_0, rel, indices, scan index, c'_s)."""

    def __init__(self, grouped: GroupedScan, ids: np.ndarray, scan_index: int, amplitude_factor: float,
                 counts_scale: float) -> None:
        self.groups = GroupDataset(grouped, ids)
        self.scan_index = int(scan_index)
        self.amplitude_factor = float(amplitude_factor)
        self.counts_scale = float(counts_scale)

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        x, rel, idx = self.groups[i]
        if self.amplitude_factor != 1.0:
            x = x * self.amplitude_factor
        return (x, rel, idx, torch.tensor(self.scan_index, dtype=torch.int64),
                torch.tensor(self.counts_scale, dtype=torch.float32))


@dataclass
class ScanSet:
    """Every scan of a run; scan 0 sets the model's units. ``validation`` is the separate scan, if any."""

    scans: list[PreparedScan]
    validation: PreparedScan | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def first(self) -> PreparedScan:
        return self.scans[0]

    @property
    def mixed(self) -> bool:
        """Whether items need per-scan probes and counts (more than one scan, or a validation scan)."""
        return len(self.scans) > 1 or self.validation is not None

    @property
    def bank(self) -> list[PreparedScan]:
        """The scans in probe-bank order: training scans, then the validation scan."""
        return self.scans + ([self.validation] if self.validation is not None else [])

    def amplitude_factor(self, s: PreparedScan) -> float:
        return 1.0 if s.index == 0 else s.input_scale / self.first.input_scale

    def item_counts_scale(self, s: PreparedScan) -> float:
        """c'_s: the counts scale in scan-0 amplitude units."""
        if s.index == 0:
            return s.counts_scale
        return s.counts_scale * (self.first.input_scale / s.input_scale) ** 2

    def dataset(self, s: PreparedScan, ids: np.ndarray) -> Dataset:
        if not self.mixed:
            return GroupDataset(s.grouped, ids)
        return ScanGroupDataset(s.grouped, ids, s.index, self.amplitude_factor(s), self.item_counts_scale(s))

    def train_dataset(self) -> Dataset:
        parts = [self.dataset(s, s.train_ids) for s in self.scans]
        return parts[0] if len(parts) == 1 else ConcatDataset(parts)

    def val_dataset(self) -> Dataset | None:
        if self.validation is not None:
            return self.dataset(self.validation, self.validation.train_ids)
        parts = [self.dataset(s, s.val_ids) for s in self.scans if len(s.val_ids)]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else ConcatDataset(parts)

    def calibration_batch(self, s: PreparedScan) -> list[torch.Tensor]:
        """The first items of a scan's groups, collated (what its gain is calibrated on)."""
        ds = self.dataset(s, s.train_ids)
        return torch.utils.data.default_collate([ds[i] for i in range(min(len(ds), CALIBRATION_ITEMS))])

    def n_train(self) -> int:
        return sum(len(s.train_ids) for s in self.scans)

    def n_val(self) -> int:
        if self.validation is not None:
            return len(self.validation.train_ids)
        return sum(len(s.val_ids) for s in self.scans)


def _groups_cfg(cfg: Any, n_patterns: int) -> Any:
    """``cfg`` with n_groups clamped to a scan's positions (n_groups is per scan; no oversampling)."""
    n_groups = getattr(cfg, "n_groups", None)
    if n_groups is not None and n_groups > n_patterns and not getattr(cfg, "enable_oversampling", False):
        return dataclasses.replace(cfg, n_groups=n_patterns)
    return cfg


def scan_nphotons(scan: Any, index: int, resolved: float, explicit: bool) -> float:
    """The photon count of one scan (see the module docstring)."""
    if index == 0 or explicit:
        return float(resolved)
    own = scan.nphotons
    return float(own) if own is not None else float(resolved)


def prepare_scans(cfg: Any, open_scan: Callable[[Path], Any], nphotons_explicit: bool,
                  check: Callable[[Any, Any], None] | None = None) -> ScanSet:
    """Open, check, group and split every training scan (and the validation scan).

    ``open_scan(path) -> ScanData`` validates each file by the data contract; ``check(cfg, scan)``
    adds run-level checks (e.g. N against the configuration). Scans whose pattern size or probe
    shape differs from the first are refused with a DataContractError naming both files.
    """
    from ..data.scan_set import ScanGeometry, check_compatible

    files = list(cfg.training_files) if hasattr(cfg, "training_files") else [Path(cfg.train_data_file)]
    val_file = getattr(cfg, "validation_data_file", None)
    resolved = float(cfg.nphotons)
    seed = int(cfg.seed)
    fraction = 0.0 if val_file is not None else float(cfg.validation_fraction)
    out = ScanSet(scans=[])
    first_geometry: ScanGeometry | None = None

    def load(path: Path, index: int, role: str) -> PreparedScan:
        nonlocal first_geometry
        scan = open_scan(Path(path))
        geometry = ScanGeometry(Path(path), scan.N, tuple(scan.probe.shape))
        if first_geometry is None:
            first_geometry = geometry
        else:
            check_compatible(first_geometry, geometry)
        if check is not None:
            check(cfg, scan)
        group_cfg = _groups_cfg(cfg, scan.n_patterns) if (len(files) > 1 or role == "validation") else cfg
        if group_cfg is not cfg:
            out.notes.append(f"{Path(path).name}: n_groups {cfg.n_groups} exceeds its {scan.n_patterns} positions; "
                             f"using {scan.n_patterns}")
        grouped = build_groups(scan, group_cfg)
        if role == "validation":
            train_ids, val_ids = np.arange(grouped.n_groups, dtype=np.int64), np.zeros(0, dtype=np.int64)
        else:
            train_ids, val_ids = split_groups(grouped.n_groups, fraction, seed)
        return PreparedScan(index=index, path=Path(path), scan=scan, grouped=grouped, train_ids=train_ids,
                            val_ids=val_ids, nphotons=scan_nphotons(scan, index, resolved, nphotons_explicit),
                            role=role)

    for i, path in enumerate(files):
        out.scans.append(load(path, i, "train"))
    if val_file is not None:
        out.validation = load(Path(val_file), len(files), "validation")
    return out


def compute_scales(scans: ScanSet) -> None:
    """a_s and c_s of every scan from the patterns its (training) groups use, read in place."""
    from ..model.pinn import counts_scale_from_data, input_scale_from_data

    for s in scans.bank:
        used = GroupDataset(s.grouped, s.train_ids).pattern_indices()  # sorted: memmap-friendly
        s.input_scale = input_scale_from_data(s.scan.diffraction, s.scan.N, indices=used)
        s.counts_scale = counts_scale_from_data(s.scan.diffraction, s.nphotons, indices=used)


@torch.no_grad()
def calibrate_bank(model: Any, scans: ScanSet) -> tuple[float, torch.Tensor | None]:
    """Calibrate the gain (scan 0 sets the model's log_gain, as a one-scan run does) and, for a
    mixed run, the probe bank: each scan's probe times g_s / g_0, its own calibrated gain over
    scan 0's. Returns (log g_0, bank (S, N, N) complex or None)."""
    bank = None
    if scans.mixed:
        entries = []
        for s in scans.bank[1:]:
            batch = scans.calibration_batch(s)
            probe = torch.as_tensor(np.asarray(s.scan.probe), dtype=torch.complex64)
            g_s = model.calibrate_gain(batch[0], batch[1], probe.expand(batch[0].shape[0], -1, -1))
            entries.append((probe, g_s))
        batch = scans.calibration_batch(scans.first)
        g0 = model.calibrate_gain(batch[0], batch[1])
        first = torch.as_tensor(np.asarray(scans.first.scan.probe), dtype=torch.complex64)
        bank = torch.stack([first] + [p * float(np.exp(g - g0)) for p, g in entries])
        return g0, bank
    batch = scans.calibration_batch(scans.first)
    return model.calibrate_gain(batch[0], batch[1]), None


def raw_bank(scans: ScanSet) -> torch.Tensor | None:
    """The uncalibrated probe bank (its shape is what a resumed checkpoint fills in)."""
    if not scans.mixed:
        return None
    return torch.stack([torch.as_tensor(np.asarray(s.scan.probe), dtype=torch.complex64) for s in scans.bank])


def pixel_masks(bank: list[PreparedScan]) -> torch.Tensor | None:
    """(S, N, N) float, 1 = good detector pixel, one per scan of the bank (its ``bad_pixels``, see
    the data contract), so the loss leaves bad pixels out; None when no scan has any."""
    if all(getattr(s.scan, "bad_pixels", None) is None for s in bank):
        return None
    n_side = bank[0].scan.N
    return torch.stack([torch.ones(n_side, n_side) if s.scan.bad_pixels is None
                        else torch.from_numpy(~np.asarray(s.scan.bad_pixels, dtype=bool)).to(torch.float32)
                        for s in bank])


def describe(scans: ScanSet) -> list[str]:
    """One log line per scan: patterns, groups, photons and scales."""
    lines = []
    for s in scans.bank:
        kind = "validation scan" if s.role == "validation" else f"scan {s.index + 1}/{len(scans.scans)}"
        lines.append(f"{kind} {s.name}: {s.scan.n_patterns} patterns, {s.grouped.n_groups} groups "
                     f"({len(s.train_ids) if s.role == 'train' else 0} train / "
                     f"{len(s.val_ids) if s.role == 'train' else len(s.train_ids)} validation), nphotons "
                     f"{s.nphotons:g}, input scale {s.input_scale:.4g}, counts scale {s.counts_scale:.4g}")
    return lines
