"""The polyphonic chorale benchmark (JSB Chorales, Boulanger-Lewandowski et al. 2012) rebuilt from our
chorale corpus: each piece moved to C major / C minor, sampled at every quarter note into frames of
the 88 piano keys; the score is the NLL per frame in nats (the sum over the 88 keys of a frame's
log-probability, summed over every frame of the split, divided by the number of frames).

Data, split and windows: `tasks/chorale_frames_data.py`.

Models (`models/polyphonic.py`): an LSTM or the Music Transformer's stack over the frames, with
independent sigmoid outputs per key or a NADE over the keys.

Distillation (`distill.*`): a model can be trained towards trained sigmoid runs of this family
(the teachers) as well as the frames: the target of key k at frame t becomes
w * q(k, t) + (1 - w) * x(k, t), where q is the teachers' probability of the key, averaged over the
runs and over the piece moved by every shift in -K..K (each run told the moved tonic; its answer
moved back). q is each key's marginal under the teachers' mixture (`teacher_marginals`), so a model
with independent outputs is trained towards the best factorised summary of that mixture; evaluation
is unchanged (the frames' NLL in C), and the student remains one model answering once. The teachers
answer on the training pieces only, each with the best validation checkpoint it has when the
student's first batch is drawn (a finished run's, for a reproducible student)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from scipy.special import expit

from musicjax.data.score import Metadata, Score
from musicjax.models.polyphonic import FrameModel
from musicjax.models.transformer import resize_cache
from musicjax.sample.sampling import DECODE_COMPILER_OPTIONS, growth_segments, scan_segments
from musicjax.tasks.chorale_frames_data import (FrameSpec, marginal_nll, mean_of_answers, moved_back, pad_rows,
                                                piece_frames, split_pieces, training_batch, transposed_frames,
                                                with_previous)
from musicjax.train import parallel
from musicjax.train.losses import frame_log_prob, frame_nll
from musicjax.train.optim import optimizer_from_config
from musicjax.train.step import TrainState, make_train_step
from musicjax.train.task import Task

# Published rows on the original split (nats per frame), for the report beside ours.
PUBLISHED = (
    ("RNN", 8.71, "Boulanger-Lewandowski 2012 (as tabled by Krishnan et al. 2017)"),
    ("LSTM (independent sigmoid outputs)", 8.45, "Bai et al. 2018, Table 1"),
    ("TCN", 8.10, "Bai et al. 2018, Table 1"),
    ("STORN", 6.91, "Krishnan et al. 2017, Table 3"),
    ("RNN-NADE", 5.19, "Boulanger-Lewandowski 2012 (as tabled by Krishnan et al. 2017)"),
    ("DMM-Aug-NADE", 5.118, "Krishnan et al. 2017, Table 4"),
)


def teacher_marginals(workdirs, spec: FrameSpec, split: str, max_shift: int) -> list[np.ndarray]:
    """Each key's probability at every frame of `split` (of the data `spec` describes), averaged
    over the trained sigmoid runs in `workdirs` and over the split moved by every shift in
    -max_shift..max_shift (`key_logits`, moved back; a key a shift pushes off the keyboard is
    averaged over the others): [T, K] float32 per piece, in the split's order. Each run answers with
    the best checkpoint it has when this is called. ValueError naming the workdir if it is not such
    a run or was trained on other data (another spec: keyboard, grid, split)."""
    from musicjax.train.loop import read_config, restore_state

    if not workdirs:
        raise ValueError("distillation needs at least one teacher workdir")
    if max_shift < 0:
        raise ValueError(f"distill.transpose must be 0 or more, got {max_shift}")

    def answers():
        for w in workdirs:
            try:
                config = read_config(w)
            except FileNotFoundError as e:  # its message names the workdir
                raise ValueError(str(e)) from None
            if config.get("model_family") != "chorale_frames":
                raise ValueError(f"{w}: a {config.get('model_family')} run cannot teach a chorale_frames model")
            task = make(config)
            if task.extra["spec"] != spec:
                raise ValueError(f"{w}: trained on other data ({task.extra['spec']}, not {spec})")
            try:
                state, _ = restore_state(task, config, w)
            except FileNotFoundError as e:  # its message names the workdir
                raise ValueError(str(e)) from None
            for shift in range(-max_shift, max_shift + 1):
                try:
                    answer = task.extra["key_logits"](state, split, shift)
                except ValueError as e:
                    raise ValueError(f"{w}: {e}") from None
                yield [expit(l) for l in answer]

    return mean_of_answers(answers())


def model_from_config(config) -> FrameModel:
    m = config.model
    dtype = jnp.bfloat16 if config.train.precision == "bfloat16" else jnp.float32
    return FrameModel(num_keys=config.data.num_keys, body=m.body, head=m.head, hidden=m.hidden,
                      num_layers=m.num_layers, num_heads=m.num_heads, ff_dim=m.ff_dim, max_len=m.max_len,
                      max_distance=m.max_distance or config.train.seq_len, nade_hidden=m.nade_hidden,
                      dropout=m.dropout, tonic_input=m.get("tonic_input", False), dtype=dtype)


def make(config) -> Task:
    d = config.data
    spec = FrameSpec(d.corpus, d.frames_per_quarter, d.min_pitch, d.num_keys, tuple(d.split_fractions),
                     d.get("split_by", "melody"))
    model = model_from_config(config)
    tx, schedule = optimizer_from_config(config.train)
    seq_len, batch_size, seed = config.train.seq_len, config.train.batch_size, config.seed
    mesh = parallel.data_mesh()
    n_dev = len(mesh.devices.flat)

    def pieces(split):
        return split_pieces(spec)[split]

    @functools.cache
    def eval_set(split: str, transpose: int = 0) -> dict:
        """Every piece of the split whole, moved `transpose` keys up (down if negative), padded to the
        longest and to a multiple of the devices; 'tonic' [rows] the pitch class C moved to."""
        ps = [(source, transposed_frames(source, f, transpose)) for source, f in pieces(split)]
        longest = max(len(f) for _, f in ps)
        if model.body == "transformer" and longest > model.max_len:
            raise ValueError(f"{split}: a piece of {longest} frames is longer than model.max_len {model.max_len}")
        rows = [with_previous(f, 0, len(f)) for _, f in ps]
        rows += [(np.zeros((0, d.num_keys), bool), np.zeros((0, d.num_keys), bool))] * (-len(rows) % n_dev)
        return {**pad_rows(rows, longest, d.num_keys), "tonic": np.full(len(rows), transpose % 12, np.int32)}

    distill = config.get("distill") or ml_collections.ConfigDict({"teachers": (), "transpose": 0, "weight": 0.0})
    if not 0.0 <= distill.weight <= 1.0:
        raise ValueError(f"distill.weight must lie in [0, 1], got {distill.weight}")
    if distill.weight and not distill.teachers:
        raise ValueError("distill.weight is set but distill.teachers names no workdir")
    if distill.transpose < 0:
        raise ValueError(f"distill.transpose must be 0 or more, got {distill.transpose}")

    @functools.cache
    def soft_targets():
        """The teachers' key marginals on the training pieces (computed on the first batch)."""
        return teacher_marginals(tuple(distill.teachers), spec, "train", distill.transpose)

    def loss_fn(params, batch, key, step):
        logits, _ = model.apply({"params": params}, batch["previous"], batch["frames"], deterministic=False,
                                tonic=batch["tonic"], rngs={"dropout": key})
        mean, total, count = frame_nll(logits, batch["frames"], batch["mask"])
        if not distill.weight:
            return mean, {"frames": count}
        target = distill.weight * batch["soft"] + (1.0 - distill.weight) * batch["frames"]
        return frame_nll(logits, target, batch["mask"])[0], {"frames": count, "nll": mean}

    def eval_step(params, batch):
        """-> [rows, T] log-probability of each frame, padding included (the host keeps the masked)."""
        logits, _ = model.apply({"params": params}, batch["previous"], batch["frames"], tonic=batch["tonic"])
        return frame_log_prob(logits, batch["frames"])

    def logits_step(params, batch):
        """-> [rows, T, K] the sigmoid head's logit of each key."""
        logits, _ = model.apply({"params": params}, batch["previous"], batch["frames"], tonic=batch["tonic"])
        return logits.astype(jnp.float32)

    shardings = dict(in_shardings=(parallel.replicated(mesh), parallel.batch_sharded(mesh)),
                     out_shardings=parallel.replicated(mesh))
    eval_jit, logits_jit = jax.jit(eval_step, **shardings), jax.jit(logits_step, **shardings)

    def per_row(fn, params, data: dict) -> np.ndarray:
        """fn(params, chunk) over the rows of `data` in chunks of one shape -> its outputs [rows, ...]."""
        rows = max(n_dev, config.eval_batch_size // n_dev * n_dev)
        out = []
        for i in range(0, len(data["mask"]), rows):
            chunk = {k: v[i:i + rows] for k, v in data.items()}
            n = len(chunk["mask"])
            if n < rows:  # one shape for every chunk: pad with empty rows
                chunk = {k: np.concatenate([v, np.zeros((rows - len(v),) + v.shape[1:], v.dtype)]) for k, v in chunk.items()}
            out.append(np.asarray(jax.device_get(fn(params, parallel.global_batch(chunk, mesh))))[:n])
        return np.concatenate(out)

    def frame_log_probs(state, split: str, transpose: int = 0) -> np.ndarray:
        """The log-probability (nats) of every frame of the split [frames] float64, piece by piece in
        the split's order: what an ensemble mixes (`evaluate.ensemble`). With `transpose`, of the
        frames moved that many keys, the model told their tonic (`model.tonic_input`); ValueError if
        a piece's notes would leave the keyboard."""
        data = eval_set(split, transpose)
        return per_row(eval_jit, state.params, data)[data["mask"] > 0].astype(np.float64)

    def key_logits(state, split: str, transpose: int = 0) -> list[np.ndarray]:
        """The sigmoid head's logit of each key at every frame of every piece of the split ([T, K]
        float32 per piece, in the split's order), the pieces moved `transpose` keys (the model told
        their tonic) and the answers moved back (`moved_back`: keys whose moved place is off the
        keyboard NaN). ValueError for the NADE head (its keys are not independent) or if a piece's
        notes would leave the keyboard."""
        if model.head != "sigmoid":
            raise ValueError(f"per-key answers need the sigmoid head, not {model.head!r} "
                             "(a NADE's keys are not independent)")
        data = eval_set(split, transpose)
        logits = per_row(logits_jit, state.params, data)
        return [moved_back(l[:len(f)], transpose) for l, (_, f) in zip(logits, pieces(split))]

    def averaged_logits_nll(state, split: str, max_shift: int) -> dict:
        """The sigmoid head asked in every key, its outputs kept independent: each key's logit
        averaged over the split moved by every shift in -max_shift..max_shift (answers moved back; a
        key over the shifts that keep it on the keyboard), one Bernoulli per key from that mean. A
        transposition average of one model that stays factorised, unlike the mixture of
        `musicjax evaluate --transpose`; scored on the frames in C."""
        mean = mean_of_answers(key_logits(state, split, s) for s in range(-max_shift, max_shift + 1))
        nll = 0.0
        for logit, (_, f) in zip(mean, pieces(split)):
            signed = np.where(f, -logit, logit).astype(np.float64)
            nll += float(np.sum(np.logaddexp(0.0, signed)))  # -log sigmoid(logit) where on, -log sigmoid(-logit) off
        frames = sum(len(f) for _, f in pieces(split))
        return {"nll_per_frame": nll / frames, "frames": float(frames), "shifts": [-max_shift, max_shift]}

    def evaluate(state, split: str) -> dict:
        lp = frame_log_probs(state, split)
        return {"nll_per_frame": float(-lp.mean()), "frames": float(len(lp))}

    def report(state, split: str) -> dict:
        """The model beside the independent-keys baseline on the same frames, and the published
        rows (on the original split: not the same frames)."""
        nll, frames = marginal_nll(pieces("train"), pieces(split))
        counts = {s: {"pieces": len(pieces(s)), "frames": int(sum(len(f) for _, f in pieces(s)))}
                  for s in ("train", "valid", "test")}
        models = {f"{model.body}_{model.head}": evaluate(state, split),
                  "key_marginals": {"nll_per_frame": nll / frames, "frames": frames}}
        shifts = d.get("max_transpose", 0)
        if model.head == "sigmoid" and model.tonic_input and shifts:  # trained in every key: asked in each
            models[f"{model.body}_{model.head}_logits_averaged_over_keys"] = averaged_logits_nll(state, split, shifts)
        return {"split": split, "splits": counts, "skipped": split_pieces(spec)["skipped"], "models": models,
                "published": [{"model": m, "nll_per_frame": v, "source": src} for m, v, src in PUBLISHED]}

    @functools.partial(jax.jit, static_argnames=("num", "steps"), compiler_options=DECODE_COMPILER_OPTIONS)
    def generate(params, prefix, key, temperature, num: int, steps: int):
        """prefix [P, K] (a zero frame, then any primer) -> frames [num, steps, K] drawn after it
        (frame t with fold_in(key, t)); a Transformer's KV cache grows as it fills, as the token
        sampler's does (`sample.sampling.growth_segments`)."""
        variables = {"params": params}
        context, state = model.apply(variables, jnp.broadcast_to(prefix, (num,) + prefix.shape), method=model.context)

        def step(carry, t):
            last, state = carry
            frame = model.apply(variables, last, jax.random.fold_in(key, t), temperature, method=model.sample_frame)
            context, state = model.apply(variables, frame[:, None], state, method=model.context)
            return (context[:, -1], state), frame

        # Each step feeds its frame: step t writes slot P + t, as the token sampler's step t + 1 does.
        segments = (growth_segments(resize_cache, model.max_len, prefix.shape[0], steps + 1)
                    if model.body == "transformer" else None)
        _, frames = scan_segments(step, (context[:, -1], state), segments, steps + 1,
                                  lambda start, count: jnp.arange(start - 1, start - 1 + count),
                                  lambda carry, prepare: (carry[0], prepare(carry[1])))
        if not frames:
            return jnp.zeros((num, 0, prefix.shape[1]), jnp.float32)
        return jnp.swapaxes(jnp.concatenate(frames), 0, 1)

    def sample(state, num: int, seed: int, temperature: float | None = None, primer: Score | None = None,
               steps: int | None = None, qpm: float | None = None, **_) -> list[Score]:
        """`num` pieces of `steps` frames (sample.frames by default) in C, as one-part Scores; a
        `primer` (moved to C, sampled into frames) starts each and is kept. top_k / top_p are for
        token models and are ignored."""
        s = config.sample
        steps = s.frames if steps is None else steps
        start = np.zeros((1, d.num_keys), np.float32)
        primed = piece_frames(primer, spec).astype(np.float32) if primer is not None else start[:0]
        prefix = np.concatenate([start, primed])
        if model.body == "transformer" and len(prefix) + steps > model.max_len:
            raise ValueError(f"{len(primed)} primer frames and {steps} steps exceed model.max_len {model.max_len}")
        t = float(s.temperature if temperature is None else temperature)
        frames = np.asarray(generate(state.params, jnp.asarray(prefix), jax.random.key(seed), t, num, steps))
        tempo = qpm or (primer.qpm if primer is not None else s.qpm)
        return [spec.codec.decode(np.concatenate([primed, f]) > 0.5, qpm=tempo,
                                  meta=Metadata(title=f"chorale frames sample {i + 1} (seed {seed})"))
                for i, f in enumerate(frames)]

    def init(key):
        zeros = jnp.zeros((1, 4, d.num_keys), jnp.float32)
        return TrainState.create(model.init(key, zeros, zeros)["params"], tx)

    return Task(init=init, train_step=make_train_step(loss_fn, schedule, config.train.max_bad_steps),
                batch=lambda step, pidx=0, pcount=1: _process_rows(
                    training_batch(pieces("train"), step, seed, batch_size, seq_len, d.num_keys,
                                   d.get("max_transpose", 0), soft_targets() if distill.weight else None),
                    pidx, pcount),
                evaluate=evaluate, best_metric=("nll_per_frame", "min"), sample=sample, report=report,
                rate_metrics=("frames",), extra={"model": model, "spec": spec, "pieces": pieces, "generate": generate,
                                                      "unit_log_probs": frame_log_probs, "key_logits": key_logits,
                                                      "averaged_logits_nll": averaged_logits_nll})


def _process_rows(batch: dict, pidx: int, pcount: int) -> dict:
    """This process's share of the global batch's rows."""
    n = len(batch["mask"]) // pcount
    return {k: v[pidx * n:(pidx + 1) * n] for k, v in batch.items()}
