"""Train-step and sampling throughput of the melody LSTM LM against a PyTorch twin.

Same sizes on both sides (vocab 130, embedding 256, 2 x LSTM 512, batch 64, length 128, Adam, no
dropout); steps interleaved JAX / PyTorch after warm-up so both see the same machine state; medians
of the timed steps. Prints one JSON object: tokens/s of each side, the ratio, achieved GFLOP/s and
its share of this machine's measured peak matmul rate, float32 and bfloat16 (PyTorch autocast), and
sampling 512 tokens at batch 1 and 64 (one jitted lax.scan vs a PyTorch Python loop).

    musicjax bench lstm_lm [--quick]      (needs the `bench` extra: torch==2.13.0)
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
from common import (emit, environment, interleaved, peak_matmul_gflops, require_torch, supported,  # noqa: E402
                    torch_train_step)

VOCAB, EMBED, HIDDEN, LAYERS, BATCH, LENGTH = 130, 256, 512, 2, 64, 128


def train_flops(batch=BATCH, length=LENGTH) -> float:
    """Multiply-adds x 2 of one training step (forward + backward = 3 x forward matmuls)."""
    per_token = sum(2 * 4 * HIDDEN * ((EMBED if l == 0 else HIDDEN) + HIDDEN) for l in range(LAYERS))
    per_token += 2 * HIDDEN * VOCAB
    return 3.0 * per_token * batch * length


# ---- JAX side ----------------------------------------------------------------------------------


def jax_side(precision: str, implementation: str):
    from musicjax.models.fused_lstm import FusedLSTMLanguageModel
    from musicjax.models.lstm import LSTMLanguageModel
    from musicjax.train.optim import make_optimizer, make_schedule
    from musicjax.train.step import TrainState, lm_loss_fn, make_train_step

    dtype = jnp.bfloat16 if precision == "bfloat16" else jnp.float32
    cls = {"flax": LSTMLanguageModel, "fused": FusedLSTMLanguageModel}[implementation]
    model = cls(VOCAB, EMBED, HIDDEN, LAYERS, 0.0, dtype)
    params = model.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))["params"]
    state = TrainState.create(params, make_optimizer("adam", make_schedule("constant", 1e-3, 1)))
    step = jax.jit(make_train_step(lm_loss_fn(model)), donate_argnums=0)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, (BATCH, LENGTH + 1)).astype(np.int32)
    batch = {"inputs": jnp.asarray(tokens[:, :-1]), "targets": jnp.asarray(tokens[:, 1:]),
             "mask": jnp.ones((BATCH, LENGTH), jnp.float32)}
    key = jax.random.key(1)
    holder = {"state": state}

    def run():
        holder["state"], m = step(holder["state"], batch, key)
        m["loss"].block_until_ready()
        return float(m["loss"])

    return run, model, lambda: holder["state"].params  # the step donates its input state


def jax_sampler(model, params, batch: int, steps: int):
    from musicjax.sample.sampling import sample_lm

    primer = jnp.ones((batch, 1), jnp.int32)

    def run():
        sample_lm(model, params(), primer, jax.random.key(0), num_steps=steps).block_until_ready()

    return run


# ---- PyTorch twin ------------------------------------------------------------------------------


def torch_side(precision: str):
    import torch

    class TorchLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, EMBED)
            self.lstm = torch.nn.LSTM(EMBED, HIDDEN, LAYERS, batch_first=True)
            self.out = torch.nn.Linear(HIDDEN, VOCAB)

        def forward(self, x, state=None):
            y, state = self.lstm(self.embed(x), state)
            return self.out(y), state

    torch.manual_seed(0)
    model = TorchLM()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    tokens = torch.from_numpy(rng.integers(0, VOCAB, (BATCH, LENGTH + 1)).astype(np.int64))
    x, y = tokens[:, :-1], tokens[:, 1:]
    loss_fn = torch.nn.CrossEntropyLoss()

    def loss():
        logits, _ = model(x)
        return loss_fn(logits.reshape(-1, VOCAB).float(), y.reshape(-1))

    return torch_train_step(model, opt, loss, precision=precision), model


def torch_sampler(model, batch: int, steps: int):
    import torch

    def run():
        with torch.no_grad():
            token = torch.ones((batch, 1), dtype=torch.long)
            state = None
            for _ in range(steps):
                logits, state = model(token, state)
                token = torch.multinomial(torch.softmax(logits[:, -1], -1), 1)

    return run


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer timed steps (10) and sampling at batch 1 only")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--implementations", default="flax,fused",
                   help="JAX LSTMs to time: flax (nn.RNN of OptimizedLSTMCell), fused (custom_vjp recurrence)")
    args = p.parse_args(argv)
    require_torch()

    steps = args.steps or (10 if args.quick else 20)
    peak = peak_matmul_gflops()
    flops = train_flops()
    result = {
        "benchmark": "lstm_lm",
        "sizes": {"vocab": VOCAB, "embed": EMBED, "hidden": HIDDEN, "layers": LAYERS, "batch": BATCH, "length": LENGTH},
        "environment": environment(),
        "timed_steps": steps,
        "peak_matmul_gflops": round(peak, 1),
        "train": {},
        "unsupported": {},
    }
    sampler_model = None
    impls = args.implementations.split(",")
    for precision in ("float32", "bfloat16"):
        sides = {f"jax_{impl}": jax_side(precision, impl) for impl in impls}
        torch_run, reason = supported(torch_side, precision)
        if reason:  # e.g. PyTorch's bfloat16 LSTM on a CPU without AVX-512
            result["unsupported"][f"torch_{precision}"] = reason
            emit(f"torch_{precision}", {"unsupported": reason})
        fns = {k: v[0] for k, v in sides.items()}
        if torch_run:
            fns["torch"] = torch_run[0]
        med = interleaved(fns, warmup=3, steps=steps)
        row = {}
        if "torch" in med:
            row = {"torch_tokens_per_s": round(BATCH * LENGTH / med["torch"]), "torch_step_s": round(med["torch"], 4),
                   "torch_gflops": round(flops / med["torch"] / 1e9, 1),
                   "torch_share_of_peak": round(flops / med["torch"] / 1e9 / peak, 3)}
        for k in sides:
            row[k] = {"tokens_per_s": round(BATCH * LENGTH / med[k]), "step_s": round(med[k], 4),
                      "gflops": round(flops / med[k] / 1e9, 1), "share_of_peak": round(flops / med[k] / 1e9 / peak, 3)}
            if "torch" in med:
                row[k]["ratio_over_torch"] = round(med["torch"] / med[k], 3)
        result["train"][precision] = row
        emit(f"train_{precision}", row)
        if precision == "float32" and torch_run:
            first = sides[f"jax_{impls[-1]}"]
            sampler_model = (first[1], first[2], torch_run[1])
    result["sample_512"] = {}
    if sampler_model:
        jmodel, jparams, tmodel = sampler_model
        for batch in ((1,) if args.quick else (1, 64)):
            med = interleaved({"jax": jax_sampler(jmodel, jparams, batch, 512),
                               "torch": torch_sampler(tmodel, batch, 512)}, warmup=1, steps=3 if args.quick else 5)
            row = {"jax_s": round(med["jax"], 3), "torch_s": round(med["torch"], 3),
                   "ratio_jax_over_torch": round(med["torch"] / med["jax"], 2)}
            result["sample_512"][f"batch_{batch}"] = row
            emit(f"sample_512_batch_{batch}", row)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
