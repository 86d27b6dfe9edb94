"""Piano-roll GAN (MuseGAN's shared temporal network + per-track bar generators) on 4-bar segments
of the four chorale voices: 16 steps a bar, 48 pitches (C2-B5), 4 tracks; 274/33/43 chorales by
piece, the 4/4 four-part ones read: 236 / 26 / 37 pieces, 2,186 / 272 / 363 segments, one per bar
from the first bar line (before pickups were read, 2026-12-01: 2,343 / 289 / 383).

Run:      musicjax train experiments/pianoroll_gan.py:default --workdir runs/gan
Evaluate: musicjax evaluate --workdir runs/gan --split test
Variants (comma-joined, e.g. `tiny,hinge`): default = wgan_gp (MuseGAN's own recipe: WGAN-GP,
5 critic steps, Adam lr 1e-3, β 0.5/0.9, the critic reading the probabilities); voices (each track
one voice: a softmax over its pitches and a rest at every step, as every chorale part sings; the
best here); bce (non-saturating) and hinge (DCGAN's: one critic step, lr 2e-4, β 0.5/0.999, the
critic reading straight-through binary rolls); essen (one track: Essen melodies in 4/4 and 2/4,
C3-B6); large (MuseGAN-sized widths, batch 64, 20k steps: for a quiet machine or an accelerator);
tiny (seconds; tests).

Measured 2026-12-06 on the 2-core AMD EPYC (Zen 3), the two chorale runs side by side (each about
2.2 composite steps/s; one alone runs 4.3), 12,000 composite steps of batch 32 (60,000 critic and
12,000 generator updates), about 95 min each:
  musicjax train experiments/pianoroll_gan.py:voices --workdir runs/gan_voices \
      --set train.num_steps=12000 --set eval_every=1000 --set checkpoint_every=1000
  musicjax evaluate --workdir runs/gan_voices --split test
Test split, 363 real segments of 37 chorales vs as many samples (threshold), best checkpoint by
validation Fréchet distance; real-vs-real FD 2.765 (the two halves of the test set):
  variant   step    FD (ratio)       metrics within 10%   mean rel. diff.   in key (real 93.1%)
  voices    8,000   6.32 (2.29x)     22 of 31 (71%)       0.115             86.1%
  default   12,000  7.34 (2.65x)     22 of 31 (71%)       0.127             85.6%
Goals: FD within 2x, not met (2.29x); every metric within 10%, not met. What misses, voices:
pitch range 12-20% wider than real in every voice, QN bass 13% (46.6 vs 53.7%), TD soprano-bass
11%, and the three voice-crossing rates (real 0.035 / 0.75 / 0.74% of steps; the test set's own
halves differ by 6.5% and 83% on the two that are defined: below 1% of steps these rates are
sampling noise). The real halves lie within 10% of each other on 29 of the 30 metrics where
their difference is defined (`eval_test.md`'s last column). Without voices the parts sound 1.07-1.09 pitches at a time
(real: 1.00). Bernoulli draws: FD 6.12 / 7.28, metrics 61% / 58%. On validation the FD ratio
fell to ~0.8 by 5,000 steps in both runs (valid real-vs-real 13.2) and stayed there: the key
classifier's embedding no longer tells generated from real there, the metrics still do.
For scale (2026-12-06, `musicjax evaluate` now judges 363 random training segments, transposed as
for training, as if a generator had drawn them): FD 4.75 against the same test halves (**1.72x**)
and 29 of 31 metrics within 10%. A generator that reproduced the training distribution exactly
would meet the 2x goal, so it is reachable; voices' 2.29x is 0.57 of a ratio above that floor.
Not every metric can be within 10% even so: the training set itself misses the soprano-alto and
alto-tenor crossing rates (below 1% of steps).
Second data point, `essen,voices` (one track, 4,000 steps alone, ~15 min; best at 4,000, 5,000 no
better): test 2,946 segments of 437 tunes, FD 2.55 vs 1.58 real-vs-real (**1.62x**: within 2x);
6 of 7 metrics within 10% (pitch range 12.3 vs 10.8 semitones, 14%; in key 87.6 vs 95.0%).
The critic shown what evaluation sees (2026-12-06, the AMD EPYC, shared with test runs for a while; voices
with `--set model.output=threshold_st`: each step's argmax one-hot forward, the softmax's gradient
backward; 8,000 steps, ~30 min): worse at every validation point (FD 19.3 / 15.1 / 12.1 at
2,000 / 4,000 / 7,000 against 12.7 / 11.6 / 11.0 for voices) and on test at its best (step
7,000): FD 7.41 (**2.68x**), 21 of 31 metrics, in key 86.1%; its Bernoulli draws fall apart (FD
44). The critic reading the probabilities stays the recipe.
Half the learning rates (voices, `--set train.g_learning_rate=5e-4 --set train.d_learning_rate=5e-4`,
8,000 steps, alone, ~28 min): slower (valid FD 102 at 2,000 against 12.7) and no better later
(17.7 at its best, 5,000); test at that checkpoint FD 9.64 (**3.49x**), 13 of 31 metrics, in key
82.3%. MuseGAN's 1e-3 stays.
Both learning rates decayed linearly to 0 over 6,000 steps, as the WGAN-GP paper's code does
(voices, `--set train.schedule=warmup_linear --set train.num_steps=6000`, 2026-12-06, shared with
an IDyOM run, ~37 min): behind the constant rate at every validation point (valid FD 80 / 25 / 18
/ 16 / 17.5 / 17.3 at 1,000-6,000 against 75 / 12.7 / 11.8 / 11.6 / 10.4 / 10.9) and on test at its
best (step 4,000): FD 7.96 (**2.88x**), 17 of 31 metrics, in key 82.8%. The constant rate stays.
A second seed (voices, `--set seed=1`, 8,000 steps, alone, ~32 min; best validation at 7,000):
FD 6.02 (**2.18x**, below seed 0's 2.29x), 21 of 31 metrics, in key 85.9%. Until this run the
Fréchet classifier was seeded by the run's seed; under seed 1's classifier the test halves stand
5.2 apart (4.21 against 2.76) and the ratios fall to 1.38x (seed 1) and 1.40x (seed 0, the 12,000-
step run re-evaluated), training segments 1.25x. The ratio moves more with the classifier's seed
than with the generator's: its real-vs-real value comes from two halves of 37 pieces. Every
distance above is under the seed-0 classifier, now fixed for every run (`eval.classifier_seed`).
Five classifiers and a third seed (2026-12-06, the AMD EPYC; `musicjax evaluate --workdir DIR
--split test --set eval.classifier_count=5`, now the default: the ratio under the classifiers of
seeds 0-4 and their mean). For one generator the distance moves little with the classifier (seed
1's: 5.5-6.5) and real vs real much more (2.56-4.21), so one classifier's ratio is one draw:
  run (best validation step)    seed-0 classifier   classifiers 0-4                      mean ± sd
  seed 0, the 12k run (8,000)   2.29x               2.29  1.40  1.89  2.18  2.30          2.01 ± 0.38
  seed 1 (7,000)                2.18x               2.18  1.38  1.85  2.06  2.20          1.93 ± 0.34
  seed 2 (5,000)                3.15x               3.15  1.83  3.08  3.16  2.52          2.75 ± 0.58
  training segments             1.72x               1.72  1.25  1.40  1.53  1.77          1.53
Seed 2 (`--set seed=2`, 8,000 steps, shared with an IDyOM run, ~60 min) chose step 5,000 on
validation (valid FD 16.05; 16.4 at 6,000 and 7,000, 19.1 at 8,000) and scores FD 8.70 on test,
22 of 31 metrics within 10%, in key 85.5%; its last checkpoint (8,000) scores 3.09x, so this seed
is worse throughout, not by the checkpoint chosen. Over the three seeds the ratio averages 2.23 under five
classifiers (2.54 under the first): two seeds of three sit at the 2x goal, the third well above,
so the recipe does not meet it reliably (the three evaluations: experiments/results_pianoroll_gan.json).
What stands in the way is the spread between seeds (2.18-3.15x under one classifier, as wide as the
distance from the training segments' 1.72x). Validation does see it (best valid FD 16.05 for seed 2
against 10.07 for seed 0, the same classifier), so training a few seeds and keeping the best on
validation is the protocol this points to; it costs a run per seed.
A slower generator average (2026-12-07, a 2-core AMD EPYC Zen 5, each run alone, ~25 min; `voices --set
gan.ema_decay=0.9995 --set train.num_steps=8000`, against 0.999): averaging is known to steady a GAN's samples,
and the seeds' spread is what stands in the way. Validation improved (best valid FD 10.19 for seed 2 against
16.05, 10.68 for seed 0 against 10.07), test did not (five classifiers; on this CPU real vs real reads 2.848
under classifier 0, 2.765 on the Zen 3, and the training segments 1.53 as before):
  seed 2 (step 5,000)   FD 8.31, 2.92x / mean 2.76 +- 0.41   21 of 31 metrics, in key 85.1%   (0.999: 3.15x / 2.75)
  seed 0 (step 8,000)   FD 7.74, 2.72x / mean 2.28 +- 0.53   22 of 31 metrics, in key 86.4%   (0.999: 2.29x / 2.01)
No gain: 0.999 stays. Validation's FD is measured on 272 segments of 26 pieces (real vs real 13.2 there),
so it ranks checkpoints and runs coarsely; here it ranked the wrong way.
The truncation trick (2026-12-07, the same Zen 5; `--set eval.truncation=TAU`: z's entries drawn from N(0, 1) cut
to [-TAU, TAU] at evaluation, BigGAN's way to trade variety for fidelity, since the samples' pitch ranges run wide),
on the two 0.9995 runs above, their best checkpoints, classifier 0 (FD; ratio):
  TAU               off             2.0     1.5     1.0             0.75    0.5             0.25
  seed 2, valid     10.19           10.34   9.98    9.85            10.52   11.37           15.31
  seed 2, test      8.31 (2.92x)                    7.22 (2.54x)            6.80 (2.39x)
  seed 0, valid     10.68                           11.55           12.17   11.91           12.00
  seed 0, test      7.74 (2.72x)                    8.19 (2.88x)            8.17 (2.87x)
It helps one run and hurts the other on test, and validation (272 segments) cannot choose TAU (its FD moves by
less than its noise): not a fix for the seeds' spread. The option stays (default off) for listening.
Sampling from the run's three kept checkpoints as one mixture (seed 2, steps 5,000 / 7,000 / 8,000, a third of the
samples each): valid FD 9.28 against 10.19 / 12.04 / 12.74 alone, test 8.47 against 8.31 / 7.66 / 7.82: no gain on
test. Its later checkpoints score better on test than the one validation chose (2.69x at 7,000 against 2.92x).
MuseGAN's own generator widths (2026-12-07, the same Zen 5, two runs side by side, ~30 min: `voices --set
"model.g_shared=(256,128,64)" --set "model.g_private=(32,16)" --set train.num_steps=8000`; the critic and batch
unchanged; the generator is not what costs here: 5.4 steps/s alone, as the default), seeds 0 and 1, both choosing
step 3,000 on validation (best valid FD 11.24 and 20.00, against 10.07 for the default's seed 0): test FD 7.37 and
10.36, under five classifiers **2.25 +- 0.29** and **3.29 +- 0.38** (the default's seeds 2.01 and 1.93), 20 and 19 of
31 metrics, in key 84.4 / 84.6%. Worse: the default widths stay.
Adam beta1 0 (the WGAN-GP paper's ResNet setting; `voices --set train.b1=0.0`, 8,000 steps, seeds 0 and 1 side by
side, ~32 min, the same Zen 5): slower to fall (valid FD 76 / 22 at 1,000 / 2,000 steps against 75 / 12.7), best
valid 13.44 (step 5,000) and 13.27 (6,000); test FD 10.99 and 7.93, under five classifiers **3.48 +- 0.40** and
**2.61 +- 0.26**, 22 of 31 metrics each, in key 85.9 / 85.6%. Worse: MuseGAN's 0.5 stays.
Batch 64 (MuseGAN's; `voices --set train.batch_size=64`, the same 8,000 steps, so twice the segments seen; seeds 0
and 2 side by side, ~67 min, the same Zen 5, 2026-12-07): a larger batch steadies each update, and the seeds' spread
is what stands in the way. Validation went apart: seed 0's best valid FD 17.62 (step 4,000; 10.07 at batch 32), seed
2's 10.91 (step 7,000; its best yet, 16.05 at batch 32); test FD 9.37 and 11.56, under five classifiers
**2.65 +- 0.58** and **3.56 +- 0.58** (batch 32: 2.01 and 2.75), 19 and 22 of 31 metrics, in key 85.5 / 86.2%.
Worse on test, and seed 2's best validation score led to its worst test score: batch 32 stays.
The first run (2026-12-01, the Intel Xeon, loaded, 700 steps) stood at FD 38.7x and 5 of 31
metrics: it was far from converged, not the model's limit.
Tries (200-1,000 steps, 2026-12-01): bce (the critic reading probabilities, or straight-through
threshold or Bernoulli rolls) and hinge (probabilities) let the critic win outright (loss -> 1e-4)
and the samples drift (bce, straight-through: FD 723 at step 500, 3,320 at 1,000); WGAN-GP kept
improving.
"""

import ml_collections

# Fields with a fixed set of values (musicjax.config checks them, naming the field)
CHOICES = {
    "gan.loss": ("wgan_gp", "bce", "hinge"),
    "model.output": ("sigmoid", "threshold_st", "bernoulli_st"),
    "train.schedule": ("constant", "exponential", "cosine", "warmup_cosine", "warmup_linear"),
    "eval.binarize": ("threshold", "bernoulli"),
    "sample.binarize": ("threshold", "bernoulli"),
}


def get_config(variant: str = "default") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model_family = "pianoroll_gan"  # which model/data builder the trainer uses
    c.seed = 0  # PRNG seed: parameters, noise (folded with the step) and data order

    c.data = ml_collections.ConfigDict()
    c.data.corpus = "bach_chorales"  # bach_chorales (4 voices) | essen (one melody track)
    c.data.tracks = ("soprano", "alto", "tenor", "bass")  # one track per part, in part order
    c.data.num_bars = 4  # bars per segment
    c.data.steps_per_quarter = 4  # time grid: sixteenth notes
    c.data.quarters_per_bar = 4  # a model bar (pieces are taken to start on a downbeat)
    c.data.meters = ("4/4",)  # pieces read (the first time signature)
    c.data.min_pitch = 36  # C2: lowest pitch of the roll (a C)
    c.data.num_pitches = 48  # four octaves
    c.data.hop_bars = 1  # a segment starts at every bar
    c.data.max_transpose = 6  # training segments shifted by up to +-6 semitones (kept in range)

    c.model = ml_collections.ConfigDict()
    c.model.z_dim = 128  # noise vector size
    c.model.g_shared = (128, 64, 32)  # generator's shared network: channels per bar, beat, beat-octave cell
    c.model.g_private = (16, 8)  # per-track cell layer; each branch's middle layer
    c.model.d_private = (8, 16, 32)  # critic's per-track branches (two layers), then the merged per-track layer
    c.model.d_shared = (64, 128)  # critic's shared network: over beats, then octaves
    c.model.d_streams = (32, 64)  # chroma and onset/offset streams: per beat, per bar
    c.model.d_merged = 128  # the layer over adjacent bars
    c.model.output = "sigmoid"  # what the critic sees: sigmoid | threshold_st | bernoulli_st (straight-through)
    c.model.voices = False  # each track one voice: a softmax over its pitches and a rest at each step

    c.gan = ml_collections.ConfigDict()
    c.gan.loss = "wgan_gp"  # wgan_gp | bce (non-saturating) | hinge
    c.gan.n_critic = 5  # critic steps per generator step
    c.gan.gp_weight = 10.0  # wgan_gp: weight of the gradient penalty
    c.gan.ema_decay = 0.999  # generator weight average used for samples and evaluation (0: off)

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 32  # real rows per critic step (and generated rows per generator step)
    c.train.num_steps = 700  # composite steps (n_critic critic updates + 1 generator update)
    c.train.g_learning_rate = 1e-3  # Adam, constant (MuseGAN's)
    c.train.d_learning_rate = 1e-3
    c.train.schedule = "constant"  # constant (MuseGAN's) | warmup_linear etc. (musicjax.train.optim.make_schedule)
    c.train.warmup_steps = 0
    c.train.end_fraction = 0.0  # where a decaying schedule ends, as a fraction of the learning rate
    c.train.b1 = 0.5  # DCGAN's and MuseGAN's Adam β1
    c.train.b2 = 0.9  # MuseGAN's (WGAN-GP); 0.999 for bce and hinge
    c.train.clip_norm = 0.0  # global gradient-norm clipping of each network (0: off)
    c.train.precision = "float32"  # float32 | bfloat16 (matmuls; parameters stay float32)
    c.train.max_bad_steps = 5  # stop after this many non-finite steps in a row
    c.train.loss_spike_factor = 0.0  # unused: a GAN's losses rise and fall by design (guard_metrics is ())

    c.log_every = 25  # steps between metric lines
    c.eval_every = 125  # steps between validation passes (and best-checkpoint candidates)
    c.checkpoint_every = 125  # steps between checkpoints (one is always written at the end)

    c.eval = ml_collections.ConfigDict()
    c.eval.binarize = "threshold"  # threshold (at 0.5) | bernoulli: how samples become notes
    c.eval.seed = 1234  # noise of the evaluated samples (the same at every evaluation)
    c.eval.truncation = 0.0  # z of evaluated and written samples: 0 draws N(0, I); tau > 0 cuts each entry
    # to [-tau, tau] (BigGAN's truncation trick; training always draws N(0, I))
    c.eval.qualified_steps = 3  # QN: a note at least this many steps long is qualified
    c.eval.embed_dim = 32  # Fréchet classifier's embedding size
    c.eval.classifier_steps = 600  # its training steps (batch below), on real training segments
    c.eval.classifier_batch = 64
    c.eval.classifier_seed = 0  # its parameters and batches: the same classifier whatever the run's seed
    c.eval.classifier_count = 5  # `musicjax evaluate` also gives the ratio under this many classifiers (seeds
    # classifier_seed, +1, ...) and their mean: one classifier's ratio is one draw (1: that one only)

    c.sample = ml_collections.ConfigDict()
    c.sample.binarize = "threshold"  # for `musicjax sample` and the written MIDI/WAV
    c.sample.qpm = 90.0  # tempo of the written samples

    parts = [p for p in variant.split(",") if p]
    for part in sorted(parts, key=lambda p: p == "tiny"):  # tiny last: it shrinks whatever the others chose
        if part in ("default", "wgan_gp"):
            pass
        elif part in ("bce", "hinge"):  # DCGAN's: one critic step, lr 2e-4, β2 0.999
            c.gan.loss, c.gan.n_critic = part, 1
            c.train.g_learning_rate = c.train.d_learning_rate = 2e-4
            c.train.b2 = 0.999
            c.model.output = "threshold_st"  # the critic sees binary rolls (straight-through): see the docstring
            c.train.num_steps = 2500
            c.eval_every = c.checkpoint_every = 500
        elif part == "voices":  # each chorale part sings one pitch (or rests) at a time
            c.model.voices = True
        elif part == "essen":
            c.data.corpus, c.data.tracks = "essen", ("melody",)
            c.data.meters = ("4/4", "2/4")  # a model bar: one 4/4 bar or two 2/4 bars
            c.data.min_pitch = 48  # C3-B6
        elif part == "large":  # MuseGAN-sized widths, batch 64: for a quiet machine or an accelerator
            c.model.g_shared, c.model.g_private = (256, 128, 64), (32, 16)
            c.model.d_private, c.model.d_shared, c.model.d_merged = (16, 32, 64), (128, 256), 256
            c.train.batch_size, c.train.num_steps = 64, 20000
            c.eval_every = c.checkpoint_every = 1000
        elif part == "tiny":
            c.model.z_dim = 16
            c.model.g_shared, c.model.g_private = (32, 16, 8), (8, 4)
            c.model.d_private, c.model.d_shared, c.model.d_streams, c.model.d_merged = (4, 8, 8), (16, 16), (8, 8), 16
            c.gan.n_critic = 1
            c.train.batch_size, c.train.num_steps = 8, 12
            c.log_every, c.eval_every, c.checkpoint_every = 2, 6, 6
            c.eval.classifier_steps, c.eval.classifier_batch, c.eval.embed_dim = 30, 16, 8
            c.eval.classifier_count = 2
        else:
            raise ValueError(f"unknown variant {part!r}: default, bce, wgan_gp, hinge, voices, essen, large, tiny "
                             "(comma-joined)")
    return c
