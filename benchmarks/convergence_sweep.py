"""Convergence sweep behind benchmarks/results/*_convergence_sweep.md: which training settings
learn fastest on CPU. Same math as PinnModule (Adam, compute_loss) in a plain loop, evaluated
in-process through the run_inference path (predict -> stitch -> compare with objectGuess).

usage: python -m benchmarks.convergence_sweep NAME key=value ...   (keys below in DEFAULTS)
"""
import json, sys, time, math, os
from pathlib import Path
from types import SimpleNamespace
import numpy as np, torch


from ptycho_engine.data.contract import load_scan
from ptycho_engine.model.pinn import PtychoPINN, input_scale_from_data, counts_scale_from_data
from ptycho_engine.model.loss import LossWeights, compute_loss
from ptycho_engine.training.data import build_groups, GroupDataset, make_loader, split_groups
from ptycho_engine.inference.predict import predict_patches
from ptycho_engine.inference.stitch import stitch_prediction
from ptycho_engine.inference.compare import compare_with_reference

DEFAULTS = dict(train="resources/demo_lines.npz", test="resources/demo_lines_test.npz",
                gridsize=2, nfs=1, bs=16, lr=1e-3, sched="const", warm=0, steps=600, evals="150,300,600",
                mode="poisson", mae=0.0, nll=1.0, object_big=1, probe_big=0, pad_object=1, act="sigmoid",
                n_groups=700, seed=42, gamma=1.0, norm="none", ampbias=0.0, threads=2, support="default", cl=1, png="", up="nearest")


OUT = Path(os.environ.get("PTYCHO_SWEEP_OUT", "benchmarks/.data/sweep"))


def parse(argv):
    cfg = dict(DEFAULTS)
    for a in argv:
        k, v = a.split("=", 1)
        d = DEFAULTS[k]
        cfg[k] = type(d)(float(v)) if isinstance(d, (int, float)) and not isinstance(d, bool) and type(d) is int else (type(d)(v) if not isinstance(d, str) else v)
    return cfg


def evaluate(model, test_scan, gridsize, png=None):
    model.eval()
    view = SimpleNamespace(model=SimpleNamespace(gridsize=gridsize), n_groups=None, n_subsample=None,
                           subsample_seed=None, neighbor_count=4, enable_oversampling=False,
                           sequential_sampling=False, seed=42)
    g = build_groups(test_scan, view)
    with torch.no_grad():
        p = predict_patches(model, g, "cpu", 64)
    pos = (g.centres[:, None, :] + g.rel).reshape(-1, 2)
    st = stitch_prediction(p.reshape(-1, model.N, model.N), pos, probe=test_scan.probe, weighting="probe", arch=model.arch)
    m, crops, note = compare_with_reference(st.object, st.weight, st.origin_x, st.origin_y, test_scan.object_guess)
    model.train()
    if png and crops is not None:
        import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
        rec, ref = crops
        fig, ax = plt.subplots(2, 2, figsize=(8, 8))
        ax[0, 0].imshow(np.abs(rec), cmap="gray"); ax[0, 0].set_title("rec amp")
        ax[0, 1].imshow(np.abs(ref), cmap="gray"); ax[0, 1].set_title("ref amp")
        ax[1, 0].imshow(np.angle(rec), cmap="twilight"); ax[1, 0].set_title("rec phase")
        ax[1, 1].imshow(np.angle(ref), cmap="twilight"); ax[1, 1].set_title("ref phase")
        fig.savefig(png, dpi=60); plt.close(fig)
    return m["amplitude"]["ssim"], m["phase"]["ssim"]


def main():
    name = sys.argv[1]
    OUT.mkdir(parents=True, exist_ok=True)
    c = parse(sys.argv[2:])
    torch.set_num_threads(c["threads"])
    torch.manual_seed(c["seed"])
    scan, test = load_scan(Path(c["train"])), load_scan(Path(c["test"]))
    tcfg = SimpleNamespace(model=SimpleNamespace(gridsize=c["gridsize"]), n_groups=c["n_groups"], n_subsample=None,
                           subsample_seed=None, neighbor_count=4, enable_oversampling=False, sequential_sampling=False, seed=c["seed"])
    g = build_groups(scan, tcfg)
    tr, va = split_groups(g.n_groups, 0.1, c["seed"])
    ds = GroupDataset(g, tr)
    pats = scan.diffraction[ds.pattern_indices()]
    model = PtychoPINN(scan.probe, N=scan.N, gridsize=c["gridsize"], n_filters_scale=c["nfs"], amp_activation=c["act"],
                       object_big=bool(c["object_big"]), probe_big=bool(c["probe_big"]), pad_object=bool(c["pad_object"]),
                       input_scale=input_scale_from_data(pats, scan.N),
                       counts_scale=counts_scale_from_data(pats, scan.nphotons))
    if c["support"] != "default" and model.object_big:
        from ptycho_engine.physics.groups import central_support
        model.support = {"hard": central_support(scan.N, soft=False), "soft": central_support(scan.N),
                         "none": None}[c["support"]]
    if c["norm"] != "none":
        from torch import nn
        from ptycho_engine.model.network import ConvPool, ConvUp
        for mod in list(model.generator.modules()):
            if isinstance(mod, (ConvPool, ConvUp)):
                kids = list(mod.children())
                for i in (1, 3):
                    co = kids[i - 1].out_channels
                    nl = nn.BatchNorm2d(co) if c["norm"] == "bn" else nn.GroupNorm(min(8, co), co)
                    mod[i] = nn.Sequential(nl, nn.ReLU())
    if c["gamma"] != 1.0:
        gm = c["gamma"]; a0 = float(model.input_scale)
        e = float(((np.asarray(pats, np.float64) * a0) ** (2 * gm)).sum((1, 2)).mean())
        b = math.sqrt((scan.N / 2) ** 2 / e)
        def predict_object(x, rel=None, _m=model):
            amp, ph = _m.generator((x * a0).clamp_min(0) ** gm * b)
            return torch.polar(amp.float(), ph.float())
        model.predict_object = predict_object
    model.generator.set_channels_last(bool(c["cl"]))
    if c["up"] != "nearest":
        for mod in model.generator.modules():
            if isinstance(mod, torch.nn.Upsample):
                mod.mode, mod.align_corners = c["up"], False
    if c["ampbias"]:
        with torch.no_grad():
            model.generator.amp_head.last.bias.fill_(c["ampbias"])
    calib = torch.utils.data.default_collate([ds[i] for i in range(min(len(ds), 64))])
    g0 = model.calibrate_gain(calib[0], calib[1])
    w = LossWeights(mode=c["mode"], nll_weight=c["nll"], mae_weight=c["mae"])
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=c["lr"])
    S = c["steps"]
    def lr_at(s):
        f = 1.0
        if c["warm"] and s < c["warm"]:
            f = (s + 1) / c["warm"]
        elif c["sched"] == "cos":
            t = (s - c["warm"]) / max(1, S - c["warm"])
            f = 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))
        return c["lr"] * f
    evals = sorted(int(e) for e in c["evals"].split(","))
    loader = make_loader(ds, c["bs"], True, 0, c["seed"])
    step, t_train, res, losses = 0, 0.0, [], []
    print(f"{name}: {len(ds)} train groups, gain0 {g0:.3f}, params {sum(p.numel() for p in model.parameters())}", flush=True)
    while step < S:
        for x, rel, _ in loader:
            t0 = time.perf_counter()
            for pg in opt.param_groups:
                pg["lr"] = lr_at(step)
            pred, obj = model.forward_with_object(x, rel)
            terms = compute_loss(pred, x, model.counts_scale, model.input_scale, w)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
            t_train += time.perf_counter() - t0
            losses.append(float(terms["loss"].detach()))
            step += 1
            if step in evals:
                png = str(OUT / f"{name}_{step}.png") if c["png"] else None
                a, p = evaluate(model, test, c["gridsize"], png)
                r = dict(step=step, groups=step * c["bs"], train_s=round(t_train, 1), loss=round(float(np.mean(losses[-20:])), 4),
                         amp_ssim=round(a, 3), phase_ssim=round(p, 3))
                res.append(r); print(name, r, flush=True)
            if step >= S:
                break
    with open(OUT / "convergence_sweep.jsonl", "a") as f:
        f.write(json.dumps(dict(name=name, cfg=c, res=res)) + "\n")


if __name__ == "__main__":
    main()
