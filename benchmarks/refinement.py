"""Physics refinement against Pty-chi's LSQML on held-out simulated scans (N = 64).

Scans (simulated once, cached in the data folder; none was used to train the network):

* ``dense``    - resources/demo_lines_test.npz (lines, disk probe, 1e6 photons, Fermat spiral)
* ``low_dose`` - lines, disk probe, 1e4 photons
* ``sparse``   - lines, disk probe, raster step 17.6 px (0.275 N: ~20 % linear overlap of the
                 ~22 px disk probe; the issue's 0.4 N would leave none), jitter 0.3 step, 1e6 photons
* ``focused``  - lines through a focused, aberrated probe, 1e6 photons

Every scan is re-simulated with its positions on even pixels (:func:`on_even_pixels`), where
Pty-chi's forward model and ours agree exactly; otherwise either solver would be fitting the
other's interpolation. Starts: the network's object (the shipped pretrained model, phase-synchronised stitching, no
fine-tuning) and a flat object. Methods at equal passes: ``ours`` (this engine's refinement),
``lsqml`` (Pty-chi 2.2 LSQML, Gaussian noise model, object only, batch 32, when installed; see
``benchmarks/lsqml.py``). Probe case: the dense scan refined from a blurred and defocused probe
guess (ours and LSQML with probe refinement), against ours with the true probe. Position case: the
dense scan with every position moved by up to ±1 px (uniform), RMS error before/after.

Every SSIM is scored like inference scores it: the stitched weight's well-covered region,
registration, phase offset and ramp removal (``inference.compare``).

    python -m benchmarks.refinement [--quick] [--passes 20] [--only dense,sparse]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import REPO, loadavg, log, machine_info, machine_tag
from .quality import TEST_SPECS as QUALITY_TESTS

PASSES = 20
DATA = Path(__file__).resolve().parent / ".data"
SPECS: dict[str, dict[str, Any]] = {
    # the quality benchmark's held-out low-dose and focused-probe scans
    "low_dose": QUALITY_TESTS["low_dose"],
    "focused": QUALITY_TESTS["focused"],
    # the disk probe is ~22 px wide: a 17.6 px step (0.275 N) leaves ~20 % linear overlap
    "sparse": dict(object_kind="lines", probe_kind="disk", scan_kind="raster", N=64, step=17.6,
                   object_size=200, nphotons=1e6, seed=31, phase="independent"),
}


def focused_probe() -> np.ndarray:
    """The focused, aberrated probe of the quality benchmark's focused training scan (seed 41)."""
    from ptycho_engine.simulate.probes import make_probe

    rng = np.random.default_rng(np.random.SeedSequence(41).spawn(4)[1])
    return make_probe("focused", 64, rng).astype(np.complex64)


def scan_path(name: str, quick: bool) -> Path:
    """The cached benchmark scan ``name`` (positions on even pixels; see :func:`on_even_pixels`)."""
    from ptycho_engine import api
    from ptycho_engine.data.contract import load_scan, save_scan
    from ptycho_engine.simulate import simulate_scan

    path = DATA / f"refine_{'quick' if quick else 'full'}_{name}.npz"
    if path.is_file():
        return path
    if name == "dense" and not quick:
        base = load_scan(api.demo_test_dataset_path())
    else:
        spec = dict(SPECS.get(name, SPECS["low_dose"] | {"nphotons": 1e6, "seed": 8}))
        if quick:
            spec.update(object_size=112, n_positions=64) if "n_positions" in spec else spec.update(object_size=160)
        base = simulate_scan(**spec, probe=focused_probe() if name == "focused" else None)
    DATA.mkdir(parents=True, exist_ok=True)
    save_scan(path, on_even_pixels(base, seed=len(name)))
    return path


def on_even_pixels(scan: Any, seed: int) -> Any:
    """The same object, probe and photon count, re-simulated with positions rounded to even pixels.

    Why: Pty-chi shifts the probe by a position's fractional part and extracts the object at
    rounded positions (round half to even), while our forward model interpolates the object; on
    even integer positions the two forward models agree exactly (checked: intensity factor
    N**2, zero error), so neither solver is fitted to the other's model.
    """
    import dataclasses

    import torch

    from ptycho_engine.physics.forward import photon_scale, poisson_amplitude
    from ptycho_engine.simulate.simulator import forward_patterns

    pos = 2 * np.round(np.stack([scan.xcoords, scan.ycoords], 1) / 2)
    pos = np.unique(pos, axis=0)
    A = forward_patterns(scan.object_guess, scan.probe, pos)
    nphotons = float(scan.metadata.get("physics_parameters", {}).get("nphotons", 1e6))
    X = poisson_amplitude(torch.from_numpy(A), photon_scale(A, nphotons),
                          torch.Generator().manual_seed(seed)).numpy().astype(np.float32)
    return dataclasses.replace(scan, path=None, diffraction=X, xcoords=pos[:, 0].copy(), ycoords=pos[:, 1].copy(),
                               scan_index=np.zeros(len(pos), np.int64))


def network_start(scan: Path, work: Path) -> Any:
    """The shipped model's stitched object for ``scan`` (no refinement)."""
    from ptycho_engine import api
    from ptycho_engine.config.init_model import shipped_model_path

    model_dir = work / "shipped_model"
    if not model_dir.is_dir():
        model_dir.mkdir(parents=True)
        (model_dir / "wts.h5.zip").write_bytes(shipped_model_path().read_bytes())
    return api.infer(api.create_inference_payload(model_dir, scan, work / f"net_{scan.stem}", {"refine_epochs": 0}))


def score(obj: np.ndarray, net: Any, truth: np.ndarray) -> tuple[float, float]:
    from ptycho_engine.inference.compare import compare_with_reference

    weight = getattr(net, "score_weight", None)
    m, _, note = compare_with_reference(obj, net.weight if weight is None else weight, net.origin_x, net.origin_y,
                                        truth)
    if m is None:
        raise RuntimeError(note)
    return round(float(m["amplitude_ssim"]), 4), round(float(m["phase_ssim"]), 4)


def positions_box(pos: np.ndarray, net: Any, margin: float = 8.0) -> np.ndarray:
    """Weight 1 inside the scan positions' bounding box (+ margin): where a sparse scan is scored.

    Why: at low overlap the lit area has gaps, and the well-covered rectangle inference uses for
    dense scans collapses; the gaps are scored too, for every method alike.
    """
    w = np.zeros(net.weight.shape, np.float32)
    lo = np.floor(pos.min(0) - margin - [net.origin_x, net.origin_y]).astype(int).clip(0)
    hi = np.ceil(pos.max(0) + margin - [net.origin_x, net.origin_y]).astype(int)
    w[lo[1]:hi[1], lo[0]:hi[0]] = 1
    return w


def blurred_defocused(probe: np.ndarray) -> np.ndarray:
    """A poor probe guess: Gaussian blur (sigma 2 px) and a quadratic (defocus) phase of ~2 rad at the edge."""
    from scipy.ndimage import gaussian_filter

    N = probe.shape[-1]
    yy, xx = (np.mgrid[:N, :N] - N / 2) / (N / 4)
    blurred = gaussian_filter(probe.real, 2) + 1j * gaussian_filter(probe.imag, 2)
    guess = blurred * np.exp(1j * 0.5 * (xx ** 2 + yy ** 2))
    return (guess * np.sqrt(np.sum(np.abs(probe) ** 2) / np.sum(np.abs(guess) ** 2))).astype(np.complex64)


def run_ours(start: np.ndarray, net: Any, scan: Any, positions: np.ndarray, probe: np.ndarray, passes: int,
             **kw: Any) -> dict[str, Any]:
    from ptycho_engine.inference.refine import refine_object

    t0 = time.perf_counter()
    r = refine_object(start, net.origin_x, net.origin_y, scan.diffraction, np.arange(scan.n_patterns), positions,
                      probe, epochs=passes, tolerance=kw.pop("tolerance", 0.0), **kw)
    return {"object": r.object, "seconds": time.perf_counter() - t0, "passes": r.passes, "result": r}


def run_lsqml(start: np.ndarray, net: Any, scan: Any, positions: np.ndarray, probe: np.ndarray, passes: int,
              **kw: Any) -> dict[str, Any]:
    """LSQML from ``start`` (canvas frame), padded by a pixel where needed so positions stay even."""
    from . import lsqml

    canvas_pos = positions - np.array([net.origin_x, net.origin_y])
    px, py = (int(round(v)) % 2 for v in canvas_pos[0])
    padded = np.pad(start * _scale(start, net, scan, probe), ((py, 0), (px, 0)))
    out = lsqml.run_lsqml(scan.diffraction, canvas_pos + [px, py], padded, probe, passes, **kw)
    out["object"] = np.asarray(out["object"])[py:, px:]
    out["calibration"] = {"intensity_factor": float(out["intensity_factor"]),
                          "position_shift": np.asarray(out["position_shift"]).tolist()}
    out["seconds"] = float(out["seconds"])
    return out


def _scale(start: np.ndarray, net: Any, scan: Any, probe: np.ndarray) -> float:
    """The least-squares amplitude factor our refinement applies first, so both start alike."""
    from ptycho_engine.inference.refine import refine_object

    r = refine_object(start, net.origin_x, net.origin_y, scan.diffraction, np.arange(scan.n_patterns),
                      np.stack([scan.xcoords, scan.ycoords], 1), probe, epochs=1, tolerance=0.0)
    return r.scale


def cases(names: list[str], quick: bool, passes: int, work: Path, with_lsqml: bool) -> list[dict[str, Any]]:
    from ptycho_engine.data.contract import load_scan

    rows: list[dict[str, Any]] = []
    for name in names:
        path = scan_path(name, quick)
        scan = load_scan(path)
        net = network_start(path, work)
        pos = np.stack([scan.xcoords, scan.ycoords], 1)
        if name == "sparse":
            net.score_weight = positions_box(pos, net)
        flat = np.where(net.weight > 0, 0.5, 0).astype(np.complex64)
        starts = {"network": net.object, "flat": flat}
        row: dict[str, Any] = {"scan": name, "n_patterns": scan.n_patterns, "passes": passes,
                               "network_alone": score(net.object, net, scan.object_guess)}
        for sname, start in starts.items():
            res = run_ours(start, net, scan, pos, scan.probe, passes)
            row[f"ours_{sname}"] = score(res["object"], net, scan.object_guess)
            row[f"ours_{sname}_s"] = round(res["seconds"], 1)
            if with_lsqml:
                lq = run_lsqml(start, net, scan, pos, scan.probe, passes)
                row[f"lsqml_{sname}"] = score(lq["object"], net, scan.object_guess)
                row[f"lsqml_{sname}_s"] = round(lq["seconds"], 1)
                row["lsqml_calibration"] = lq["calibration"]
        row["load1"] = loadavg()[0]
        log(f"refinement {name}: {json.dumps({k: v for k, v in row.items() if k != 'lsqml_calibration'})}")
        rows.append(row)
    return rows


def probe_case(quick: bool, passes: int, work: Path, with_lsqml: bool) -> dict[str, Any]:
    from ptycho_engine.data.contract import load_scan

    path = scan_path("dense", quick)
    scan, net = load_scan(path), network_start(path, work)
    pos = np.stack([scan.xcoords, scan.ycoords], 1)
    guess = blurred_defocused(scan.probe)
    true = run_ours(net.object, net, scan, pos, scan.probe, passes)
    fixed = run_ours(net.object, net, scan, pos, guess, passes)
    moved = run_ours(net.object, net, scan, pos, guess, passes, refine_probe=True)
    row = {"true_probe": score(true["object"], net, scan.object_guess),
           "guess_fixed": score(fixed["object"], net, scan.object_guess),
           "guess_refined": score(moved["object"], net, scan.object_guess),
           "guess_refined_s": round(moved["seconds"], 1),
           "probe_guess_error": _probe_error(guess, scan.probe),
           "probe_refined_error": _probe_error(moved["result"].probe[0], scan.probe)}
    if with_lsqml:
        lq = run_lsqml(net.object, net, scan, pos, guess, passes, refine_probe=True)
        row["lsqml_guess_refined"] = score(lq["object"], net, scan.object_guess)
    log(f"refinement probe: {row}")
    return row


def _probe_error(p: np.ndarray, true: np.ndarray) -> float:
    """Relative L2 error after the best complex scale (probe phase and scale are not measured)."""
    c = np.vdot(p, true) / max(np.vdot(p, p).real, 1e-30)
    return round(float(np.linalg.norm(c * p - true) / np.linalg.norm(true)), 4)


def position_case(quick: bool, passes: int, work: Path) -> dict[str, Any]:
    from ptycho_engine.data.contract import load_scan

    path = scan_path("dense", quick)
    scan, net = load_scan(path), network_start(path, work)
    true = np.stack([scan.xcoords, scan.ycoords], 1)
    wrong = true + np.random.default_rng(5).uniform(-1, 1, true.shape)
    fixed = run_ours(net.object, net, scan, wrong, scan.probe, passes)
    moved = run_ours(net.object, net, scan, wrong, scan.probe, passes, refine_positions=True)

    def rms(p: np.ndarray) -> float:
        d = p - true
        return round(float(np.sqrt(np.mean(np.sum((d - d.mean(0)) ** 2, axis=1)))), 4)

    row = {"rms_before_px": rms(wrong), "rms_after_px": rms(moved["result"].positions),
           "ssim_positions_fixed": score(fixed["object"], net, scan.object_guess),
           "ssim_positions_refined": score(moved["object"], net, scan.object_guess),
           "seconds": round(moved["seconds"], 1)}
    log(f"refinement positions: {row}")
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--passes", type=int, default=PASSES)
    ap.add_argument("--only", default="dense,low_dose,sparse,focused,probe,positions")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--work", type=Path, default=DATA / "refine_work")
    args = ap.parse_args(argv)
    from . import lsqml

    with_lsqml, why = lsqml.available()
    if not with_lsqml:
        log(f"refinement: Pty-chi not available ({why}); LSQML columns are left out")
    only = args.only.split(",")
    t0 = time.perf_counter()
    result: dict[str, Any] = {"machine": machine_info(), "passes": args.passes, "quick": args.quick,
                              "lsqml": with_lsqml, "load_start": loadavg()}
    result["scans"] = cases([n for n in ("dense", "low_dose", "sparse", "focused") if n in only], args.quick,
                            args.passes, args.work, with_lsqml)
    if "probe" in only:
        result["probe"] = probe_case(args.quick, args.passes, args.work, with_lsqml)
    if "positions" in only:
        result["positions"] = position_case(args.quick, args.passes, args.work)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    result["load_end"] = loadavg()
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        out = args.out / f"{time.strftime('%Y-%m-%d')}_{machine_tag()}_refinement.json"
        out.write_text(json.dumps(result, indent=1, default=str))
        log(f"refinement: results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
