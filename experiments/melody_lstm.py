"""Melody LSTM language model (Magenta's melody RNN setting) on Essen folk songs and the Bach
chorale sopranos: melody tokens at 4 steps per quarter, teacher forcing, cross-entropy.

Run:      musicjax train experiments/melody_lstm.py:default --workdir runs/melody_lstm
Variants: tiny (seconds; tests), demo (`musicjax demo`: 300 steps at peak lr 5e-3), default (600
          steps; the family's defaults: a new melody_lstm experiment states only what differs), large,
          performance (the chorales' four voices as performance events, not melodies: the LSTM row
          beside the Transformer's in experiments/transformer_melody.py), performance_tiny.

Measured 2026-11-22 on the project's 2-core CPU machine (AVX-512), float32, `default`:
600 steps in 252 s (3 steps/s, ~24k tokens/s); test split (871 melodies, 46,040 notes):
0.831 nats/token, 4.25 bits/note, accuracy 0.741 — bigram 1.390 nats/token (7.10 bits/note),
unigram 1.462 (7.47). With model.implementation=flax: 0.878 nats/token, 4.49 bits/note.
`tiny` trains 12 steps in about 10 s (it does not beat the baselines: it is for tests).
`demo`, measured 2026-12-01 on the same kind of machine under a load average of 11 (other jobs; the
demo got half a core's worth of its 2 cores): 300 steps in 623 s at 0.5 steps/s (unloaded, about
2.4 steps/s: ~2 min); test split 0.873 nats/token, 4.46 bits/note, accuracy 0.730. Its samples
(temperature 0.9, top-p 0.95, those the model ended itself after >= 24 notes): 4-gram pitch
repetition 0.067 (test melodies 0.223), 2 of 4 end on the tonic (0.667), 50.8 notes (52.9), in key
0.961 (0.964).
"""

import ml_collections

# Fields with a fixed set of values (musicjax.config checks them, naming the field)
CHOICES = {
    "data.representation": ("melody", "performance"),
    "model.implementation": ("fused", "flax"),
    "train.optimizer": ("adam", "adamw", "adagrad", "sgd"),
    "train.schedule": ("constant", "exponential", "cosine", "warmup_cosine", "warmup_linear"),
    "train.precision": ("float32", "bfloat16"),
}


def get_config(variant: str = "default") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model_family = "melody_lstm"  # which model/data builder the trainer uses
    c.seed = 0  # PRNG seed: parameters, dropout (folded with the step) and data order

    c.data = ml_collections.ConfigDict()
    c.data.representation = "melody"  # melody: one part's tokens on a grid | performance: events (all parts)
    c.data.sources = (("essen", 0), ("bach_chorales", 0))  # (corpus, part): part 0 = chorale soprano
    c.data.steps_per_quarter = 4  # melody grid: sixteenth notes
    c.data.steps_per_second = 100  # performance only: time-shift resolution (10 ms)
    c.data.min_pitch = 36  # melody codec range (vocabulary 66); performance: transpositions stay inside
    c.data.max_pitch = 96
    c.data.max_transpose = 5  # training melodies shifted by up to +-5 semitones (kept in range)

    c.model = ml_collections.ConfigDict()
    c.model.embed_dim = 128  # token embedding size
    c.model.hidden = 256  # LSTM units per layer
    c.model.num_layers = 2  # stacked LSTM layers
    c.model.dropout = 0.1  # between layers and before the output layer
    c.model.implementation = "fused"  # fused: custom-backward LSTM (faster); flax: nn.RNN(OptimizedLSTMCell)

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 64  # windows per step, split over all devices
    c.train.seq_len = 128  # tokens per training window (32 quarter notes)
    c.train.num_steps = 600  # optimizer steps
    c.train.optimizer = "adam"  # adam | adamw | adagrad | sgd
    c.train.learning_rate = 3e-3  # peak learning rate
    c.train.schedule = "warmup_cosine"  # constant | exponential | cosine | warmup_cosine | warmup_linear
    c.train.warmup_steps = 50  # linear warm-up steps (warmup_* schedules)
    c.train.decay_rate = 0.5  # exponential schedule: factor per decay_steps
    c.train.decay_steps = 1000
    c.train.staircase = False  # exponential schedule: decay in steps, not smoothly
    c.train.end_fraction = 0.05  # final learning rate as a fraction of the peak
    c.train.clip_norm = 1.0  # global gradient-norm clipping (0: off)
    c.train.weight_decay = 0.0  # adamw only
    c.train.momentum = 0.9  # sgd only
    c.train.accumulate_steps = 1  # micro-batches per optimizer update
    c.train.precision = "float32"  # float32 | bfloat16 (matmuls; parameters stay float32)
    c.train.max_bad_steps = 5  # stop after this many non-finite steps in a row
    c.train.loss_spike_factor = 10.0  # stop when the loss exceeds this multiple of its recent median (0: off)
    c.train.loss_spike_window = 20  # logged losses the median is taken over

    c.log_every = 25  # steps between metric lines
    c.eval_every = 200  # steps between validation passes (and best-checkpoint candidates)
    c.checkpoint_every = 200  # steps between checkpoints (one is always written at the end)
    c.eval_batch_size = 64
    c.eval_length = 512  # tokens per evaluation window (a melody longer than this is split)

    c.sample = ml_collections.ConfigDict()
    c.sample.steps = 256  # tokens per sample (64 quarter notes)
    c.sample.temperature = 0.9  # softmax temperature (0: greedy); 0.9 with top_p 0.95 beat 1.0 / 1.0 by ear
    c.sample.top_k = 0  # keep the k most probable tokens (0: off)
    c.sample.top_p = 0.95  # nucleus: the most probable tokens holding this much probability (1: off)
    c.sample.qpm = 120.0  # tempo of the written samples

    if variant == "tiny":
        c.data.sources = (("bach_chorales", 0),)
        c.model.embed_dim, c.model.hidden, c.model.num_layers = 16, 32, 2
        c.train.batch_size, c.train.seq_len, c.train.num_steps = 8, 32, 12
        c.train.warmup_steps = 2
        c.log_every, c.eval_every, c.checkpoint_every = 2, 6, 6
        c.eval_batch_size, c.eval_length = 16, 64
        c.sample.steps = 32
    elif variant == "demo":  # `musicjax demo`: the default model in half the steps, at a higher peak rate
        c.train.num_steps = 300
        c.train.learning_rate = 5e-3
        c.train.warmup_steps = 30
        c.eval_every = 300  # one validation pass, at the end
        c.checkpoint_every = 100
    elif variant == "large":
        c.model.embed_dim, c.model.hidden = 256, 512
        c.train.num_steps = 5000
        c.eval_every = c.checkpoint_every = 500
    elif variant in ("performance", "performance_tiny"):
        performance(c, tiny=variant == "performance_tiny")
        if variant == "performance_tiny":
            c.model.embed_dim, c.model.hidden, c.model.num_layers = 16, 32, 2
    elif variant != "default":
        raise ValueError(f"unknown variant {variant!r}: tiny, demo, default, large, performance, performance_tiny")
    return c


def performance(c: ml_collections.ConfigDict, tiny: bool = False) -> None:
    """The chorales' four voices as performance events (PerformanceRNN's vocabulary, 391 ids; the
    corpus scores at their notated 120 qpm, so a quarter is a 50-step time shift): the data both
    LM families train on for the performance rows. `tiny`: seconds, for tests."""
    c.data.representation = "performance"
    c.data.sources = (("bach_chorales", None),)  # part None: every part
    c.data.min_pitch, c.data.max_pitch = 21, 108  # transpositions keep notes on the piano
    c.train.seq_len = 256  # events per training window (median chorale: 500 events)
    c.train.batch_size = 16
    c.train.num_steps = 1000
    c.eval_every = c.checkpoint_every = 250
    c.sample.steps = 511  # events per sample (the Transformer's cache holds 512 with BOS)
    if tiny:
        c.train.batch_size, c.train.seq_len, c.train.num_steps = 8, 32, 8
        c.log_every, c.eval_every, c.checkpoint_every = 2, 4, 4
        c.eval_batch_size, c.eval_length = 16, 64
        c.sample.steps = 48
