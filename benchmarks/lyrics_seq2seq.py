"""Train-step throughput of the lyrics seq2seq model (melody -> lyrics) against a PyTorch twin of
the same size.

JAX side: `models.seq2seq.Seq2Seq` with the family's loss (`tasks.lyrics_seq2seq.seq2seq_loss_fn`:
teacher forcing, word dropout 0.2) and optimizer (Adam, clipping 1.0), at the sizes of
`experiments/lyrics_seq2seq.py` (source features pitch/duration/position/phrase end embedded
32/8/8/4, bidirectional encoder 1x64, decoder LSTM 128, attention 64, batch 64 phrases of up to 32
notes, 1,063 target tokens as in the chorale run). PyTorch twin: the same embeddings, `nn.LSTM`
bidirectional encoder over packed sequences, the same bridge; Bahdanau: an `nn.LSTMCell` decoder
stepped in Python (the context of step t is computed from h_{t-1} and feeds the cell), Luong: an
`nn.LSTM` decoder over all steps and attention after it; the same readout, cross-entropy over real
tokens, Adam, `clip_grad_norm_`. Source lengths are drawn from 8-32. Steps interleaved; medians.

    musicjax bench lyrics_seq2seq [--quick]      (needs the `bench` extra: torch==2.13.0)
"""

from __future__ import annotations

import pathlib
import sys

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import side_by_side, supported, torch_train_step, train_main  # noqa: E402

VOCAB = 1063  # target tokens of the melody_lyrics run (experiments/lyrics_seq2seq.py docstring)
ATTENTIONS = ("bahdanau", "luong")


def _config(attention: str):
    from musicjax.config import load_config

    return load_config(f"experiments/lyrics_seq2seq.py:melody_lyrics_{attention}", training=True)


def _batch(config) -> dict:
    from musicjax.tasks.lyrics_seq2seq_data import SOURCE_VOCABS

    rng = np.random.default_rng(0)
    b, n = config.train.batch_size, config.data.max_notes
    lengths = rng.integers(8, n + 1, b).astype(np.int32)
    valid = np.arange(n)[None, :] < lengths[:, None]
    source = np.stack([rng.integers(0, v, (b, n)) for v in SOURCE_VOCABS], -1).astype(np.int32) * valid[..., None]
    targets = np.where(valid, rng.integers(5, VOCAB, (b, n)), 0).astype(np.int32)
    return {"source": source, "source_len": lengths, "targets": targets, "mask": valid.astype(np.float32)}


def jax_side(attention: str):
    from musicjax.tasks.lyrics_seq2seq import model_from_config, seq2seq_loss_fn
    from musicjax.tasks.lyrics_seq2seq_data import SOURCE_VOCABS
    from musicjax.train.optim import optimizer_from_config
    from musicjax.train.step import TrainState, make_train_step

    config = _config(attention)
    model = model_from_config(config, VOCAB, SOURCE_VOCABS, tuple(config.model.source_embed_dims))
    batch = _batch(config)
    params = model.init(jax.random.key(0), batch["source"][:1], batch["source_len"][:1], batch["targets"][:1])["params"]
    tx, schedule = optimizer_from_config(config.train)
    state = TrainState.create(params, tx)
    step = jax.jit(make_train_step(seq2seq_loss_fn(model, None, config.loss.word_dropout), schedule),
                   donate_argnums=0)
    holder, batch, key = {"state": state}, jax.device_put(batch), jax.random.key(1)

    def run():
        holder["state"], m = step(holder["state"], batch, key)
        return float(m["loss"])

    return run


def torch_side(attention: str):
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from musicjax.codecs.lyrics import BOS, UNK
    from musicjax.tasks.lyrics_seq2seq_data import SOURCE_VOCABS

    config = _config(attention)
    m = config.model
    enc_out = 2 * m.encoder_hidden

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            self.source_embeds = nn.ModuleList(nn.Embedding(v, d) for v, d in zip(SOURCE_VOCABS, m.source_embed_dims))
            self.encoder = nn.LSTM(sum(m.source_embed_dims), m.encoder_hidden, m.encoder_layers, batch_first=True,
                                   bidirectional=True)
            self.bridge = nn.Linear(enc_out, 2 * m.hidden)
            self.embed = nn.Embedding(VOCAB, m.target_embed_dim)
            if attention == "bahdanau":
                self.cell = nn.LSTMCell(m.target_embed_dim + enc_out, m.hidden)
                self.query = nn.Linear(m.hidden, m.attention_dim, bias=False)
                self.key = nn.Linear(enc_out, m.attention_dim)
                self.score_v = nn.Linear(m.attention_dim, 1, bias=False)
            else:
                self.decoder = nn.LSTM(m.target_embed_dim, m.hidden, batch_first=True)
                self.key = nn.Linear(enc_out, m.hidden, bias=False)
            self.readout = nn.Linear(m.hidden + enc_out, m.hidden)
            self.logits = nn.Linear(m.hidden, VOCAB)

        def forward(self, source, lengths, inputs):
            x = torch.cat([e(source[..., k]) for k, e in enumerate(self.source_embeds)], -1)
            packed, (h, _) = self.encoder(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
            enc, _ = pad_packed_sequence(packed, batch_first=True, total_length=source.shape[1])
            mask = torch.arange(source.shape[1])[None, :] < lengths[:, None]
            h0, c0 = torch.tanh(self.bridge(torch.cat([h[-2], h[-1]], -1))).chunk(2, -1)
            emb = self.embed(inputs)
            keys = self.key(enc)
            if attention == "bahdanau":
                state, outs = (h0, c0), []
                for t in range(inputs.shape[1]):
                    e = self.score_v(torch.tanh(self.query(state[0])[:, None] + keys))[..., 0]
                    w = torch.softmax(e.masked_fill(~mask, -1e9), -1)
                    context = torch.einsum("bs,bse->be", w, enc)
                    state = self.cell(torch.cat([emb[:, t], context], -1), state)
                    outs.append(torch.cat([state[0], context], -1))
                features = torch.stack(outs, 1)
            else:
                hs, _ = self.decoder(emb, (h0[None].contiguous(), c0[None].contiguous()))
                w = torch.softmax(torch.einsum("bth,bsh->bts", hs, keys).masked_fill(~mask[:, None], -1e9), -1)
                features = torch.cat([hs, torch.einsum("bts,bse->bte", w, enc)], -1)
            return self.logits(torch.tanh(self.readout(features)))

    torch.manual_seed(0)
    model = Twin()
    t = config.train
    opt = torch.optim.Adam(model.parameters(), lr=t.learning_rate)
    b = {k: torch.from_numpy(v) for k, v in _batch(config).items()}
    b["source"], b["targets"], b["source_len"] = b["source"].long(), b["targets"].long(), b["source_len"].long()
    inputs = torch.cat([torch.full_like(b["targets"][:, :1], BOS), b["targets"][:, :-1]], 1)
    ce = nn.CrossEntropyLoss(reduction="none")
    rate = config.loss.word_dropout

    def loss():
        drop = torch.rand(inputs.shape) < rate
        drop[:, 0] = False
        logits = model(b["source"], b["source_len"], inputs.masked_fill(drop, UNK))
        return (ce(logits.reshape(-1, VOCAB), b["targets"].reshape(-1)) * b["mask"].reshape(-1)).sum() / b["mask"].sum()

    return torch_train_step(model, opt, loss, t.clip_norm)


def _row(attention: str, steps: int, unsupported: dict) -> dict:
    c = _config(attention)
    sizes = {"attention": attention, "source_embeds": tuple(c.model.source_embed_dims),
             "encoder": f"{c.model.encoder_layers}x{c.model.encoder_hidden} bidirectional", "decoder": c.model.hidden,
             "attention_dim": c.model.attention_dim, "vocab": VOCAB, "batch": c.train.batch_size,
             "notes": c.data.max_notes}
    return side_by_side(attention, supported(jax_side, attention), supported(torch_side, attention), steps,
                        c.train.batch_size * c.data.max_notes, "tokens", sizes, unsupported)


def main(argv=None) -> dict:
    return train_main("lyrics_seq2seq", __doc__.splitlines()[0], ATTENTIONS, _row, argv)


if __name__ == "__main__":
    main()
