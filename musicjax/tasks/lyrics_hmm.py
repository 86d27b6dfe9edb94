"""The Bayesian HMM lyrics model as a family fitted by MCMC and SVI rather than by the training loop:
lines of one language of the `lyrics_text` corpus as token sequences, `fit` / `sample` / `report`.

A line is one sequence: its tokens (characters, pinyin syllables or words; whitespace dropped), then
<eos>. The emitted alphabet is the vocabulary without <pad> and <bos>: symbol 0 is <eos>, 1 the
out-of-vocabulary token <unk>, then the `vocab_size - 2` most frequent training tokens. Sampling
follows the out-of-vocabulary path to a word: an emitted <unk> becomes a training token outside
the vocabulary, drawn by its count. Perplexity counts every token and <eos>, an out-of-vocabulary
token as the one symbol <unk>, for every model alike.

Workdir: config.json, vocab.json (+ the out-of-vocabulary counts), ml.npz (EM), posterior.npz
(NUTS draws, states aligned, [chains, samples, ...]), svi.npz (guide draws), diagnostics.json
(r-hat, ESS, ESS/s, divergences, the parameter summaries), states.md/.json (top tokens per state;
tone and rhyme classes for Chinese), samples.txt, eval_valid.json and fit.json. Each stage's file
is written atomically and a rerun of the same config skips the stages already on disk."""

from __future__ import annotations

import collections
import json
import math
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from musicjax.codecs import lyrics
from musicjax.data.files import atomic_write, atomic_write_text
from musicjax.prob import hmm
from musicjax.tasks.lyrics_data import (EMIT_OFFSET, ZH_LINE_PUNCT, detokenize, ppm_line_log_probs, replace_unknown,
                                     split_lines)

# vocabulary ids <pad> 0 and <bos> 1 are never emitted: symbol = id - EMIT_OFFSET (2)
EOS_SYMBOL, UNK_SYMBOL = lyrics.EOS - EMIT_OFFSET, lyrics.UNK - EMIT_OFFSET


# ---- data --------------------------------------------------------------------------------------


def encode(vocab: lyrics.Vocabulary, lines: list[list[str]]):
    """Lines -> (symbols [N, T] int32 padded with <eos>, lengths [N] including the <eos>)."""
    seqs = [vocab.encode(toks, eos=True) - EMIT_OFFSET for toks in lines]
    width = max(len(s) for s in seqs)
    tokens = np.full((len(seqs), width), EOS_SYMBOL, np.int32)
    for i, s in enumerate(seqs):
        tokens[i, :len(s)] = s
    return tokens, np.array([len(s) for s in seqs], np.int32)


def training_lines(config):
    """(kept training lines, how many were left out as longer than data.max_tokens)."""
    lines = split_lines(config.data, "train")
    kept = [l for l in lines if len(l) <= config.data.max_tokens]
    if config.data.max_lines:
        kept = kept[: config.data.max_lines]
    return kept, len(lines) - len([l for l in lines if len(l) <= config.data.max_tokens])


def build_vocab(config, lines):
    """The vocabulary of the kept training lines and the counts of the tokens it leaves out."""
    vocab = lyrics.Vocabulary.build(lines, max_size=config.data.vocab_size + EMIT_OFFSET)
    counts = collections.Counter(t for l in lines for t in l)
    known = set(vocab.tokens)
    return vocab, {t: c for t, c in counts.most_common() if t not in known}


# ---- workdir files -----------------------------------------------------------------------------


def _write_json(path, value) -> None:
    atomic_write_text(path, json.dumps(value, indent=1, ensure_ascii=False) + "\n")


def _write_npz(path, **arrays) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _load_params(path) -> hmm.HMMParams:
    with np.load(path) as z:
        return hmm.HMMParams(*(z[s] for s in hmm.SITES))


def _model_kwargs(config) -> dict:
    return dict(num_states=config.model.num_states, vocab_size=config.data.vocab_size,
                init_concentration=config.prior.init_concentration,
                transition_concentration=config.prior.transition_concentration,
                emission_concentration=config.prior.emission_concentration)


def _load_vocab(workdir: pathlib.Path):
    vocab = lyrics.Vocabulary.from_json((workdir / "vocab.json").read_text(encoding="utf-8"))
    oov = json.loads((workdir / "oov.json").read_text(encoding="utf-8"))
    return vocab, oov


def _flat(draws: hmm.HMMParams) -> hmm.HMMParams:
    return hmm.HMMParams(*(p.reshape((-1,) + p.shape[2:]) for p in draws))


def _thin(draws: hmm.HMMParams, num: int) -> hmm.HMMParams:
    """At most `num` draws [S, ...], evenly spaced over all of them."""
    total = draws.init.shape[0]
    idx = np.unique(np.linspace(0, total - 1, min(num, total)).round().astype(int))
    return hmm.HMMParams(*(jnp.asarray(p[idx]) for p in draws))


def _mean(draws: hmm.HMMParams) -> hmm.HMMParams:
    return hmm.HMMParams(*(jnp.asarray(p.reshape((-1,) + p.shape[2:]).mean(0)) for p in draws))


# ---- fitting -----------------------------------------------------------------------------------


def _fit_ml(config, buckets):
    start = time.perf_counter()
    params, trace, finals = hmm.em_fit(config.seed, buckets, num_states=config.model.num_states,
                                       vocab_size=config.data.vocab_size, num_iters=config.ml.num_iters,
                                       tol=config.ml.tol, restarts=config.ml.restarts)
    return params, {"seconds": time.perf_counter() - start, "iterations": len(trace) - 1,
                    "train_log_lik": trace[-1], "restart_log_liks": finals}


def _nuts_start(config, ml_params, guide_scales):
    """(chain starts {site: [chains, ...]}, inverse mass diagonal {site: ...}), unconstrained.
    mcmc.init "ml": every chain at the EM fit plus Gaussian jitter; "uniform": NumPyro's random
    start. With mcmc.mass_from_svi the SVI guide's scales give the jitter's sd (times
    init_jitter) and the starting mass matrix, so warm-up starts at the right scale per parameter
    instead of the identity; otherwise the jitter sd is init_jitter."""
    from numpyro.distributions import biject_to, constraints

    m = config.mcmc
    inverse_mass = {k: s ** 2 for k, s in guide_scales.items()} if m.mass_from_svi else None
    if m.init != "ml":
        return None, inverse_mass
    to_free = biject_to(constraints.simplex).inv
    rng = np.random.default_rng(config.seed)
    starts = {}
    for name, p in zip(hmm.SITES, _interior(ml_params)):
        free = np.asarray(to_free(jnp.asarray(p, jnp.float32)))
        sd = m.init_jitter * (guide_scales[name] if m.mass_from_svi else 1.0)
        starts[name] = jnp.asarray(free[None] + sd * rng.standard_normal((m.num_chains,) + free.shape), jnp.float32)
    return starts, inverse_mass


def _fit_nuts(config, buckets, ml_params, guide_scales):
    m = config.mcmc
    starts, inverse_mass = _nuts_start(config, ml_params, guide_scales)
    draws, extra, seconds = hmm.run_nuts(jax.random.key(config.seed), buckets, num_warmup=m.num_warmup,
                                         num_samples=m.num_samples, num_chains=m.num_chains,
                                         target_accept=m.target_accept, max_tree_depth=m.max_tree_depth,
                                         init_params=starts, inverse_mass=inverse_mass, **_model_kwargs(config))
    aligned, perms, _ = hmm.align_draws(draws)
    switched = int((perms != perms[:, :1]).any(-1).sum())  # draws whose labelling differs from their chain's first
    return aligned, extra, seconds, switched


def _diagnostics(config, aligned, extra, seconds, switched, vocab) -> dict:
    """r-hat and ESS of every parameter (all entries of init, trans and emit, states aligned) and
    of the log density; ESS per second of sampling; summaries of init, trans and the emissions of
    each state's top tokens (the states table)."""
    grouped = dict(zip(hmm.SITES, aligned))
    grouped["potential_energy"] = extra["potential_energy"]
    per_site = hmm.chain_diagnostics(grouped)
    rhat_max = max(d["r_hat_max"] for d in per_site.values())
    ess_min = min(d["ess_min"] for d in per_site.values())
    top = _top_symbols(np.asarray(aligned.emit).mean((0, 1)), config.report.top_tokens)
    k_idx = np.repeat(np.arange(top.shape[0]), top.shape[1])
    reported = {"init": aligned.init, "trans": aligned.trans,
                "emit_top": np.asarray(aligned.emit)[:, :, k_idx, top.ravel()]}
    summary = hmm.parameter_summary(reported)
    summary["emit_top"]["labels"] = [f"state {k}: {_symbol_name(vocab, s)}" for k, s in zip(k_idx, top.ravel())]
    reported_rhat = max(float(np.nanmax(v["r_hat"])) for v in summary.values())
    return {"num_chains": config.mcmc.num_chains, "num_warmup": config.mcmc.num_warmup,
            "num_samples": config.mcmc.num_samples, "seconds": seconds,
            "divergences": int(extra["diverging"].sum()), "mean_leapfrog_steps": float(extra["num_steps"].mean()),
            "max_leapfrog_steps": int(extra["num_steps"].max()),
            "draws_relabelled_within_chain": switched,
            "r_hat_max_all": rhat_max, "r_hat_max_reported": reported_rhat, "ess_min_all": ess_min,
            "ess_min_per_second": ess_min / seconds["sampling"],
            "ess_min_per_second_with_warmup": ess_min / (seconds["sampling"] + seconds["warmup"]),
            "per_site": per_site, "summary": summary}


def _interior(params: hmm.HMMParams) -> hmm.HMMParams:
    """Probabilities floored at 1e-6 and renormalised: EM's exact zeros have no unconstrained image."""
    floored = (np.clip(np.asarray(p, np.float64), 1e-6, None) for p in params)
    return hmm.HMMParams(*(p / p.sum(-1, keepdims=True) for p in floored))


def _fit_svi(config, buckets, ml_params):
    s = config.svi
    draws, guide, losses, seconds = hmm.run_svi(jax.random.fold_in(jax.random.key(config.seed), 1), buckets,
                                                num_steps=s.num_steps, learning_rate=s.learning_rate,
                                                num_draws=s.num_draws, batch_fraction=s.batch_fraction,
                                                init_values=_interior(ml_params) if s.init == "ml" else None,
                                                **_model_kwargs(config))
    tail = losses[-max(1, len(losses) // 10):]
    info = {"seconds": seconds, "steps": int(len(losses)), "final_elbo_loss": float(tail.mean())}
    return draws, guide, info


def fit(config, workdir, allow_config_change: bool = False) -> dict:
    """EM, NUTS and SVI fits of `config` into `workdir`, then the states table, sampled lines and
    the validation table; returns the summary (also fit.json). Stages on disk are not redone."""
    from musicjax.train.loop import _check_config, inside

    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _check_config(workdir, config, allow_config_change)
    path = lambda name: inside(workdir, name)
    start = time.perf_counter()
    lines, dropped = training_lines(config)
    if not path("vocab.json").exists():
        vocab, oov = build_vocab(config, lines)
        _write_json(path("oov.json"), oov)
        atomic_write_text(path("vocab.json"), vocab.to_json())
    vocab, oov = _load_vocab(workdir)
    tokens, lengths = encode(vocab, lines)
    buckets = hmm.bucket_by_length(tokens, lengths, config.data.num_buckets)
    data = {"language": config.data.language, "unit": config.data.tokens, "train_lines": len(lines),
            "train_lines_left_out": dropped, "train_tokens": int(lengths.sum()), "vocab_size": config.data.vocab_size,
            "train_oov_rate": float((tokens == UNK_SYMBOL).sum() / lengths.sum())}

    if not path("ml.npz").exists():
        params, info = _fit_ml(config, buckets)
        _write_npz(path("ml.npz"), **dict(zip(hmm.SITES, params)), info=json.dumps(info))
    ml_params = _load_params(path("ml.npz"))

    if not path("svi.npz").exists():
        draws, guide, info = _fit_svi(config, buckets, ml_params)
        _write_npz(path("svi.npz"), **dict(zip(hmm.SITES, draws)), info=json.dumps(info),
                   **{f"{k}_loc": v[0] for k, v in guide.items()}, **{f"{k}_scale": v[1] for k, v in guide.items()})
    with np.load(path("svi.npz")) as z:
        guide_scales = {k: z[f"{k}_scale"] for k in hmm.SITES}

    if not path("posterior.npz").exists():
        aligned, extra, seconds, switched = _fit_nuts(config, buckets, ml_params, guide_scales)
        _write_json(path("diagnostics.json"), _diagnostics(config, aligned, extra, seconds, switched, vocab))
        _write_npz(path("posterior.npz"), **dict(zip(hmm.SITES, aligned)), **extra)
    diag = json.loads(path("diagnostics.json").read_text())

    states = states_table(config, workdir, vocab, lines)
    _write_json(path("states.json"), states)
    atomic_write_text(path("states.md"), states["markdown"] + "\n")
    atomic_write_text(path("samples.txt"), "\n".join(sample(workdir, config.sample.num_lines, config.seed)) + "\n")
    evaluation = report(workdir, "valid")
    _write_json(path("eval_valid.json"), evaluation)

    with np.load(path("ml.npz")) as z:
        ml_info = json.loads(str(z["info"]))
    with np.load(path("svi.npz")) as z:
        svi_info = json.loads(str(z["info"]))
    result = {"data": data, "ml": ml_info, "svi": svi_info,
              "nuts": {k: diag[k] for k in ("seconds", "divergences", "mean_leapfrog_steps", "r_hat_max_all",
                                            "r_hat_max_reported", "ess_min_all", "ess_min_per_second",
                                            "draws_relabelled_within_chain")},
              "valid_perplexity": {r["model"]: r["perplexity"] for r in evaluation["rows"]},
              "seconds_this_call": time.perf_counter() - start}
    _write_json(path("fit.json"), result)
    return result


# ---- what the states learn ---------------------------------------------------------------------


def _symbol_name(vocab, symbol: int) -> str:
    return vocab.tokens[int(symbol) + EMIT_OFFSET]


def _top_symbols(emit, num: int):
    return np.argsort(-np.asarray(emit), axis=-1)[:, :num]


def _mutual_information(a, b) -> float:
    """I(a; b) in bits between two integer label arrays."""
    joint = collections.Counter(zip(a.tolist(), b.tolist()))
    n = len(a)
    pa, pb = collections.Counter(a.tolist()), collections.Counter(b.tolist())
    return sum(c / n * math.log2(c * n / (pa[x] * pb[y])) for (x, y), c in joint.items())


def _with_null(states, labels, rng, shuffles: int = 200) -> dict:
    """I(state; label) and its 95th percentile when the states are shuffled over the tokens."""
    mi = _mutual_information(states, labels)
    null = [_mutual_information(rng.permutation(states), labels) for _ in range(shuffles)]
    entropy = _mutual_information(labels, labels)
    return {"tokens": int(len(states)), "mi_bits": mi, "label_entropy_bits": entropy,
            "mi_fraction": mi / entropy if entropy else 0.0, "null_mi_95": float(np.quantile(null, 0.95))}


def _chinese_classes(vocab, lines, paths, unit):
    """Per Chinese character of the lines: (Viterbi state, tone 1-5, level/oblique 0/1, final,
    whether it ends a line or a half-line). Modern Mandarin readings (pypinyin) stand in for the
    Middle Chinese tones and rhyme groups of the poems."""
    from pypinyin import Style, lazy_pinyin
    from pypinyin.contrib.tone_convert import to_finals

    rows = []
    for line, path in zip(lines, paths):
        readings = line if unit == "pinyin" else lazy_pinyin("".join(line), style=Style.TONE3,
                                                                neutral_tone_with_five=True, errors=lambda s: list(s))
        if len(readings) != len(line):  # pypinyin merged or split something: skip the line
            continue
        for i, (tok, reading) in enumerate(zip(line, readings)):
            if not reading[-1:].isdigit():
                continue
            final = to_finals(reading, strict=False)
            ends = i + 1 == len(line) or line[i + 1] in ZH_LINE_PUNCT
            tone = int(reading[-1])
            rows.append((int(path[i]), tone, int(tone in (3, 4)), final, ends))
    return rows


def states_table(config, workdir: pathlib.Path, vocab, lines) -> dict:
    """Top tokens per state (posterior mean emissions, states aligned); their probabilities; for
    Chinese, how much the Viterbi states of the training lines say about tone, level/oblique
    class and (at line ends) the final, against shuffled states."""
    with np.load(workdir / "posterior.npz") as z:
        draws = hmm.HMMParams(*(z[s] for s in hmm.SITES))
    mean = _mean(draws)
    emit = np.asarray(mean.emit)
    top = _top_symbols(emit, config.report.top_tokens)
    tokens, lengths = encode(vocab, lines)
    paths, _ = hmm.viterbi(mean, tokens, lengths)
    paths = np.asarray(paths)
    counts = np.bincount(paths[paths >= 0], minlength=emit.shape[0])
    occupancy = counts / counts.sum()
    rows = []
    for k in range(emit.shape[0]):
        rows.append({"state": k, "share_of_tokens": float(occupancy[k]),
                     "top": [[_symbol_name(vocab, s), float(emit[k, s])] for s in top[k]]})
    md = ["| state | share | top tokens (posterior mean p) |", "| --- | --- | --- |"]
    for r in rows:
        toks = ", ".join(f"{t} {p:.3f}" for t, p in r["top"]).replace("|", "\\|")
        md.append(f"| {r['state']} | {r['share_of_tokens']:.3f} | {toks} |")
    out = {"states": rows}
    if config.data.language == "zh":
        cls = _chinese_classes(vocab, lines, [p[:len(l)] for p, l in zip(paths, lines)], config.data.tokens)
        rng = np.random.default_rng(config.seed)
        st = np.array([r[0] for r in cls])
        ends = np.array([r[4] for r in cls])
        finals = {f: i for i, f in enumerate(sorted({r[3] for r in cls}))}
        tone = np.array([r[1] for r in cls])
        out["chinese"] = {
            "tone": _with_null(st, tone, rng),
            "level_oblique": _with_null(st, np.array([r[2] for r in cls]), rng),
            "final_at_line_end": _with_null(st[ends], np.array([finals[r[3]] for r in cls])[ends], rng),
            "tone_share_per_state": {int(k): np.bincount(tone[st == k], minlength=6)[1:].tolist()
                                     for k in range(emit.shape[0])},
        }
        md += ["", "| Viterbi states vs | tokens | I(state; class) bits | H(class) bits | fraction | "
               "95% of shuffled states |", "| --- | --- | --- | --- | --- | --- |"]
        for name in ("tone", "level_oblique", "final_at_line_end"):
            c = out["chinese"][name]
            md.append(f"| {name.replace('_', ' ')} | {c['tokens']} | {c['mi_bits']:.3f} "
                      f"| {c['label_entropy_bits']:.3f} | {c['mi_fraction']:.3f} | {c['null_mi_95']:.3f} |")
    out["markdown"] = "\n".join(md)
    return out


# ---- sampling ----------------------------------------------------------------------------------


def sample(workdir, num: int, seed: int) -> list[str]:
    """`num` lines from the posterior predictive: each line from its own posterior draw, an
    emitted <unk> replaced by an out-of-vocabulary training token drawn by its count."""
    from musicjax.train.loop import read_config

    workdir = pathlib.Path(workdir)
    config = read_config(workdir)
    vocab, oov = _load_vocab(workdir)
    with np.load(workdir / "posterior.npz") as z:
        draws = _flat(hmm.HMMParams(*(z[s] for s in hmm.SITES)))
    key = jax.random.key(seed)
    pick = np.asarray(jax.random.randint(jax.random.fold_in(key, 0), (num,), 0, draws.init.shape[0]))
    chosen = hmm.HMMParams(*(jnp.asarray(p[pick]) for p in draws))
    tokens, lengths = hmm.sample_sequences(jax.random.fold_in(key, 1), chosen, config.sample.max_tokens,
                                           stop=EOS_SYMBOL)
    rng = np.random.default_rng(seed)
    out = []
    for row, length in zip(np.asarray(tokens), np.asarray(lengths)):
        toks = []
        for s in row[:length]:
            if s == EOS_SYMBOL:
                break
            toks.append(_symbol_name(vocab, s))
        out.append(detokenize(replace_unknown(toks, oov, rng), config.data.tokens))
    return out


# ---- evaluation --------------------------------------------------------------------------------


def _ppm_log_probs(config, test_tokens, test_lengths, train_tokens, train_lengths):
    """log p of each test line under PPM* learnt on the training lines (no learning on the test):
    the one implementation the lyrics LSTM's report uses too."""
    return ppm_line_log_probs([seq[:n] for seq, n in zip(train_tokens, train_lengths)],
                              [seq[:n] for seq, n in zip(test_tokens, test_lengths)], config.data.vocab_size,
                              config.report.ppm_escape)


def report(workdir, split: str) -> dict:
    """Held-out perplexity of `split` per model: the NUTS posterior predictive (per line, averaged
    over draws), the same at the posterior mean, the SVI guide's predictive, the EM maximum
    likelihood HMM, PPM* on the same tokens; and the markdown table."""
    from musicjax.train.loop import read_config

    workdir = pathlib.Path(workdir)
    config = read_config(workdir)
    vocab, _ = _load_vocab(workdir)
    lines = split_lines(config.data, split)
    tokens, lengths = encode(vocab, lines)
    num_tokens = int(lengths.sum())
    with np.load(workdir / "posterior.npz") as z:
        posterior = hmm.HMMParams(*(z[s] for s in hmm.SITES))
    with np.load(workdir / "svi.npz") as z:
        svi = hmm.HMMParams(*(z[s] for s in hmm.SITES))
    ml = _load_params(workdir / "ml.npz")
    n = config.report.num_draws
    k = config.model.num_states
    rows = []

    def add(model, line_log_probs, seconds, note=""):
        nll = -float(np.sum(line_log_probs)) / num_tokens
        rows.append({"model": model, "nats_per_token": nll, "bits_per_token": nll / math.log(2.0),
                     "perplexity": math.exp(nll), "seconds": seconds, "note": note})

    def timed(log_probs):
        start = time.perf_counter()
        out = np.asarray(log_probs())
        return out, time.perf_counter() - start

    add(f"HMM K={k}, Bayesian (NUTS posterior predictive)",
        *timed(lambda: hmm.predictive_log_prob(_thin(_flat(posterior), n), tokens, lengths)),
        f"{min(n, posterior.init.shape[0] * posterior.init.shape[1])} draws")
    add(f"HMM K={k}, NUTS posterior mean (plug-in)", *timed(lambda: hmm.log_prob(_mean(posterior), tokens, lengths)))
    add(f"HMM K={k}, SVI AutoNormal predictive",
        *timed(lambda: hmm.predictive_log_prob(_thin(svi, n), tokens, lengths)), f"{min(n, svi.init.shape[0])} draws")
    add(f"HMM K={k}, maximum likelihood (EM)",
        *timed(lambda: hmm.log_prob(hmm.HMMParams(*map(jnp.asarray, ml)), tokens, lengths)))
    if config.report.ppm:
        train_tokens, train_lengths = encode(vocab, training_lines(config)[0])
        add(f"PPM* (escape {config.report.ppm_escape.upper()})",
            *timed(lambda: _ppm_log_probs(config, tokens, lengths, train_tokens, train_lengths)))
    oov_rate = float((tokens == UNK_SYMBOL).sum() / num_tokens)
    head = (f"{split}: {len(lines)} lines, {num_tokens} tokens (with <eos>), {config.data.language} "
            f"{config.data.tokens}, vocabulary {config.data.vocab_size} (<eos>, <unk> included), "
            f"out of vocabulary {100 * oov_rate:.1f}%")
    md = [head, "", "| model | perplexity | bits/token | eval s |", "| --- | --- | --- | --- |"]
    md += [f"| {r['model']} | {r['perplexity']:.2f} | {r['bits_per_token']:.3f} | {r['seconds']:.1f} |" for r in rows]
    md.append("| LSTM lyrics LM | its own family (`lyrics_lstm`, experiments/lyrics_lm.py), with PPM* beside it | | |")
    diag = json.loads((workdir / "diagnostics.json").read_text())
    nuts = {k: diag[k] for k in ("num_chains", "num_samples", "r_hat_max_all", "r_hat_max_reported", "ess_min_all",
                                 "ess_min_per_second", "divergences")}
    over = sum(d.get("r_hat_over_1_01", 0) for d in diag["per_site"].values())
    total = sum(d["entries"] for d in diag["per_site"].values())
    md += ["", f"NUTS: {nuts['num_chains']} chains x {nuts['num_samples']} draws, split r-hat max "
               f"{nuts['r_hat_max_all']:.3f} over all {total} parameters ({over} above 1.01), "
               f"{nuts['r_hat_max_reported']:.3f} over the reported summaries; min ESS {nuts['ess_min_all']:.1f}, "
               f"{nuts['ess_min_per_second']:.3f} per second of sampling; {nuts['divergences']} divergences"]
    states = workdir / "states.md"
    if states.exists():
        md += ["", "What the states learn (posterior mean, states aligned):", "", states.read_text(encoding="utf-8")]
    return {"split": split, "lines": len(lines), "tokens": num_tokens, "oov_rate": oov_rate, "rows": rows,
            "nuts": nuts, "markdown": "\n".join(md).rstrip()}
