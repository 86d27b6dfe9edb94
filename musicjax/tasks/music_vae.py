"""The MusicVAE task: bar-aligned melody windows (2 or 16 bars) of Essen, the ABC books and the chorale
sopranos; the ELBO with Magenta's annealed β and free bits, and parallel scheduled sampling."""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from musicjax.codecs.melody import BOS, HOLD, NUM_SPECIAL, PAD, REST
from musicjax.data import datasets
from musicjax.data.records import record_to_score
from musicjax.data.score import Metadata, Score
from musicjax.evaluate.music_stats import mean_stats, pitch_ngram_repetition
from musicjax.models.music_vae import MusicVAE, decoder_inputs, reparameterize, step_fn
from musicjax.sample.sampling import decode
from musicjax.tasks.melody_data import MelodyData, train_batches
from musicjax.train import parallel
from musicjax.train.losses import free_bits_kl, gaussian_kl, kl_weight, token_cross_entropy
from musicjax.train.optim import optimizer_from_config
from musicjax.train.step import TrainState, make_train_step
from musicjax.train.task import Task

LN2 = math.log(2.0)
METERS = ("4/4", "2/4")  # a model bar of 4 quarters is one 4/4 bar or two 2/4 bars


@dataclasses.dataclass(frozen=True)
class WindowSpec:
    """Which windows of a melody the model reads (in steps of the codec's grid)."""

    num_bars: int = 2
    bar_steps: int = 16  # 4 quarter notes at 4 steps per quarter
    gap_steps: int = 16  # a silent stretch this long skips the window
    min_notes: int = 2  # fewer note onsets than this skips the window (>= 1: transposition needs a note)
    meters: tuple[str, ...] = METERS

    def __post_init__(self):
        if not 1 <= self.gap_steps <= self.length or self.min_notes < 1:
            raise ValueError(f"need 1 <= gap_steps <= window ({self.length}) and min_notes >= 1: {self}")

    @property
    def length(self) -> int:
        return self.num_bars * self.bar_steps


# ---------------------------------------------------------------------------------------------
# Windows


def sounding(tokens: np.ndarray) -> np.ndarray:
    """[T] bool: whether a note sounds at each step (the latest non-HOLD event is a note-on)."""
    tokens = np.asarray(tokens)
    steps = np.arange(len(tokens))
    last_event = np.maximum.accumulate(np.where(tokens != HOLD, steps, -1))
    return (last_event >= 0) & (tokens[np.maximum(last_event, 0)] >= NUM_SPECIAL)


def bar_windows(tokens: np.ndarray, spec: WindowSpec, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Windows of one melody [T] tokens: (windows [n, spec.length] int16, starts [n]) at the bar
    lines offset + k * bar_steps, wholly inside the melody, without a silent stretch of
    `gap_steps` and with at least `min_notes` note onsets."""
    tokens = np.asarray(tokens)
    length = spec.length
    starts = np.arange(offset, len(tokens) - length + 1, spec.bar_steps)
    if starts.size == 0:
        return np.zeros((0, length), np.int16), starts
    silent = np.concatenate([[0], np.cumsum(~sounding(tokens))])
    onsets = np.concatenate([[0], np.cumsum(tokens >= NUM_SPECIAL)])
    # gap_at[p]: steps p .. p + gap_steps - 1 are all silent
    g = spec.gap_steps
    gap_at = (silent[g:] - silent[:-g]) == g
    gaps = np.concatenate([[0], np.cumsum(gap_at)])
    last_gap_start = starts + length - g  # a gap starting at or before this lies inside the window
    has_gap = gaps[last_gap_start + 1] - gaps[starts] > 0
    enough = onsets[starts + length] - onsets[starts] >= spec.min_notes
    starts = starts[~has_gap & enough]
    windows = np.zeros((len(starts), length), np.int16)
    for row, s in enumerate(starts):
        windows[row] = tokens[s:s + length]
    return windows, starts


def melody_windows(data: MelodyData, spec: WindowSpec, split: str) -> dict:
    """Every window of `split` of `data.sources`: {'tokens' [N, L] int16, 'piece' [N] (index into
    'ids'), 'start' [N] (step in its melody), 'ids' (source ids of the pieces read), 'skipped':
    counts of pieces left out, by reason}. Splits are the corpora's (by piece).

    A model bar is 4 quarter notes (16 steps at 4 steps per quarter): one bar of a 4/4 piece, two
    bars of a 2/4 piece. Pieces in other meters (`score.meta.meter`, the first time signature) are
    skipped; a piece whose meter changes later is windowed by its first one. Model bars start at the
    piece's first bar line (`Score.first_downbeat_q`: after the pickup the notation states, e.g. most
    chorales' one beat; quarter 0 for a source that states none), so a pickup is never a window's
    start. Windows start at every model bar line (hop one model bar) and lie wholly
    inside the melody; `bar_windows` skips those with a silent stretch of `gap_steps` (one bar by
    default: Magenta's melody extraction ends a melody at a one-bar gap, gap_bars=1) or fewer than
    `min_notes` onsets."""
    codec = data.codec
    rows, pieces, starts, ids = [], [], [], []
    skipped = {"meter": 0, "range_or_empty": 0, "no_window": 0}
    for corpus, part in data.sources:
        for rec in datasets.data_source(corpus, split):
            score = record_to_score(rec)
            if score.meta.meter not in spec.meters:
                skipped["meter"] += 1
                continue
            try:
                if part >= len(score.parts):
                    raise ValueError("no such part")
                tokens = codec.encode(score, part)
            except ValueError:
                skipped["range_or_empty"] += 1
                continue
            offset = int(round(score.first_downbeat_q * data.steps_per_quarter))
            w, s = bar_windows(tokens, spec, offset)
            if not len(w):
                skipped["no_window"] += 1
                continue
            rows.append(w)
            starts.append(s)
            pieces.append(np.full(len(w), len(ids), np.int32))
            ids.append(score.meta.source_id)
    if not rows:
        raise ValueError(f"no {spec.num_bars}-bar windows in split {split!r} of {data.sources}")
    return {"tokens": np.concatenate(rows), "piece": np.concatenate(pieces), "start": np.concatenate(starts),
            "ids": ids, "skipped": skipped}


def fit_window(tokens: np.ndarray, length: int) -> np.ndarray:
    """A melody's first `length` tokens; a shorter one is ended with a release and held silence."""
    tokens = np.asarray(tokens, np.int32)[:length]
    if len(tokens) < length:
        tokens = np.concatenate([tokens, [REST], np.full(length - len(tokens) - 1, HOLD)]).astype(np.int32)
    return tokens


def decode_from_z(model: MusicVAE, params, z, key, *, temperature=0.0, top_k=0, top_p=1.0):
    """Autoregressive decoding of T = model.num_steps tokens from z [B, Z] through the shared
    sampler (`musicjax.sample.sampling.decode`): BOS is fed first; temperature 0 is argmax.
    Jit-compatible; returns tokens [B, T] int32."""
    fn = step_fn(model, params)
    cache = model.apply({"params": params}, z, method=MusicVAE.initial_cache)
    logits, cache = fn(jnp.full(z.shape[:1], BOS, jnp.int32), cache)
    return decode(fn, logits, cache, key, num_steps=model.num_steps, temperature=temperature, top_k=top_k,
                  top_p=top_p, eos=-1, pad=PAD)


# ---------------------------------------------------------------------------------------------
# Loss


def teacher_forcing_probability(step, rate: float):
    """Magenta's inverse-sigmoid schedule k / (k + exp(step / k)) with k = rate (1 when rate is 0)."""
    if not rate:
        return jnp.ones((), jnp.float32)
    step = jnp.asarray(step, jnp.float32)
    return rate / (rate + jnp.exp(jnp.minimum(step / rate, 80.0)))


def scheduled_inputs(tokens, teacher_logits, p_teacher, key):
    """Parallel scheduled sampling (Duckworth et al. 2019): the decoder's teacher-forced logits
    [B, T, V] give each step a sampled token (no gradient); each input token after BOS is replaced
    by the sampled token before it with probability 1 - p_teacher. -> inputs [B, T]. (The fused
    LSTM hoists its input projection over all steps, so the step-by-step form of Bengio et al. 2015
    is replaced by this two-pass one.)"""
    k_draw, k_mix = jax.random.split(key)
    drawn = jax.random.categorical(k_draw, jax.lax.stop_gradient(teacher_logits), axis=-1).astype(tokens.dtype)
    use_sample = jax.random.bernoulli(k_mix, 1.0 - p_teacher, tokens.shape)
    return jnp.where(use_sample, decoder_inputs(drawn), decoder_inputs(tokens))


def vae_loss_fn(model: MusicVAE, beta_max: float, beta_rate: float, free_bits: float, sampling_rate: float):
    """loss_fn(params, batch {'tokens' [B, T]}, key, step) -> (loss, metrics): the reconstruction
    cross-entropy summed over a window, plus kl_weight(step) * max(KL - free bits, 0), both
    averaged over the batch. Metrics: recon and neg_elbo (nats per window), kl_bits, beta,
    p_teacher, accuracy (teacher forced), tokens."""
    call = lambda params, *a, method: model.apply({"params": params}, *a, method=method)

    def loss_fn(params, batch, key, step):
        tokens = batch["tokens"]
        k_z, k_ss = jax.random.split(key)
        mu, log_var = call(params, tokens, method=MusicVAE.encode)
        z = reparameterize(mu, log_var, k_z)
        inputs = decoder_inputs(tokens)
        p_teacher = teacher_forcing_probability(step, sampling_rate)
        if sampling_rate:
            inputs = scheduled_inputs(tokens, call(params, z, inputs, method=MusicVAE.decode), p_teacher, k_ss)
        logits = call(params, z, inputs, method=MusicVAE.decode)
        _, nll_sum, count, correct = token_cross_entropy(logits, tokens, jnp.ones(tokens.shape, jnp.float32))
        recon = nll_sum / tokens.shape[0]
        kl = gaussian_kl(mu, log_var)  # [B] nats
        beta = kl_weight(step, beta_max, beta_rate)
        loss = recon + beta * jnp.mean(free_bits_kl(kl, free_bits))
        return loss, {"recon": recon, "kl_bits": jnp.mean(kl) / LN2, "neg_elbo": recon + jnp.mean(kl), "beta": beta,
                      "p_teacher": p_teacher, "accuracy": correct / count, "tokens": count}

    return loss_fn


def eval_sums_fn(model: MusicVAE):
    """(params, batch {'tokens' [B, T], 'weight' [B]}, key) -> sums over the rows of weight 1:
    reconstruction NLL and KL (nats) and teacher-forced correct tokens with z sampled from the
    posterior (an ELBO estimate), and correct tokens of argmax decoding from z = mu through the
    shared sampler (`sampled_correct`)."""

    def sums(params, batch, key):
        tokens, weight = batch["tokens"], batch["weight"]
        call = lambda *a, method: model.apply({"params": params}, *a, method=method)
        mu, log_var = call(tokens, method=MusicVAE.encode)
        z = reparameterize(mu, log_var, key)
        logits = call(z, decoder_inputs(tokens), method=MusicVAE.decode)
        mask = jnp.broadcast_to(weight[:, None], tokens.shape)
        _, nll_sum, count, correct = token_cross_entropy(logits, tokens, mask)
        greedy = decode_from_z(model, params, mu, key, temperature=0.0)
        return {"nll_sum": nll_sum, "kl_sum": jnp.sum(gaussian_kl(mu, log_var) * weight), "tokens": count,
                "correct": correct, "sampled_correct": jnp.sum((greedy == tokens) * mask), "windows": jnp.sum(weight)}

    return sums


def z_use_sums_fn(model: MusicVAE):
    """(params, batch {'tokens' [B, T], 'weight' [B]}, key) -> sums over the rows of weight 1 that
    measure how much the decoder uses z: teacher-forced NLL and correct tokens, and correct tokens of
    argmax decoding, each from the window's own posterior mean and from another window's (row i
    reads the mean of row i - 1, cyclically over the rows of weight 1, which come first). A decoder
    that ignores z scores the same from both; free bits leave the KL uninformative on this point,
    as a KL below them costs nothing whether or not the decoder reads it."""

    def sums(params, batch, key):
        tokens, weight = batch["tokens"], batch["weight"]
        mu, _ = model.apply({"params": params}, tokens, method=MusicVAE.encode)
        rows = jnp.arange(tokens.shape[0])
        valid = jnp.sum(weight).astype(jnp.int32)
        other = mu[jnp.where(rows == 0, jnp.maximum(valid - 1, 0), rows - 1)]
        mask = jnp.broadcast_to(weight[:, None], tokens.shape)
        out = {"tokens": jnp.sum(mask), "windows": jnp.sum(weight)}
        for name, z in (("own", mu), ("other", other)):
            logits = model.apply({"params": params}, z, decoder_inputs(tokens), method=MusicVAE.decode)
            _, nll_sum, _, correct = token_cross_entropy(logits, tokens, mask)
            greedy = decode_from_z(model, params, z, key, temperature=0.0)
            out |= {f"nll_{name}": nll_sum, f"correct_{name}": correct,
                    f"sampled_correct_{name}": jnp.sum((greedy == tokens) * mask)}
        return out

    return sums


def summarize_z_use(t: dict) -> dict:
    """Per window (nats) and per token (accuracies) from z_use_sums_fn's sums; `nats_from_z` is the
    reconstruction NLL another window's code costs over the window's own."""
    windows, tokens = max(t["windows"], 1.0), max(t["tokens"], 1.0)
    return {"nll_own_z": t["nll_own"] / windows, "nll_other_z": t["nll_other"] / windows,
            "nats_from_z": (t["nll_other"] - t["nll_own"]) / windows,
            "accuracy_own_z": t["correct_own"] / tokens, "accuracy_other_z": t["correct_other"] / tokens,
            "sampled_accuracy_own_z": t["sampled_correct_own"] / tokens,
            "sampled_accuracy_other_z": t["sampled_correct_other"] / tokens, "windows": int(t["windows"])}


def summarize_sums(t: dict) -> dict:
    windows, tokens = max(t["windows"], 1.0), max(t["tokens"], 1.0)
    nll, kl = t["nll_sum"] / windows, t["kl_sum"] / windows
    return {"nll": nll, "kl_bits": kl / LN2, "neg_elbo": nll + kl, "neg_elbo_per_token": (t["nll_sum"] + t["kl_sum"]) / tokens,
            "nll_per_token": t["nll_sum"] / tokens, "accuracy": t["correct"] / tokens,
            "sampled_accuracy": t["sampled_correct"] / tokens, "windows": int(t["windows"])}


# ---------------------------------------------------------------------------------------------
# Musical statistics


def melody_statistics(scores) -> dict:
    """music_stats.mean_stats plus the mean pitch 4-gram repetition."""
    rep = [pitch_ngram_repetition(s) for s in scores]
    rep = [r for r in rep if np.isfinite(r)]
    return {**mean_stats(scores), "pitch_4gram_repetition": float(np.mean(rep)) if rep else float("nan")}


def slerp(a, b, t):
    """Spherical interpolation of vectors a, b [Z] at t in [0, 1] (lerp where they are parallel)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


# ---------------------------------------------------------------------------------------------
# The task


def model_from_config(config, vocab_size: int) -> MusicVAE:
    m = config.model
    dtype = jnp.bfloat16 if config.train.precision == "bfloat16" else jnp.float32
    return MusicVAE(vocab_size, config.data.num_bars, 4 * config.data.steps_per_quarter, m.embed_dim,
                    m.encoder_hidden, m.encoder_layers, m.z_dim, m.decoder, m.decoder_hidden, m.decoder_layers,
                    m.conductor_hidden, m.conductor_layers, dtype)


def make(config) -> Task:
    """The task of an experiments/music_vae.py config. Batches {'tokens' [rows, L] int32} are a pure
    function of (step, process_index, process_count): melody_data's `train_batches` draws each
    row's window and transposition from rng(seed, row index). Scheduled sampling is the parallel
    two-pass form (`scheduled_inputs`), as the fused LSTM hoists its input projection.

    best_metric is the validation negative ELBO (nats per window, z sampled from the posterior):
    unlike the training loss it does not depend on the step's β, it bounds -log p(x), and it
    charges the KL a model spends, where sampled accuracy alone rewards a posterior that drifts
    from the prior and so makes prior samples worse. Evaluation points score a fixed spread of
    `eval_windows` validation windows; `report` scores the whole split."""
    d = config.data
    data = MelodyData(tuple(tuple(s) for s in d.sources), d.steps_per_quarter, d.min_pitch, d.max_pitch)
    spec = WindowSpec(d.num_bars, 4 * d.steps_per_quarter, d.gap_steps, d.min_notes)
    codec, length = data.codec, spec.length
    model = model_from_config(config, codec.vocab_size)
    tx, schedule = optimizer_from_config(config.train)
    l = config.loss
    loss_fn = vae_loss_fn(model, l.beta_max, l.beta_rate, l.free_bits, l.scheduled_sampling_rate)
    batch_size, seed = config.train.batch_size, config.seed
    s = config.sample

    @functools.cache
    def windows(split: str) -> dict:
        return melody_windows(data, spec, split)

    @functools.cache
    def stream(process_index: int, process_count: int):
        # Whole windows: with length L + 1 every element is BOS + window + EOS uncropped, so the
        # first L targets are the (transposed) window.
        return train_batches(list(windows("train")["tokens"]), data, length + 1, batch_size, seed, d.max_transpose,
                             process_index, process_count)

    def batch(step: int, process_index: int = 0, process_count: int = 1) -> dict:
        return {"tokens": np.ascontiguousarray(stream(process_index, process_count)[step]["targets"][:, :length])}

    mesh = parallel.data_mesh()
    n_dev = len(mesh.devices.flat)
    eval_rows = max(n_dev, config.eval_batch_size // n_dev * n_dev)
    eval_sums = jax.jit(eval_sums_fn(model), in_shardings=(parallel.replicated(mesh), parallel.batch_sharded(mesh),
                                                           parallel.replicated(mesh)),
                        out_shardings=parallel.replicated(mesh))
    eval_key = jax.random.key(seed + 1)

    z_use_sums = jax.jit(z_use_sums_fn(model), in_shardings=(parallel.replicated(mesh),
                                                             parallel.batch_sharded(mesh), parallel.replicated(mesh)),
                         out_shardings=parallel.replicated(mesh))

    def window_totals(sums_fn, params, tokens: np.ndarray) -> dict:
        """sums_fn's sums over `tokens` [N, L], in batches of eval_rows padded with weight-0 rows."""
        totals = {}
        for i in range(0, len(tokens), eval_rows):
            rows = tokens[i:i + eval_rows].astype(np.int32)
            weight = np.ones(eval_rows, np.float32)
            weight[len(rows):] = 0.0
            rows = np.concatenate([rows, np.full((eval_rows - len(rows), length), HOLD, np.int32)])
            out = jax.device_get(sums_fn(params, parallel.global_batch({"tokens": rows, "weight": weight}, mesh),
                                         jax.random.fold_in(eval_key, i)))
            for k, v in out.items():
                totals[k] = totals.get(k, 0.0) + float(v)
        return totals

    def score_windows(params, tokens: np.ndarray) -> dict:
        return summarize_sums(window_totals(eval_sums, params, tokens))

    def decoder_use_of_z(state, tokens: np.ndarray, shuffle_seed: int = 0) -> dict:
        """summarize_z_use over `tokens` [N, L]: the decoder read from each window's own posterior
        mean and from another's. The windows are shuffled first (rng(shuffle_seed)), so the other
        window is a random one, not the next window of the same piece."""
        order = np.random.default_rng(shuffle_seed).permutation(len(tokens))
        return summarize_z_use(window_totals(z_use_sums, state.params, tokens[order]))

    @functools.cache
    def eval_subset(split: str) -> np.ndarray:
        """A fixed spread of `eval_windows` windows of the split (all of them if fewer)."""
        tokens = windows(split)["tokens"]
        order = np.random.default_rng(seed).permutation(len(tokens))[:config.eval_windows]
        return tokens[np.sort(order)]

    def evaluate(state, split: str) -> dict:
        return score_windows(state.params, eval_subset(split))

    @jax.jit
    def decode_z(params, z, key, temperature, top_k, top_p):
        return decode_from_z(model, params, z, key, temperature=temperature, top_k=top_k, top_p=top_p)

    def to_scores(tokens, titles, qpm: float | None = None) -> list[Score]:
        return [codec.decode(t, qpm=qpm or s.qpm, meta=Metadata(title=title)) for t, title in zip(np.asarray(tokens), titles)]

    def sample(state, num: int, seed: int, temperature: float | None = None, top_k: int | None = None,
               top_p: float | None = None, primer=None, steps=None, qpm: float | None = None) -> list[Score]:
        """`num` melodies decoded from z ~ N(0, I) (z drawn with key(seed)); options left None
        take config.sample's values. A VAE's sample is one window long and starts from its prior,
        so `primer` and `steps` are ignored."""
        pick = lambda v, default: default if v is None else v
        k_z, k_dec = jax.random.split(jax.random.key(seed))
        z = jax.random.normal(k_z, (num, model.z_dim))
        out = decode_z(state.params, z, k_dec, float(pick(temperature, s.temperature)), int(pick(top_k, s.top_k)),
                       float(pick(top_p, s.top_p)))
        return to_scores(out, [f"prior sample {i + 1} (seed {seed})" for i in range(num)], qpm)

    @jax.jit
    def encode_mu(params, tokens):
        return model.apply({"params": params}, tokens, method=MusicVAE.encode)[0]

    def interpolate(state, score_a: Score, score_b: Score, steps: int, mode: str = "slerp") -> list[Score]:
        """`steps` melodies decoded (argmax) from z interpolated between the posterior means of
        the two scores' first windows (part 0 from quarter 0; a shorter melody is padded with
        silence), endpoints included. mode: 'slerp' or 'lerp'."""
        if mode not in ("slerp", "lerp"):
            raise ValueError(f"mode must be 'slerp' or 'lerp', got {mode!r}")
        tokens = np.stack([fit_window(codec.encode(x, 0), length) for x in (score_a, score_b)])
        mu_a, mu_b = np.asarray(encode_mu(state.params, jnp.asarray(tokens)))
        ts = np.linspace(0.0, 1.0, steps)
        z = np.stack([slerp(mu_a, mu_b, t) if mode == "slerp" else (1 - t) * mu_a + t * mu_b for t in ts])
        out = decode_z(state.params, jnp.asarray(z, jnp.float32), jax.random.key(0), 0.0, 0, 1.0)
        return to_scores(out, [f"{mode} {i + 1}/{steps} (t = {t:.3f})" for i, t in enumerate(ts)])

    def report(state, split: str) -> dict:
        """evaluate() on every window of the split, how much the decoder uses z
        (`decoder_use_of_z`: summarize_z_use), and the musical statistics of `report_samples` prior
        samples (temperature 1) beside those of the split's windows."""
        w = windows(split)
        samples = sample(state, s.report_samples, seed=0, temperature=1.0, top_k=0, top_p=1.0)
        real = to_scores(w["tokens"].astype(np.int32), [""] * len(w["tokens"]))
        return {"split": split, "num_bars": spec.num_bars, "pieces": len(w["ids"]), "skipped_pieces": w["skipped"],
                **score_windows(state.params, w["tokens"]),
                "decoder_use_of_z": decoder_use_of_z(state, w["tokens"]),
                "music_stats": {"prior_samples": melody_statistics(samples), split: melody_statistics(real)}}

    def init(key):
        k_params, k_z = jax.random.split(key)
        params = model.init(k_params, jnp.full((1, length), HOLD, jnp.int32), k_z)["params"]
        return TrainState.create(params, tx)

    return Task(init=init, train_step=make_train_step(loss_fn, schedule, config.train.max_bad_steps), batch=batch,
                evaluate=evaluate, best_metric=("neg_elbo", "min"), sample=sample, report=report,
                rate_metrics=("tokens",),
                extra={"interpolate": interpolate, "decoder_use_of_z": decoder_use_of_z, "model": model, "data": data,
                       "windows": windows, "spec": spec})
