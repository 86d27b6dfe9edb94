"""Pictures people look at: piano-rolls of Scores as PNG, alone or as a strip of several (an
interpolation, a grid of samples)."""

from __future__ import annotations

import io
import os
from typing import Sequence

from musicjax.data.files import atomic_write
from musicjax.data.score import Score


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _draw_notes(ax, score: Score, plt, legend: bool) -> None:
    """One horizontal bar per note (time in quarters, MIDI pitch), a colour per part."""
    colours = plt.get_cmap("tab10")
    for pi, part in enumerate(score.parts):
        for i in score.part_notes(pi):
            dur = score.end_q[i] - score.start_q[i]  # a small gap shows each re-attack
            ax.add_patch(plt.Rectangle((score.start_q[i], score.pitch[i] - 0.4), max(dur - 0.06, 0.8 * dur),
                                       0.8, color=colours(pi % 10), linewidth=0))
        if legend:
            ax.plot([], [], color=colours(pi % 10), label=part.name or f"part {pi + 1}", linewidth=6)
    if score.num_notes:
        ax.set_xlim(0, max(score.duration_q, 1e-3))
        ax.set_ylim(int(score.pitch.min()) - 2, int(score.pitch.max()) + 2)
    ax.grid(True, axis="x", alpha=0.3)


def _save(fig, plt, path) -> None:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def pianoroll_png(score: Score, path: str | os.PathLike, title: str | None = None, dpi: int = 100) -> None:
    """The piano-roll of one Score; atomic write."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, min(24.0, score.duration_q / 4)), 4), dpi=dpi)
    _draw_notes(ax, score, plt, legend=len(score.parts) > 1)
    ax.set_xlabel("quarter notes")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title if title is not None else (score.meta.title or score.meta.source_id))
    if len(score.parts) > 1:
        ax.legend(loc="upper right", fontsize=7)
    _save(fig, plt, path)


def pianoroll_strip_png(scores: Sequence[Score], path: str | os.PathLike, titles: Sequence[str] | None = None,
                        dpi: int = 100) -> None:
    """Piano-rolls of several Scores side by side, one panel each, a shared pitch axis; atomic write."""
    if not scores:
        raise ValueError("no scores to draw")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(scores), figsize=(min(3.0 * len(scores), 30.0), 3.5), dpi=dpi, sharey=True,
                             squeeze=False)
    for i, (ax, score) in enumerate(zip(axes[0], scores)):
        _draw_notes(ax, score, plt, legend=False)
        ax.set_title(titles[i] if titles else (score.meta.title or f"{i + 1}"), fontsize=8)
        ax.set_xlabel("quarters", fontsize=7)
    axes[0][0].set_ylabel("MIDI pitch")
    _save(fig, plt, path)
