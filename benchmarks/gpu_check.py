"""One-shot check of the CUDA path, for a session that is lent a GPU (not a test: CI has none).

    python -m benchmarks.gpu_check --out /tmp/gpu            # on the GPU machine
    python -m benchmarks.gpu_check --out /tmp/gpu --device cpu   # dry run of the same steps here

For each precision (32-true, 16-mixed, bf16-mixed): simulate a small scan, train 2 epochs with the
real factory and train_model, load the archive on the device and on the CPU and compare their
predictions, and reconstruct a second scan with run_inference on the device. Then the benchmark
suite's throughput rows. Writes gpu_check.json into --out.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ptycho_engine import api
from ptycho_engine.archive import load_archive
from ptycho_engine.config.execution import PyTorchExecutionConfig
from ptycho_engine.data.contract import save_scan
from ptycho_engine.simulate import simulate_scan


def check_precision(out: Path, device: str, precision: str, train: Path, test: Path) -> dict:
    t0 = time.perf_counter()
    exe = PyTorchExecutionConfig(accelerator=device, precision=precision, logger_backend="none")
    payload = api.create_training_payload(train, out / f"run_{precision}", {
        "gridsize": 2, "nepochs": 2, "n_groups": 128, "batch_size": 16}, exe)
    result = api.train(payload)
    on_device = load_archive(result.archive_path, device=device).model
    on_cpu = load_archive(result.archive_path, device="cpu").model
    x, rel = torch.rand(4, 4, 64, 64), (torch.rand(4, 4, 2) - 0.5) * 8
    with torch.no_grad():
        a = on_device(x.to(device), rel.to(device)).cpu()
        b = on_cpu(x, rel)
    inference = api.infer(api.create_inference_payload(out / f"run_{precision}", test, out / f"infer_{precision}",
                                                       {}, PyTorchExecutionConfig(accelerator=device)))
    return {"status": result.status, "train_losses": [row["train_loss"] for row in result.history],
            "max_rel_diff_device_vs_cpu": float((a - b).abs().max() / b.abs().max()),
            "inference_device": getattr(inference, "device", None),
            "amplitude_ssim": (inference.metrics or {}).get("amplitude_ssim"),
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train, test = args.out / "train.npz", args.out / "test.npz"
    save_scan(train, simulate_scan(N=64, n_positions=200, object_size=None, seed=1))
    save_scan(test, simulate_scan(N=64, n_positions=100, object_size=None, seed=2))
    report: dict = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    precisions = ["32-true", "16-mixed", "bf16-mixed"] if args.device == "cuda" else ["32-true", "bf16-mixed"]
    for precision in precisions:
        try:
            report[precision] = check_precision(args.out, args.device, precision, train, test)
        except Exception as exc:  # noqa: BLE001 - record and go on to the next precision
            report[precision] = f"FAILED {type(exc).__name__}: {exc}"
        print(precision, report[precision], flush=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
