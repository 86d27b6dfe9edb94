"""The LSTM under Pearce's protocol: a model of each note's pitch, trained per fold on the other
nine folds, scored in bits per note of each melody's pitches.

Inputs are viewpoints, as in IDyOM: `pitch` alone (the previous note's pitch: a pitch-only
language model), or the previous note's pitch, interval and duration together with the attributes
of the note being predicted that IDyOM also holds known when it predicts a pitch (its duration,
the rest before it, its place in the bar, whether a phrase ends on it) and the notated mode. With
`key_normalise`, every melody is transposed so its notated tonic is the same pitch class (by -5 to
+6 semitones), which IDyOM's tonic-relative viewpoints (cpintfref) model; otherwise training
melodies are transposed at random for augmentation.

The probability of a note is the softmax renormalised over the dataset's pitch alphabet, the
alphabet IDyOM predicts over. LSTM+ adapts to the test melodies as it goes (dynamic evaluation: an
SGD step on each note's loss after predicting it, back-propagated through the last
`dynamic_window` notes; kept across the fold's test melodies, like LTM+). BOTH combines the LSTM
with the PPM* short-term model (STM), BOTH+ LSTM+ with the STM, ALL+ LSTM+ with the PPM* LTM+
and the STM, all by IDyOM's entropy weighting.

`architecture: transformer` puts the Music Transformer's stack (relative attention) in the LSTM's
place under the same protocol; its dynamic evaluation reads the last `dynamic_window` notes whole
(a Transformer has no state to carry past the window, where the LSTM starts from its state)."""

from __future__ import annotations

import dataclasses
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from musicjax.codecs.viewpoints import PITCH_ONLY, Vocabulary, check_viewpoints, key_shift, melody_features
from musicjax.data.idyom import DATASETS, Melody, folds
from musicjax.models.feature_lstm import FeatureLSTMModel
from musicjax.models.transformer import FeatureTransformer
from musicjax.prob.ppm import PPM, combine_entropy_weighted
from musicjax.train.optim import make_optimizer, make_schedule
from musicjax.train.step import TrainState, lm_loss_fn, make_train_step


@dataclasses.dataclass(frozen=True)
class PitchLSTMConfig:
    architecture: str = "lstm"  # lstm | transformer (the Music Transformer's stack, same inputs and protocol)
    hidden: int = 256  # LSTM units, or the Transformer's width
    num_layers: int = 1
    num_heads: int = 4  # transformer only
    max_len: int = 1024  # transformer only: the longest melody it can read
    dropout: float = 0.3
    steps: int = 600  # Adam steps per fold
    batch_size: int = 32
    learning_rate: float = 3e-3
    max_transpose: int = 6  # training melodies shifted by up to +-6 semitones (without key_normalise)
    viewpoints: tuple[str, ...] = PITCH_ONLY  # input features, from codecs.viewpoints.ALL_VIEWPOINTS
    key_normalise: bool = False  # transpose each melody's notated tonic to one pitch class
    dynamic_lr: float = 0.002  # SGD step size of dynamic evaluation (LSTM+)
    dynamic_window: int = 32  # notes back-propagated through per dynamic-evaluation step
    ensemble: int = 1  # models per fold, from different seeds; their note distributions are averaged
    seed: int = 0


def _pad(rows: list[tuple[np.ndarray, np.ndarray]], length: int, num_features: int):
    x = np.zeros((len(rows), length, num_features), np.int32)
    y = np.zeros((len(rows), length), np.int32)
    mask = np.zeros((len(rows), length), np.float32)
    for i, (f, t) in enumerate(rows):
        x[i, : len(t)] = f[:length]
        y[i, : len(t)] = t[:length]
        mask[i, : len(t)] = 1
    return x, y, mask


def _bucket(n: int, size: int = 32) -> int:
    """Padded length: a multiple of `size`, so batches compile to a few shapes."""
    return -(-n // size) * size


def _shift(mel: Melody, cfg: PitchLSTMConfig) -> int:
    return key_shift(mel) if cfg.key_normalise else 0


def training_batch(train: list[Melody], vocab: Vocabulary, cfg: PitchLSTMConfig, rng: np.random.Generator) -> dict:
    """cfg.batch_size melodies drawn with replacement, each moved by a random transposition that
    keeps it inside the vocabulary (or to its tonic with key_normalise) -> {'inputs' [B, T, F],
    'targets' [B, T], 'mask' [B, T]}, T a multiple of 32."""
    rows = []
    for r in rng.integers(len(train), size=cfg.batch_size):
        mel, shift = train[r], _shift(train[r], cfg)
        if not cfg.key_normalise and cfg.max_transpose:
            lo, hi = int(mel.pitch.min()) - vocab.low + 1, int(mel.pitch.max()) - vocab.low + 1
            moves = np.arange(-cfg.max_transpose, cfg.max_transpose + 1)
            moves = moves[(lo + moves >= 1) & (hi + moves < vocab.vocab)]
            shift = -int(rng.choice(moves))
        rows.append(melody_features(mel, cfg.viewpoints, shift, vocab.low))
    x, y, m = _pad(rows, _bucket(max(len(t) for _, t in rows)), len(cfg.viewpoints))
    return {"inputs": x, "targets": y, "mask": m}


def feature_model(vocab: Vocabulary, cfg: PitchLSTMConfig):
    """The note model of `cfg.architecture` over the viewpoint inputs."""
    sizes = tuple(vocab.feature_sizes(cfg.viewpoints))
    if cfg.architecture == "lstm":
        return FeatureLSTMModel(sizes, vocab.vocab, cfg.hidden, cfg.num_layers, cfg.dropout)
    if cfg.architecture == "transformer":
        # relative distances embedded up to the dynamic window or 128 notes; farther ones are clipped
        return FeatureTransformer(sizes, vocab.vocab, cfg.hidden, cfg.num_layers, cfg.num_heads, 4 * cfg.hidden,
                                  cfg.max_len, max(cfg.dynamic_window, 128), cfg.dropout)
    raise ValueError(f"architecture must be lstm or transformer, got {cfg.architecture!r}")


def train_fold(train: list[Melody], vocab: Vocabulary, cfg: PitchLSTMConfig, key, progress=None):
    """One model trained on the training melodies -> (model, params), by the project's one train
    step (musicjax.train.step): mean NLL over the notes, full softmax (transposed copies may leave
    the alphabet), Adam on a warmup-cosine schedule; step s's dropout key is fold_in(key, s).
    `progress(n)`, if given, is told of each step."""
    model = feature_model(vocab, cfg)
    params = model.init(key, jnp.zeros((1, 4, len(cfg.viewpoints)), jnp.int32))["params"]
    schedule = make_schedule("warmup_cosine", cfg.learning_rate, cfg.steps, warmup_steps=min(50, cfg.steps // 10),
                             end_fraction=0.05)
    state = TrainState.create(params, make_optimizer("adam", schedule))
    train_step = jax.jit(make_train_step(lm_loss_fn(model)), donate_argnums=0)
    rng = np.random.default_rng(cfg.seed)
    for _ in range(cfg.steps):
        state, _ = train_step(state, training_batch(train, vocab, cfg, rng), key)  # the step folds in its number
        if progress is not None:
            progress(1)
    return model, state.params


def melody_distributions(model, params, melodies: list[Melody], vocab: Vocabulary, cfg: PitchLSTMConfig):
    """Per melody, [notes, alphabet] probabilities of each note's pitch (alphabet-renormalised)."""
    apply = jax.jit(lambda p, x: model.apply({"params": p}, x)[0])
    out = []
    for mel in melodies:
        shift = _shift(mel, cfg)
        x, _ = melody_features(mel, cfg.viewpoints, shift, vocab.low)
        xp, _, _ = _pad([(x, x[:, 0])], _bucket(len(x)), x.shape[1])
        logits = apply(params, xp)[0, : len(x)]
        out.append(np.asarray(jax.nn.softmax(jnp.take(logits, vocab.alphabet_ids(shift), axis=-1), -1), np.float64))
    return out


def dynamic_evaluation(model, params, melodies: list[Melody], vocab: Vocabulary, cfg: PitchLSTMConfig,
                       progress=None):
    """LSTM+: for each note in order, its alphabet distribution from the current parameters, then one
    SGD step on that note's loss, back-propagated through the last `dynamic_window` notes (from the
    LSTM state before them, held fixed); parameters carry over to the next melody. Returns per-melody
    [notes, alphabet] probability arrays. `progress(n)`, if given, is told of each melody's notes."""
    w = cfg.dynamic_window

    @jax.jit
    def predict_and_learn(p, carry, x, y, i, alphabet_ids):
        """x [w, F] window of inputs from the state `carry`; the note to predict is window row i."""
        def nll(p):
            logits, _ = model.apply({"params": p}, x[None], carry)
            lp = jax.nn.log_softmax(logits[0, i])
            return -lp[y], jax.nn.softmax(jnp.take(logits[0, i], alphabet_ids))

        (_, dist), g = jax.value_and_grad(nll, has_aux=True)(p)
        # the state one note into the window (a Transformer carries none: it reads the window whole)
        after_first = None if carry is None else model.apply({"params": p}, x[None, :1], carry)[1]
        return jax.tree_util.tree_map(lambda a, b: a - cfg.dynamic_lr * b, p, g), dist, after_first

    out = []
    for mel in melodies:
        shift = _shift(mel, cfg)
        x, y = melody_features(mel, cfg.viewpoints, shift, vocab.low)
        n = len(y)
        xp = np.zeros((n + w, x.shape[1]), np.int32)
        xp[:n] = x
        alphabet_ids = jnp.asarray(vocab.alphabet_ids(shift))
        carry = model.zero_carries(1) if hasattr(model, "zero_carries") else None
        start, dists = 0, []
        for i in range(n):
            params, dist, after_first = predict_and_learn(params, carry, xp[start: start + w], int(y[i]), i - start,
                                                          alphabet_ids)
            dists.append(np.asarray(dist, np.float64))
            if i + 1 - start >= w:  # the window slides: its state moves one note on
                start, carry = start + 1, after_first
        out.append(np.stack(dists))
        if progress is not None:
            progress(n)
    return out


def _bits(dists: np.ndarray, symbols: list[int]) -> np.ndarray:
    """[n, A] distributions, n symbols -> [n] bits of each symbol."""
    return -np.log2(dists[np.arange(len(symbols)), symbols])


def _predict_then_learn(ppm: PPM, symbols: list[int]) -> np.ndarray:
    """[n, A]: the PPM model's distribution of each symbol given those before it, learning each
    symbol after predicting it (the STM from an empty model, LTM+ from the training folds)."""
    out = []
    for j, k in enumerate(symbols):
        out.append(ppm.distribution(symbols[:j]))
        ppm.update(symbols[:j], k)
    return np.stack(out)


def _combined(parts: list[np.ndarray], bias: float) -> np.ndarray:
    """Per note, the entropy-weighted combination of the models' [n, A] distributions -> [n, A]."""
    return np.stack([combine_entropy_weighted(notes, bias) for notes in zip(*parts)])


def _member(cfg: PitchLSTMConfig, e: int) -> PitchLSTMConfig:
    """Ensemble member e's config: its own seed (member 0 is the config itself)."""
    return dataclasses.replace(cfg, seed=cfg.seed + 1000 * e)


def lstm_cross_validation(name: str, cfg: PitchLSTMConfig = PitchLSTMConfig(), dynamic: bool = True,
                          bias: float = 1.0, max_folds: int | None = None) -> dict:
    """Mean bits per note of LSTM, BOTH, LSTM+, BOTH+ and ALL+ over the folds (see module doc).
    With cfg.ensemble > 1, each fold trains that many models (seeds differ) and LSTM / LSTM+ are
    their averaged distributions. Each fold shows a progress bar on stderr (training steps, then
    the notes of dynamic evaluation)."""
    from tqdm import tqdm

    start_time = time.time()
    melodies = list(DATASETS[name]())
    check_viewpoints(cfg.viewpoints)
    vocab = Vocabulary.for_dataset(melodies, 12)
    size = len(vocab.alphabet)
    per_fold = {m: [] for m in ("LSTM", "BOTH", "LSTM+", "BOTH+", "ALL+")}
    member_folds = [{"LSTM": [], "LSTM+": []} for _ in range(cfg.ensemble)]  # each model alone
    fold_list = folds(len(melodies))[:max_folds]
    for f, test in enumerate(fold_list):
        held = set(test.tolist())
        train = [melodies[i] for i in range(len(melodies)) if i not in held]
        test_mels = [melodies[i] for i in test]
        symbols = [vocab.symbols(m) for m in test_mels]
        work = cfg.ensemble * (cfg.steps + (sum(len(s) for s in symbols) if dynamic else 0))
        bar = tqdm(total=work, desc=f"LSTM fold {f + 1}/{len(fold_list)}", unit="step", file=sys.stderr,
                   leave=False, dynamic_ncols=True)
        stm = [_predict_then_learn(PPM(size), s) for s in symbols]
        static, plus = [], []
        for e in range(cfg.ensemble):
            member = _member(cfg, e)
            model, params = train_fold(train, vocab, member, jax.random.key(member.seed + f), bar.update)
            static.append(melody_distributions(model, params, test_mels, vocab, member))
            if dynamic:
                plus.append(dynamic_evaluation(model, params, test_mels, vocab, member, bar.update))
        bar.close()
        for e, row in enumerate(member_folds):
            for m, d in (("LSTM", static), ("LSTM+", plus)):
                if d:
                    row[m].append(float(np.mean(np.concatenate([_bits(q, s) for q, s in zip(d[e], symbols)]))))
        static = [np.mean(d, 0) for d in zip(*static)]  # per melody, the members' mean [n, A]
        bits = {"LSTM": [_bits(d, s) for d, s in zip(static, symbols)],
                "BOTH": [_bits(_combined([d, q], bias), s) for d, q, s in zip(static, stm, symbols)]}
        if dynamic:
            ltm_plus = PPM(size)  # the fold's PPM* LTM+, for the three-way mixture
            for mel in train:
                ltm_plus.learn(vocab.symbols(mel))
            ltm = [_predict_then_learn(ltm_plus, s) for s in symbols]  # carries on across the test melodies
            plus = [np.mean(d, 0) for d in zip(*plus)]
            bits["LSTM+"] = [_bits(d, s) for d, s in zip(plus, symbols)]
            bits["BOTH+"] = [_bits(_combined([d, q], bias), s) for d, q, s in zip(plus, stm, symbols)]
            bits["ALL+"] = [_bits(_combined([d, p, q], bias), s) for d, p, q, s in zip(plus, ltm, stm, symbols)]
        for m, v in bits.items():
            per_fold[m].append(float(np.mean(np.concatenate(v))))
    result = {m: float(np.mean(v)) for m, v in per_fold.items() if v}
    members = [{m: float(np.mean(v)) for m, v in row.items() if v} for row in member_folds]
    return {"dataset": name, "config": dataclasses.asdict(cfg), "bits_per_note": result, "members": members,
            "per_fold": {m: v for m, v in per_fold.items() if v}, "seconds": round(time.time() - start_time, 1)}
