"""The two melody datasets of Pearce's IDyOM evaluations that ship with music21, as pitch
sequences, and their 10-fold cross-validation split by melody (Pearce 2005, Table 4.1):
chorale soprano melodies BWV 253-438, and the Essen `kinder` German folk songs."""

from __future__ import annotations

import numpy as np

from musicjax.codecs.melody import melody_line
from musicjax.data.corpora import music21_corpus_dir
from musicjax.data.io import read_score, read_scores

FOLDS = 10
FOLD_SEED = 2005  # fixed: the folds are part of the dataset


def chorale_melodies() -> list[tuple[str, np.ndarray]]:
    """(id, MIDI pitches) of the soprano of every chorale BWV 253-438 in music21 (ties merged)."""
    root = music21_corpus_dir() / "bach"
    out = []
    for bwv in range(253, 439):
        path = root / f"bwv{bwv}.mxl"
        if path.exists():
            out.append((f"bwv{bwv}", melody_line(read_score(path), 0).pitch.astype(np.int64)))
    return out


def kinder_melodies() -> list[tuple[str, np.ndarray]]:
    """(id, MIDI pitches) of the 213 tunes of essenFolksong/kinder0.abc."""
    scores = read_scores(music21_corpus_dir() / "essenFolksong" / "kinder0.abc")
    return [(f"kinder0/{i + 1}", melody_line(s, 0).pitch.astype(np.int64)) for i, s in enumerate(scores)]


DATASETS = {"chorales": chorale_melodies, "kinder": kinder_melodies}


def folds(n: int, k: int = FOLDS, seed: int = FOLD_SEED) -> list[np.ndarray]:
    """k disjoint test sets of melody indices covering range(n), sizes differing by at most one."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[i::k]) for i in range(k)]
