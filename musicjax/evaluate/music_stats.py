"""Musical statistics of melodies, to compare samples against real music: pitch range, share of
notes in the (estimated) key, note density, repetition."""

from __future__ import annotations

import numpy as np

from musicjax.data.score import Score

# Krumhansl-Kessler key profiles (probe-tone ratings), C major and C minor
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_SCALES = {"major": np.array([0, 2, 4, 5, 7, 9, 11]), "minor": np.array([0, 2, 3, 5, 7, 8, 10, 11])}  # + raised 7th


def estimate_key(score: Score) -> tuple[int, str]:
    """(tonic pitch class, 'major'|'minor') by correlating duration-weighted pitch classes with the
    Krumhansl-Kessler profiles."""
    weights = np.bincount(score.pitch % 12, weights=score.end_q - score.start_q, minlength=12)
    best = (-2.0, 0, "major")
    for mode, profile in (("major", _MAJOR), ("minor", _MINOR)):
        for tonic in range(12):
            r = np.corrcoef(weights, np.roll(profile, tonic))[0, 1]
            if np.isfinite(r) and r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2]


def melody_stats(score: Score) -> dict:
    if score.num_notes == 0:
        return {"notes": 0}
    tonic, mode = estimate_key(score)
    in_key = np.isin((score.pitch - tonic) % 12, _SCALES[mode])
    steps = np.diff(score.pitch.astype(int))
    return {
        "notes": score.num_notes,
        "pitch_range": int(score.pitch.max() - score.pitch.min()),
        "in_key": float(in_key.mean()),
        "notes_per_quarter": score.num_notes / max(score.duration_q, 1e-9),
        "mean_abs_interval": float(np.abs(steps).mean()) if steps.size else 0.0,
        "repeated_pitch": float((steps == 0).mean()) if steps.size else 0.0,
    }


def mean_stats(scores) -> dict:
    rows = [melody_stats(s) for s in scores if s.num_notes > 1]
    keys = [k for k in rows[0] if k != "notes"] if rows else []
    return {k: float(np.mean([r[k] for r in rows])) for k in keys} | {"pieces": len(rows)}
