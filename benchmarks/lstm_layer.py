"""Where the LSTM families' train step loses to PyTorch: one LSTM layer (`models.fused_lstm.lstm_layer`)
forward, and forward + backward, against `torch.nn.LSTM` (oneDNN's fused RNN primitive), and the bare
recurrent matmul chain on both sides (32 dependent [64, 256] x [256, 1024] products, as the layer's
forward loop runs them). Sizes of the MusicVAE 2-bar decoder's layers (T 32, batch 64, 256 units,
256 inputs), float32; interleaved medians, each timed call after one untimed call of the same side
(`--settle`). Prints one JSON object.

    musicjax bench lstm_layer [--steps N]      (needs the `bench` extra: torch==2.13.0)
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
from common import add_settle_argument, emit, environment, interleaved, require_torch  # noqa: E402

T, B, I, H = 32, 64, 256, 256


def sides():
    import torch

    from musicjax.models.fused_lstm import lstm_layer

    rng = np.random.default_rng(0)
    x = rng.normal(size=(T, B, I)).astype(np.float32)
    wx, wh = (rng.normal(size=(n, 4 * H)).astype(np.float32) * 0.05 for n in (I, H))
    h0 = np.zeros((B, H), np.float32)
    jx, jwx, jwh, jb, jh0 = map(jnp.asarray, (x, wx, wh, np.zeros(4 * H, np.float32), h0))

    @jax.jit
    def chain(w, h):
        return jax.lax.scan(lambda h, _: (jnp.tanh(jnp.dot(h, w)[:, :H]), None), h, None, length=T)[0]

    forward = jax.jit(lambda x, wx, wh, b, h: lstm_layer(x, wx, wh, b, h, h)[0])
    grads = jax.jit(jax.grad(lambda x, wx, wh, b, h: lstm_layer(x, wx, wh, b, h, h)[0].sum(), argnums=(0, 1, 2, 3)))
    jh = jnp.asarray(rng.normal(size=(B, H)).astype(np.float32))

    tw, th = torch.tensor(wh), torch.tensor(np.asarray(jh))
    lstm = torch.nn.LSTM(I, H)
    tx = torch.tensor(x, requires_grad=True)

    def torch_chain():
        with torch.no_grad():
            h = th
            for _ in range(T):
                h = torch.tanh(torch.mm(h, tw)[:, :H])
        return h

    def torch_forward():
        with torch.no_grad():
            return lstm(tx)[0]

    def torch_forward_backward():
        lstm.zero_grad(set_to_none=True)
        tx.grad = None
        lstm(tx)[0].sum().backward()

    rows = {
        "recurrent_matmul_chain": (lambda: chain(jwh, jh).block_until_ready(), torch_chain),
        "layer_forward": (lambda: forward(jx, jwx, jwh, jb, jh0).block_until_ready(), torch_forward),
        "layer_forward_backward": (lambda: jax.block_until_ready(grads(jx, jwx, jwh, jb, jh0)), torch_forward_backward),
    }
    return rows


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=31, help="timed calls per side (default 31)")
    add_settle_argument(p, 1, ": the calls here are a few ms, and the other framework's threads still spin")
    args = p.parse_args(argv)
    require_torch()
    result = {"benchmark": "lstm_layer", "environment": environment(), "timed_steps": args.steps, "settle": args.settle,
              "sizes": {"steps": T, "batch": B, "inputs": I, "hidden": H}, "rows": {}}
    chain_flop = 2 * B * H * 4 * H * T
    for name, (jax_run, torch_run) in sides().items():
        med = interleaved({"jax": jax_run, "torch": torch_run}, warmup=3, steps=args.steps, settle=args.settle)
        row = {"jax_s": round(med["jax"], 5), "torch_s": round(med["torch"], 5),
               "ratio_jax_over_torch": round(med["torch"] / med["jax"], 3)}
        if name == "recurrent_matmul_chain":
            row.update({f"{k}_gflops": round(chain_flop / v / 1e9) for k, v in med.items()})
        emit(name, row)
        result["rows"][name] = row
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
