"""Train-step and cached-sampling throughput of the Music Transformer against a PyTorch twin.

Same sizes and the same math on both sides (vocab 130, width 256, 4 pre-norm layers, 8 heads,
feed-forward 1024, relative attention with 256 embedded distances, batch 16, length 256, Adam, no
dropout). The twin computes the relative term by the same skewing and hands it to
`torch.nn.functional.scaled_dot_product_attention` as an additive mask with the causal -inf.
Training steps run interleaved JAX / PyTorch after warm-up; medians. Sampling 512 tokens at batch 1
(and 16): the shared sampler's jitted `lax.scan`s, its KV cache grown as it fills (64, 128, 256,
512 slots: `sample.sampling.cache_segments`), against the twin's Python loop over its own KV cache
grown a token at a time. Prints one JSON object.

    musicjax bench transformer [--quick]      (needs the `bench` extra: torch==2.13.0)
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import (add_settle_argument, emit, environment, interleaved, require_torch, supported,  # noqa: E402
                    torch_train_step)

VOCAB, WIDTH, LAYERS, HEADS, FF, BATCH, LENGTH = 130, 256, 4, 8, 1024, 16, 256
MAX_DISTANCE, SAMPLE_STEPS = 256, 512
MAX_LEN = SAMPLE_STEPS + 1


# ---- JAX side ----------------------------------------------------------------------------------


def jax_model(precision: str):
    from musicjax.models.transformer import MusicTransformer

    dtype = jnp.bfloat16 if precision == "bfloat16" else jnp.float32
    return MusicTransformer(VOCAB, WIDTH, LAYERS, HEADS, FF, MAX_LEN, MAX_DISTANCE, 0.0, True, dtype)


def jax_side(precision: str):
    from musicjax.train.optim import make_optimizer, make_schedule
    from musicjax.train.step import TrainState, lm_loss_fn, make_train_step

    model = jax_model(precision)
    params = model.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))["params"]
    state = TrainState.create(params, make_optimizer("adam", make_schedule("constant", 1e-4, 1)))
    step = jax.jit(make_train_step(lm_loss_fn(model)), donate_argnums=0)
    tokens = np.random.default_rng(0).integers(0, VOCAB, (BATCH, LENGTH + 1)).astype(np.int32)
    batch = {"inputs": jnp.asarray(tokens[:, :-1]), "targets": jnp.asarray(tokens[:, 1:]),
             "mask": jnp.ones((BATCH, LENGTH), jnp.float32)}
    key = jax.random.key(1)
    holder = {"state": state}

    def run():
        holder["state"], m = step(holder["state"], batch, key)
        return float(m["loss"])

    return run, model, lambda: holder["state"].params


def jax_sampler(model, params, batch: int):
    from musicjax.sample.sampling import sample_lm

    primer = jnp.ones((batch, 1), jnp.int32)

    def run():
        sample_lm(model, params(), primer, jax.random.key(0), num_steps=SAMPLE_STEPS).block_until_ready()

    return run


# ---- PyTorch twin ------------------------------------------------------------------------------


def torch_side(precision: str):
    import torch
    import torch.nn.functional as F

    head_dim = WIDTH // HEADS

    def skew(rel):  # [B, H, L, L], column c = distance L - 1 - c -> entry (i, j) = distance i - j
        b, h, length, _ = rel.shape
        return F.pad(rel, (1, 0)).reshape(b, h, length + 1, length)[:, :, 1:]

    def rows(distance):
        return MAX_DISTANCE - 1 - distance.clamp(0, MAX_DISTANCE - 1)

    class Attention(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (torch.nn.Linear(WIDTH, WIDTH) for _ in range(4))
            self.rel = torch.nn.Parameter(torch.randn(HEADS, MAX_DISTANCE, head_dim) * head_dim ** -0.5)

        def forward(self, x, cache=None):
            b, t, _ = x.shape
            split = lambda y: y.view(b, t, HEADS, head_dim).transpose(1, 2)
            q = split(self.q(x)) / math.sqrt(head_dim)
            k, v = split(self.k(x)), split(self.v(x))
            if cache is None:
                by_distance = self.rel[:, rows(torch.arange(t - 1, -1, -1))]  # [H, T, Dh]
                mask = skew(torch.einsum("bhid,hcd->bhic", q, by_distance))
                mask = mask.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf"))
                new_cache = (k, v)
            else:
                k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
                pos = k.shape[2] - 1  # one query, at the last position
                index = rows(pos - torch.arange(k.shape[2]))
                mask = torch.einsum("bhtd,hrd->bhtr", q, self.rel)[..., index]
                new_cache = (k, v)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.to(q.dtype), scale=1.0)
            return self.o(y.transpose(1, 2).reshape(b, t, WIDTH)), new_cache

    class Layer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = torch.nn.LayerNorm(WIDTH, eps=1e-6), torch.nn.LayerNorm(WIDTH, eps=1e-6)
            self.attention = Attention()
            self.ff = torch.nn.Sequential(torch.nn.Linear(WIDTH, FF), torch.nn.ReLU(), torch.nn.Linear(FF, WIDTH))

        def forward(self, x, cache=None):
            h, cache = self.attention(self.norm1(x), cache)
            x = x + h
            return x + self.ff(self.norm2(x)), cache

    class TorchTransformer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, WIDTH)
            self.layers = torch.nn.ModuleList(Layer() for _ in range(LAYERS))
            self.norm = torch.nn.LayerNorm(WIDTH, eps=1e-6)  # flax's epsilon
            self.out = torch.nn.Linear(WIDTH, VOCAB)

        def forward(self, tokens, caches=None):
            x = self.embed(tokens) * math.sqrt(WIDTH)
            new = []
            for i, layer in enumerate(self.layers):
                x, c = layer(x, None if caches is None else caches[i])
                new.append(c)
            return self.out(self.norm(x)), new

    torch.manual_seed(0)
    model = TorchTransformer()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    tokens = torch.from_numpy(np.random.default_rng(0).integers(0, VOCAB, (BATCH, LENGTH + 1)).astype(np.int64))
    x, y = tokens[:, :-1], tokens[:, 1:]

    def loss():
        logits, _ = model(x)
        return F.cross_entropy(logits.reshape(-1, VOCAB).float(), y.reshape(-1))

    return torch_train_step(model, opt, loss, precision=precision), model


def copy_weights(params, model) -> None:
    """The JAX model's parameters into the twin, so that both compute the same function."""
    import torch

    t = lambda x: torch.from_numpy(np.asarray(x, np.float32).copy())
    dense = lambda lin, p, fan_in: (lin.weight.copy_(t(np.asarray(p["kernel"]).reshape(fan_in, -1).T)),
                                    lin.bias.copy_(t(np.asarray(p["bias"]).reshape(-1))))
    norm = lambda ln, p: (ln.weight.copy_(t(p["scale"])), ln.bias.copy_(t(p["bias"])))
    with torch.no_grad():
        model.embed.weight.copy_(t(params["embed"]["embedding"]))
        for i, layer in enumerate(model.layers):
            p = params["decoder"][f"layer_{i}"]
            a = p["attention"]
            for name in ("query", "key", "value"):
                dense(getattr(layer.attention, name[0]), a[name], WIDTH)
            dense(layer.attention.o, a["out"], WIDTH)
            layer.attention.rel.copy_(t(a["relative_embedding"]))
            norm(layer.norm1, p["norm_attention"]), norm(layer.norm2, p["norm_ff"])
            dense(layer.ff[0], p["ff_in"], WIDTH), dense(layer.ff[2], p["ff_out"], FF)
        norm(model.norm, params["decoder"]["norm_out"])
        dense(model.out, params["logits"], WIDTH)


def twin_difference(jmodel, params, tmodel) -> dict:
    """Largest |logit difference| of the two sides with the same weights, on a full sequence and
    through each side's cached decoding."""
    import torch

    copy_weights(params, tmodel)
    tokens = np.random.default_rng(1).integers(0, VOCAB, (2, 64)).astype(np.int32)
    j_logits, _ = jmodel.apply({"params": params}, jnp.asarray(tokens))
    with torch.no_grad():
        t_logits, caches = tmodel(torch.from_numpy(tokens[:, :32].astype(np.int64)))
        cached = []
        for i in range(32, 40):
            logits, caches = tmodel(torch.from_numpy(tokens[:, i:i + 1].astype(np.int64)), caches)
            cached.append(logits[:, 0].numpy())
    j_logits = np.asarray(j_logits)
    return {"full": float(np.abs(j_logits[:, :32] - t_logits.numpy()).max()),
            "cached": float(np.abs(j_logits[:, 32:40] - np.stack(cached, 1)).max())}


def torch_sampler(model, batch: int):
    import torch

    def run():
        with torch.no_grad():
            token = torch.ones((batch, 1), dtype=torch.long)
            logits, caches = model(token)
            for _ in range(SAMPLE_STEPS - 1):
                token = torch.multinomial(torch.softmax(logits[:, -1], -1), 1)
                logits, caches = model(token, caches)

    return run


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer timed steps (6), float32 only, sampling at batch 1")
    p.add_argument("--steps", type=int, default=None)
    add_settle_argument(p)
    args = p.parse_args(argv)
    require_torch()
    steps = args.steps or (6 if args.quick else 15)
    result = {"benchmark": "transformer",
              "sizes": {"vocab": VOCAB, "width": WIDTH, "layers": LAYERS, "heads": HEADS, "ff": FF, "batch": BATCH,
                        "length": LENGTH, "max_distance": MAX_DISTANCE, "sample_steps": SAMPLE_STEPS},
              "environment": environment(), "timed_steps": steps, "settle": args.settle, "train": {}, "unsupported": {}}
    sampler_sides = None
    for precision in ("float32",) if args.quick else ("float32", "bfloat16"):
        jax_run = jax_side(precision)
        torch_run, reason = supported(torch_side, precision)
        fns = {"jax": jax_run[0]}
        if reason:
            result["unsupported"][f"torch_{precision}"] = reason
        else:
            fns["torch"] = torch_run[0]
        med = interleaved(fns, warmup=2, steps=steps, settle=args.settle)
        row = {"jax_tokens_per_s": round(BATCH * LENGTH / med["jax"]), "jax_step_s": round(med["jax"], 4)}
        if "torch" in med:
            row.update(torch_tokens_per_s=round(BATCH * LENGTH / med["torch"]), torch_step_s=round(med["torch"], 4),
                       ratio_jax_over_torch=round(med["torch"] / med["jax"], 3))
        result["train"][precision] = row
        emit(f"train_{precision}", row)
        if precision == "float32" and torch_run:
            sampler_sides = (jax_run[1], jax_run[2], torch_run[1])
    result["sample_512"] = {}
    if sampler_sides:
        jmodel, jparams, tmodel = sampler_sides
        # The same weights on both sides before sampling: the twin is checked to be the same model.
        result["twin_max_abs_logit_diff"] = twin_difference(jmodel, jparams(), tmodel)
        emit("twin_max_abs_logit_diff", result["twin_max_abs_logit_diff"])
        for batch in (1,) if args.quick else (1, 16):
            med = interleaved({"jax": jax_sampler(jmodel, jparams, batch), "torch": torch_sampler(tmodel, batch)},
                              warmup=1, steps=3 if args.quick else 5, settle=args.settle)
            row = {"jax_s": round(med["jax"], 3), "torch_s": round(med["torch"], 3),
                   "ratio_jax_over_torch": round(med["torch"] / med["jax"], 2)}
            result["sample_512"][f"batch_{batch}"] = row
            emit(f"sample_512_batch_{batch}", row)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
