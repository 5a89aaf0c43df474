"""Generator sweep behind benchmarks/results/*_generator_sweep.md: which network changes make the
network alone reconstruct a scan it never saw. Plain loop (Adam, warm-up + cosine, batch 8,
n_filters_scale 1, gridsize 2), train scan TR (default the demo scan), evaluated on TE (default the
demo test scan) through predict -> stitch -> compare, without and with phase synchronisation.

usage: python -m benchmarks.generator_sweep NAME VARIANT STEPS EVAL_STEPS [NFS] [LR]
VARIANT (substrings combine): base | mix (token-mixing MLP at the bottleneck) | pat (Patterson
map input channels) | sep (learned separable global linear input layer) | unrollK (K physics
updates on the group's own patterns, learned step sizes; what ptycho_engine's 'unrolled' does)
"""
import os, re, sys, time, math, json
from pathlib import Path
from types import SimpleNamespace
import numpy as np, torch
from torch import nn
from ptycho_engine.data.contract import load_scan
from ptycho_engine.model.pinn import PtychoPINN, input_scale_from_data, counts_scale_from_data
from ptycho_engine.model.loss import LossWeights, compute_loss
from ptycho_engine.training.data import build_groups, GroupDataset, make_loader, split_groups
from ptycho_engine.inference.predict import predict_patches
from ptycho_engine.inference.stitch import stitch_prediction
from ptycho_engine.inference.compare import compare_with_reference
from ptycho_engine.inference.phase_sync import align_group_phases
from ptycho_engine.stitching import canvas_frame

def sync(p, pos, probe, arch, C, passes):
    """The engine's phase synchronisation (inference.phase_sync) on (G*C, N, N) patches."""
    N = p.shape[-1]
    x0, y0, h, w = canvas_frame(pos, N)
    turned = align_group_phases(p.reshape(-1, C, N, N), pos - np.array([x0, y0], np.float64), (h, w),
                                probe=probe, weighting="probe", arch=arch, passes=passes)
    return turned.reshape(-1, N, N)

def evaluate(model, test_scan, gridsize, png=None, iters=(0, 10)):
    model.eval()
    view = SimpleNamespace(model=SimpleNamespace(gridsize=gridsize), n_groups=None, n_subsample=None,
                           subsample_seed=None, neighbor_count=4, enable_oversampling=False,
                           sequential_sampling=False, seed=42)
    g = build_groups(test_scan, view)
    with torch.no_grad():
        p = predict_patches(model, g, "cpu", 64)
    pos = (g.centres[:, None, :] + g.rel).reshape(-1, 2)
    p = np.asarray(p).reshape(-1, model.N, model.N)
    out = []
    for it in iters:
        q = sync(p, pos, test_scan.probe, model.arch, gridsize ** 2, it) if it else p
        st = stitch_prediction(q, pos, probe=test_scan.probe, weighting="probe", arch=model.arch)
        m, crops, note = compare_with_reference(st.object, st.weight, st.origin_x, st.origin_y, test_scan.object_guess)
        out += [m["amplitude"]["ssim"], m["phase"]["ssim"]]
        if png and crops is not None and it == iters[-1]:
            import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
            rec, ref = crops
            fig, ax = plt.subplots(2, 2, figsize=(8, 8))
            ax[0, 0].imshow(np.abs(rec), cmap="gray"); ax[0, 1].imshow(np.abs(ref), cmap="gray")
            ax[1, 0].imshow(np.angle(rec), cmap="twilight"); ax[1, 1].imshow(np.angle(ref), cmap="twilight")
            fig.savefig(png, dpi=60); plt.close(fig)
    model.train()
    return out

class TokenMix(nn.Module):
    """Residual MLP over the spatial tokens of the bottleneck (global receptive field)."""
    def __init__(self, n_tok, c, hidden=2):
        super().__init__()
        self.norm = nn.GroupNorm(1, c)
        self.tok = nn.Sequential(nn.Linear(n_tok, n_tok * hidden), nn.GELU(), nn.Linear(n_tok * hidden, n_tok))
        self.ch = nn.Sequential(nn.Conv2d(c, 2 * c, 1), nn.GELU(), nn.Conv2d(2 * c, c, 1))
        self.norm2 = nn.GroupNorm(1, c)
    def forward(self, z):
        B, C, H, W = z.shape
        y = self.norm(z).reshape(B, C, H * W)
        z = z + self.tok(y).reshape(B, C, H, W)
        return z + self.ch(self.norm2(z))

class SepDense(nn.Module):
    """Learned separable global linear map per (in, out) channel pair: out_k = sum_c L_kc X_c R_kc^T."""
    def __init__(self, c_in, k, N):
        super().__init__()
        self.L = nn.Parameter(torch.randn(k, c_in, N, N) / N)
        self.R = nn.Parameter(torch.randn(k, c_in, N, N) / N)
    def forward(self, x):
        x = x.contiguous()
        y = torch.einsum("kcij,bcjl->bkcil", self.L, x)
        y = torch.einsum("bkcil,kcml->bkim", y, self.R)
        return y

def patterson(x):
    I = x.float().square()
    a = torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(I, dim=(-2, -1))), dim=(-2, -1))
    s = a.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    a = a / s * 8
    return torch.cat([a.real, a.imag], 1)

def patch(model, variant):
    gen = model.generator
    enc = gen.encoder
    c_b = [m for m in enc.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
    N, C = gen.N, gen.C
    extra_in = 0
    pre = None
    if "pat" in variant:
        extra_in += 2 * C
    if "sep" in variant:
        pre = SepDense(C, 8, N); extra_in += 8
    if extra_in:
        first = enc[0][0]
        new = nn.Conv2d(C + extra_in, first.out_channels, 3, padding=1)
        nn.init.kaiming_normal_(new.weight, mode="fan_in", nonlinearity="relu"); nn.init.zeros_(new.bias)
        enc[0][0] = new
    mix = None
    if "mix" in variant:
        mix = TokenMix(64 if N == 64 else (N // 8) ** 2, c_b)
    gen.pre, gen.mix = pre, mix
    def fwd(x, _g=gen):
        feats = [x]
        if "pat" in variant: feats.append(patterson(x))
        if _g.pre is not None: feats.append(_g.pre(x))
        h = torch.cat(feats, 1) if len(feats) > 1 else x
        z = _g.encoder(h.contiguous(memory_format=torch.channels_last))
        if _g.mix is not None: z = _g.mix(z)
        return _g.amp_head(z).contiguous(), _g.phase_head(z).contiguous()
    gen.forward = fwd
    gen.to(memory_format=torch.channels_last)

def main():
    name, variant, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    evals = [int(e) for e in sys.argv[4].split(",")]
    nfs = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    lr = float(sys.argv[6]) if len(sys.argv) > 6 else 1e-3
    torch.set_num_threads(2); torch.manual_seed(42)
    scan = load_scan(Path(os.environ.get("TR", "resources/demo_lines.npz"))); test = load_scan(Path(os.environ.get("TE", "resources/demo_lines_test.npz")))
    tcfg = SimpleNamespace(model=SimpleNamespace(gridsize=2), n_groups=None, n_subsample=None, subsample_seed=None,
                           neighbor_count=4, enable_oversampling=False, sequential_sampling=False, seed=42)
    g = build_groups(scan, tcfg); tr, va = split_groups(g.n_groups, 0.1, 42); ds = GroupDataset(g, tr)
    pats = scan.diffraction[ds.pattern_indices()]
    unroll = re.search(r"unroll(\d+)", variant)  # the engine's own unrolled generator
    model = PtychoPINN(scan.probe, N=64, gridsize=2, n_filters_scale=nfs, probe_big=False,
                       generator="unrolled" if unroll else "cnn", unroll_steps=int(unroll.group(1)) if unroll else 10,
                       input_scale=input_scale_from_data(pats, 64), counts_scale=counts_scale_from_data(pats, scan.nphotons))
    patch(model, variant)
    calib = torch.utils.data.default_collate([ds[i] for i in range(64)])
    model.calibrate_gain(calib[0], calib[1])
    w = LossWeights()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    loader = make_loader(ds, 8, True, 0, 42)
    step, t, losses = 0, 0.0, []
    print(name, "params", sum(p.numel() for p in model.parameters()), flush=True)
    while step < steps:
        for x, rel, _ in loader:
            t0 = time.perf_counter()
            f = min(1.0, (step + 1) / 50) * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / steps)))
            for pg in opt.param_groups: pg["lr"] = lr * f
            pred, obj = model.forward_with_object(x, rel)
            loss = compute_loss(pred, x, model.counts_scale, model.input_scale, w)["loss"]
            opt.zero_grad(); loss.backward(); opt.step()
            t += time.perf_counter() - t0; losses.append(float(loss)); step += 1
            if step in evals:
                r = evaluate(model, test, 2, f"{os.environ.get('PTYCHO_SWEEP_OUT', '/tmp')}/{name}_{step}.png")
                print(json.dumps(dict(name=name, step=step, t=round(t, 1), loss=round(float(np.mean(losses[-30:])), 3), ssim=[round(v, 3) for v in r])), flush=True)
            if step >= steps: break


if __name__ == "__main__":
    main()
