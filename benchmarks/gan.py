"""A full piano-roll GAN train step (n_critic critic steps + one generator step + the generator's
weight average) in JAX against a PyTorch twin of the same size.

Sizes are experiments/pianoroll_gan.py's default (4 tracks x 4 bars x 16 steps x 48 pitches,
z 128, batch 64, Adam β1 0.5), float32. Two PyTorch twins with the same parameter count and the
same arithmetic: `torch_conv`, MuseGAN's own formulation (Conv3d / ConvTranspose3d with kernel =
stride, one module per track, channel LayerNorm through a permute), and `torch_linear`, ours
(each patch layer a Linear on channels-last tensors, the tracks in one bmm). Steps are
interleaved JAX / PyTorch after warm-up so every side sees the same machine state; medians of the
timed steps. The JAX step is the task's own (`tasks.pianoroll_gan.make_train_step`), with its
non-finite guard and gradient norms. Losses: bce (1 critic step) and wgan_gp (5 critic steps,
each with a gradient penalty: a second-order backward pass).

    musicjax bench gan [--quick] [--losses bce,wgan_gp] [--steps N]   (needs torch==2.13.0)
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import (add_settle_argument, emit, environment, interleaved, peak_matmul_gflops,  # noqa: E402
                    require_torch, supported)

DENSITY = 0.03  # share of sounding pixels in the random real batches (the chorales': 4 voices / 48 pitches / ~2.8)


def sizes() -> dict:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from experiments.pianoroll_gan import get_config

    c = get_config("default")
    m = c.model
    return {"tracks": len(c.data.tracks), "bars": c.data.num_bars,
            "steps": c.data.steps_per_quarter * c.data.quarters_per_bar, "pitches": c.data.num_pitches,
            "beats": c.data.quarters_per_bar, "z_dim": m.z_dim, "batch": c.train.batch_size,
            "g_shared": tuple(m.g_shared), "g_private": tuple(m.g_private), "d_private": tuple(m.d_private),
            "d_shared": tuple(m.d_shared), "d_streams": tuple(m.d_streams), "d_merged": m.d_merged,
            "lr": c.train.g_learning_rate, "b1": c.train.b1}


def real_batch(s: dict, n_critic: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    shape = (s["batch"], n_critic, s["tracks"], s["bars"], s["steps"], s["pitches"])
    return (rng.random(shape) < DENSITY).astype(np.uint8)


LOSSES = {"bce": (1, 0.999), "wgan_gp": (5, 0.9)}  # n_critic, Adam β2


# ---- JAX side ----------------------------------------------------------------------------------


def jax_side(s: dict, loss: str):
    from musicjax.models.pianoroll_gan import Discriminator, Generator
    from musicjax.tasks.pianoroll_gan import GANState, make_steps, make_train_step
    from musicjax.train.optim import make_optimizer, make_schedule

    n_critic, b2 = LOSSES[loss]
    g = Generator(s["bars"], s["steps"], s["pitches"], s["tracks"], s["g_shared"], s["g_private"], s["beats"])
    d = Discriminator(s["bars"], s["steps"], s["pitches"], s["tracks"], s["d_private"], s["d_shared"], s["d_streams"],
                      s["d_merged"], s["beats"])
    tx = lambda: make_optimizer("adam", make_schedule("constant", s["lr"], 1), b1=s["b1"], b2=b2)
    d_step, g_step = make_steps(g, d, loss=loss, z_dim=s["z_dim"], gp_weight=10.0, output="sigmoid")
    step = jax.jit(make_train_step(d_step, g_step, ema_decay=0.999), donate_argnums=0)
    k_g, k_d = jax.random.split(jax.random.key(0))
    gp = g.init(k_g, jnp.zeros((1, s["z_dim"])))["params"]
    dp = d.init(k_d, jnp.zeros((1, s["tracks"], s["bars"], s["steps"], s["pitches"])))["params"]
    g_tx, d_tx = tx(), tx()
    holder = {"state": jax.jit(lambda g, d: GANState.create(g, d, g_tx, d_tx))(gp, dp)}  # distinct buffers
    batch = {"real": jnp.asarray(real_batch(s, n_critic))}
    key = jax.random.key(1)

    def run():
        holder["state"], m = step(holder["state"], batch, key)
        return float(m["g_loss"])  # blocks

    count = lambda p: int(sum(x.size for x in jax.tree.leaves(p)))
    return run, {"generator": count(gp), "critic": count(dp)}


# ---- PyTorch twins ---------------------------------------------------------------------------


def torch_modules(s: dict, formulation: str):
    import torch
    from torch import nn

    K, B, T, P, beats = s["tracks"], s["bars"], s["steps"], s["pitches"], s["beats"]
    spb, octaves = T // beats, P // 12
    c0, c1, c2 = s["g_shared"]
    p1, p2 = s["g_private"]
    q1, q2, q3 = s["d_private"]
    s1, s2 = s["d_shared"]
    r1, r2 = s["d_streams"]
    lrelu = lambda h: nn.functional.leaky_relu(h, 0.01)  # flax's default slope

    def merge_axis(y, axis):
        y = y.movedim(-2, axis + 1)
        return y.reshape(y.shape[:axis] + (y.shape[axis] * y.shape[axis + 1],) + y.shape[axis + 2:])

    def ex(lin, h, axis, f):  # transposed conv, kernel = stride = f along `axis`
        y = lin(h)
        return merge_axis(y.reshape(y.shape[:-1] + (f, y.shape[-1] // f)), axis)

    def split_axis(x, axis, f):
        a = x.shape[axis]
        x = x.reshape(x.shape[:axis] + (a // f, f) + x.shape[axis + 1:]).movedim(axis + 1, -2)
        return x.reshape(x.shape[:-2] + (x.shape[-2] * x.shape[-1],))

    class TrackLinear(nn.Module):
        def __init__(self, c, d, broadcast=False):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(K, c, d) / c ** 0.5)
            self.bias = nn.Parameter(torch.zeros(K, d))
            self.broadcast = broadcast

        def forward(self, x):
            c, d = self.weight.shape[1:]
            if self.broadcast:
                lead = x.shape[:-1]
                y = x.reshape(-1, c) @ self.weight.permute(1, 0, 2).reshape(c, K * d)
                y = y.reshape(lead + (K, d)).movedim(-2, 0)
            else:
                lead = x.shape[1:-1]
                y = torch.bmm(x.reshape(K, -1, c), self.weight).reshape((K,) + lead + (d,))
            return y + self.bias.reshape((K,) + (1,) * len(lead) + (d,))

    def chroma_per_beat(x):
        n = x.shape[0]
        return x.reshape(n, K, B, beats, spb, octaves, 12).sum((4, 5))  # [n, K, B, beats, 12]

    def onset_offset(x):
        n = x.shape[0]
        flat = x.reshape(n, K, B * T, P)
        prev = nn.functional.pad(flat[:, :, :-1], (0, 0, 1, 0))
        return (flat - prev).sum(-1).reshape(n, K, B, T)

    class LinearG(nn.Module):
        def __init__(self):
            super().__init__()
            self.bars, self.beats = nn.Linear(s["z_dim"], B * c0), nn.Linear(c0, beats * c1)
            self.octaves = nn.Linear(c1, octaves * c2)
            self.n0, self.n1, self.n2 = nn.LayerNorm(c0), nn.LayerNorm(c1), nn.LayerNorm(c2)
            self.cells, self.ncells = TrackLinear(c2, p1, True), nn.LayerNorm(p1)
            self.pt_pitch, self.npt = TrackLinear(p1, 12 * p2), nn.LayerNorm(p2)
            self.pt_time = TrackLinear(p2, spb)
            self.tp_time, self.ntp = TrackLinear(p1, spb * p2), nn.LayerNorm(p2)
            self.tp_pitch = TrackLinear(p2, 12)

        def forward(self, z):
            n = z.shape[0]
            h = torch.relu(self.n0(self.bars(z).reshape(n, B, c0)))[:, :, None, None, :]
            h = torch.relu(self.n1(ex(self.beats, h, 2, beats)))
            h = torch.relu(self.n2(ex(self.octaves, h, 3, octaves)))
            h = torch.relu(self.ncells(self.cells(h)))
            pt = torch.relu(self.npt(ex(self.pt_pitch, h, 4, 12)))
            pt = ex(self.pt_time, pt, 3, spb)
            tp = torch.relu(self.ntp(ex(self.tp_time, h, 3, spb)))
            tp = ex(self.tp_pitch, tp, 4, 12)
            return (pt + tp)[..., 0].movedim(0, 1)

    class LinearD(nn.Module):
        def __init__(self):
            super().__init__()
            self.pt_pitch, self.pt_time = TrackLinear(12, q1), TrackLinear(spb * q1, q2)
            self.tp_time, self.tp_pitch = TrackLinear(spb, q1), TrackLinear(12 * q1, q2)
            self.merge = TrackLinear(2 * q2, q3)
            self.shared_beats, self.shared_octaves = nn.Linear(beats * K * q3, s1), nn.Linear(octaves * s1, s2)
            self.chroma_beat, self.chroma_bar = nn.Linear(K * 12, r1), nn.Linear(beats * r1, r2)
            self.onset_beat, self.onset_bar = nn.Linear(spb * K, r1), nn.Linear(beats * r1, r2)
            self.bar_pairs = nn.Linear(2 * (s2 + 2 * r2), s["d_merged"])
            self.out = nn.Linear((B - 1) * s["d_merged"], 1)

        def forward(self, x):
            n = x.shape[0]
            xt = x.movedim(1, 0)[..., None]
            pt = lrelu(self.pt_pitch(split_axis(xt, 4, 12)))
            pt = lrelu(self.pt_time(split_axis(pt, 3, spb)))
            tp = lrelu(self.tp_time(split_axis(xt, 3, spb)))
            tp = lrelu(self.tp_pitch(split_axis(tp, 4, 12)))
            h = lrelu(self.merge(torch.cat([pt, tp], -1))).movedim(0, -2)
            h = h.reshape(h.shape[:-2] + (-1,))
            h = lrelu(self.shared_beats(split_axis(h, 2, beats)))
            h = lrelu(self.shared_octaves(split_axis(h, 3, octaves))).reshape(n, B, s2)
            c = lrelu(self.chroma_beat(chroma_per_beat(x).movedim(1, 3).reshape(n, B, beats, -1)))
            c = lrelu(self.chroma_bar(c.reshape(n, B, -1)))
            o = lrelu(self.onset_beat(onset_offset(x).movedim(1, -1).reshape(n, B, beats, -1)))
            o = lrelu(self.onset_bar(o.reshape(n, B, -1)))
            h = torch.cat([h, c, o], -1)
            h = lrelu(self.bar_pairs(torch.cat([h[:, :-1], h[:, 1:]], -1)))
            return self.out(h.reshape(n, -1))[:, 0]

    def channel_norm(norm, h):  # LayerNorm over the channels of [n, C, D, H, W]
        return norm(h.movedim(1, -1)).movedim(-1, 1)

    def tconv(ci, co, k):
        return nn.ConvTranspose3d(ci, co, k, stride=k)

    def conv(ci, co, k, stride=None):
        return nn.Conv3d(ci, co, k, stride=stride or k)

    class ConvTrackG(nn.Module):
        def __init__(self):
            super().__init__()
            self.cells, self.ncells = conv(c2, p1, 1), nn.LayerNorm(p1)
            self.pt_pitch, self.npt = tconv(p1, p2, (1, 1, 12)), nn.LayerNorm(p2)
            self.pt_time = tconv(p2, 1, (1, spb, 1))
            self.tp_time, self.ntp = tconv(p1, p2, (1, spb, 1)), nn.LayerNorm(p2)
            self.tp_pitch = tconv(p2, 1, (1, 1, 12))

        def forward(self, h):  # [n, c2, B, beats, octaves]
            h = torch.relu(channel_norm(self.ncells, self.cells(h)))
            pt = self.pt_time(torch.relu(channel_norm(self.npt, self.pt_pitch(h))))
            tp = self.tp_pitch(torch.relu(channel_norm(self.ntp, self.tp_time(h))))
            return (pt + tp)[:, 0]  # [n, B, T, P]

    class ConvG(nn.Module):
        def __init__(self):
            super().__init__()
            self.bars, self.n0 = nn.Linear(s["z_dim"], B * c0), nn.LayerNorm(c0)
            self.beats, self.n1 = tconv(c0, c1, (1, beats, 1)), nn.LayerNorm(c1)
            self.octaves, self.n2 = tconv(c1, c2, (1, 1, octaves)), nn.LayerNorm(c2)
            self.tracks = nn.ModuleList([ConvTrackG() for _ in range(K)])

        def forward(self, z):
            n = z.shape[0]
            h = torch.relu(self.n0(self.bars(z).reshape(n, B, c0))).permute(0, 2, 1)[..., None, None]
            h = torch.relu(channel_norm(self.n1, self.beats(h)))
            h = torch.relu(channel_norm(self.n2, self.octaves(h)))
            return torch.stack([t(h) for t in self.tracks], 1)

    class ConvTrackD(nn.Module):
        def __init__(self):
            super().__init__()
            self.pt_pitch, self.pt_time = conv(1, q1, (1, 1, 12)), conv(q1, q2, (1, spb, 1))
            self.tp_time, self.tp_pitch = conv(1, q1, (1, spb, 1)), conv(q1, q2, (1, 1, 12))
            self.merge = conv(2 * q2, q3, 1)

        def forward(self, x):  # [n, 1, B, T, P]
            pt = lrelu(self.pt_time(lrelu(self.pt_pitch(x))))
            tp = lrelu(self.tp_pitch(lrelu(self.tp_time(x))))
            return lrelu(self.merge(torch.cat([pt, tp], 1)))  # [n, q3, B, beats, octaves]

    class ConvD(nn.Module):
        def __init__(self):
            super().__init__()
            self.tracks = nn.ModuleList([ConvTrackD() for _ in range(K)])
            self.shared_beats, self.shared_octaves = conv(K * q3, s1, (1, beats, 1)), conv(s1, s2, (1, 1, octaves))
            self.chroma_beat, self.chroma_bar = conv(K, r1, (1, 1, 12)), conv(r1, r2, (1, beats, 1))
            self.onset_beat, self.onset_bar = conv(K, r1, (1, spb, 1)), conv(r1, r2, (1, beats, 1))
            self.bar_pairs = conv(s2 + 2 * r2, s["d_merged"], (2, 1, 1), stride=1)
            self.out = nn.Linear((B - 1) * s["d_merged"], 1)

        def forward(self, x):  # [n, K, B, T, P]
            n = x.shape[0]
            h = torch.cat([t(x[:, k:k + 1]) for k, t in enumerate(self.tracks)], 1)
            h = lrelu(self.shared_octaves(lrelu(self.shared_beats(h))))  # [n, s2, B, 1, 1]
            c = lrelu(self.chroma_bar(lrelu(self.chroma_beat(chroma_per_beat(x)))))  # [n, r2, B, 1, 1]
            o = lrelu(self.onset_bar(lrelu(self.onset_beat(onset_offset(x)[..., None]))))
            h = lrelu(self.bar_pairs(torch.cat([h, c, o], 1)))
            return self.out(h.reshape(n, -1))[:, 0]

    return (LinearG(), LinearD()) if formulation == "linear" else (ConvG(), ConvD())


def torch_side(s: dict, loss: str, formulation: str):
    import torch
    from torch import nn

    torch.manual_seed(0)
    n_critic, b2 = LOSSES[loss]
    G, D = torch_modules(s, formulation)
    ema = [p.detach().clone() for p in G.parameters()]
    g_opt = torch.optim.Adam(G.parameters(), lr=s["lr"], betas=(s["b1"], b2))
    d_opt = torch.optim.Adam(D.parameters(), lr=s["lr"], betas=(s["b1"], b2))
    real = torch.from_numpy(real_batch(s, n_critic)).float()
    n = s["batch"]
    sp = nn.functional.softplus

    def run():
        for p in D.parameters():
            p.requires_grad_(True)
        for c in range(n_critic):
            with torch.no_grad():
                fake = torch.sigmoid(G(torch.randn(n, s["z_dim"])))
            r = real[:, c]
            out_r, out_f = D(torch.cat([r, fake])).split(n)
            if loss == "bce":
                d_loss = sp(-out_r).mean() + sp(out_f).mean()
            else:
                eps = torch.rand(n, 1, 1, 1, 1)
                x_hat = (eps * r + (1 - eps) * fake).requires_grad_(True)
                grad, = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
                gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
                d_loss = out_f.mean() - out_r.mean() + 10.0 * gp
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
        for p in D.parameters():
            p.requires_grad_(False)
        out = D(torch.sigmoid(G(torch.randn(n, s["z_dim"]))))
        g_loss = sp(-out).mean() if loss == "bce" else -out.mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, [p.detach() for p in G.parameters()], 1 - 0.999)
        return float(g_loss.detach())

    count = lambda m: sum(p.numel() for p in m.parameters())
    return run, {"generator": count(G), "critic": count(D)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer timed steps (5), bce only")
    p.add_argument("--steps", type=int, default=None, help="timed steps per side (default 20; --quick 5)")
    p.add_argument("--losses", default=None, help="comma-separated: bce, wgan_gp (default both; --quick bce)")
    add_settle_argument(p)
    args = p.parse_args(argv)
    require_torch()
    import torch

    s = sizes()
    steps = args.steps or (5 if args.quick else 20)
    losses = (args.losses or ("bce" if args.quick else "bce,wgan_gp")).split(",")
    result = {"benchmark": "gan", "sizes": {k: v for k, v in s.items()}, "environment": environment(),
              "timed_steps": steps, "settle": args.settle, "peak_matmul_gflops": round(peak_matmul_gflops(), 1), "train_step": {},
              "unsupported": {}}
    for loss in losses:
        fns, params = {}, {}
        fns["jax"], params["jax"] = jax_side(s, loss)
        for formulation in ("conv", "linear"):
            side, reason = supported(torch_side, s, loss, formulation)
            if reason:
                result["unsupported"][f"torch_{formulation}_{loss}"] = reason
                emit(f"torch_{formulation}_{loss}", {"unsupported": reason})
                continue
            fns[f"torch_{formulation}"], params[f"torch_{formulation}"] = side
        med = interleaved(fns, warmup=3, steps=steps, settle=args.settle)
        row = {"n_critic": LOSSES[loss][0], "parameters": params,
               **{f"{k}_step_s": round(v, 4) for k, v in med.items()}}
        for k in med:
            if k.startswith("torch"):
                row[f"jax_over_{k}"] = round(med[k] / med["jax"], 3)
        torch_best = min((v for k, v in med.items() if k.startswith("torch")), default=None)
        if torch_best:
            row["jax_over_best_torch"] = round(torch_best / med["jax"], 3)
        result["train_step"][loss] = row
        emit(f"train_step_{loss}", row)
    result["environment"]["torch_threads"] = torch.get_num_threads()
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
