"""Pty-chi's LSQML on our scans: the iterative solver users compare refinement against.

Benchmark-only: Pty-chi is never a dependency of the engine. Install it into the project's venv
with (its torchvision requirement would pull a CUDA torch; the shim in ``lsqml_shim/`` stands in
for the one torchvision function it imports):

    .venv/bin/pip install -c constraints.txt --no-deps "ptychi==2.2.0"
    .venv/bin/pip install -c constraints.txt pandas "pydantic>=2,<3" scikit-learn "matplotlib>=3.10.6"

Conventions are matched, not assumed: :func:`calibration` simulates one pattern with Pty-chi's own
forward model and with ours and returns the intensity factor and the sub-pixel position offset
between them, which :func:`lsqml` then applies to the data and positions it hands over.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SHIM = Path(__file__).resolve().parent / "lsqml_shim"
REPO = Path(__file__).resolve().parent.parent


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SHIM), str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def available() -> tuple[bool, str]:
    """Whether Pty-chi can be imported (in a child process, with the torchvision shim), and why not.

    Why a child process: the shim must not be seen by Lightning/torchmetrics in this process, and
    Pty-chi changes torch's default device process-wide.
    """
    r = subprocess.run([sys.executable, "-c", "import ptychi.api"], env=_child_env(), capture_output=True, text=True)
    return (r.returncode == 0), r.stderr.strip().splitlines()[-1] if r.returncode else ""


def run_lsqml(diffraction: np.ndarray, pos_canvas: np.ndarray, start: np.ndarray, probe: np.ndarray, epochs: int,
              **options: Any) -> dict[str, Any]:
    """:func:`lsqml` (after :func:`calibration` on the start object) in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inp, diffraction=np.asarray(diffraction, np.float32), pos=pos_canvas, start=start, probe=probe,
                 epochs=epochs, options=json.dumps(options))
        r = subprocess.run([sys.executable, "-m", "benchmarks.lsqml", str(inp), str(out)], env=_child_env(),
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"LSQML child failed: {r.stderr[-2000:]}")
        with np.load(out) as z:
            return {k: z[k] for k in z.files}


def _task(intensities: np.ndarray, obj: np.ndarray, probe: np.ndarray, pos_canvas: np.ndarray, *,
          batch_size: int, optimize: bool, noise: str = "gaussian", refine_probe: bool = False,
          refine_positions: bool = False) -> Any:
    import ptychi.api as api
    from ptychi.api.task import PtychographyTask

    opts = api.LSQMLOptions()
    opts.object_options.pixel_size_m = 1e-8
    opts.object_options.optimizable = optimize
    opts.object_options.optimizer = api.Optimizers.SGD
    opts.object_options.step_size = 1
    opts.object_options.patch_interpolation_method = api.PatchInterpolationMethods.BILINEAR  # as ours
    opts.object_options.determine_position_origin_coords_by = api.ObjectPosOriginCoordsMethods.SPECIFIED
    opts.object_options.position_origin_coords = np.zeros(2)
    opts.probe_options.optimizable = optimize and refine_probe
    opts.probe_options.optimizer = api.Optimizers.SGD
    opts.probe_options.step_size = 1
    opts.probe_position_options.optimizable = optimize and refine_positions
    opts.reconstructor_options.default_device = api.Devices.CPU
    opts.reconstructor_options.noise_model = (api.NoiseModels.GAUSSIAN if noise == "gaussian"
                                              else api.NoiseModels.POISSON)
    opts.reconstructor_options.batch_size = int(batch_size)
    return PtychographyTask(opts, diffraction_data=np.ascontiguousarray(intensities, dtype=np.float32),
                            object_data=np.ascontiguousarray(obj, dtype=np.complex64)[None],
                            probe_data=np.ascontiguousarray(probe, dtype=np.complex64)[None, None],
                            probe_position_x_px=pos_canvas[:, 0].astype(np.float32),
                            probe_position_y_px=pos_canvas[:, 1].astype(np.float32))


def calibration(obj: np.ndarray, probe: np.ndarray, pos_canvas: np.ndarray) -> tuple[float, np.ndarray]:
    """(c, shift): Pty-chi intensity = c * our |A|^2, and Pty-chi position = ours + shift [x, y].

    Simulates the first few patterns both ways and picks, among half-pixel offsets, the one whose
    Pty-chi patterns match ours best.
    """
    import torch

    from ptycho_engine.physics.forward import forward_amplitude
    from ptycho_engine.physics.shifts import extract_patches

    pos = pos_canvas[:4]
    N = probe.shape[-1]
    ours = forward_amplitude(extract_patches(torch.from_numpy(obj.astype(np.complex64)), torch.from_numpy(pos), N),
                             torch.from_numpy(probe.astype(np.complex64))).numpy() ** 2
    best = (np.inf, 1.0, np.zeros(2))
    for sx in (-0.5, 0.0, 0.5):
        for sy in (-0.5, 0.0, 0.5):
            shift = np.array([sx, sy])
            task = _task(np.ones((len(pos), N, N)), obj, probe, pos + shift, batch_size=len(pos), optimize=False)
            with torch.no_grad():
                theirs = task.reconstructor.forward_model.forward(torch.arange(len(pos))).detach().cpu().numpy()
            theirs = np.fft.fftshift(theirs, axes=(-2, -1))
            c = float((theirs * ours).sum() / (ours * ours).sum())
            err = float(np.abs(theirs - c * ours).sum() / np.abs(theirs).sum())
            if err < best[0]:
                best = (err, c, shift)
    torch.set_default_device("cpu")
    if best[0] > 0.05:
        raise RuntimeError(f"Pty-chi's forward model does not match ours (relative error {best[0]:.3g})")
    return best[1], best[2]


def lsqml(diffraction: np.ndarray, pos_canvas: np.ndarray, start: np.ndarray, probe: np.ndarray, epochs: int, *,
          batch_size: int = 32, calib: tuple[float, np.ndarray] | None = None, noise: str = "gaussian",
          refine_probe: bool = False, refine_positions: bool = False) -> dict[str, Any]:
    """Run LSQML for ``epochs`` from ``start`` (canvas frame); returns the object, probe, positions, time."""
    import torch

    c, shift = calib if calib is not None else (1.0, np.zeros(2))
    intensities = c * np.asarray(diffraction, dtype=np.float64) ** 2
    task = _task(intensities, start, probe,
                 pos_canvas + shift, batch_size=batch_size, optimize=True, noise=noise,
                 refine_probe=refine_probe, refine_positions=refine_positions)
    t0 = time.perf_counter()
    task.run(n_epochs=int(epochs))
    seconds = time.perf_counter() - t0
    obj = task.get_data_to_cpu("object", as_numpy=True)[0]
    probe_out = task.get_data_to_cpu("probe", as_numpy=True)[0, 0]
    pos_y = task.get_data_to_cpu("probe_positions", as_numpy=True)
    torch.set_default_device("cpu")
    return {"object": np.asarray(obj), "probe": np.asarray(probe_out), "positions_raw": np.asarray(pos_y),
            "seconds": seconds}


def _child(inp: Path, out: Path) -> None:
    with np.load(inp) as z:
        d = {k: z[k] for k in z.files}
    options = json.loads(str(d["options"]))
    lit = np.abs(d["start"]) > 0
    calib = calibration(np.where(lit, d["start"], 0), d["probe"], d["pos"])
    res = lsqml(d["diffraction"], d["pos"], d["start"], d["probe"], int(d["epochs"]), calib=calib, **options)
    np.savez(out, object=res["object"], probe=res["probe"], positions=res["positions_raw"],
             seconds=res["seconds"], intensity_factor=calib[0], position_shift=calib[1])


if __name__ == "__main__":
    _child(Path(sys.argv[1]), Path(sys.argv[2]))
