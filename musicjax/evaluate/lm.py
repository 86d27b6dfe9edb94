"""Evaluating language models on token sequences: NLL per token, bits per note, accuracy, and the
unigram and bigram baselines computed on the same targets."""

from __future__ import annotations

import math

import jax
import numpy as np

LN2 = math.log(2.0)


def lm_scores(eval_step, params, windows: dict, batch_size: int) -> dict:
    """Sum the jitted `eval_step(params, batch)` outputs over all windows [n, length]."""
    n = windows["inputs"].shape[0]
    totals = {"nll_sum": 0.0, "tokens": 0.0, "correct": 0.0}
    for i in range(0, n, batch_size):
        batch = {k: v[i : i + batch_size] for k, v in windows.items()}
        if batch["inputs"].shape[0] < batch_size:  # pad the last batch to the compiled shape
            pad = batch_size - batch["inputs"].shape[0]
            batch = {k: np.concatenate([v, np.zeros((pad,) + v.shape[1:], v.dtype)]) for k, v in batch.items()}
        out = jax.device_get(eval_step(params, batch))
        for k in totals:
            totals[k] += float(out[k])
    return totals


def summarize(nll_sum: float, tokens: float, notes: float, correct: float | None = None) -> dict:
    out = {"nll_per_token": nll_sum / max(tokens, 1), "bits_per_token": nll_sum / max(tokens, 1) / LN2,
           "bits_per_note": nll_sum / LN2 / max(notes, 1), "tokens": int(tokens), "notes": int(notes)}
    if correct is not None:
        out["accuracy"] = correct / max(tokens, 1)
    return out


def ngram_baselines(train_windows: dict, eval_windows: dict, vocab_size: int, alpha: float = 0.1) -> dict:
    """Unigram and bigram (previous token) models with add-alpha smoothing, fitted on the training
    targets and scored on the evaluation targets: {'unigram': (nll_sum, correct), 'bigram': ...}."""
    m_tr = train_windows["mask"] > 0
    m_ev = eval_windows["mask"] > 0
    tgt_tr, prev_tr = train_windows["targets"][m_tr], train_windows["inputs"][m_tr]
    tgt_ev, prev_ev = eval_windows["targets"][m_ev], eval_windows["inputs"][m_ev]
    uni = np.bincount(tgt_tr, minlength=vocab_size) + alpha
    uni = uni / uni.sum()
    bi = np.full((vocab_size, vocab_size), alpha)
    np.add.at(bi, (prev_tr, tgt_tr), 1.0)
    bi = bi / bi.sum(1, keepdims=True)
    return {
        "unigram": (float(-np.log(uni[tgt_ev]).sum()), float((tgt_ev == np.argmax(uni)).sum())),
        "bigram": (float(-np.log(bi[prev_ev, tgt_ev]).sum()), float((tgt_ev == np.argmax(bi, 1)[prev_ev]).sum())),
    }
