"""Pictures people look at: piano-rolls of Scores as PNG."""

from __future__ import annotations

import io
import os


from musicjax.data.files import atomic_write
from musicjax.data.score import Score


def pianoroll_png(score: Score, path: str | os.PathLike, title: str | None = None, dpi: int = 100) -> None:
    """One horizontal bar per note (time in quarters, MIDI pitch), a colour per part; atomic write."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, min(24.0, score.duration_q / 4)), 4), dpi=dpi)
    colours = plt.get_cmap("tab10")
    for pi, part in enumerate(score.parts):
        idx = score.part_notes(pi)
        if idx.size:
            for i in idx:
                dur = score.end_q[i] - score.start_q[i]  # a small gap shows each re-attack
                ax.add_patch(plt.Rectangle((score.start_q[i], score.pitch[i] - 0.4), max(dur - 0.06, 0.8 * dur),
                                           0.8, color=colours(pi % 10), linewidth=0))
            ax.plot([], [], color=colours(pi % 10), label=part.name or f"part {pi + 1}", linewidth=6)
    if score.num_notes:
        ax.set_xlim(0, score.duration_q)
        ax.set_ylim(int(score.pitch.min()) - 2, int(score.pitch.max()) + 2)
    ax.set_xlabel("quarter notes")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title if title is not None else (score.meta.title or score.meta.source_id))
    if len(score.parts) > 1:
        ax.legend(loc="upper right", fontsize=7)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


