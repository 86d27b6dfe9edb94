"""The main job of the README's first command: build the chorales from the music21 corpus, and
write one test-split chorale as MIDI, WAV and a piano-roll PNG with its summary."""

from __future__ import annotations

import json
import pathlib
import time

from musicjax.data import datasets
from musicjax.data.audio import synthesize, write_wav
from musicjax.data.io import describe, write_score
from musicjax.evaluate.plots import pianoroll_png


def run_demo(out: pathlib.Path, quick: bool = False) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    report = datasets.build("bach_chorales")
    print(f"bach_chorales: {report['items']} chorales, {report['notes']} notes, splits {report['splits']} "
          f"({time.time() - t0:.1f} s)")
    chorale = datasets.load_scores("bach_chorales", "test")[0]
    stem = out / chorale.meta.source_id.replace("/", "_")
    write_score(chorale, stem.with_suffix(".mid"))
    write_wav(synthesize(chorale, method="numpy" if quick else "auto"), stem.with_suffix(".wav"))
    pianoroll_png(chorale, stem.with_suffix(".png"))
    summary = {"chorale": describe(chorale), "files": [str(stem.with_suffix(x)) for x in (".mid", ".wav", ".png")]}
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    return summary
