"""An equal-weight mixture of trained models of one family, scored on one split.

Each member gives the log-probability of every scored unit of the split (a frame of the chorale
benchmark) in the same order, through its task's `extra["unit_log_probs"](state, split)`. The
mixture assigns unit u the mean of the members' probabilities, p(u | its past) = (1/M) sum_m
p_m(u | its past): at every unit each member is a normalised distribution given the same past, so
their mean is one too, and the mixture is itself a model of the sequence, scored under the same
protocol as its members. Equal weights: weights fitted on the split scored would flatter it."""

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


def report(members: Sequence[np.ndarray], names: Sequence[str]) -> dict:
    """Each member's NLL per unit and the mixture's, in nats."""
    mixed = mixture_log_probs(members)
    return {"members": [{"name": n, "nll_per_unit": float(-np.mean(m))} for n, m in zip(names, members)],
            "mixture_nll_per_unit": float(-mixed.mean()), "units": int(len(mixed))}
