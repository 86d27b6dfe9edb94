"""Seq2seq with attention for lyrics: melody -> lyrics (a chorale phrase's soprano notes -> one
syllable token or a melisma mark per note) and theme -> line (a Tang poem or Song ci line -> the
next line, characters). Teacher forcing or scheduled sampling; greedy, sampled and beam decoding
through the shared sampler; a melody-blind twin is the same family with `model.attention='none'`.

Melody features per note: pitch, duration, metrical position (quarters after the downbeat,
`downbeat_offset`: the notated pickup, or for a MIDI melody an estimate) and phrase end; they, the
examples and the text analysis the report uses are in `lyrics_seq2seq_data`. Corpus phrases are
the text's lines (a line ends at punctuation, as in `chorale_texts`); an untexted melody
(`set_lyrics`, the `musicjax lyrics` command) is cut at rests and long notes (`melody_phrases`)."""

from __future__ import annotations

import functools
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

from musicjax.codecs.lyrics import BOS, EOS, PAD, SPECIALS, UNK, syllables_per_note
from musicjax.data.score import Metadata, Score, melody_line
from musicjax.evaluate.plots import bar_quarters, note_name
from musicjax.evaluate.text_metrics import corpus_bleu, error_rate
from musicjax.models.seq2seq import Seq2Seq, step_fn
from musicjax.sample.sampling import beam_search, decode
from musicjax.tasks.lyrics_seq2seq_data import (MELISMA, MIN_PITCH, NUM_PITCHES, PHRASE_NOTES, SYLLABIC_TYPES,
                                                Seq2SeqData, boundary_f1, downbeat_offset, melody_phrases,
                                                note_features, pad_examples, positions_in_bar, stressed_syllables,
                                                strong_beats, syllabic_type, text_phrases, type_accuracy_ceiling,
                                                type_matrix, type_table_baseline, well_formed_share)
from musicjax.train import parallel
from musicjax.train.losses import token_cross_entropy
from musicjax.train.optim import optimizer_from_config
from musicjax.train.step import TrainState, make_train_step
from musicjax.train.task import Task

TEACHER_FORCING = ("always", "linear", "exponential", "inverse_sigmoid")
LN2 = math.log(2.0)

# ---- schedules and losses -------------------------------------------------------------------


def teacher_forcing_probability(step, kind: str, decay_steps: float = 1000.0, decay_rate: float = 0.999,
                                sigmoid_k: float = 100.0, min_prob: float = 0.0):
    """The probability of feeding the true previous token at training step `step` (Bengio et al.
    2015): always 1; linear max(min_prob, 1 - step / decay_steps); exponential
    max(min_prob, decay_rate ** step); inverse_sigmoid max(min_prob, k / (k + exp(step / k)))."""
    step = jnp.asarray(step, jnp.float32)
    if kind == "always":
        return jnp.ones((), jnp.float32)
    if kind == "linear":
        p = 1.0 - step / decay_steps
    elif kind == "exponential":
        p = jnp.power(decay_rate, step)
    elif kind == "inverse_sigmoid":
        p = sigmoid_k / (sigmoid_k + jnp.exp(jnp.minimum(step / sigmoid_k, 80.0)))
    else:
        raise ValueError(f"teacher forcing must be one of {', '.join(TEACHER_FORCING)}, got {kind!r}")
    return jnp.clip(p, min_prob, 1.0)


def decoder_inputs(targets):
    """targets [B, T] -> [B, T]: BOS, then targets[:, :-1]."""
    return jnp.concatenate([jnp.full_like(targets[:, :1], BOS), targets[:, :-1]], axis=1)


def word_dropout(inputs, rate: float, key):
    """Decoder inputs [B, T] with each token after BOS replaced by UNK with probability `rate`
    (Bowman et al. 2016): the decoder must lean on the source rather than on its own history."""
    if not rate:
        return inputs
    drop = jax.random.bernoulli(key, rate, inputs.shape).at[:, 0].set(False)
    return jnp.where(drop, UNK, inputs)


def seq2seq_loss_fn(model: Seq2Seq, probability, input_dropout: float = 0.0):
    """loss_fn(params, batch, key, step) for `make_train_step`: mean token cross-entropy of the
    targets, the decoder teacher forced, or with scheduled sampling when `probability(step)`
    (the teacher-forcing probability) is not the constant 1 (`probability` None); decoder inputs
    after `word_dropout` at rate `input_dropout`."""

    def loss_fn(params, batch, key, step):
        call = lambda *a, method: model.apply({"params": params}, *a, method=method)
        k_drop, key = jax.random.split(key)
        cache = call(batch["source"], batch["source_len"], method=Seq2Seq.encode)
        inputs = word_dropout(decoder_inputs(batch["targets"]), input_dropout, k_drop)
        if probability is None:
            logits, _ = call(cache, inputs, method=Seq2Seq.teacher_forced)
            p = jnp.ones((), jnp.float32)
        else:
            p = probability(step)
            logits, _ = call(cache, inputs, p, key, method=Seq2Seq.scheduled)
        mean, _, count, correct = token_cross_entropy(logits, batch["targets"], batch["mask"])
        return mean, {"tokens": count, "accuracy": correct / jnp.maximum(count, 1.0), "p_teacher": p}

    return loss_fn


def sequence_log_probs(logits, targets, mask):
    """logits [B, T, V], targets, mask [B, T] -> summed log-probability of each row's targets [B]."""
    lp = jax.nn.log_softmax(logits.astype(jnp.float32), -1)
    return jnp.sum(jnp.take_along_axis(lp, targets[..., None], -1)[..., 0] * mask, -1)


# ---- decoding constraints -------------------------------------------------------------------


def fixed_length_step(fn, banned):
    """A step function for outputs of exactly `length` tokens per row (one per note): before a
    row's end the `banned` tokens ([V] bool: the specials, the typed unknowns) are excluded, after
    it only PAD is possible (log-probability 0), so beams of a row compare like lengths.
    Cache: {'model': ..., 'pos' [B], 'length' [B]}."""
    special = jnp.asarray(banned)
    vocab_size = special.shape[0]
    only_pad = jnp.where(jnp.arange(vocab_size) == PAD, 0.0, -jnp.inf)

    def step(tokens, cache):
        logits, model_cache = fn(tokens, cache["model"])
        live = (cache["pos"] < cache["length"])[:, None]
        logits = jnp.where(live, jnp.where(special, -jnp.inf, logits), only_pad)
        return logits, {"model": model_cache, "pos": cache["pos"] + 1, "length": cache["length"]}

    return step


def line_step(fn, vocab_size: int):
    """A step function for lines that end with EOS: PAD, BOS and UNK are never produced."""
    banned = jnp.isin(jnp.arange(vocab_size), jnp.array([PAD, BOS, UNK]))

    def step(tokens, cache):
        logits, model_cache = fn(tokens, cache["model"])
        return jnp.where(banned, -jnp.inf, logits), {**cache, "model": model_cache}

    return step


# ---- the task -------------------------------------------------------------------------------


def model_from_config(config, target_vocab: int, source_vocabs, source_embeds) -> Seq2Seq:
    m = config.model
    dtype = jnp.bfloat16 if config.train.precision == "bfloat16" else jnp.float32
    return Seq2Seq(tuple(source_vocabs), tuple(source_embeds), target_vocab, m.target_embed_dim, m.encoder_hidden,
                   m.encoder_layers, m.hidden, m.attention, m.attention_dim, dtype)


def make(config) -> Task:
    """The task of an experiments/lyrics_seq2seq.py config. Batches {'source' [B, S, K],
    'source_len' [B], 'targets', 'mask' [B, T]} are a pure function of (step, process): the rows
    are drawn with rng(seed, step). best_metric: validation NLL per target token."""
    data = Seq2SeqData(config)
    vocab = data.vocab
    V = len(vocab)
    embeds = tuple(config.model.source_embed_dims) if data.task == "melody_lyrics" else (config.model.target_embed_dim,)
    model = model_from_config(config, V, data.source_vocabs, embeds)
    tx, schedule = optimizer_from_config(config.train)
    l = config.loss
    if l.teacher_forcing not in TEACHER_FORCING:
        raise ValueError(f"loss.teacher_forcing must be one of {', '.join(TEACHER_FORCING)}, got {l.teacher_forcing!r}")
    probability = None if l.teacher_forcing == "always" else functools.partial(
        teacher_forcing_probability, kind=l.teacher_forcing, decay_steps=l.decay_steps, decay_rate=l.decay_rate,
        sigmoid_k=l.sigmoid_k, min_prob=l.min_teacher_prob)
    # .get: workdirs trained before these fields existed
    loss_fn = seq2seq_loss_fn(model, probability, l.get("word_dropout", 0.0))
    max_transpose = config.data.get("max_transpose", 0) if data.task == "melody_lyrics" else 0
    batch_size, seed = config.train.batch_size, config.seed
    d, e, s = config.data, config.eval, config.sample
    types = jnp.asarray(type_matrix(vocab)) if data.task == "melody_lyrics" else None

    def batch(step: int, process_index: int = 0, process_count: int = 1) -> dict:
        if batch_size % process_count:
            raise ValueError(f"batch size {batch_size} does not divide over {process_count} processes")
        train = data.arrays("train")
        rows = np.random.default_rng([seed, step]).integers(0, len(train["targets"]), batch_size)
        per = batch_size // process_count
        rows = rows[process_index * per:(process_index + 1) * per]
        out = {k: v[rows] for k, v in train.items()}
        if max_transpose:  # the same melody in another key: the text does not depend on it
            shift = np.random.default_rng([seed, step, 1]).integers(-max_transpose, max_transpose + 1, batch_size)
            src = out["source"].copy()
            src[..., 0] = np.clip(src[..., 0] + shift[process_index * per:(process_index + 1) * per, None], 0,
                                  NUM_PITCHES - 1)
            out["source"] = src
        return out

    mesh = parallel.data_mesh()
    n_dev = len(mesh.devices.flat)
    eval_rows = max(n_dev, e.batch_size // n_dev * n_dev)

    @jax.jit
    def eval_sums(params, b):
        logits, _ = model.apply({"params": params}, b["source"], b["source_len"], decoder_inputs(b["targets"]))
        _, nll, count, correct = token_cross_entropy(logits, b["targets"], b["mask"])
        out = {"nll_sum": nll, "tokens": count, "correct": correct, "rows": jnp.sum(b["mask"][:, 0])}
        if types is not None:
            probs = jax.nn.softmax(logits, -1) @ types  # [B, T, 5]: probability of each syllabic type
            true = jnp.take(types, b["targets"], axis=0)
            hit = jnp.sum(jax.nn.one_hot(jnp.argmax(probs, -1), len(SYLLABIC_TYPES)) * true, -1)
            texted = 1.0 - true[..., -1]
            out["type_correct"] = jnp.sum(hit * b["mask"])
            out["texted_type_correct"] = jnp.sum(hit * b["mask"] * texted)
            out["texted"] = jnp.sum(b["mask"] * texted)
            nll = optax.softmax_cross_entropy_with_integer_labels(logits, b["targets"]) * b["mask"]
            out["texted_nll_sum"] = jnp.sum(nll * texted)  # the melisma marks' NLL is the rest
        return out

    def chunks(arrays: dict):
        """The split in fixed-size batches (the last padded with rows of mask 0), and each
        batch's number of real rows."""
        n = len(arrays["targets"])
        for i in range(0, n, eval_rows):
            b = {k: v[i:i + eval_rows] for k, v in arrays.items()}
            real = len(b["targets"])
            if real < eval_rows:
                b = {k: np.concatenate([v, np.zeros((eval_rows - real,) + v.shape[1:], v.dtype)]) for k, v in b.items()}
                b["source_len"][real:] = 1
            yield b, real

    def teacher_forced_scores(params, split: str) -> dict:
        totals = {}
        for b, _ in chunks(data.arrays(split)):
            for k, v in jax.device_get(eval_sums(params, b)).items():
                totals[k] = totals.get(k, 0.0) + float(v)
        tokens = max(totals["tokens"], 1.0)
        out = {"nll_per_token": totals["nll_sum"] / tokens, "bits_per_token": totals["nll_sum"] / tokens / LN2,
               "accuracy": totals["correct"] / tokens, "nll_per_sequence": totals["nll_sum"] / max(totals["rows"], 1.0),
               "sequences": int(totals["rows"]), "tokens": int(totals["tokens"])}
        if types is not None:
            out["type_accuracy"] = totals["type_correct"] / tokens
            out["texted_type_accuracy"] = totals["texted_type_correct"] / max(totals["texted"], 1.0)
            melismas = totals["tokens"] - totals["texted"]
            out["nll_per_syllable"] = totals["texted_nll_sum"] / max(totals["texted"], 1.0)
            out["nll_per_melisma_mark"] = (totals["nll_sum"] - totals["texted_nll_sum"]) / max(melismas, 1.0)
        return out

    def evaluate(state, split: str) -> dict:
        return teacher_forced_scores(state.params, split)

    # ---- decoding ---------------------------------------------------------------------------

    def _start(params, b):
        fn = step_fn(model, params)
        cache = model.apply({"params": params}, b["source"], b["source_len"], method=Seq2Seq.encode)
        batch_n = b["source"].shape[0]
        if data.task == "melody_lyrics":
            cache = {"model": cache, "pos": jnp.zeros(batch_n, jnp.int32), "length": b["source_len"]}
            step = fixed_length_step(fn, never_generated)
        else:
            cache = {"model": cache}
            step = line_step(fn, V)
        return step(jnp.full((batch_n,), BOS, jnp.int32), cache), step

    eos = -1 if data.task == "melody_lyrics" else EOS
    # a melody's decoded syllables: never a special token nor a typed unknown ('?-'), which no one can sing
    never_generated = np.array([i < len(SPECIALS) or t.strip("-") == "?" for i, t in enumerate(vocab.tokens)])

    @functools.partial(jax.jit, static_argnames=("beam_size",))
    def decode_beam(params, b, beam_size: int, length_alpha):
        (logits, cache), step = _start(params, b)
        tokens, _, _ = beam_search(step, logits, cache, beam_size=beam_size, num_steps=data.tgt_len, eos=eos, pad=PAD,
                                   length_alpha=length_alpha)
        return tokens[:, 0]

    @jax.jit
    def decode_sample(params, b, key, temperature, top_k, top_p):
        (logits, cache), step = _start(params, b)
        return decode(step, logits, cache, key, num_steps=data.tgt_len, temperature=temperature, top_k=top_k,
                      top_p=top_p, eos=eos, pad=PAD)

    @jax.jit
    def score_outputs(params, b, tokens):
        """Log-probability [B] of given outputs [B, T] under the model (up to and including EOS),
        and its attention weights [B, T, S]."""
        mask = output_mask(tokens)
        logits, w = model.apply({"params": params}, b["source"], b["source_len"], decoder_inputs(tokens))
        return sequence_log_probs(logits, tokens, mask), jnp.sum(mask, -1), w

    def output_mask(tokens):
        if data.task == "melody_lyrics":
            return (tokens != PAD).astype(jnp.float32)
        ended = jnp.cumsum(tokens == EOS, axis=1) - (tokens == EOS)  # EOS itself counts
        return ((ended == 0) & (tokens != PAD)).astype(jnp.float32)

    def decode_split(params, split: str, how: str, key=None, temperature=0.0, top_k=0, top_p=1.0,
                     arrays=None, beam_size: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Outputs [N, T], their log-probabilities [N] and lengths [N] for every source of a split
        (or of `arrays`): how = 'greedy' | 'beam' (width `beam_size`, default eval.beam_size) |
        'sample'."""
        outs, lps, lens = [], [], []
        for i, (b, real) in enumerate(chunks(arrays if arrays is not None else data.arrays(split))):
            if how == "beam":
                tok = decode_beam(params, b, beam_size or e.beam_size, e.length_alpha)
            else:
                k = jax.random.fold_in(key if key is not None else jax.random.key(0), i)
                t = 0.0 if how == "greedy" else temperature
                tok = decode_sample(params, b, k, jnp.float32(t), jnp.int32(top_k), jnp.float32(top_p))
            lp, n, _ = score_outputs(params, b, tok)
            outs.append(np.asarray(tok)[:real])
            lps.append(np.asarray(lp)[:real])
            lens.append(np.asarray(n)[:real])
        return np.concatenate(outs), np.concatenate(lps), np.concatenate(lens)

    def decoded_tokens(row) -> list[str]:
        return vocab.decode(row)

    def melody_report(split: str, outputs: dict) -> dict:
        ex = data.raw(split)
        real = [data._typed(x["tokens"]) for x in ex]
        rep = {}
        for how, out in outputs.items():
            gen = [decoded_tokens(row) for row in out]
            assert all(len(g) == len(r) for g, r in zip(gen, real)), "one output token per note"
            types_hit = [syllabic_type(g) == syllabic_type(r) for gs, rs in zip(gen, real) for g, r in zip(gs, rs)]
            syl = lambda ts: [t.strip("-") for t in ts if t != MELISMA]
            stressed = [bool(x["strong"][i]) for g, x in zip(gen, ex) for i in stressed_syllables(g)]
            rep[how] = {"type_accuracy": float(np.mean(types_hit)),
                        "syllable_error_rate": error_rate([syl(g) for g in gen], [syl(r) for r in real]),
                        "stressed_on_strong_beats": float(np.mean(stressed)) if stressed else float("nan"),
                        "stressed_syllables": len(stressed),
                        "melisma_share": float(np.mean([t == MELISMA for g in gen for t in g])),
                        "well_formed": well_formed_share(gen)}
        stressed = [bool(x["strong"][i]) for r, x in zip(real, ex) for i in stressed_syllables(r)]
        rep["real_text"] = {"stressed_on_strong_beats": float(np.mean(stressed)), "stressed_syllables": len(stressed),
                            "melisma_share": float(np.mean([t == MELISMA for r in real for t in r])),
                            "well_formed": well_formed_share(real)}
        rep["strong_beat_share_of_notes"] = float(np.mean(np.concatenate([x["strong"] for x in ex])))
        rep["phrase_heuristic_f1"] = phrase_agreement(split)
        rep["type_accuracy_table_baseline"] = type_table_baseline(data.raw("train"), ex, data._typed)
        rep["type_accuracy_ceiling"] = type_accuracy_ceiling(data.raw("train"), ex, data._typed)
        return rep

    def phrase_agreement(split: str) -> float:
        """Mean F1 (over chorale verses) of the untexted-melody phrase ends (`melody_phrases`, as
        `musicjax lyrics` cuts) against the text lines' ends."""
        from musicjax.data.datasets import load_scores

        scores = load_scores("bach_chorales", split)
        f1 = []
        for sc in scores[:d.max_pieces] if d.max_pieces else scores:
            line = melody_line(sc, 0)
            if not len(line.lyric_note):
                continue
            bar = bar_quarters(sc.meta.meter)
            strong = strong_beats(positions_in_bar(line, downbeat_offset(line, bar), bar), sc.meta.meter)
            guess = melody_phrases(line, data.src_len, strong, PHRASE_NOTES)
            for verse in sorted(set(line.lyric_verse.tolist())):
                true = text_phrases(syllables_per_note(line, np.arange(line.num_notes), verse))
                first, last = true[0][0], true[-1][1]
                f1.append(boundary_f1([p for p in guess if first <= p[1] <= last], true))
        return float(np.mean(f1)) if f1 else float("nan")

    def line_report(split: str, outputs: dict) -> dict:
        ex = data.raw(split)
        refs = [vocab.decode(vocab.encode(b)) for _, b in ex]
        rep = {}
        for how, out in outputs.items():
            gen = [decoded_tokens(row) for row in out]
            rep[how] = {"right_length": float(np.mean([len(g) == len(r) for g, r in zip(gen, refs)])),
                        "bleu2": corpus_bleu(gen, refs, max_n=2),
                        "examples": ["".join(a) + " → " + "".join(g) + "  (" + "".join(b) + ")"
                                     for (a, b), g in list(zip(ex, gen))[:e.report_examples]]}
        return rep

    def report(state, split: str) -> dict:
        """Teacher-forced scores; greedy and beam outputs for every source of the split, their mean
        log-probability and the task's metrics of them; the twin's scores on the same targets
        (config report.twin_workdir, a trained run of this family)."""
        params = state.params
        rep = {"split": split, "task": data.task, "attention": config.model.attention,
               "vocab_size": V, "teacher_forced": teacher_forced_scores(params, split)}
        outputs, logp, raw = {}, {}, {}
        for how in ("greedy", "beam"):
            out, lp, n = decode_split(params, split, how)
            outputs[how], raw[how] = out, lp
            logp[how] = {"mean_log_prob": float(lp.mean()), "mean_log_prob_per_token": float(lp.sum() / n.sum())}
        rep["log_prob"] = {**logp, "beam_size": e.beam_size, "length_alpha": e.length_alpha,
                           "beam_minus_greedy": logp["beam"]["mean_log_prob"] - logp["greedy"]["mean_log_prob"],
                           "beam_not_worse_share": float(np.mean(raw["beam"] + 1e-4 >= raw["greedy"]))}
        rep.update(melody_report(split, outputs) if data.task == "melody_lyrics" else line_report(split, outputs))
        twin = config.report.twin_workdir
        if twin:
            rep["twin"] = twin_scores(twin, split, rep["teacher_forced"])
        return rep

    def twin_scores(workdir: str, split: str, mine: dict) -> dict:
        """The teacher-forced scores of another run of this family on the same split and targets."""
        from musicjax.train.loop import read_config, restore_state

        try:
            twin_config = read_config(workdir)
        except FileNotFoundError:
            raise ValueError(f"{workdir}: report.twin_workdir is not a training workdir (no config.json)") from None
        twin_task = make(twin_config)
        if twin_task.extra["vocab"] != vocab or twin_config.data.to_dict() != config.data.to_dict():
            raise ValueError(f"{workdir}: the twin was trained on other data or another vocabulary")
        twin_state, step = restore_state(twin_task, twin_config, workdir)
        theirs = twin_task.extra["teacher_forced_scores"](twin_state.params, split)
        return {"workdir": str(workdir), "attention": twin_config.model.attention, "checkpoint_step": step, **theirs,
                "nll_per_token_minus_twin": mine["nll_per_token"] - theirs["nll_per_token"]}

    # ---- lyrics under a melody ----------------------------------------------------------------

    def set_lyrics(state, score: Score, part: int = 0, seed: int = 0, beam_size: int | None = None,
                   temperature: float | None = None, top_k: int | None = None, top_p: float | None = None):
        """The melody line of `score`'s `part` with generated lyrics, one syllable token per note
        (melisma marks become no lyric), phrases cut by `melody_phrases`; beam search of
        `beam_size` (default: config.eval.beam_size) unless a temperature > 0 asks for sampling.
        -> (the line as a Score with the lyrics as verse 1, [(source labels, output tokens,
        attention [T, S])] per phrase)."""
        if data.task != "melody_lyrics":
            raise ValueError("set_lyrics needs a melody_lyrics run (data.task)")
        if part < 0 or part >= len(score.parts):
            raise ValueError(f"part {part} is out of range: the melody has {len(score.parts)} part(s)")
        line = melody_line(score, part)
        bar = bar_quarters(score.meta.meter)
        offset = downbeat_offset(line, bar)
        phrases = melody_phrases(line, data.src_len, strong_beats(positions_in_bar(line, offset, bar), score.meta.meter),
                                 PHRASE_NOTES)
        end = np.zeros(line.num_notes, np.int64)
        end[[b for _, b in phrases]] = 1
        feats = note_features(line, end, offset, bar)
        sources = [feats[a:b + 1] for a, b in phrases]
        arrays = pad_examples(sources, [np.full(len(x), UNK) for x in sources], data.src_len, data.tgt_len, data.features)
        pick = lambda v, d: d if v is None else v
        temp, width = float(pick(temperature, 0.0)), int(pick(beam_size, e.beam_size))
        key = jax.random.key(seed)
        rows, panels = [], []
        for c, (b, real) in enumerate(chunks(arrays)):
            if temp > 0:
                tok = decode_sample(state.params, b, jax.random.fold_in(key, c), jnp.float32(temp),
                                    jnp.int32(pick(top_k, s.top_k)), jnp.float32(pick(top_p, s.top_p)))
            else:
                tok = decode_beam(state.params, b, width, e.length_alpha)
            _, _, w = score_outputs(state.params, b, tok)
            for r in range(real):
                first, last = phrases[c * eval_rows + r]
                n = last - first + 1
                words = vocab.decode(np.asarray(tok[r]))[:n]
                rows += [(first + k, t.strip("-") or "?", syllabic_type(t), 1)
                         for k, t in enumerate(words) if t != MELISMA]
                panels.append(([note_name(p) for p in line.pitch[first:last + 1]], words, np.asarray(w[r])[:n, :n]))
        from musicjax.data.score import make_score

        titled = score.meta.title or score.meta.source_id
        out_score = make_score(line.pitch, line.start_q, line.end_q, velocity=line.velocity, parts=line.parts,
                               lyrics=rows, tempos=score.tempos, time_signatures=score.time_signatures,
                               key_signatures=score.key_signatures,
                               meta=Metadata(**{**score.meta.__dict__, "title": f"{titled} (generated lyrics)"}))
        return out_score, panels

    def lyrics_files(state, melody, out, part: int = 0, seed: int = 0, beam_size: int | None = None,
                     temperature: float | None = None) -> dict:
        """`musicjax lyrics`: generated lyrics under the melody of file `melody` (its first tune,
        part `part`), written as OUT.mid (lyric events), OUT.musicxml (lyrics under the notes) and
        OUT.attention.png (the first phrase's attention, none for a blind run). -> what was written."""
        from musicjax.data.io import read_scores, write_score
        from musicjax.evaluate.plots import attention_png as draw

        score = read_scores(melody)[0]
        try:
            result, panels = set_lyrics(state, score, part, seed, beam_size, temperature)
        except ValueError as err:
            raise ValueError(f"{melody}: {err}") from None
        out = pathlib.Path(out)
        files = {"midi": str(out.with_name(out.name + ".mid")), "musicxml": str(out.with_name(out.name + ".musicxml"))}
        write_score(result, files["midi"])
        write_score(result, files["musicxml"])
        labels, words, w = panels[0]
        if w.shape[1]:
            files["attention_png"] = str(out.with_name(out.name + ".attention.png"))
            draw(w, labels, words, files["attention_png"], title=f"{pathlib.Path(melody).name}, phrase 1: "
                 f"{config.model.attention} attention")
        text = [" ".join(ws) for _, ws, _ in panels]
        return {**files, "notes": result.num_notes, "phrases": len(panels), "lyrics": text}

    def sample(state, num: int, seed: int, temperature: float | None = None, top_k: int | None = None,
               top_p: float | None = None, primer=None, steps=None, qpm=None) -> list[Score]:
        """Lyrics generated under the sopranos of the first `num` test chorales (or under `primer`'s
        first part): sampled at `temperature` (default config.sample's), or beam search at 0."""
        if data.task != "melody_lyrics":
            raise ValueError("a next_line run writes text, not music: its lines are in `musicjax evaluate`'s report")
        from musicjax.data.datasets import load_scores

        melodies = [primer] * num if primer is not None else load_scores("bach_chorales", "test")[:num]
        t = s.temperature if temperature is None else temperature
        return [set_lyrics(state, m, 0, seed + i, temperature=t, top_k=top_k, top_p=top_p)[0]
                for i, m in enumerate(melodies)]

    def attention_png(state, path, split: str = "test", index: int = 0) -> None:
        """The attention weights of the greedy output for source `index` of a split, as a PNG."""
        from musicjax.evaluate.plots import attention_png as draw

        arrays = {k: v[index:index + 1] for k, v in data.arrays(split).items()}
        arrays = {k: np.repeat(v, eval_rows, 0) for k, v in arrays.items()}
        tok = decode_beam(state.params, arrays, 1, e.length_alpha)
        _, n, w = score_outputs(state.params, arrays, tok)
        n = int(n[0])
        src_n = int(arrays["source_len"][0])
        ex = data.raw(split)[index]
        if data.task == "melody_lyrics":
            labels = [note_name(p + MIN_PITCH) for p in ex["source"][:, 0]]
            title = f"{ex['piece']} verse {ex['verse']}: {config.model.attention} attention, greedy output"
        outs = [vocab.tokens[t] for t in np.asarray(tok[0])[:n]]
        if data.task == "next_line":  # pinyin labels: the plotting fonts here have no CJK glyphs
            from musicjax.codecs.lyrics import pinyin

            labels = pinyin("".join(ex[0]))
            title = (f"{' '.join(labels)} -> (real: {' '.join(pinyin(''.join(ex[1])))}), "
                     f"{config.model.attention} attention")
            outs = [pinyin(t)[0] if t not in SPECIALS else t for t in outs]
        draw(np.asarray(w[0])[:n, :src_n], labels, outs, path, title=title)

    def init(key):
        b = {k: v[:1] for k, v in data.arrays("train").items()}
        params = model.init(key, jnp.asarray(b["source"]), jnp.asarray(b["source_len"]),
                            decoder_inputs(jnp.asarray(b["targets"])))["params"]
        return TrainState.create(params, tx)

    return Task(init=init, train_step=make_train_step(loss_fn, schedule, config.train.max_bad_steps), batch=batch,
                evaluate=evaluate, best_metric=("nll_per_token", "min"), sample=sample, report=report,
                rate_metrics=("tokens",),
                extra={"model": model, "data": data, "vocab": vocab, "set_lyrics": set_lyrics, "lyrics_files": lyrics_files,
                       "attention_png": attention_png, "teacher_forced_scores": teacher_forced_scores,
                       "decode_split": decode_split, "score_outputs": score_outputs, "eval_rows": eval_rows,
                       "probability": probability})
