"""Objective metrics of multi-track piano-rolls, to compare generated segments with real ones
(MuseGAN's, Dong et al. 2018, and a few more), the Fréchet distance of two sets of embeddings, and
the pictures and tables a GAN's evaluation writes.

A roll set is bool [segments, tracks, bars, steps, pitches]; pitch index i is MIDI pitch
min_pitch + i. A note is a run of consecutive sounding steps of one pitch in one track within a
segment (a roll keeps no onsets, so a repeated pitch is one long note, in real and generated rolls
alike). Every metric is a plain mean over what it counts; where nothing is counted it is NaN."""

from __future__ import annotations

import itertools
import json
import math
import os
from typing import Sequence

import numpy as np

from musicjax.evaluate.plots import pyplot, save_png

# Krumhansl-Kessler probe-tone profiles of C major and C minor (as evaluate/music_stats.py)
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10, 11)}  # minor: natural + raised 7th


def _check(rolls) -> np.ndarray:
    rolls = np.asarray(rolls)
    if rolls.ndim != 5:
        raise ValueError(f"rolls must be [segments, tracks, bars, steps, pitches], got shape {rolls.shape}")
    return rolls.astype(bool)


def _nanmean(x, axis=None):
    x = np.asarray(x, np.float64)
    count = np.sum(~np.isnan(x), axis=axis)
    total = np.nansum(x, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def empty_bar_rate(rolls) -> np.ndarray:
    """[tracks]: the fraction of bars in which a track sounds nothing (MuseGAN's EB)."""
    return (~_check(rolls).any((3, 4))).mean((0, 2))


def chroma(rolls, min_pitch: int) -> np.ndarray:
    """[segments, tracks, bars, steps, 12] int: sounding pitches per pitch class (0 = C)."""
    rolls = _check(rolls)
    pcs = (min_pitch + np.arange(rolls.shape[-1])) % 12
    return np.stack([rolls[..., pcs == pc].sum(-1) for pc in range(12)], -1).astype(np.int32)


def used_pitch_classes(rolls, min_pitch: int) -> np.ndarray:
    """[tracks]: pitch classes used per bar, over the bars where the track sounds (MuseGAN's UPC;
    its code averages over empty bars too, which would count EB twice)."""
    used = (chroma(rolls, min_pitch).sum(3) > 0).sum(-1).astype(np.float64)  # [n, tracks, bars]
    used[~_check(rolls).any((3, 4))] = np.nan
    return _nanmean(used, (0, 2))


def notes(rolls):
    """The notes of every segment and track: (segment, track, pitch index, start step, length),
    each [notes] int64, start counted over the whole segment (bars x steps)."""
    rolls = _check(rolls)
    n, k, b, t, p = rolls.shape
    flat = rolls.reshape(n, k, b * t, p).transpose(0, 1, 3, 2)  # [n, k, p, time]
    padded = np.pad(flat, ((0, 0), (0, 0), (0, 0), (1, 1))).astype(np.int8)
    diff = np.diff(padded, axis=-1)
    seg, trk, pit, start = np.nonzero(diff == 1)
    _, _, _, end = np.nonzero(diff == -1)  # same order: runs are disjoint and sorted within a row
    return seg, trk, pit, start, end - start


def qualified_note_rate(rolls, min_steps: int = 3) -> np.ndarray:
    """[tracks]: the fraction of notes at least `min_steps` steps long (MuseGAN's QN; a low value
    means fragmented notes)."""
    rolls = _check(rolls)
    _, trk, _, _, length = notes(rolls)
    k = rolls.shape[1]
    total = np.bincount(trk, minlength=k).astype(np.float64)
    good = np.bincount(trk[length >= min_steps], minlength=k).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, good / np.maximum(total, 1), np.nan)


def polyphony(rolls) -> np.ndarray:
    """[tracks]: the mean number of pitches sounding at the steps where the track sounds (1 for a
    monophonic voice)."""
    count = _check(rolls).sum(-1).astype(np.float64)  # [n, tracks, bars, steps]
    count[count == 0] = np.nan
    return _nanmean(count, (0, 2, 3))


def texture(rolls) -> float:
    """The mean number of distinct pitches sounding at the steps where any track sounds (all
    tracks together: 4 for a full four-part chord, fewer where voices rest or meet)."""
    count = _check(rolls).any(1).sum(-1).astype(np.float64).ravel()
    count = count[count > 0]
    return float(count.mean()) if count.size else math.nan


def pitch_range(rolls) -> np.ndarray:
    """[tracks]: semitones from a track's lowest to its highest sounding pitch in a segment, over
    the segments where it sounds."""
    used = _check(rolls).any((2, 3))  # [n, tracks, pitches]
    p = used.shape[-1]
    idx = np.arange(p)
    hi = np.where(used, idx, -1).max(-1)
    lo = np.where(used, idx, p).min(-1)
    out = (hi - lo).astype(np.float64)
    out[hi < 0] = np.nan
    return _nanmean(out, 0)


def tonal_matrix(r1: float = 1.0, r2: float = 1.0, r3: float = 0.5) -> np.ndarray:
    """Harte, Sandler & Gasser (2006): [6, 12] map of a chroma vector to the tonal centroid: circles
    of fifths, minor thirds and major thirds (radii r1, r2, r3)."""
    l = np.arange(12)
    return np.stack([r1 * np.sin(l * 7 * np.pi / 6), r1 * np.cos(l * 7 * np.pi / 6),
                     r2 * np.sin(l * 3 * np.pi / 2), r2 * np.cos(l * 3 * np.pi / 2),
                     r3 * np.sin(l * 2 * np.pi / 3), r3 * np.cos(l * 2 * np.pi / 3)])


def tonal_distance(rolls, min_pitch: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """[pairs]: the distance between two tracks' tonal centroids per bar (each bar's chroma,
    weighted by sounding steps, normalised to sum 1), over the bars where both sound (MuseGAN's
    TD: smaller is more harmonious)."""
    c = chroma(rolls, min_pitch).sum(3).astype(np.float64)  # [n, tracks, bars, 12]
    with np.errstate(invalid="ignore", divide="ignore"):
        c = c / c.sum(-1, keepdims=True)
    centroid = c @ tonal_matrix().T  # [n, tracks, bars, 6]; NaN where silent
    return np.array([_nanmean(np.linalg.norm(centroid[:, a] - centroid[:, b], axis=-1)) for a, b in pairs])


def segment_keys(rolls, min_pitch: int) -> tuple[np.ndarray, np.ndarray]:
    """(tonic pitch class [segments], minor [segments] bool): the key whose Krumhansl-Kessler
    profile correlates best with the segment's sounding steps per pitch class, all tracks."""
    weights = chroma(rolls, min_pitch).sum((1, 2, 3)).astype(np.float64)  # [n, 12]
    profiles = np.stack([np.roll(KK_MAJOR, t) for t in range(12)] + [np.roll(KK_MINOR, t) for t in range(12)])
    w = weights - weights.mean(1, keepdims=True)
    q = profiles - profiles.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (w @ q.T) / (np.linalg.norm(w, axis=1, keepdims=True) * np.linalg.norm(q, axis=1)[None])
    best = np.argmax(np.nan_to_num(r, nan=-2.0), 1)
    return best % 12, best >= 12


def notes_in_key(rolls, min_pitch: int) -> tuple[np.ndarray, float]:
    """([tracks], all tracks): the fraction of notes whose pitch class is in the scale of their
    segment's estimated key (minor: natural minor with the raised 7th)."""
    rolls = _check(rolls)
    tonic, minor = segment_keys(rolls, min_pitch)
    seg, trk, pit, _, _ = notes(rolls)
    degree = (min_pitch + pit - tonic[seg]) % 12
    major_set = np.isin(np.arange(12), SCALES["major"])
    minor_set = np.isin(np.arange(12), SCALES["minor"])
    inside = np.where(minor[seg], minor_set[degree], major_set[degree])
    k = rolls.shape[1]
    total = np.bincount(trk, minlength=k).astype(np.float64)
    good = np.bincount(trk, weights=inside.astype(np.float64), minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_track = np.where(total > 0, good / np.maximum(total, 1), np.nan)
    return per_track, float(inside.mean()) if inside.size else math.nan


def voice_crossings(rolls, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """[pairs (upper, lower)]: the fraction of the steps where both tracks sound at which the
    upper track's highest pitch lies below the lower track's highest pitch."""
    rolls = _check(rolls)
    top = np.where(rolls, np.arange(rolls.shape[-1]), -1).max(-1)  # [n, tracks, bars, steps]
    out = []
    for a, b in pairs:
        both = (top[:, a] >= 0) & (top[:, b] >= 0)
        out.append(float((top[:, a] < top[:, b])[both].mean()) if both.any() else math.nan)
    return np.array(out)


def adjacent_pairs(tracks: int) -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(tracks - 1)]


def all_metrics(rolls, min_pitch: int, track_names: Sequence[str], qualified_steps: int = 3) -> dict:
    """Every metric of a roll set, by name: `<metric>_<track>` for per-track ones (EB and QN and
    notes in key in %), `td_<a>_<b>` for every pair of tracks, `crossings_<upper>_<lower>` (%)
    for adjacent tracks, `texture` and `in_key_all` for all tracks together."""
    rolls = _check(rolls)
    names = list(track_names)
    if len(names) != rolls.shape[1]:
        raise ValueError(f"{len(names)} track names for {rolls.shape[1]} tracks")
    out = {}
    per_track = {"eb": 100 * empty_bar_rate(rolls), "upc": used_pitch_classes(rolls, min_pitch),
                 "qn": 100 * qualified_note_rate(rolls, qualified_steps), "polyphony": polyphony(rolls),
                 "pitch_range": pitch_range(rolls)}
    in_key, in_key_all = notes_in_key(rolls, min_pitch)
    per_track["in_key"] = 100 * in_key
    for metric, values in per_track.items():
        for name, v in zip(names, values):
            out[f"{metric}_{name}"] = float(v)
    pairs = list(itertools.combinations(range(len(names)), 2))
    for (a, b), v in zip(pairs, tonal_distance(rolls, min_pitch, pairs)):
        out[f"td_{names[a]}_{names[b]}"] = float(v)
    adjacent = adjacent_pairs(len(names))
    for (a, b), v in zip(adjacent, voice_crossings(rolls, adjacent)):
        out[f"crossings_{names[a]}_{names[b]}"] = 100 * float(v)
    out["texture"] = texture(rolls)
    out["in_key_all"] = 100 * in_key_all
    return out


def relative_difference(real: float, generated: float) -> float:
    """|generated - real| / |real|: NaN where the real value is 0 or undefined; infinite where only
    the generated one is undefined (e.g. the pitch range of a track that never sounds)."""
    if not math.isfinite(real) or real == 0:
        return math.nan
    if not math.isfinite(generated):
        return math.inf
    return abs(generated - real) / abs(real)


def summary(rows: dict) -> tuple[float, float]:
    """(mean relative difference with each capped at 1, share within tolerance) over the metrics
    whose relative difference is defined."""
    rels = [r["relative_difference"] for r in rows.values() if not math.isnan(r["relative_difference"])]
    decided = [r["within"] for r in rows.values() if r["within"] is not None]
    return (float(np.mean(np.minimum(rels, 1.0))) if rels else math.nan,
            float(np.mean(decided)) if decided else math.nan)


def compare(real: dict, generated: dict, tolerance: float = 0.10, halves: tuple[dict, dict] | None = None) -> dict:
    """Per metric {real, generated, relative_difference, within}; `within` tests the relative
    difference against `tolerance` (None where it is undefined: a real value of 0). With `halves`
    (the metrics of two halves of the real set), also `halves_difference`: how far the real set's
    own halves lie apart (half B from half A), the scale of sampling noise for that metric, as
    the real-vs-real Fréchet distance is for the generated one."""
    rows = {}
    for k in real:
        rel = relative_difference(real[k], generated.get(k, math.nan))
        rows[k] = {"real": real[k], "generated": generated.get(k, math.nan), "relative_difference": rel,
                   "within": None if math.isnan(rel) else bool(rel <= tolerance)}
        if halves is not None:
            rows[k]["halves_difference"] = relative_difference(halves[0].get(k, math.nan), halves[1].get(k, math.nan))
    return rows


def frechet_distance(a, b) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians fitted to the rows
    of a [n, d] and b [m, d] (Heusel et al. 2017's FID formula). The trace of the root is taken as
    that of (S_a^(1/2) S_b S_a^(1/2))^(1/2), a symmetric matrix with the same eigenvalues, so a
    singular covariance (a set of identical rows) needs no special case."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root_a @ s_b @ root_a
    trace_root = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * trace_root)


def markdown_table(rows: dict, real_label: str = "real", generated_label: str = "generated") -> str:
    """`compare`'s rows as a Markdown table (with the real halves' difference where the rows have it)."""
    fmt = lambda v: "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"
    pct = lambda v: "–" if math.isnan(v) else ("∞" if math.isinf(v) else f"{100 * v:.1f}%")
    halves = bool(rows) and all("halves_difference" in r for r in rows.values())
    lines = [f"| metric | {real_label} | {generated_label} | rel. difference | within 10% |" +
             (" real halves' rel. difference |" if halves else ""),
             "| --- | --- | --- | --- | --- |" + (" --- |" if halves else "")]
    for k, r in rows.items():
        within = {True: "yes", False: "no", None: "–"}[r["within"]]
        lines.append(f"| {k} | {fmt(r['real'])} | {fmt(r['generated'])} | {pct(r['relative_difference'])} | {within} |" +
                     (f" {pct(r['halves_difference'])} |" if halves else ""))
    return "\n".join(lines)


# ---- pictures ---------------------------------------------------------------------------------


def pianoroll_grid_png(rolls, path: str | os.PathLike, min_pitch: int, track_names: Sequence[str],
                       columns: int = 4, titles: Sequence[str] | None = None) -> None:
    """A grid of segments [segments, tracks, bars, steps, pitches], one panel each, a colour per
    track, bar lines dotted; atomic write."""
    rolls = _check(rolls)
    plt = pyplot()
    n, k, b, t, p = rolls.shape
    rows = int(math.ceil(n / columns))
    fig, axes = plt.subplots(rows, min(columns, n), figsize=(3.2 * min(columns, n), 2.6 * rows), squeeze=False,
                             sharey=True)
    colours = plt.get_cmap("tab10")
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        img = np.ones((p, b * t, 3))
        for j in range(k):
            on = rolls[i, j].reshape(b * t, p).T
            img[on] = colours(j % 10)[:3]
        ax.imshow(img, origin="lower", aspect="auto", interpolation="nearest",
                  extent=(0, b * t, min_pitch - 0.5, min_pitch + p - 0.5))
        for bar in range(1, b):
            ax.axvline(bar * t, color="0.6", linestyle=":", linewidth=0.6)
        ax.set_title(titles[i] if titles else f"{i + 1}", fontsize=8)
        ax.tick_params(labelsize=6)
    for j, name in enumerate(track_names):
        axes.flat[0].plot([], [], color=colours(j % 10), label=name, linewidth=4)
    axes.flat[0].legend(loc="upper right", fontsize=5)
    save_png(fig, plt, path)


def loss_curves_png(metrics_jsonl: str | os.PathLike, path: str | os.PathLike,
                    names: Sequence[str] = ("d_loss", "g_loss", "gradient_penalty", "valid_frechet")) -> list[str]:
    """The named series of a run's metrics.jsonl against the step, one panel each (those present);
    atomic write. Returns the names drawn."""
    series: dict[str, list[tuple[int, float]]] = {}
    with open(metrics_jsonl, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            for name in names:
                if row.get(name) is not None:
                    series.setdefault(name, []).append((row["step"], row[name]))
    drawn = [n for n in names if n in series]
    if not drawn:
        return []
    plt = pyplot()
    fig, axes = plt.subplots(1, len(drawn), figsize=(3.6 * len(drawn), 3.0), squeeze=False)
    for ax, name in zip(axes[0], drawn):
        steps, values = zip(*series[name])
        ax.plot(steps, values, linewidth=1.0)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    save_png(fig, plt, path)
    return drawn
