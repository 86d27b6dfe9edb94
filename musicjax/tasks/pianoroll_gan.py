"""The piano-roll GAN task: fixed-length multi-track segments of a corpus (the four chorale voices,
or Essen melodies as one track), a MuseGAN-style generator and critic trained by two pure steps
with two optimizer states, and MuseGAN's objective metrics plus a Fréchet distance as evaluation.

Segments: `tasks/pianoroll_gan_data.py`.

Steps. `d_step` and `g_step` are separate pure functions, each updating its own network with its
own Optax state; `train_step` runs `n_critic` critic steps in a `lax.scan` (one compiled body
whatever n_critic is), each on its own real rows, then one generator step against the updated
critic, all inside the one jitted function the loop compiles. The non-finite guard is
`train.step.commit` over the whole composite: if any sub-step's loss, gradient or update is not
finite, none of them is applied.

Binarisation (samples, MIDI and evaluation): a threshold at 0.5 by default, Bernoulli draws as an
option. Thresholding keeps what the generator is confident of; independent Bernoulli draws put
isolated pixels where probabilities are moderate, which breaks held notes into fragments (lower
QN) and scatters pitches (higher UPC and polyphony) — BinaryMuseGAN (Dong & Yang 2018) found hard
thresholding the better of the two as well. `report` gives both (the first measured run, 700 steps,
test split: threshold FD 188, mean relative metric difference 0.32; Bernoulli 193 and 0.45).

Voices (`model.voices`): each track is one voice, as every chorale part is. The generator then
gives each (track, step) a softmax over its pitches and a rest; the critic sees the pitches'
probabilities (summing to at most 1 a step); "threshold" takes the most probable of the pitches
and the rest, "bernoulli" one categorical draw (`models.pianoroll_gan.binary_roll`). Without it,
the sigmoid generator's voices sound 1.1-1.35 pitches at once where the chorales' sound 1.00.

Evaluation (MuseGAN's metrics, the Fréchet distance in a key classifier's embedding):
`tasks/pianoroll_gan_judge.py`; this task generates the rolls it judges.

Divergence: `guard_metrics` is (): a WGAN critic's loss is negative, and every GAN loss here rises
and falls by design (a critic that starts winning multiplies the generator's BCE loss tenfold), so
a loss spike says nothing; the non-finite guard still applies."""

from __future__ import annotations

import functools
import pathlib

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from musicjax.data.augment import shift_pitches
from musicjax.data.score import Score
from musicjax.evaluate import pianoroll_metrics as pm
from musicjax.models.pianoroll_gan import Discriminator, Generator, binary_roll, roll_probabilities, straight_through
from musicjax.tasks.pianoroll_gan_data import SegmentSpec, draw_rows, roll_to_score, segments, shift_range
from musicjax.tasks.pianoroll_gan_judge import make_judge
from musicjax.train.losses import gan_discriminator_loss, gan_generator_loss, gradient_penalty
from musicjax.train.optim import make_optimizer, make_schedule
from musicjax.train.step import commit, optimizer_update
from musicjax.train.task import Task

OUTPUTS = ("sigmoid", "threshold_st", "bernoulli_st")  # what the critic is shown of the generator's output
BINARIZE = ("threshold", "bernoulli")


# ---------------------------------------------------------------------------------------------
# State and steps


@flax.struct.dataclass
class GANState:
    """Two networks, each with its own optimizer state, and the generator's weight average."""

    step: jax.Array  # int32: composite steps (critic steps + generator step) applied or skipped
    g_params: dict
    d_params: dict
    g_opt_state: optax.OptState
    d_opt_state: optax.OptState
    g_ema: dict  # exponential moving average of g_params (equal to them when the decay is 0)
    bad_steps: jax.Array  # int32: non-finite composite steps in a row
    g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

    @classmethod
    def create(cls, g_params, d_params, g_tx, d_tx) -> "GANState":
        # step and bad_steps are two arrays, not one: a state built outside jit is donated whole
        return cls(step=jnp.zeros((), jnp.int32), g_params=g_params, d_params=d_params,
                   g_opt_state=g_tx.init(g_params), d_opt_state=d_tx.init(d_params),
                   g_ema=jax.tree.map(jnp.copy, g_params), bad_steps=jnp.zeros((), jnp.int32), g_tx=g_tx, d_tx=d_tx)


def generator_output(logits, output: str, key, voices: bool = False):
    """What the critic sees of the generator: probabilities ("sigmoid": a sigmoid per pixel, or
    each voice's softmax), or binary values with the probabilities' gradient (straight-through
    threshold or Bernoulli / categorical draws)."""
    probs = roll_probabilities(logits, voices)
    if output == "sigmoid":
        return probs
    if output == "threshold_st":
        return straight_through(probs, voices=voices)
    if output == "bernoulli_st":
        return straight_through(probs, key, voices)
    raise ValueError(f"unknown generator output {output!r}; choose from {', '.join(OUTPUTS)}")


def noise(key, shape, truncation: float = 0.0):
    """Generator inputs: N(0, I), or with truncation tau > 0 each entry from N(0, 1) cut to
    [-tau, tau] (BigGAN's truncation trick, Brock et al. 2019: samples nearer the mode, less
    varied). Training always draws the untruncated normal."""
    if truncation > 0:
        return jax.random.truncated_normal(key, -truncation, truncation, shape)
    return jax.random.normal(key, shape)


def make_steps(generator: Generator, discriminator: Discriminator, *, loss: str, z_dim: int, gp_weight: float,
               output: str):
    """(d_step, g_step), pure:

    d_step(d_params, d_opt_state, g_params, real [rows, ...], key, d_tx) -> (d_params, d_opt_state,
        finite, metrics): one critic update on real rows and as many generated ones (the
        generator held fixed); with wgan_gp, plus gp_weight x the gradient penalty.
    g_step(g_params, g_opt_state, d_params, rows, key, g_tx) -> (g_params, g_opt_state, finite,
        metrics): one generator update against the critic held fixed."""
    G = lambda p, z: generator.apply({"params": p}, z)
    D = lambda p, x: discriminator.apply({"params": p}, x)

    def fake_rows(g_params, rows, key):
        k_z, k_out = jax.random.split(key)
        z = noise(k_z, (rows, z_dim))
        return generator_output(G(g_params, z), output, k_out, generator.voices)

    def d_step(d_params, d_opt_state, g_params, real, key, d_tx):
        k_fake, k_gp = jax.random.split(key)
        fake = jax.lax.stop_gradient(fake_rows(g_params, real.shape[0], k_fake))

        def loss_fn(p):
            # one critic pass over real and generated rows together (no batch statistics couple
            # them): one copy of the critic in the graph and matmuls twice as tall
            real_out, fake_out = jnp.split(D(p, jnp.concatenate([real, fake])), 2)
            value = gan_discriminator_loss(loss, real_out, fake_out)
            aux = {"real_score": jnp.mean(real_out), "fake_score": jnp.mean(fake_out)}
            if loss == "wgan_gp":
                penalty, norm = gradient_penalty(lambda x: D(p, x), real, fake, k_gp)
                aux |= {"wasserstein": aux["real_score"] - aux["fake_score"], "gradient_penalty": penalty,
                        "critic_grad_norm": norm}
                value = value + gp_weight * penalty
            return value, aux

        (value, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(d_params)
        d_params, d_opt_state, finite, grad_norm = optimizer_update(d_tx, grads, d_opt_state, d_params)
        return d_params, d_opt_state, finite & jnp.isfinite(value), {"d_loss": value, "d_grad_norm": grad_norm, **aux}

    def g_step(g_params, g_opt_state, d_params, rows, key, g_tx):
        def loss_fn(p):
            return gan_generator_loss(loss, D(d_params, fake_rows(p, rows, key)))

        value, grads = jax.value_and_grad(loss_fn)(g_params)
        g_params, g_opt_state, finite, grad_norm = optimizer_update(g_tx, grads, g_opt_state, g_params)
        return g_params, g_opt_state, finite & jnp.isfinite(value), {"g_loss": value, "g_grad_norm": grad_norm}

    return d_step, g_step


def make_train_step(d_step, g_step, *, ema_decay: float, max_bad_steps: int | None = None):
    """train_step(state, batch {'real' [rows, n_critic, tracks, bars, steps, pitches]}, key) ->
    (state, metrics): n_critic critic steps (lax.scan over the batch's second axis: each sees its
    own real rows), then one generator step, then the weight average; committed together. The
    step number is folded into the key, so a resumed run draws what an uninterrupted one would."""

    def train_step(state: GANState, batch, key):
        key = jax.random.fold_in(key, state.step)
        k_d, k_g = jax.random.split(key)
        real = jnp.moveaxis(batch["real"].astype(jnp.float32), 1, 0)  # [n_critic, rows, ...]
        n_critic, rows = real.shape[0], real.shape[1]

        def critic(carry, xs):
            d_params, d_opt_state, finite = carry
            real_rows, k = xs
            d_params, d_opt_state, ok, metrics = d_step(d_params, d_opt_state, state.g_params, real_rows, k, state.d_tx)
            return (d_params, d_opt_state, finite & ok), metrics

        (d_params, d_opt_state, d_finite), d_metrics = jax.lax.scan(
            critic, (state.d_params, state.d_opt_state, jnp.bool_(True)), (real, jax.random.split(k_d, n_critic)))
        g_params, g_opt_state, g_finite, g_metrics = g_step(state.g_params, state.g_opt_state, d_params, rows, k_g,
                                                            state.g_tx)
        # the average warms up (TF's ExponentialMovingAverage with num_updates): early on it
        # follows the weights instead of holding on to their random initialisation
        t = state.step.astype(jnp.float32)
        decay = jnp.minimum(ema_decay, (1.0 + t) / (10.0 + t))
        g_ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, state.g_ema, g_params)
        finite = d_finite & g_finite
        new = state.replace(g_params=g_params, d_params=d_params, g_opt_state=g_opt_state, d_opt_state=d_opt_state,
                            g_ema=g_ema)
        metrics = {**{k: jnp.mean(v) for k, v in d_metrics.items()}, **g_metrics,
                   "finite": finite.astype(jnp.float32)}
        return commit(state, new, finite, max_bad_steps), metrics

    return train_step


# ---------------------------------------------------------------------------------------------
# The task


def spec_from_config(d) -> SegmentSpec:
    return SegmentSpec(d.corpus, tuple(d.tracks), d.num_bars, d.steps_per_quarter, d.quarters_per_bar, d.min_pitch,
                       d.num_pitches, tuple(d.meters), d.hop_bars)


def models_from_config(config, spec: SegmentSpec) -> tuple[Generator, Discriminator]:
    m = config.model
    dtype = jnp.bfloat16 if config.train.get("precision", "float32") == "bfloat16" else jnp.float32
    tracks, bars, steps, pitches = spec.shape
    beats = spec.quarters_per_bar
    g = Generator(bars, steps, pitches, tracks, tuple(m.g_shared), tuple(m.g_private), beats, dtype,
                  voices=m.get("voices", False))
    d = Discriminator(bars, steps, pitches, tracks, tuple(m.d_private), tuple(m.d_shared), tuple(m.d_streams),
                      m.d_merged, beats, dtype)
    return g, d


def adam(t, prefix: str, updates: int) -> optax.GradientTransformation:
    """Adam (β1 0.5 as in DCGAN) at the learning rate `train.<prefix>_learning_rate`, constant
    (MuseGAN's) or on `train.schedule` over the network's `updates` (the critic's are n_critic a
    composite step; warmup_linear with no warm-up: linear to `train.end_fraction` of it at the
    last, as the WGAN-GP paper's code decays it)."""
    schedule = make_schedule(t.get("schedule", "constant"), t[f"{prefix}_learning_rate"], updates,
                             warmup_steps=t.get("warmup_steps", 0), end_fraction=t.get("end_fraction", 0.0))
    return make_optimizer("adam", schedule, b1=t.b1, b2=t.b2, clip_norm=t.get("clip_norm", 0.0))


def make(config) -> Task:
    """The task of an experiments/pianoroll_gan.py config. Batches {'real' [rows, n_critic, tracks,
    bars, steps, pitches] uint8} are a pure function of (seed, step): rows are drawn for the
    global batch and each process takes its slice. best_metric is the validation Fréchet distance."""
    spec = spec_from_config(config.data)
    generator, discriminator = models_from_config(config, spec)
    g, t, e = config.gan, config.train, config.eval
    if g.loss not in ("bce", "wgan_gp", "hinge"):
        raise ValueError(f"gan.loss must be bce, wgan_gp or hinge, got {g.loss!r}")
    if config.model.output not in OUTPUTS:
        raise ValueError(f"model.output must be one of {', '.join(OUTPUTS)}, got {config.model.output!r}")
    z_dim, seed, n_critic, batch_size = config.model.z_dim, config.seed, g.n_critic, t.batch_size
    g_tx, d_tx = adam(t, "g", t.num_steps), adam(t, "d", t.num_steps * n_critic)
    d_step, g_step = make_steps(generator, discriminator, loss=g.loss, z_dim=z_dim, gp_weight=g.gp_weight,
                                output=config.model.output)
    train_step = make_train_step(d_step, g_step, ema_decay=g.ema_decay, max_bad_steps=t.max_bad_steps)
    names = spec.tracks

    @functools.cache
    def data(split: str) -> dict:
        return segments(spec, split)

    @functools.cache
    def bounds(split: str):
        return shift_range(data(split)["rolls"], config.data.max_transpose)

    def batch(step: int, process_index: int = 0, process_count: int = 1) -> dict:
        d = data("train")
        idx, shift = draw_rows(d, bounds("train"), batch_size * n_critic, seed, step)
        rows = batch_size // process_count
        out = np.empty((rows, n_critic) + spec.shape, np.uint8)
        for c in range(n_critic):  # global row r of critic step c is element c * batch_size + r
            for r in range(rows):
                j = c * batch_size + process_index * rows + r
                out[r, c] = shift_pitches(d["rolls"][idx[j]], int(shift[j]))
        return {"real": out}

    def init(key):
        k_g, k_d = jax.random.split(key)
        g_params = generator.init(k_g, jnp.zeros((1, z_dim)))["params"]
        d_params = discriminator.init(k_d, jnp.zeros((1,) + spec.shape))["params"]
        return GANState.create(g_params, d_params, g_tx, d_tx)

    @functools.partial(jax.jit, static_argnames="draw")
    def binary_rows(params, z, key, draw: bool):
        probs = roll_probabilities(generator.apply({"params": params}, z), generator.voices)
        return binary_roll(probs, key if draw else None, generator.voices).astype(bool)

    truncation = float(e.get("truncation", 0.0))
    if truncation < 0:
        raise ValueError(f"eval.truncation must be 0 (off) or positive, got {truncation}")

    def generate(params, num: int, seed: int, binarize: str = "threshold") -> np.ndarray:
        """[num, tracks, bars, steps, pitches] bool: z ~ N(0, I) from key(seed) (each entry cut to
        [-tau, tau] where eval.truncation tau > 0), binarised (`models.pianoroll_gan.binary_roll`:
        thresholded, or drawn)."""
        if binarize not in BINARIZE:
            raise ValueError(f"binarize must be one of {', '.join(BINARIZE)}, got {binarize!r}")
        k_z, k_b = jax.random.split(jax.random.key(seed))
        out = []
        for i in range(0, num, 256):
            z = noise(jax.random.fold_in(k_z, i), (min(256, num - i), z_dim), truncation)
            rows = binary_rows(params, z, jax.random.fold_in(k_b, i), binarize == "bernoulli")
            out.append(np.asarray(jax.device_get(rows)))
        return np.concatenate(out) if out else np.zeros((0,) + spec.shape, bool)

    judge = make_judge(spec, data, bounds, e)

    def evaluate(state, split: str) -> dict:
        rolls = generate(state.g_ema, len(data(split)["rolls"]), e.seed, e.binarize)
        j = judge.judge(rolls, split)
        return {**{k: v for k, v in j.items() if k != "rows"},
                **{f"gen_{k}": r["generated"] for k, r in j["rows"].items()}}

    def report(state, split: str) -> dict:
        """The split's real segments against as many generated ones, thresholded and drawn
        (`pianoroll_gan_judge.make_judge`'s report)."""
        n = len(data(split)["rolls"])
        return judge.report({how: generate(state.g_ema, n, e.seed, how) for how in BINARIZE}, split)

    def sample(state, num: int, seed: int, binarize: str | None = None, qpm: float | None = None, **_) -> list[Score]:
        """`num` segments as Scores, one part per track. Options meant for sequence models
        (temperature, top_k, top_p, primer, steps) do not apply and are ignored."""
        rolls = generate(state.g_ema, num, seed, binarize or config.sample.binarize)
        return [roll_to_score(r, spec, qpm or config.sample.qpm, f"GAN sample {i + 1} (seed {seed})")
                for i, r in enumerate(rolls)]

    def write_outputs(state, workdir, split: str = "test", num: int = 16, seed: int = 0, synth: str = "auto",
                      evaluation: dict | None = None) -> dict:
        """Into `workdir`: samples/sample_XX.{mid,wav}, samples/grid.png (generated) and
        samples/real_grid.png (real segments of `split`), eval_<split>.md (the metrics table of
        `evaluation`, the `report` of this split, computed here if not given) and loss_curves.png
        (from metrics.jsonl). Returns the paths written."""
        from musicjax.data.audio import synthesize, write_wav
        from musicjax.data.files import atomic_write_text
        from musicjax.data.io import write_score

        workdir = pathlib.Path(workdir)
        out_dir = workdir / "samples"
        rolls = generate(state.g_ema, num, seed, config.sample.binarize)
        written = {"midi": [], "wav": []}
        for i, r in enumerate(rolls):
            score = roll_to_score(r, spec, config.sample.qpm, f"GAN sample {i + 1} (seed {seed})")
            stem = out_dir / f"sample_{i + 1:02d}"
            write_score(score, stem.with_suffix(".mid"))
            write_wav(synthesize(score, method=synth), stem.with_suffix(".wav"))
            written["midi"].append(str(stem.with_suffix(".mid")))
            written["wav"].append(str(stem.with_suffix(".wav")))
        pm.pianoroll_grid_png(rolls, out_dir / "grid.png", spec.min_pitch, names)
        real = data(split)["rolls"]
        pick = np.random.default_rng(seed).choice(len(real), min(num, len(real)), replace=False)
        pm.pianoroll_grid_png(real[np.sort(pick)], out_dir / "real_grid.png", spec.min_pitch, names)
        written["grid"] = [str(out_dir / "grid.png"), str(out_dir / "real_grid.png")]
        rep = evaluation if evaluation is not None else report(state, split)
        atomic_write_text(workdir / f"eval_{split}.md", rep["markdown"])
        written["table"] = str(workdir / f"eval_{split}.md")
        if (workdir / "metrics.jsonl").exists():
            if pm.loss_curves_png(workdir / "metrics.jsonl", workdir / "loss_curves.png",
                                  ("d_loss", "g_loss", "real_score", "fake_score", "gradient_penalty",
                                   "valid_frechet", "valid_metric_error")):
                written["loss_curves"] = str(workdir / "loss_curves.png")
        return written

    return Task(init=init, train_step=train_step, batch=batch, evaluate=evaluate, best_metric=("frechet", "min"),
                sample=sample, report=report, rate_metrics=(), guard_metrics=(),
                extra={"write_outputs": write_outputs, "generate": generate, "data": data, "spec": spec,
                       "models": (generator, discriminator), "steps": (d_step, g_step), "judge": judge.judge,
                       "classify": judge.classify})
