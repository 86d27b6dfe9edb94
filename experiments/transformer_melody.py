"""Music Transformer (relative attention, Huang et al. 2018) on the melody LSTM's data: Essen folk
songs and the Bach chorale sopranos as melody tokens at 4 steps per quarter, the same windows,
loss, splits and evaluation (`experiments/melody_lstm.py`), so the two rows compare directly.

Run:      musicjax train experiments/transformer_melody.py:default --workdir runs/transformer_melody
Variants: tiny (seconds; tests), default (the family's defaults), absolute (no relative term: the
          ablation), large, performance (the chorales' four voices as performance events: note-on/off,
          10 ms time shifts, velocity; `melody_lstm.performance` sets the data), performance_tiny.

Measured 2026-12-01 on the project's 2-core Intel Xeon (AVX-512), shared for the first 30 min
(load 8-12), float32, `default`: 600 steps in 52 min (0.3 steps/s; the LSTM's default ran 3 steps/s);
valid 4.445 / 4.218 / 4.131 bits/note at steps 200 / 400 / 600; test split 0.813 nats/token,
4.153 bits/note, accuracy 0.747 (the melody LSTM's default: 0.831, 4.25, 0.741).

`performance` (the chorales' four voices as performance events: 274 / 33 / 43 pieces, 23,393 test
events of 9,859 notes), measured 2026-12-01 on the same machine shared with a MusicVAE run (load 3-5),
1,000 steps of 16 x 256 events, best (= last) checkpoint, test split:
  transformer 3x128, 4 heads, ff 512      1.127 nats/event, 3.858 bits/note, accuracy 0.665 (36 min)
  LSTM 2x256 (`melody_lstm.py:performance`) 0.880 nats/event, 3.011 bits/note, accuracy 0.726 (9 min)
  bigram / unigram                        2.677 / 4.120 nats/event (9.16 / 14.10 bits/note)
Both were still improving at step 1,000 (valid 1.194 -> 1.163 and 0.930 -> 0.909 over the last 250
steps). At this budget the LSTM, with more parameters (1.07M against the Transformer's 0.79M) and
a quarter of the wall time, wins; the Transformer's relative attention would need the longer run the
paper gives it to show its advantage on long pieces. Samples (`musicjax sample`) are four-voice-like
textures with some notes held for bars (a note-on whose note-off is never drawn).
"""

import ml_collections

from experiments import melody_lstm

CHOICES = {k: v for k, v in melody_lstm.CHOICES.items() if not k.startswith("model.")}


def get_config(variant: str = "default") -> ml_collections.ConfigDict:
    base = variant if variant in ("tiny", "performance", "performance_tiny") else "default"
    c = melody_lstm.get_config(base)
    c.model_family = "music_transformer"
    c.model = ml_collections.ConfigDict()
    c.model.model_dim = 256  # residual stream width (embedding size)
    c.model.num_layers = 4  # decoder blocks
    c.model.num_heads = 8  # attention heads per block
    c.model.ff_dim = 1024  # feed-forward hidden units
    c.model.max_len = 512  # KV-cache slots: the longest sequence scored or sampled in one piece
    c.model.max_distance = 0  # relative distances embedded (0: train.seq_len); longer ones are clipped
    c.model.dropout = 0.1  # embedding, attention weights, residual branches
    c.model.relative = True  # relative position logits (False: no position information but causality)
    c.train.learning_rate = 1e-3  # peak
    c.train.warmup_steps = 100
    if variant in ("tiny", "performance_tiny"):
        c.model.model_dim, c.model.num_layers, c.model.num_heads, c.model.ff_dim = 32, 2, 4, 64
        c.model.max_len = 64
        c.train.warmup_steps = 2
    elif variant == "absolute":
        c.model.relative = False
    elif variant == "large":
        c.model.model_dim, c.model.num_layers, c.model.ff_dim = 384, 6, 1536
        c.train.num_steps = 5000
        c.eval_every = c.checkpoint_every = 500
    elif variant == "performance":  # CPU-sized: 4x256 at batch 32 ran 8 s a step here (shared)
        c.model.model_dim, c.model.num_layers, c.model.num_heads, c.model.ff_dim = 128, 3, 4, 512
    elif variant != "default":
        raise ValueError(f"unknown variant {variant!r}: tiny, default, absolute, large, performance, performance_tiny")
    return c
