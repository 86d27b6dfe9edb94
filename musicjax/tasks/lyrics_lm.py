"""The LSTM lyrics language model: lines of one language's texts (lyrics_text, or the chorale
verses with the chorale corpus's split) as characters or words, one line a sequence, next-token
cross-entropy; its report puts it beside PPM*, unigram and bigram models and two LSTM+PPM*
combinations, all on the same symbols.

A line is `<bos> tokens <eos>`, read from a zero LSTM state (no context crosses a line, as for
PPM* and the HMM). The vocabulary (`codecs.lyrics.Vocabulary`) holds <pad>, <bos>, <eos>, <unk>
and at most `data.vocab_size - 2` training tokens seen at least `data.min_count` times (so
`data.vocab_size` counts the symbols a line can hold, <eos> and <unk> included, as in the HMM
family); every other token is <unk>, in training as in evaluation. What is counted: every token
of a line and its <eos>, an out-of-vocabulary token as the one symbol <unk>; with `data.spaces`
the space between words is a character (one per run of whitespace). `nll_per_token` is nats per
counted symbol, `bits_per_token` the same in bits: bits per character for `chars` (also given as
`bits_per_char`), per word or punctuation mark for `words`. PPM* and the n-grams are scored on
exactly these symbols. Config fields become plain arguments here, at the boundary."""

from __future__ import annotations

import collections
import functools
import math
import time

import grain
import jax
import jax.numpy as jnp
import numpy as np

from musicjax.codecs import lyrics
from musicjax.codecs.lyrics import BOS, EOS, PAD
from musicjax.evaluate.lm import LN2, lm_scores, ngram_baselines
from musicjax.models.fused_lstm import FusedLSTMLanguageModel
from musicjax.sample.sampling import sample_lm
from musicjax.tasks import lyrics_data
from musicjax.train import parallel
from musicjax.train.optim import optimizer_from_config
from musicjax.train.step import TrainState, lm_eval_step, lm_loss_fn, make_train_step
from musicjax.train.task import Task

_ROUND = 16  # evaluation rows are padded to a multiple of this (one compiled shape per split)


# ---- data --------------------------------------------------------------------------------------


def corpus_lines(data, split: str) -> list[list[str]]:
    """The token lines of `split` (data: source, language, tokens, lowercase, spaces); the
    training split cut to its first `data.max_lines` lines when that is set."""
    lines = lyrics_data.split_lines(data, split)
    if split == "train" and data.max_lines:
        lines = lines[: data.max_lines]
    if not lines:
        raise ValueError(f"{data.source}: no {data.language} lines in the {split} split")
    return lines


def build_vocab(lines, vocab_size: int, min_count: int) -> tuple[lyrics.Vocabulary, dict]:
    """The vocabulary of the training lines (vocab_size symbols with <eos> and <unk>; 0: no cap)
    and the counts of the training tokens it leaves out, most frequent first."""
    vocab = lyrics.Vocabulary.build(lines, min_count=min_count,
                                    max_size=vocab_size + lyrics_data.EMIT_OFFSET if vocab_size else None)
    known = set(vocab.tokens)
    counts = collections.Counter(t for l in lines for t in l)
    return vocab, {t: c for t, c in counts.most_common() if t not in known}


def line_window(ids: np.ndarray, length: int, start: int = 0) -> dict:
    """`<bos> ids <eos>` cut to [start, start + length + 1) -> inputs, targets, mask [length]."""
    full = np.concatenate([[BOS], ids, [EOS]]).astype(np.int32)
    piece = full[start:start + length + 1]
    out = np.full(length + 1, PAD, np.int32)
    out[:len(piece)] = piece
    mask = np.zeros(length, np.float32)
    mask[:len(piece) - 1] = 1.0
    return {"inputs": out[:-1], "targets": out[1:], "mask": mask}


def eval_rows(ids_lines) -> dict:
    """Every line as one row [n, length] (length: the longest line plus <eos>, rounded up to a
    multiple of 16), so each symbol is predicted from its own line's start."""
    longest = max(len(l) for l in ids_lines) + 1
    length = -(-longest // _ROUND) * _ROUND
    rows = [line_window(l, length) for l in ids_lines]
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def bucket_lengths(length: int, num_buckets: int) -> tuple[int, ...]:
    """Row lengths of the training batches: length, length/2, ... (num_buckets of them, each a
    multiple of 8, at least 8), shortest first."""
    return tuple(sorted({max(8, -(-(length >> k) // 8) * 8) for k in range(num_buckets)}))


def train_batches(ids_lines, length: int, batch_size: int, seed: int, num_buckets: int = 1,
                  process_index: int = 0, process_count: int = 1) -> grain.MapDataset:
    """An endless MapDataset of batches {inputs, targets, mask} [rows, L]. Each line belongs to the
    shortest row length L of `bucket_lengths(length, num_buckets)` that holds it and its <eos>
    (a line longer than `length` to the longest, where it trains on a random window of itself),
    so a batch of short lines is not padded to the longest line's length. Batch b draws from
    rng(seed, b) a bucket, with probability proportional to its lines (each line is as likely as
    in uniform sampling), then `batch_size` lines of it and their windows; this process gets rows
    [process_index * B / P, ...) of them. One compiled step per row length."""
    if batch_size % process_count:
        raise ValueError(f"batch size {batch_size} does not divide over {process_count} processes")
    per = batch_size // process_count
    lengths = bucket_lengths(length, num_buckets)
    need = np.array([len(l) + 1 for l in ids_lines])
    which = np.minimum(np.searchsorted(lengths, need), len(lengths) - 1)
    members = [np.flatnonzero(which == k) for k in range(len(lengths))]
    weights = np.array([len(m) for m in members], np.float64)

    def batch(b: int) -> dict:
        rng = np.random.default_rng([seed, b])
        k = int(rng.choice(len(lengths), p=weights / weights.sum()))
        picks = members[k][rng.integers(len(members[k]), size=batch_size)]
        starts = rng.random(batch_size)
        rows = []
        for i in range(process_index * per, (process_index + 1) * per):
            ids = ids_lines[picks[i]]
            start = int(starts[i] * max(1, len(ids) + 2 - lengths[k]))
            rows.append(line_window(ids, lengths[k], start))
        return {key: np.stack([r[key] for r in rows]) for key in rows[0]}

    return grain.MapDataset.range(2**62).map(batch)


# ---- the task ----------------------------------------------------------------------------------


def _scores(nll_sum: float, tokens: float, lines: int, unit: str, correct: float | None = None) -> dict:
    nll = nll_sum / max(tokens, 1.0)
    out = {"nll_per_token": nll, "bits_per_token": nll / LN2, "perplexity": math.exp(nll),
           "tokens": int(tokens), "lines": int(lines)}
    if unit == "chars":
        out["bits_per_char"] = out["bits_per_token"]
    if correct is not None:
        out["accuracy"] = correct / max(tokens, 1.0)
    return out


def make(config) -> Task:
    d = config.data
    if d.spaces and d.tokens != "chars":
        raise ValueError(f"data.spaces keeps spaces as characters: it needs data.tokens chars, not {d.tokens!r}")
    train_lines = corpus_lines(d, "train")
    vocab, oov = build_vocab(train_lines, d.vocab_size, d.min_count)
    m = config.model
    dtype = jnp.bfloat16 if config.train.precision == "bfloat16" else jnp.float32
    model = FusedLSTMLanguageModel(len(vocab), m.embed_dim, m.hidden, m.num_layers, m.dropout, dtype)
    tx, schedule = optimizer_from_config(config.train)
    seq_len, batch_size, seed, eval_batch = config.train.seq_len, config.train.batch_size, config.seed, \
        config.eval_batch_size
    unit, escape = d.tokens, config.report.ppm_escape

    @functools.cache
    def lines(split: str):
        return train_lines if split == "train" else corpus_lines(d, split)

    @functools.cache
    def ids(split: str):
        return [vocab.encode(l) for l in lines(split)]

    @functools.cache
    def rows(split: str):
        return eval_rows(ids(split))

    @functools.cache
    def stream(process_index: int, process_count: int):
        return train_batches(ids("train"), seq_len, batch_size, seed, config.train.length_buckets, process_index,
                             process_count)

    mesh = parallel.data_mesh()
    eval_step = jax.jit(lm_eval_step(model), in_shardings=(parallel.replicated(mesh), parallel.batch_sharded(mesh)),
                        out_shardings=parallel.replicated(mesh))
    n_dev = len(mesh.devices.flat)
    eval_rows_per_batch = max(n_dev, eval_batch // n_dev * n_dev)

    def evaluate(state, split: str) -> dict:
        totals = lm_scores(lambda p, b: eval_step(p, parallel.global_batch(b, mesh)), state.params, rows(split),
                           eval_rows_per_batch)
        return _scores(totals["nll_sum"], totals["tokens"], len(lines(split)), unit, totals["correct"])

    @functools.cache
    def ppm(split: str):
        """PPM* learnt on the training lines: (its distributions on `split`'s lines, each [symbols,
        alphabet], and the seconds they took)."""
        start = time.perf_counter()
        symbols = lambda s: lyrics_data.line_symbols(vocab, lines(s))
        dists = lyrics_data.ppm_line_distributions(symbols("train"), symbols(split),
                                                   len(vocab) - lyrics_data.EMIT_OFFSET, escape)
        return dists, time.perf_counter() - start

    emitted_probs = jax.jit(lambda params, inputs: jax.nn.softmax(
        model.apply({"params": params}, inputs)[0][..., lyrics_data.EMIT_OFFSET:].astype(jnp.float32), axis=-1))

    def mixtures(state, split: str) -> dict:
        """Per symbol, the LSTM's distribution (renormalised over the emitted symbols: its mass
        on <pad> and <bos> dropped) combined with PPM*'s: their mean, and IDyOM's entropy-weighted
        geometric combination (prob/ppm.py); both fixed in advance, nothing fitted on `split`.
        -> {name: summed nats}."""
        from musicjax.prob.ppm import combine_entropy_weighted

        r, (dists, _) = rows(split), ppm(split)
        probs = np.asarray(emitted_probs(state.params, jnp.asarray(r["inputs"])), np.float64)
        targets = r["targets"] - lyrics_data.EMIT_OFFSET
        sums = {"lstm_ppm_star_mean": 0.0, "lstm_ppm_star_entropy_weighted": 0.0}
        for i, d in enumerate(dists):
            n = len(d)
            lstm, sym = probs[i, :n], targets[i, :n]
            sums["lstm_ppm_star_mean"] -= float(np.log(0.5 * (lstm + d)[np.arange(n), sym]).sum())
            sums["lstm_ppm_star_entropy_weighted"] -= sum(
                math.log(combine_entropy_weighted([lstm[t], d[t]])[sym[t]]) for t in range(n))
        return sums

    def report(state, split: str) -> dict:
        """The LSTM beside PPM* (escape `report.ppm_escape`), unigram and bigram models (add-0.1),
        all learnt on the training lines and scored on the same symbols of `split`, and the LSTM
        and PPM* combined; a markdown table."""
        r = rows(split)
        tokens, n_lines = float(r["mask"].sum()), len(lines(split))
        start = time.perf_counter()
        table = {"lstm": {**evaluate(state, split), "seconds": time.perf_counter() - start}}
        if config.report.ppm:
            dists, seconds = ppm(split)
            symbols = lyrics_data.line_symbols(vocab, lines(split))
            nll_sum = -sum(float(np.log(dd[np.arange(len(sy)), sy]).sum()) for dd, sy in zip(dists, symbols))
            table[f"ppm_star_{escape}"] = {**_scores(nll_sum, tokens, n_lines, unit), "seconds": seconds}
            for name, mixed in mixtures(state, split).items():
                table[name] = _scores(mixed, tokens, n_lines, unit)
        for name, (nll_sum, correct) in ngram_baselines(rows("train"), r, len(vocab)).items():
            table[name] = _scores(nll_sum, tokens, n_lines, unit, correct)
        oov_rate = float(np.mean(np.concatenate(lyrics_data.line_symbols(vocab, lines(split))) ==
                                 lyrics.UNK - lyrics_data.EMIT_OFFSET))
        per = "char" if unit == "chars" else "token"
        md = [f"{split}: {n_lines} lines, {int(tokens)} symbols (<eos> included), {d.language} {unit} from "
              f"{d.source}, vocabulary {len(vocab) - lyrics_data.EMIT_OFFSET} symbols (<eos>, <unk> included), "
              f"out of vocabulary {100 * oov_rate:.1f}%", "",
              f"| model | bits/{per} | perplexity |", "| --- | --- | --- |"]
        md += [f"| {name} | {row['bits_per_token']:.3f} | {row['perplexity']:.2f} |" for name, row in table.items()]
        return {"split": split, "lines": n_lines, "tokens": int(tokens), "oov_rate": oov_rate,
                "vocab_size": len(vocab) - lyrics_data.EMIT_OFFSET, "models": table, "markdown": "\n".join(md)}

    def sample(state, num: int, seed: int, temperature: float | None = None, top_k: int | None = None,
               top_p: float | None = None, primer=None, steps: int | None = None) -> list[str]:
        """`num` lines of text through the shared sampler. `primer` (a str) starts every line and
        is kept at its start; a sampled <unk> becomes an out-of-vocabulary training token drawn
        by its count; a line ends at <eos> or after `steps` tokens."""
        if primer is not None and not isinstance(primer, str):
            raise ValueError(f"the lyrics LM is primed with text, not a {type(primer).__name__}")
        s = config.sample
        pick = lambda v, default: default if v is None else v
        head = lyrics_data.line_tokens(primer, unit, d.lowercase, d.spaces) if primer else []
        if head and d.spaces and primer[-1].isspace():
            head.append(" ")  # a primer "Nun " asks for the next word, not more of this one
        prefix = vocab.encode(head, bos=True)
        tokens = jnp.asarray(np.tile(prefix, (num, 1)), jnp.int32)
        out = sample_lm(model, state.params, tokens, jax.random.key(seed), num_steps=int(pick(steps, s.max_tokens)),
                        temperature=float(pick(temperature, s.temperature)), top_k=int(pick(top_k, s.top_k)),
                        top_p=float(pick(top_p, s.top_p)), eos=EOS, pad=PAD)
        out = np.asarray(jax.device_get(out))
        rng = np.random.default_rng(seed)
        return [lyrics_data.detokenize(head + lyrics_data.replace_unknown(vocab.decode(row), oov, rng), unit)
                for row in out]

    return Task(
        init=lambda key: TrainState.create(model.init(key, jnp.zeros((1, 8), jnp.int32))["params"], tx),
        train_step=make_train_step(lm_loss_fn(model), schedule, config.train.max_bad_steps),
        batch=lambda step, pidx=0, pcount=1: stream(pidx, pcount)[step],
        evaluate=evaluate, best_metric=("nll_per_token", "min"), sample=sample, report=report,
        rate_metrics=("tokens",), extra={"text_samples": True, "model": model, "vocab": vocab, "oov": oov, "lines": lines, "rows": rows})
