"""Pictures people look at: piano-rolls of Scores as PNG, alone or as a strip of several (an
interpolation, a grid of samples)."""

from __future__ import annotations

import io
import os
from typing import Sequence

from musicjax.data.files import atomic_write
from musicjax.data.score import Score


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (unless one is already chosen)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_BLACK_KEYS = {1, 3, 6, 8, 10}


def note_name(pitch: int) -> str:
    """MIDI pitch -> scientific pitch name: 60 -> 'C4', 61 -> 'C#4', 21 -> 'A0'."""
    return f"{NOTE_NAMES[int(pitch) % 12]}{int(pitch) // 12 - 1}"


def bar_quarters(meter: str) -> float:
    """Quarter notes per bar of a meter such as '3/4' or '6/8' (4 for an empty or unreadable one)."""
    num, _, den = meter.partition("/")
    try:
        q = float(num) * 4.0 / float(den)
    except (ValueError, ZeroDivisionError):
        return 4.0
    return q if 0 < q <= 64 else 4.0


def _pitch_ticks(lo: int, hi: int) -> list[int]:
    """Integer pitches to label: the white keys over a small range, C E G over a middling one, the Cs
    over a wide one."""
    span = hi - lo
    classes = {0, 2, 4, 5, 7, 9, 11} if span <= 16 else {0, 4, 7} if span <= 36 else {0}
    return [p for p in range(lo, hi + 1) if p % 12 in classes]


def _draw_notes(ax, score: Score, plt, legend: bool, pitches: tuple[int, int] | None = None) -> None:
    """One bar per note (time in quarters, pitch labelled by name), each part in its own colour,
    black-key rows shaded, a line at every bar line of the score's meter (4/4 if it states none).
    `pitches`: the (lowest, highest) pitch to show, by default the score's own."""
    colours = plt.get_cmap("tab10")
    for pi, part in enumerate(score.parts):
        for i in score.part_notes(pi):
            dur = score.end_q[i] - score.start_q[i]  # a small gap shows each re-attack
            ax.add_patch(plt.Rectangle((score.start_q[i], score.pitch[i] - 0.4), max(dur - 0.06, 0.8 * dur),
                                       0.8, color=colours(pi % 10), linewidth=0, zorder=2))
        if legend:
            ax.plot([], [], color=colours(pi % 10), label=part.name or f"part {pi + 1}", linewidth=6)
    if not score.num_notes:
        return
    end = max(score.duration_q, 1e-3)
    lo, hi = pitches or (int(score.pitch.min()), int(score.pitch.max()))
    lo, hi = lo - 2, hi + 2
    ax.set_xlim(0, end)
    ax.set_ylim(lo - 0.5, hi + 0.5)
    for p in range(lo, hi + 1):
        if p % 12 in _BLACK_KEYS:
            ax.axhspan(p - 0.5, p + 0.5, color="0.93", linewidth=0, zorder=0)
    ticks = _pitch_ticks(lo, hi)
    ax.set_yticks(ticks, [note_name(p) for p in ticks])
    bar = bar_quarters(score.meta.meter)
    bars = [b * bar for b in range(int(end // bar) + 1)]
    for x in bars:
        ax.axvline(x, color="0.55", linewidth=0.6, zorder=1)
    every = max(1, -(-len(bars) // 24))  # at most ~24 bar numbers
    ax.set_xticks(bars[::every], [str(b + 1) for b in range(0, len(bars), every)])
    ax.tick_params(axis="both", labelsize=7)


def save_png(fig, plt, path) -> None:
    """Lay out `fig`, close it and write it to `path` as PNG, atomically."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def pianoroll_png(score: Score, path: str | os.PathLike, title: str | None = None, dpi: int = 100) -> None:
    """The piano-roll of one Score; atomic write."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, min(24.0, score.duration_q / 4)), 4), dpi=dpi)
    _draw_notes(ax, score, plt, legend=len(score.parts) > 1)
    ax.set_xlabel(f"bar ({score.meta.meter or '4/4'})")
    ax.set_ylabel("pitch")
    ax.set_title(title if title is not None else (score.meta.title or score.meta.source_id))
    if len(score.parts) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False)  # beside the notes
    save_png(fig, plt, path)


def pianoroll_strip_png(scores: Sequence[Score], path: str | os.PathLike, titles: Sequence[str] | None = None,
                        dpi: int = 100) -> None:
    """Piano-rolls of several Scores side by side, one panel each, a shared pitch axis; atomic write."""
    if not scores:
        raise ValueError("no scores to draw")
    plt = pyplot()
    fig, axes = plt.subplots(1, len(scores), figsize=(min(3.0 * len(scores), 30.0), 3.5), dpi=dpi, sharey=True,
                             squeeze=False)
    sounding = [s for s in scores if s.num_notes]
    pitches = (min(int(s.pitch.min()) for s in sounding), max(int(s.pitch.max()) for s in sounding)) if sounding else None
    for i, (ax, score) in enumerate(zip(axes[0], scores)):
        _draw_notes(ax, score, plt, legend=False, pitches=pitches)
        ax.set_title(titles[i] if titles else (score.meta.title or f"{i + 1}"), fontsize=8)
        ax.set_xlabel("bar", fontsize=7)
    axes[0][0].set_ylabel("pitch")
    save_png(fig, plt, path)


def attention_png(weights, source_labels: Sequence[str], target_labels: Sequence[str], path: str | os.PathLike,
                  title: str = "", dpi: int = 100) -> None:
    """An attention map: weights [T, S] (row t: the decoder's weights over the source at output
    step t) as a heatmap, source positions across, output tokens down; atomic write."""
    import numpy as np

    w = np.asarray(weights, np.float64)
    if w.ndim != 2 or w.shape != (len(target_labels), len(source_labels)):
        raise ValueError(f"weights {w.shape} do not match {len(target_labels)} output x {len(source_labels)} source labels")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(min(2.0 + 0.32 * w.shape[1], 24.0), min(1.5 + 0.28 * w.shape[0], 24.0)), dpi=dpi)
    im = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=max(float(w.max()), 1e-6), aspect="auto")
    ax.set_xticks(range(w.shape[1]), source_labels, rotation=90, fontsize=7)
    ax.set_yticks(range(w.shape[0]), target_labels, fontsize=7)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    import textwrap

    ax.set_title(textwrap.fill(title, max(30, int(8 * fig.get_figwidth()))), fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.03)
    save_png(fig, plt, path)
