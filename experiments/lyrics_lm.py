"""LSTM lyrics language model: lines of German, Chinese or English lyrics and poems as characters or
words, one line a sequence from a zero state, next-token cross-entropy; PPM* beside it.

Run:      musicjax train experiments/lyrics_lm.py:de_chars --workdir runs/lyrics_lm_de
          musicjax sample --workdir runs/lyrics_lm_de --out runs/lyrics_lm_de/samples
          musicjax evaluate --workdir runs/lyrics_lm_de --split test
Variants: de_chars (chorale verses of lyrics_text), chorale_de (the same verses read from the
          chorale corpus with its piece-level split), zh_chars (Tang poems and Song ci), en_chars
          (English songs and poems), en_words, tiny (seconds; tests).

Results: see the table filled in below once measured.
"""

import ml_collections

VARIANTS = ("de_chars", "chorale_de", "zh_chars", "en_chars", "en_words", "tiny")
CHOICES = {  # fields with a fixed set of values (checked by musicjax.config)
    "data.source": ("lyrics_text", "bach_chorales"),
    "data.language": ("de", "zh", "en"),
    "data.tokens": ("chars", "words", "pinyin"),
    "train.optimizer": ("adam", "adamw", "adagrad", "sgd"),
    "train.schedule": ("constant", "exponential", "cosine", "warmup_cosine", "warmup_linear"),
    "train.precision": ("float32", "bfloat16"),
    "report.ppm_escape": ("a", "b", "c", "d", "x"),
}


def get_config(variant: str = "de_chars") -> ml_collections.ConfigDict:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")
    c = ml_collections.ConfigDict()
    c.model_family = "lyrics_lstm"  # musicjax.tasks.lyrics_lm, run by the training loop
    c.seed = 0  # PRNG seed: parameters, dropout (folded with the step), line order, samples

    c.data = ml_collections.ConfigDict()
    c.data.source = "lyrics_text"  # lyrics_text | bach_chorales (German verses, the chorale corpus's split)
    c.data.language = "de"  # de | zh | en: which texts of lyrics_text
    c.data.tokens = "chars"  # chars | words | pinyin
    c.data.lowercase = False  # fold case before counting (words: yes)
    c.data.spaces = True  # chars: the space between words is a character (one per run of whitespace)
    c.data.vocab_size = 0  # symbols a line holds, <eos> and <unk> included (0: every token kept by min_count)
    c.data.min_count = 2  # training tokens seen fewer times are <unk> (so <unk> is learnt, as test OOV needs)
    c.data.max_lines = 0  # keep only the first this many training lines (0: all)

    c.model = ml_collections.ConfigDict()
    c.model.embed_dim = 64  # token embedding size (folded into layer 0's input gates)
    c.model.hidden = 256  # LSTM units per layer
    c.model.num_layers = 2  # stacked LSTM layers
    c.model.dropout = 0.3  # between layers and before the output layer (small corpora overfit)

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 64  # lines per step, split over all devices
    c.train.seq_len = 96  # tokens per row at most: a longer line trains on a random window of it
    c.train.length_buckets = 3  # rows of seq_len, seq_len/2, ...: a batch holds lines of one length class
    c.train.num_steps = 900  # optimizer steps (about 12 min on the shared 2-core machine)
    c.train.optimizer = "adam"  # adam | adamw | adagrad | sgd
    c.train.learning_rate = 3e-3  # peak learning rate
    c.train.schedule = "warmup_cosine"  # constant | exponential | cosine | warmup_cosine | warmup_linear
    c.train.warmup_steps = 100  # linear warm-up steps (warmup_* schedules)
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

    c.log_every = 50  # steps between metric lines
    c.eval_every = 150  # steps between validation passes (and best-checkpoint candidates: these models overfit)
    c.checkpoint_every = 150  # steps between checkpoints (one is always written at the end)
    c.eval_batch_size = 128  # lines per evaluation batch (each line one row)

    c.report = ml_collections.ConfigDict()
    c.report.ppm = True  # PPM* on the same symbols in `musicjax evaluate`
    c.report.ppm_escape = "c"  # its escape method

    c.sample = ml_collections.ConfigDict()
    c.sample.max_tokens = 120  # a sampled line ends at <eos> or here
    c.sample.temperature = 0.8  # softmax temperature (0: greedy)
    c.sample.top_k = 0  # keep the k most probable tokens (0: off)
    c.sample.top_p = 0.95  # nucleus: the most probable tokens holding this much probability (1: off)

    if variant == "chorale_de":
        c.data.source = "bach_chorales"
    elif variant == "zh_chars":
        c.data.language = "zh"
        c.train.seq_len = 48  # the longest Tang/Song line has 38 characters
        # 24k training characters over 1,676 symbols: 2x256 at dropout 0.3 overfit from step ~150
        # (valid 7.88 bits/char, 8.08 at step 300), so one layer, more dropout, fewer steps
        c.model.num_layers, c.model.dropout = 1, 0.5
        c.train.num_steps = 600
        c.eval_every = c.checkpoint_every = 50
        c.sample.max_tokens = 40
    elif variant == "en_chars":
        c.data.language = "en"
        c.train.seq_len = 80  # the longest line has 68 characters
    elif variant == "en_words":
        c.data.language, c.data.tokens = "en", "words"
        c.data.lowercase, c.data.spaces = True, False
        c.train.seq_len = 32
        c.sample.max_tokens = 30
        c.model.num_layers, c.model.dropout = 1, 0.5  # 44k training words over ~2.8k symbols: as zh_chars
        c.train.num_steps = 600
        c.eval_every = c.checkpoint_every = 50
    elif variant == "tiny":
        c.data.max_lines = 200
        c.model.embed_dim, c.model.hidden, c.model.num_layers = 16, 32, 1
        c.model.dropout = 0.0
        c.train.batch_size, c.train.seq_len, c.train.num_steps = 16, 48, 12
        c.train.length_buckets = 1  # one compiled step
        c.train.warmup_steps = 2
        c.train.learning_rate = 1e-2
        c.log_every, c.eval_every, c.checkpoint_every = 4, 6, 6
        c.sample.max_tokens = 40
    return c
