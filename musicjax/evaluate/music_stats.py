"""Musical statistics of melodies, to compare samples against real music: length, pitch range,
share of notes in the (estimated) key, note density, repetition, whether the melody ends on its tonic."""

from __future__ import annotations

import numpy as np

from musicjax.data.augment import tonic_pitch_class
from musicjax.data.notation import MAJOR_PROFILE, MINOR_PROFILE
from musicjax.data.score import Score

_PROFILES = {"major": np.array(MAJOR_PROFILE), "minor": np.array(MINOR_PROFILE)}  # Krumhansl-Kessler
_SCALES = {"major": np.array([0, 2, 4, 5, 7, 9, 11]), "minor": np.array([0, 2, 3, 5, 7, 8, 10, 11])}  # + raised 7th


def estimate_key(score: Score) -> tuple[int, str]:
    """(tonic pitch class, 'major'|'minor') by correlating duration-weighted pitch classes with the
    Krumhansl-Kessler profiles."""
    weights = np.bincount(score.pitch % 12, weights=score.end_q - score.start_q, minlength=12)
    best = (-2.0, 0, "major")
    for mode, profile in _PROFILES.items():
        for tonic in range(12):
            r = np.corrcoef(weights, np.roll(profile, tonic))[0, 1]
            if np.isfinite(r) and r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2]


def key_label(score: Score) -> int:
    """tonic pitch class + 12 * minor of the piece's notated key (estimated where it has none)."""
    tonic = tonic_pitch_class(score.meta.key)
    if tonic is None:
        tonic, mode = estimate_key(score)
    else:
        words = score.meta.key.split()
        mode = words[1].lower() if len(words) > 1 else "major"
    return int(tonic) + 12 * (mode == "minor")


def pitch_ngram_repetition(score: Score, n: int = 4) -> float:
    """Share of a melody's pitch n-grams that repeat one heard earlier in it (nan under n + 1 notes)."""
    p = score.pitch.astype(int)
    if len(p) < n + 1:
        return float("nan")
    grams = [tuple(p[i:i + n]) for i in range(len(p) - n + 1)]
    seen, repeats = set(), 0
    for g in grams:
        repeats += g in seen
        seen.add(g)
    return repeats / len(grams)


def melody_stats(score: Score) -> dict:
    """One melody's statistics. The key is estimated from the notes (for samples and corpus pieces
    alike, so that both sides are measured the same way); `ends_on_tonic` is 1.0 when the last
    note's pitch class is that key's tonic."""
    if score.num_notes == 0:
        return {"notes": 0}
    tonic, mode = estimate_key(score)
    in_key = np.isin((score.pitch - tonic) % 12, _SCALES[mode])
    steps = np.diff(score.pitch.astype(int))
    last = int(score.pitch[np.argmax(score.start_q)])
    return {
        "notes": score.num_notes,
        "pitch_range": int(score.pitch.max() - score.pitch.min()),
        "in_key": float(in_key.mean()),
        "notes_per_quarter": score.num_notes / max(score.duration_q, 1e-9),
        "mean_abs_interval": float(np.abs(steps).mean()) if steps.size else 0.0,
        "repeated_pitch": float((steps == 0).mean()) if steps.size else 0.0,
        "pitch_4gram_repetition": pitch_ngram_repetition(score, 4),
        "ends_on_tonic": float(last % 12 == tonic),
    }


def mean_stats(scores) -> dict:
    """Means over the pieces of more than one note (a statistic undefined for a piece, such as
    the 4-gram repetition of a piece under five notes, is left out of its mean), and their count."""
    rows = [melody_stats(s) for s in scores if s.num_notes > 1]
    keys = list(rows[0]) if rows else []
    means = {}
    for k in keys:
        values = np.array([r[k] for r in rows], np.float64)
        means[k] = float(np.mean(values[np.isfinite(values)])) if np.isfinite(values).any() else float("nan")
    return means | {"pieces": len(rows)}
