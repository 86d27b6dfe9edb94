"""The melody language model task: melody tokens of corpus pieces, an LSTM LM, next-token
cross-entropy. Config fields become plain constructor arguments here, at the boundary."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from musicjax.codecs.melody import BOS, EOS, PAD
from musicjax.data.score import Metadata
from musicjax.evaluate.lm import lm_scores, ngram_baselines, summarize
from musicjax.models.fused_lstm import FusedLSTMLanguageModel
from musicjax.models.lstm import LSTMLanguageModel
from musicjax.sample.sampling import sample_lm
from musicjax.tasks.melody_data import MelodyData, PerformanceData, eval_windows, melody_sequences, train_batches
from musicjax.train import parallel
from musicjax.train.optim import optimizer_from_config
from musicjax.train.step import TrainState, lm_eval_step, lm_loss_fn, make_train_step
from musicjax.train.task import Task

IMPLEMENTATIONS = {"flax": LSTMLanguageModel, "fused": FusedLSTMLanguageModel}


def model_from_config(config, vocab_size: int):
    m = config.model
    implementation = m.get("implementation", "flax")
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"model.implementation must be one of {', '.join(IMPLEMENTATIONS)}, got {implementation!r}")
    dtype = jnp.bfloat16 if config.train.precision == "bfloat16" else jnp.float32
    return IMPLEMENTATIONS[implementation](vocab_size, m.embed_dim, m.hidden, m.num_layers, m.dropout, dtype)


REPRESENTATIONS = ("melody", "performance")


def data_from_config(config) -> MelodyData | PerformanceData:
    """`data.representation` melody: one part's melody tokens on a grid of `steps_per_quarter`
    within [min_pitch, max_pitch]; performance: the performance events of the named part or, for
    part None, of every part (`PerformanceData`)."""
    d = config.data
    sources = tuple(tuple(s) for s in d.sources)
    representation = d.get("representation", "melody")
    if representation == "performance":
        return PerformanceData(sources, d.get("steps_per_second", 100), d.min_pitch, d.max_pitch)
    if representation != "melody":
        raise ValueError(f"data.representation must be one of {', '.join(REPRESENTATIONS)}, got {representation!r}")
    return MelodyData(sources, d.steps_per_quarter, d.min_pitch, d.max_pitch)


def make(config) -> Task:
    data = data_from_config(config)
    return melody_lm_task(config, data, model_from_config(config, data.codec.vocab_size), name="lstm")


def melody_lm_task(config, data: MelodyData | PerformanceData, model, name: str) -> Task:
    """The melody LM task (melody tokens or performance events: `data`) around any language model with `LSTMLanguageModel`'s interface
    (`apply(tokens [B, T], cache=None, deterministic=...) -> (logits [B, T, V], cache)`): an LSTM, a
    Transformer. Its report names the model's row `name`. A model with a `max_len` (a Transformer)
    refuses a sample longer than that, rather than overrun its cache."""
    tx, schedule = optimizer_from_config(config.train)
    seq_len, batch_size, seed = config.train.seq_len, config.train.batch_size, config.seed
    eval_length, eval_batch = config.eval_length, config.eval_batch_size

    @functools.cache
    def sequences(split: str):
        return melody_sequences(data, split)[0]

    @functools.cache
    def eval_set(split: str):
        """All windows of a split and the notes they hold (built once: evaluated every eval_every)."""
        seqs = sequences(split)
        return eval_windows(seqs, eval_length), sum(data.notes_in(s) for s in seqs)

    @functools.cache
    def stream(process_index: int, process_count: int):
        return train_batches(sequences("train"), data, seq_len, batch_size, seed, config.data.max_transpose,
                             process_index, process_count)

    mesh = parallel.data_mesh()
    eval_step = jax.jit(lm_eval_step(model), in_shardings=(parallel.replicated(mesh), parallel.batch_sharded(mesh)),
                        out_shardings=parallel.replicated(mesh))

    def evaluate(state, split: str) -> dict:
        windows, notes = eval_set(split)
        n_dev = len(mesh.devices.flat)
        rows = max(n_dev, eval_batch // n_dev * n_dev)
        totals = lm_scores(lambda p, b: eval_step(p, parallel.global_batch(b, mesh)), state.params, windows, rows)
        return summarize(totals["nll_sum"], totals["tokens"], notes, totals["correct"])

    def report(state, split: str) -> dict:
        """The model beside unigram and bigram baselines fitted on the training split and scored
        on the same targets."""
        windows, notes = eval_set(split)
        tokens = float(windows["mask"].sum())
        rows = {name: evaluate(state, split)}
        for baseline, (nll_sum, correct) in ngram_baselines(eval_set("train")[0], windows, data.codec.vocab_size).items():
            rows[baseline] = summarize(nll_sum, tokens, notes, correct)
        return {"split": split, "models": rows}

    def sample(state, num: int, seed: int, temperature: float | None = None, top_k: int | None = None,
               top_p: float | None = None, primer=None, steps: int | None = None, qpm: float | None = None):
        """`num` pieces as Scores. `primer` (a Score) starts each sample: its tokens (`data.encode`:
        a melody's first part, a performance's every part) are fed first and kept at the start of the result."""
        s = config.sample
        pick = lambda v, d: d if v is None else v
        codec = data.codec
        prefix = np.concatenate([[BOS], data.encode(primer)]) if primer is not None else np.array([BOS])
        num_steps = pick(steps, s.steps)
        max_len = getattr(model, "max_len", None)
        if max_len is not None and len(prefix) + num_steps > max_len:
            raise ValueError(f"a primer of {len(prefix) - 1} tokens and {num_steps} steps exceed the model's "
                             f"max_len {max_len}: ask for fewer steps or a shorter primer")
        tokens = jnp.asarray(np.tile(prefix, (num, 1)), jnp.int32)
        out = sample_lm(model, state.params, tokens, jax.random.key(seed), num_steps=num_steps,
                        temperature=float(pick(temperature, s.temperature)), top_k=int(pick(top_k, s.top_k)),
                        top_p=float(pick(top_p, s.top_p)), eos=EOS, pad=PAD)
        out = np.asarray(jax.device_get(out))
        tempo = pick(qpm, primer.qpm if primer is not None else s.qpm)
        return [codec.decode(np.concatenate([prefix[1:], out[i]]), qpm=tempo,
                             meta=Metadata(title=f"sample {i + 1} (seed {seed})")) for i in range(num)]

    return Task(
        init=lambda key: TrainState.create(model.init(key, jnp.zeros((1, 8), jnp.int32))["params"], tx),
        train_step=make_train_step(lm_loss_fn(model), schedule, config.train.max_bad_steps),
        batch=lambda step, pidx=0, pcount=1: stream(pidx, pcount)[step],
        evaluate=evaluate, best_metric=("nll_per_token", "min"), sample=sample, report=report,
        rate_metrics=("tokens",), extra={"model": model, "data": data, "sequences": sequences})
