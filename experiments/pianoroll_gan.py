"""Piano-roll GAN (MuseGAN's shared temporal network + per-track bar generators) on 4-bar segments
of the four chorale voices: 16 steps a bar, 48 pitches (C2-B5), 4 tracks; 274/33/43 chorales by
piece, the 4/4 four-part ones read (2,343 / 289 / 383 segments, one per bar).

Run:      musicjax train experiments/pianoroll_gan.py:default --workdir runs/gan
Evaluate: musicjax evaluate --workdir runs/gan --split test
Variants (comma-joined, e.g. `tiny,hinge`): default = wgan_gp (MuseGAN's own recipe: WGAN-GP,
5 critic steps, Adam lr 1e-3, β 0.5/0.9, the critic reading the probabilities); bce
(non-saturating) and hinge (DCGAN's: one critic step, lr 2e-4, β 0.5/0.999, the critic reading
straight-through binary rolls); essen (one track: Essen melodies in 4/4 and 2/4, C3-B6); large
(MuseGAN-sized widths, batch 64, 20k steps: for a quiet machine or an accelerator); tiny (seconds;
tests).

Measured 2026-12-01 on the project's 2-core CPU machine while other jobs shared it (load average
7-14): `default`, 700 composite steps (3,500 critic + 700 generator updates, batch 32) in 15 min 54 s
wall (run to 500, then resumed to 700: the loop resumes exactly), 0.7-1.4 steps/s. Best checkpoint
by validation FD: step 625. Test split, 383 real segments vs as many samples (threshold 0.5):
Fréchet distance 188.3 vs 4.87 real-vs-real (38.7x; goal 2x); 5 of 31 metrics within 10% of the
real value (QN soprano/alto/bass, TD alto-tenor, texture), mean relative difference 0.32 (each
capped at 1). Real -> generated: UPC 3.0-3.9 -> 3.3-4.5, QN 83/62/55/54% -> 76/59/64/52%,
polyphony 1.00 -> 1.21-1.35, pitch range 8.1-13.8 -> 12.9-20.2, notes in key 93% -> 68%, TD
0.75-0.93 -> 0.95-1.06, voice crossings 0.03-0.8% -> 2.1-3.6%, texture 3.92 -> 4.05. Bernoulli
binarisation: FD 193.4, mean relative difference 0.45. Validation FD fell at every evaluation but
the last (759, 336, 252, 233, 208, 211): the run is far from converged, not at a plateau.
Tries (200-1,000 steps): bce (the critic reading probabilities, or straight-through threshold or
Bernoulli rolls) and hinge (probabilities) let the critic win outright (loss -> 1e-4) and the
samples drift (bce, straight-through: FD 723 at step 500, 3,320 at 1,000); WGAN-GP kept improving.
"""

import ml_collections

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
    c.eval.qualified_steps = 3  # QN: a note at least this many steps long is qualified
    c.eval.embed_dim = 32  # Fréchet classifier's embedding size
    c.eval.classifier_steps = 600  # its training steps (batch below), on real training segments
    c.eval.classifier_batch = 64

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
        else:
            raise ValueError(f"unknown variant {part!r}: default, bce, wgan_gp, hinge, voices, essen, large, tiny "
                             "(comma-joined)")
    return c
