"""An equal-weight mixture of trained models of one family, scored on one split.

Each member gives the log-probability of every scored unit of the split (a frame of the chorale
benchmark) in the same order, through its task's `extra["unit_log_probs"](state, split)`. The
mixture assigns unit u the mean of the members' probabilities, p(u | its past) = (1/M) sum_m
p_m(u | its past): at every unit each member is a normalised distribution given the same past, so
their mean is one too, and the mixture is itself a model of the sequence, scored under the same
protocol as its members. Equal weights: weights fitted on the split scored would flatter it.

A transposition ensemble (`musicjax evaluate --transpose K`) mixes one run with itself moved: the
split scored moved by every shift s in -K..K (each run's `unit_log_probs(state, split, transpose=s)`,
the model told the tonic where it takes one), p(u | past) = (1/S) sum_s p(T_s u | T_s past). Each
term is a normalised distribution over the moved frames; the frames whose notes a shift would push
off the keyboard get none of its mass, so each term sums to at most 1 over the unmoved frames and
the reported NLL can only overstate the mixture's (normalised, it would be lower). A model trained
in every key (`data.max_transpose`) is asked the same question in each of them."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.special import logsumexp


def mixture_log_probs(members: Sequence[np.ndarray]) -> np.ndarray:
    """[M] arrays of [units] log-probabilities -> [units] log-probabilities of their equal mixture;
    ValueError if there is no member or they score different numbers of units."""
    if not members:
        raise ValueError("an ensemble needs at least one member")
    sizes = {len(m) for m in members}
    if len(sizes) != 1:
        raise ValueError(f"the members score different numbers of units: {sorted(sizes)}")
    stacked = np.stack([np.asarray(m, np.float64) for m in members])
    return logsumexp(stacked, axis=0) - np.log(len(members))


def report(members: Sequence[np.ndarray], names: Sequence[str], shifts: Sequence[int] = (0,)) -> dict:
    """members [M] arrays [len(shifts), units] (or [units] when shifts is (0,)): each run's
    log-probabilities of the split moved by each of `shifts`, which hold 0. Each run's NLL per unit
    as the split stands, with several shifts also its mixture over them, and the mixture of every
    (run, shift) pair: nats."""
    shifts = list(shifts)
    if 0 not in shifts:
        raise ValueError(f"the shifts {shifts} do not hold 0 (the split as it stands)")
    grids = [np.asarray(m, np.float64).reshape(len(shifts), -1) for m in members]
    mixed = mixture_log_probs([row for g in grids for row in g])
    out = []
    for name, g in zip(names, grids):
        entry = {"name": name, "nll_per_unit": float(-g[shifts.index(0)].mean())}
        if len(shifts) > 1:
            entry["transposed_mixture_nll_per_unit"] = float(-mixture_log_probs(list(g)).mean())
        out.append(entry)
    return {"members": out, "shifts": shifts, "mixture_nll_per_unit": float(-mixed.mean()), "units": int(len(mixed))}
