"""Pearce's (2005) melody-prediction benchmark: bits per note of each note's pitch, 10-fold
cross-validation by melody, on the chorale soprano melodies (BWV 253-438) or the Essen `kinder`
German folk songs (essenFolksong/kinder0.abc). PPM* baselines (STM, LTM, LTM+, BOTH+) and the LSTM
(LSTM; BOTH = LSTM with the STM; LSTM+ = dynamic evaluation; BOTH+ = LSTM+ with the STM; ALL+ =
LSTM+ with the PPM* LTM+ and STM).

Run:      musicjax evaluate --idyom experiments/idyom.py:chorales --out runs/idyom   (or :kinder)
Variants: chorales, kinder: viewpoint inputs (previous pitch, interval, scale degree and duration;
          the predicted note's duration, rest, beat, bar, phrase end (a fermata in the chorales, a
          line end in the Essen ABC); mode), two 1x256 LSTMs per fold (seeds differ, distributions
          averaged), 1,200 steps each;
          chorales_pitch, kinder_pitch: the pitch-only LSTM (256 units, 600 steps, one model);
          chorales_quick, kinder_quick: one fold, 60 steps at lr 0.01, no LSTM+;
          chorales_transformer, kinder_transformer: the Music Transformer's stack (2 x 128, 4 heads,
          relative attention) on the same viewpoint inputs, one model per fold (and *_transformer_quick).
          No variant is an error: the variant names the dataset.
Measured: chorales, 2-core CPU, 2026-11-22, 2,560 s: LSTM 1.949, BOTH 1.999, LSTM+ 1.928 (below
          Pearce's best 1.953), BOTH+ 2.011, ALL+ 1.955 bits/note; each model alone: LSTM+ 2.000 and
          1.981. With --set lstm.hidden=512 --set lstm.dropout=0.4 --set lstm.ensemble=1: LSTM+ 2.340,
          ALL+ 2.003 (2,631 s; the wider model overfits).
          kinder, 2-core CPU, 2026-11-22, 1,927 s: LSTM 1.885, BOTH 1.836, LSTM+ 1.826, BOTH+ 1.830,
          ALL+ 1.775 bits/note (Pearce's BOTH+ 2.106); each model alone: LSTM+ 1.880 and 1.867.
          kinder_transformer, fold 1 only (--set max_folds=1), 2-core CPU shared (load 3-8),
          2026-12-01, 505 s: LSTM 2.034, BOTH 1.918, LSTM+ 1.980, BOTH+ 1.967, ALL+ 1.828 bits/note
          (the 2-seed viewpoint LSTM on that fold: 1.905, 1.868, 1.862, 1.862, 1.775).
          kinder_transformer, all ten folds, 2-core AMD EPYC shared with a GAN run and MIDI work,
          2026-12-06, 3,832 s: LSTM 1.862, BOTH 1.794, LSTM+ 1.865, BOTH+ 1.881, ALL+ 1.783 bits/note
          (the columns name the Transformer in the LSTM's place): below the 2-seed viewpoint LSTM
          without dynamic evaluation (1.885, BOTH 1.836), level with it mixed (ALL+ 1.775), and no
          gain from dynamic evaluation, where the LSTM gains 0.06.
          chorales_transformer, all ten folds, 2-core AMD EPYC shared with a GAN run, a CI run and
          evaluations for most of it, 2026-12-06, 6,665 s: LSTM 1.989, BOTH 1.996, LSTM+ 2.092, BOTH+
          2.155, ALL+ 2.037 bits/note: one Transformer beats either viewpoint LSTM alone (2.030 /
          2.010) but not their two-seed average (1.949), and dynamic evaluation, with the LSTM's
          update settings, costs it 0.10 bits (the LSTM gains 0.02).
          All rows: README "Results", experiments/results_idyom.json.
"""

import ml_collections

DATASETS = ("chorales", "kinder")
VARIANTS = tuple(f"{d}{s}" for d in DATASETS
                 for s in ("", "_pitch", "_quick", "_transformer", "_transformer_quick"))
VIEWPOINTS = ("pitch", "interval", "degree", "prev_duration", "duration", "rest", "beat", "bar", "fermata",
              "prev_fermata", "mode")


def get_config(variant: str = "") -> ml_collections.ConfigDict:
    if variant not in VARIANTS:
        what = f"unknown variant {variant!r}" if variant else "no variant (it names the dataset)"
        raise ValueError(f"{what}; choose from {', '.join(VARIANTS)}")
    dataset, _, size = variant.partition("_")
    c = ml_collections.ConfigDict()
    c.dataset = dataset  # chorales: BWV 253-438 sopranos; kinder: Essen kinder0 (musicjax.data.idyom)
    c.ppm = ml_collections.ConfigDict()
    c.ppm.escape = "c"  # LTM escape method (a b c d x)
    c.ppm.stm_escape = "c"  # STM escape method
    c.ppm.bias = 1.0  # entropy-weighting exponent when combining models
    c.lstm = ml_collections.ConfigDict()
    c.lstm.architecture = "lstm"  # lstm | transformer (the Music Transformer's stack in the LSTM's place)
    c.lstm.num_heads = 4  # transformer only
    c.lstm.max_len = 1024  # transformer only: the longest melody it reads
    c.lstm.viewpoints = VIEWPOINTS  # input features (musicjax.codecs.viewpoints.ALL_VIEWPOINTS)
    c.lstm.hidden = 256
    c.lstm.num_layers = 1
    c.lstm.dropout = 0.3
    c.lstm.steps = 1200  # Adam steps per fold
    c.lstm.batch_size = 32
    c.lstm.learning_rate = 3e-3
    c.lstm.max_transpose = 6  # training melodies shifted by up to +-6 semitones
    c.lstm.key_normalise = False  # True (tonic moved to C, no augmentation) was 0.48 bits worse on chorale fold 0
    c.lstm.dynamic_lr = 0.002  # SGD step per note in dynamic evaluation (LSTM+)
    c.lstm.dynamic_window = 32  # notes back-propagated through per dynamic-evaluation step
    c.lstm.ensemble = 2  # models per fold (seeds differ), their distributions averaged
    c.lstm.seed = 0
    c.dynamic = True  # run LSTM+ (dynamic evaluation)
    c.max_folds = 0  # 0: all ten folds
    if size == "pitch":
        c.lstm.viewpoints, c.lstm.hidden, c.lstm.dropout, c.lstm.steps = ("pitch",), 256, 0.3, 600
        c.lstm.ensemble = 1
    if size.startswith("transformer"):
        c.lstm.architecture, c.lstm.hidden, c.lstm.num_layers, c.lstm.dropout = "transformer", 128, 2, 0.2
        c.lstm.learning_rate, c.lstm.ensemble = 1e-3, 1
    if size.endswith("quick"):
        c.lstm.steps, c.lstm.hidden, c.lstm.learning_rate, c.lstm.ensemble = 60, 64, 1e-2, 1
        c.dynamic, c.max_folds = False, 1
    return c
