"""Pearce's (2005) melody-prediction protocol: cross-entropy in bits per note of each note's
chromatic pitch given the notes before it, 10-fold cross-validation by melody, averaged over
folds. Models: STM (learns only the current melody, as it goes), LTM (learns the training folds),
LTM+ (an LTM that also learns each test melody as it goes), BOTH+ (LTM+ and STM combined)."""

from __future__ import annotations

import sys
import time

import numpy as np

from musicjax.data.idyom import DATASETS, folds
from musicjax.prob.ppm import PPM, combine_entropy_weighted

PUBLISHED = {  # Pearce 2005, Tables 6.6 / 6.7: bits per note
    "chorales": {"STM": 3.139, "LTM": 2.444, "LTM+": 2.375, "BOTH+": 2.347},
    "kinder": {"STM": 2.693, "LTM": 2.428, "LTM+": 2.237, "BOTH+": 2.106},
}


def dataset_summary(name: str) -> dict:
    mel = DATASETS[name]()
    pitches = np.concatenate([m.pitch for m in mel])
    return {"melodies": len(mel), "notes": int(pitches.size), "distinct_pitches": int(np.unique(pitches).size)}


def ppm_cross_validation(name: str, escape: str = "c", stm_escape: str = "c", bias: float = 1.0) -> dict:
    """Mean bits per note of STM, LTM, LTM+ and BOTH+ (PPM*, interpolated), averaged over folds
    (a progress bar over the folds on stderr)."""
    from tqdm import tqdm

    start = time.time()
    melodies = [m.pitch for m in DATASETS[name]()]
    alphabet = np.unique(np.concatenate(melodies))
    index = {int(p): i for i, p in enumerate(alphabet)}
    seqs = [[index[int(p)] for p in m] for m in melodies]
    per_fold = {m: [] for m in ("STM", "LTM", "LTM+", "BOTH+")}
    for test in tqdm(folds(len(seqs)), desc=f"PPM* {name} folds", unit="fold", file=sys.stderr, leave=False):
        held = set(test.tolist())
        train = [seqs[i] for i in range(len(seqs)) if i not in held]
        ltm = PPM(len(alphabet), escape)
        for s in train:
            ltm.learn(s)
        ltm_plus = PPM(len(alphabet), escape, counts={k: v.copy() for k, v in ltm.counts.items()})
        bits = {m: [] for m in per_fold}
        for i in test:
            s = seqs[i]
            stm = PPM(len(alphabet), stm_escape)
            for j, sym in enumerate(s):
                h = s[:j]
                p_stm, p_ltm, p_plus = stm.distribution(h), ltm.distribution(h), ltm_plus.distribution(h)
                p_both = combine_entropy_weighted([p_plus, p_stm], bias)
                for m, p in (("STM", p_stm), ("LTM", p_ltm), ("LTM+", p_plus), ("BOTH+", p_both)):
                    bits[m].append(-np.log2(p[sym]))
                stm.update(h, sym)
                ltm_plus.update(h, sym)
        for m in per_fold:
            per_fold[m].append(float(np.mean(bits[m])))
    result = {m: float(np.mean(v)) for m, v in per_fold.items()}
    return {"dataset": name, "escape": escape, "stm_escape": stm_escape, "bias": bias, "bits_per_note": result,
            "per_fold": per_fold, "seconds": round(time.time() - start, 1)}


def run_experiment(config) -> dict:
    """PPM and LSTM cross-validation per an experiments/idyom.py config."""
    from musicjax.evaluate.idyom_lstm import PitchLSTMConfig, lstm_cross_validation

    ppm = ppm_cross_validation(config.dataset, config.ppm.escape, config.ppm.stm_escape, config.ppm.bias)
    cfg = PitchLSTMConfig(**{**config.lstm.to_dict(), "viewpoints": tuple(config.lstm.viewpoints)})
    lstm = lstm_cross_validation(config.dataset, cfg, config.dynamic,
                                 config.ppm.bias, config.max_folds or None)
    return {"dataset": config.dataset, "summary": dataset_summary(config.dataset), "ppm": ppm, "lstm": lstm,
            "published": PUBLISHED[config.dataset]}


def markdown_table(result: dict) -> str:
    """Pearce's published row, our PPM row and our network's rows (the LSTM's, or the Transformer's
    in its place), bits per note."""
    pub, ppm, lstm = result["published"], result["ppm"]["bits_per_note"], result["lstm"]["bits_per_note"]
    c = result["lstm"]["config"]
    inputs = "pitch" if tuple(c["viewpoints"]) == ("pitch",) else "viewpoint"
    net = "Transformer" if c.get("architecture", "lstm") == "transformer" else "LSTM"
    size = f"{c['num_layers']}×{c['hidden']}" + (f", {c['num_heads']} heads" if net == "Transformer" else "")
    if c.get("ensemble", 1) > 1:
        size += f", {c['ensemble']} seeds averaged"
    cell = lambda d, k: f"{d[k]:.3f}" if k in d else "–"
    lines = [f"| {result['dataset']} | STM | LTM | LTM+ | BOTH+ | time |", "| --- | --- | --- | --- | --- | --- |",
             f"| Pearce 2005 (PPM*) | {pub['STM']} | {pub['LTM']} | {pub['LTM+']} | {pub['BOTH+']} | |",
             f"| ours: PPM* (escape C) | {cell(ppm, 'STM')} | {cell(ppm, 'LTM')} | {cell(ppm, 'LTM+')} | "
             f"{cell(ppm, 'BOTH+')} | {result['ppm']['seconds']} s |",
             f"| ours: {net} {size}, {inputs} inputs (STM col: {net} with STM; LTM: {net}; LTM+: {net}+ dynamic "
             f"eval; BOTH+: {net}+ with STM) | {cell(lstm, 'BOTH')} | {cell(lstm, 'LSTM')} | {cell(lstm, 'LSTM+')} | "
             f"{cell(lstm, 'BOTH+')} | {result['lstm']['seconds']} s |"]
    if "ALL+" in lstm:
        lines.append(f"| ours: {net}+ ({inputs}) with PPM* LTM+ and STM (BOTH+ col) | – | – | – | "
                     f"{lstm['ALL+']:.3f} | |")
    return "\n".join(lines)
