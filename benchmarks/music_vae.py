"""Train-step throughput of MusicVAE against a PyTorch twin of the same size.

Both sides: token embedding -> bidirectional LSTM encoder -> mu, log sigma^2 -> z (reparameterised)
-> decoder (flat: an LSTM stack whose initial state is tanh(Dense(z)) and whose steps read
[previous token, z]; hierarchical: a conductor LSTM emitting one embedding per bar and a bar
decoder reset at each bar), the summed cross-entropy plus the annealed KL, Adam, teacher forcing.
Sizes are those of `experiments/music_vae.py` (mel_2bar; mel_16bar_hier). Steps interleaved JAX /
PyTorch after warm-up; medians. Prints one JSON object (each result also as it is measured).

    musicjax bench music_vae [--quick]      (needs the `bench` extra: torch==2.13.0)
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
from common import environment, require_torch, side_by_side, supported, torch_train_step  # noqa: E402

VOCAB = 66
SETTINGS = {  # the experiment's sizes
    "mel_2bar": dict(bars=2, embed=64, enc_hidden=256, enc_layers=1, z=128, decoder="flat", dec_hidden=256,
                     dec_layers=2, cond_hidden=256, cond_layers=2, batch=64),
    "mel_16bar_hier": dict(bars=16, embed=64, enc_hidden=256, enc_layers=2, z=128, decoder="hierarchical",
                           dec_hidden=256, dec_layers=2, cond_hidden=256, cond_layers=2, batch=32),
}


def _tokens(s):
    rng = np.random.default_rng(0)
    return rng.integers(3, VOCAB, (s["batch"], s["bars"] * 16)).astype(np.int32)


# ---- JAX side ----------------------------------------------------------------------------------


def jax_side(s: dict, precision: str = "float32"):
    from musicjax.models.music_vae import MusicVAE
    from musicjax.tasks.music_vae import vae_loss_fn
    from musicjax.train.optim import make_optimizer, make_schedule
    from musicjax.train.step import TrainState, make_train_step

    dtype = jnp.bfloat16 if precision == "bfloat16" else jnp.float32
    model = MusicVAE(VOCAB, s["bars"], 16, s["embed"], s["enc_hidden"], s["enc_layers"], s["z"], s["decoder"],
                     s["dec_hidden"], s["dec_layers"], s["cond_hidden"], s["cond_layers"], dtype)
    tokens = jnp.asarray(_tokens(s))
    params = model.init(jax.random.key(0), tokens[:1], jax.random.key(1))["params"]
    state = TrainState.create(params, make_optimizer("adam", make_schedule("constant", 1e-3, 1)))
    step = jax.jit(make_train_step(vae_loss_fn(model, 0.2, 0.999, 0.0, 0.0)), donate_argnums=0)
    holder, batch, key = {"state": state}, {"tokens": tokens}, jax.random.key(2)

    def run():
        holder["state"], m = step(holder["state"], batch, key)
        return float(m["loss"])

    return run


# ---- PyTorch twin ------------------------------------------------------------------------------


def torch_side(s: dict, precision: str = "float32"):
    import torch
    from torch import nn

    class Decoder(nn.Module):
        """An LSTM stack conditioned on c: initial state tanh(Linear(c)), steps read [emb, c]."""

        def __init__(self, cond, hidden, layers):
            super().__init__()
            self.hidden, self.layers = hidden, layers
            self.embed = nn.Embedding(VOCAB, s["embed"])
            self.init = nn.Linear(cond, 2 * hidden * layers)
            self.lstm = nn.LSTM(s["embed"] + cond, hidden, layers, batch_first=True)
            self.out = nn.Linear(hidden, VOCAB)

        def forward(self, inputs, c):
            h0 = torch.tanh(self.init(c)).view(c.shape[0], self.layers, 2, self.hidden)
            state = (h0[:, :, 0].transpose(0, 1).contiguous(), h0[:, :, 1].transpose(0, 1).contiguous())
            x = torch.cat([self.embed(inputs), c[:, None].expand(-1, inputs.shape[1], -1)], -1)
            y, _ = self.lstm(x, state)
            return self.out(y)

    class TorchVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, s["embed"])
            self.encoder = nn.LSTM(s["embed"], s["enc_hidden"], s["enc_layers"], batch_first=True, bidirectional=True)
            self.mu = nn.Linear(2 * s["enc_hidden"], s["z"])
            self.log_var = nn.Linear(2 * s["enc_hidden"], s["z"])
            if s["decoder"] == "flat":
                self.decoder = Decoder(s["z"], s["dec_hidden"], s["dec_layers"])
            else:
                self.cond_hidden, self.cond_layers = s["cond_hidden"], s["cond_layers"]
                self.cond_init = nn.Linear(s["z"], 2 * s["cond_hidden"] * s["cond_layers"])
                self.conductor = nn.LSTM(1, s["cond_hidden"], s["cond_layers"], batch_first=True)
                self.decoder = Decoder(s["cond_hidden"], s["dec_hidden"], s["dec_layers"])

        def forward(self, tokens, inputs):
            _, (h, _) = self.encoder(self.embed(tokens))
            final = torch.cat([h[-2], h[-1]], -1)  # the last layer's forward and backward states
            mu, log_var = self.mu(final), self.log_var(final)
            z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
            if s["decoder"] == "flat":
                return self.decoder(inputs, z), mu, log_var
            b, u = tokens.shape[0], s["bars"]
            h0 = torch.tanh(self.cond_init(z)).view(b, self.cond_layers, 2, self.cond_hidden)
            state = (h0[:, :, 0].transpose(0, 1).contiguous(), h0[:, :, 1].transpose(0, 1).contiguous())
            cond, _ = self.conductor(torch.zeros(b, u, 1), state)
            logits = self.decoder(inputs.reshape(b * u, -1), cond.reshape(b * u, -1))
            return logits.reshape(b, tokens.shape[1], VOCAB), mu, log_var

    torch.manual_seed(0)
    model = TorchVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = torch.from_numpy(_tokens(s).astype(np.int64))
    inputs = torch.cat([torch.ones_like(tokens[:, :1]), tokens[:, :-1]], 1)  # BOS, then the tokens
    ce = nn.CrossEntropyLoss(reduction="sum")

    def loss():
        logits, mu, log_var = model(tokens, inputs)
        recon = ce(logits.reshape(-1, VOCAB).float(), tokens.reshape(-1)) / tokens.shape[0]
        kl = 0.5 * torch.sum(torch.exp(log_var) + mu**2 - 1.0 - log_var, -1).mean()
        return recon + 0.2 * kl

    return torch_train_step(model, opt, loss, precision=precision)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer timed steps (5), mel_2bar only")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--precisions", default="float32", help="float32 and/or bfloat16, comma-separated")
    args = p.parse_args(argv)
    require_torch()
    steps = args.steps or (5 if args.quick else 15)
    result = {"benchmark": "music_vae", "environment": environment(), "timed_steps": steps, "train": {},
              "unsupported": {}}
    for name in (("mel_2bar",) if args.quick else tuple(SETTINGS)):
        s = SETTINGS[name]
        tokens_per_step = s["batch"] * s["bars"] * 16
        for precision in args.precisions.split(","):
            label = f"{name}_{precision}"
            result["train"][label] = side_by_side(label, supported(jax_side, s, precision),
                                                  supported(torch_side, s, precision), steps, tokens_per_step,
                                                  "tokens", s, result["unsupported"])
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
