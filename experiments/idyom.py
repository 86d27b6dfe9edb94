"""Pearce's (2005) melody-prediction benchmark: bits per note of each note's pitch, 10-fold
cross-validation by melody; PPM* baselines (STM, LTM, LTM+, BOTH+) and the pitch-only LSTM
(LSTM, LSTM with STM, LSTM+ with dynamic evaluation, LSTM+ with STM). One file, the dataset a
variant: chorales (BWV 253-438 sopranos), kinder (Essen kinder0); `-quick` for tests.

Run:      musicjax evaluate --idyom experiments/idyom.py:chorales --out runs/idyom
          musicjax evaluate --idyom experiments/idyom.py:kinder --out runs/idyom
Variants: chorales, kinder; chorales-quick, kinder-quick (one fold, 60 LSTM steps, no LSTM+).
Measured: see README "Results" (2-core CPU, 2026-11-22).
"""

import ml_collections


def get_config(variant: str = "chorales") -> ml_collections.ConfigDict:
    dataset, _, size = variant.partition("-")
    if dataset not in ("chorales", "kinder") or size not in ("", "quick"):
        raise ValueError(f"unknown variant {variant!r}: chorales, kinder, chorales-quick, kinder-quick")
    c = ml_collections.ConfigDict()
    c.dataset = dataset  # chorales (BWV 253-438 sopranos) | kinder (Essen kinder0)
    c.ppm = ml_collections.ConfigDict()
    c.ppm.escape = "c"  # LTM escape method (a b c d x)
    c.ppm.stm_escape = "c"  # STM escape method
    c.ppm.bias = 1.0  # entropy-weighting exponent when combining models
    c.lstm = ml_collections.ConfigDict()
    c.lstm.embed_dim = 64
    c.lstm.hidden = 256
    c.lstm.num_layers = 1
    c.lstm.dropout = 0.3
    c.lstm.steps = 600  # Adam steps per fold
    c.lstm.batch_size = 32
    c.lstm.learning_rate = 3e-3
    c.lstm.max_transpose = 6  # training melodies shifted by up to +-6 semitones
    c.lstm.dynamic_lr = 0.002  # SGD step per note in dynamic evaluation (LSTM+)
    c.lstm.seed = 0
    c.dynamic = True  # run LSTM+ (dynamic evaluation; most of the run time)
    c.max_folds = 0  # 0: all ten folds
    if size == "quick":
        c.lstm.steps, c.lstm.hidden = 60, 64
        c.dynamic, c.max_folds = False, 1
    return c
