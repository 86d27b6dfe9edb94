"""Train-step throughput of the chorale frame models (LSTM body, NADE or sigmoid head) against a
PyTorch twin of the same size.

JAX side: the family's own `train_step` (`musicjax.tasks.chorale_frames`, the experiment's
`lstm_nade` / `lstm_sigmoid` config: LSTM 1x256, dropout 0.3, NADE 64 hidden units, Adam with
global-norm clipping 1.0, batch 16 windows x 64 frames of 88 keys). PyTorch twin: `nn.LSTM` (oneDNN),
dropout, the same NADE (biases from the LSTM state, an exclusive cumulative sum over keys) or
sigmoid head, per-key binary cross-entropy summed over keys and averaged over frames, Adam,
`clip_grad_norm_`. The frames are random multi-hot with four keys on a frame on average (a chorale's
density). Steps interleaved JAX / PyTorch after warm-up; medians. Prints one JSON object.

    musicjax bench chorale_frames [--quick]      (needs the `bench` extra: torch==2.13.0)
"""

from __future__ import annotations

import pathlib
import sys

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import side_by_side, supported, torch_train_step, train_main  # noqa: E402

VARIANTS = ("lstm_nade", "lstm_sigmoid")


def _config(variant: str):
    from musicjax.config import load_config

    return load_config(f"experiments/chorale_frames.py:{variant}", training=True)


def _frames(batch: int, length: int, keys: int) -> dict:
    rng = np.random.default_rng(0)
    frames = (rng.random((batch, length, keys)) < 4 / keys).astype(np.float32)
    previous = np.concatenate([np.zeros_like(frames[:, :1]), frames[:, :-1]], 1)
    return {"frames": frames, "previous": previous, "mask": np.ones((batch, length), np.float32)}


def jax_side(variant: str):
    from musicjax.tasks import make

    config = _config(variant)
    task = make(config)
    state = task.init(jax.random.key(0))
    step = jax.jit(task.train_step, donate_argnums=0)
    t = config.train
    batch = jax.device_put(_frames(t.batch_size, t.seq_len, config.data.num_keys))
    holder, key = {"state": state}, jax.random.key(1)

    def run():
        holder["state"], m = step(holder["state"], batch, key)
        return float(m["loss"])

    return run


def torch_side(variant: str):
    import torch
    from torch import nn

    config = _config(variant)
    m, t, keys = config.model, config.train, config.data.num_keys

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(keys, m.hidden, m.num_layers, batch_first=True)
            self.drop = nn.Dropout(m.dropout)
            if m.head == "nade":
                self.visible_bias = nn.Linear(m.hidden, keys)
                self.hidden_bias = nn.Linear(m.hidden, m.nade_hidden)
                self.w = nn.Parameter(0.01 * torch.randn(keys, m.nade_hidden))
                self.v = nn.Parameter(0.01 * torch.randn(keys, m.nade_hidden))
            else:
                self.logits = nn.Linear(m.hidden, keys)

        def forward(self, previous, frames):
            context = self.drop(self.lstm(previous)[0])
            if m.head != "nade":
                return self.logits(context)
            contrib = frames[..., :, None] * self.w  # [B, T, K, N]
            before = torch.cumsum(contrib, dim=-2) - contrib
            a = self.hidden_bias(context)[..., None, :] + before
            return self.visible_bias(context) + (torch.sigmoid(a) * self.v).sum(-1)

    torch.manual_seed(0)
    model = Twin()
    opt = torch.optim.Adam(model.parameters(), lr=t.learning_rate)
    b = {k: torch.from_numpy(v) for k, v in _frames(t.batch_size, t.seq_len, keys).items()}
    bce = nn.BCEWithLogitsLoss(reduction="none")

    def loss():
        logits = model(b["previous"], b["frames"])
        return (bce(logits, b["frames"]).sum(-1) * b["mask"]).sum() / b["mask"].sum()

    return torch_train_step(model, opt, loss, t.clip_norm)


def _row(variant: str, steps: int, unsupported: dict) -> dict:
    c = _config(variant)
    sizes = {"hidden": c.model.hidden, "layers": c.model.num_layers, "head": c.model.head,
             "nade_hidden": c.model.nade_hidden, "batch": c.train.batch_size, "frames": c.train.seq_len}
    return side_by_side(variant, supported(jax_side, variant), supported(torch_side, variant), steps,
                        c.train.batch_size * c.train.seq_len, "frames", sizes, unsupported)


def main(argv=None) -> dict:
    return train_main("chorale_frames", __doc__.splitlines()[0], VARIANTS, _row, argv)


if __name__ == "__main__":
    main()
