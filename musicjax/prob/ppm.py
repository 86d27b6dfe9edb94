"""Prediction by Partial Match (PPM) for symbol sequences, as IDyOM uses it for melodies.

Counts of every context (of any length, never crossing a sequence boundary) followed by every
symbol; a prediction blends the estimates of the selected context and all of its shorter suffixes
down to the empty context and a uniform order -1 ("interpolated smoothing", Cleary & Teahan 1997):

    p(s) += escape * w(ctx) * c(ctx, s) / n(ctx);   escape *= 1 - w(ctx);   w = n / (n + t / d)

where n(ctx) sums the counts of the symbols *not* seen in the previous (longer) context of the
chain and t counts its distinct symbols (escape method C: d = 1; A: t = d = 1; X: t = 1 + the
symbols seen once). Unbounded order ("PPM*", Cleary & Teahan 1997): the selected context is the
shortest deterministic one (a single continuation seen) on the chain, else the longest. The
result is normalised. Pure numpy; no JAX."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

ESCAPES = ("a", "b", "c", "d", "x")


@dataclasses.dataclass
class PPM:
    """A PPM model over symbols 0..alphabet_size-1. `order_bound` None is PPM*."""

    alphabet_size: int
    escape: str = "c"
    order_bound: int | None = None
    update_exclusion: bool = False
    counts: dict = dataclasses.field(default_factory=dict)  # context tuple -> [alphabet] counts

    def __post_init__(self):
        if self.escape not in ESCAPES:
            raise ValueError(f"escape method must be one of {ESCAPES}, got {self.escape!r}")

    # ---- learning ----------------------------------------------------------------------------

    def update(self, history: Sequence[int], symbol: int) -> None:
        """Count `symbol` after every suffix of `history` (the current melody's events so far).
        With update exclusion, only the contexts down to the first where it was already known."""
        h = tuple(history)
        longest = len(h) if self.order_bound is None else min(len(h), self.order_bound)
        for j in range(len(h) - longest, len(h) + 1):
            ctx = h[j:]
            row = self.counts.get(ctx)
            if row is None:
                row = self.counts[ctx] = np.zeros(self.alphabet_size, np.int32)
            seen = row[symbol] > 0
            row[symbol] += 1
            if self.update_exclusion and seen:
                break

    def learn(self, sequence: Sequence[int]) -> None:
        for i, s in enumerate(sequence):
            self.update(sequence[:i], s)

    # ---- prediction --------------------------------------------------------------------------

    def _chain(self, history: Sequence[int]) -> list[np.ndarray]:
        """Counts of the suffixes of `history` seen with a continuation, longest first, ending
        with the empty context when anything has been learnt."""
        h = tuple(history)
        start = 0 if self.order_bound is None else max(0, len(h) - self.order_bound)
        chain, deterministic = [], []
        for j in range(start, len(h) + 1):
            row = self.counts.get(h[j:])
            if row is not None:
                chain.append(row)
                deterministic.append(np.count_nonzero(row) == 1)
        if self.order_bound is None and chain:
            shortest_det = max((i for i, d in enumerate(deterministic) if d and i < len(chain) - 1), default=None)
            if shortest_det is not None:
                chain = chain[shortest_det:]
        return chain

    def distribution(self, history: Sequence[int]) -> np.ndarray:
        """p(next symbol | history) [alphabet_size], summing to 1."""
        k, d = {"a": (0.0, 1.0), "b": (-1.0, 1.0), "c": (0.0, 1.0), "d": (-0.5, 2.0), "x": (0.0, 1.0)}[self.escape]
        p = np.zeros(self.alphabet_size)
        escape = 1.0
        excluded = np.zeros(self.alphabet_size, bool)
        root = np.zeros(self.alphabet_size, np.int32)
        for row in self._chain(history):
            present = row > 0
            c = np.where(present, row + k, 0.0)
            node = c[~excluded].sum()
            if self.escape == "a":
                t = 1.0
            elif self.escape == "x":
                t = float(np.count_nonzero(row == 1) + 1)
            else:
                t = float(np.count_nonzero(present))
            weight = node / (node + t / d) if node + t / d > 0 else 0.0
            if node > 0:
                p += escape * weight * c / node
            escape *= 1.0 - weight
            excluded = present
            root = row  # the last row of the chain is the empty context
        unseen_at_root = self.alphabet_size + 1 - np.count_nonzero(root)
        p += escape / unseen_at_root
        return p / p.sum()

    def probability(self, history: Sequence[int], symbol: int) -> float:
        return float(self.distribution(history)[symbol])


def cross_entropy_online(model: PPM, sequence: Sequence[int], learn: bool = True) -> np.ndarray:
    """-log2 p of each event of `sequence` given the events before it, the model learning each
    event after predicting it when `learn` (an STM, or an LTM+ on its test melody)."""
    bits = np.empty(len(sequence))
    for i, s in enumerate(sequence):
        bits[i] = -np.log2(model.probability(sequence[:i], s))
        if learn:
            model.update(sequence[:i], s)
    return bits


def combine_entropy_weighted(dists: Sequence[np.ndarray], bias: float = 1.0, geometric: bool = True) -> np.ndarray:
    """Combine predictive distributions, each weighted by its relative entropy to the power -bias
    (a confident model counts more), as IDyOM combines its STM and LTM (Pearce 2005, ch. 6)."""
    dists = [np.asarray(q, np.float64) for q in dists]
    n = dists[0].shape[0]
    max_h = np.log2(n)
    weights = []
    for q in dists:
        h = -np.sum(np.where(q > 0, q * np.log2(np.where(q > 0, q, 1.0)), 0.0))
        rel = max(h / max_h, 1e-12) if max_h > 0 else 1.0
        weights.append(rel ** (-bias))
    w = np.array(weights) / np.sum(weights)
    if geometric:
        logp = sum(wi * np.log(np.maximum(q, 1e-300)) for wi, q in zip(w, dists))
        p = np.exp(logp - logp.max())
    else:
        p = sum(wi * q for wi, q in zip(w, dists))
    return p / p.sum()
