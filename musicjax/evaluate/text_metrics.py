"""Metrics of generated text against a reference, written once for every lyrics family: edit
distance and error rate over tokens (syllables, words, characters), and corpus BLEU."""

from __future__ import annotations

import collections
import math
from typing import Sequence


def edit_distance(hyp: Sequence, ref: Sequence) -> int:
    """Levenshtein distance (substitutions, insertions, deletions each cost 1) between two token
    sequences."""
    prev = list(range(len(ref) + 1))
    for i, h in enumerate(hyp, 1):
        cur = [i] + [0] * len(ref)
        for j, r in enumerate(ref, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (h != r))
        prev = cur
    return prev[-1]


def error_rate(hyps: Sequence[Sequence], refs: Sequence[Sequence]) -> float:
    """Summed edit distance over summed reference length (word / syllable / character error rate)."""
    total = sum(len(r) for r in refs)
    return sum(edit_distance(h, r) for h, r in zip(hyps, refs)) / max(total, 1)


def _ngrams(tokens: Sequence, n: int) -> collections.Counter:
    return collections.Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(hyps: Sequence[Sequence], refs: Sequence[Sequence], max_n: int = 4) -> float:
    """Papineni et al. (2002) corpus BLEU with one reference per hypothesis: the geometric mean of
    clipped n-gram precisions for n = 1..max_n (uniform weights) times the brevity penalty
    exp(min(0, 1 - ref_len / hyp_len)). 0 when some precision is 0 (no smoothing)."""
    matched, total = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for h, r in zip(hyps, refs):
        hyp_len, ref_len = hyp_len + len(h), ref_len + len(r)
        for n in range(1, max_n + 1):
            hn, rn = _ngrams(h, n), _ngrams(r, n)
            matched[n - 1] += sum(min(c, rn[g]) for g, c in hn.items())
            total[n - 1] += max(len(h) - n + 1, 0)
    if hyp_len == 0 or min(matched) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matched, total)) / max_n
    return math.exp(min(0.0, 1.0 - ref_len / hyp_len) + log_p)
