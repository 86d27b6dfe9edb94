"""The main job of the README's first command: build the corpora, train the melody LSTM on Essen
folk songs and chorale sopranos for a few minutes, print its test NLL beside unigram and bigram
baselines, and write sampled melodies (MIDI, WAV, PNG) with their musical statistics next to the
test set's. Run again on the same --out, it resumes training and reuses the built data."""

from __future__ import annotations

import json
import pathlib
import sys
import time

from musicjax.config import load_config
from musicjax.data import datasets
from musicjax.data.audio import synthesize, write_wav
from musicjax.data.files import atomic_write_text
from musicjax.data.io import write_score
from musicjax.evaluate.music_stats import mean_stats
from musicjax.evaluate.plots import pianoroll_png

EXPERIMENT = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "melody_lstm.py"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _write_music(score, stem: pathlib.Path, synth: str) -> None:
    write_score(score, stem.with_suffix(".mid"))
    write_wav(synthesize(score, method=synth), stem.with_suffix(".wav"))
    pianoroll_png(score, stem.with_suffix(".png"))


def results_table(evaluation: dict) -> str:
    lines = ["| model | NLL/token (nats) | bits/note | accuracy |", "| --- | --- | --- | --- |"]
    for name, row in evaluation["models"].items():
        lines.append(f"| {name} | {row['nll_per_token']:.4f} | {row['bits_per_note']:.3f} | {row['accuracy']:.4f} |")
    return "\n".join(lines)


def run_demo(out: pathlib.Path, quick: bool = False) -> dict:
    from musicjax.data.score import melody_line
    from musicjax import tasks
    from musicjax.train.loop import restore_state, train

    out.mkdir(parents=True, exist_ok=True)
    config = load_config(f"{EXPERIMENT}:{'tiny' if quick else 'default'}")
    synth = "numpy" if quick else "auto"
    t0 = time.time()
    for corpus, _ in config.data.sources:
        rep = datasets.build(corpus)
        _say(f"{corpus}: {rep['items']} pieces, {rep['notes']} notes, splits {rep['splits']}")
    _say(f"data ready ({time.time() - t0:.0f} s)")

    task = tasks.make(config)
    t1 = time.time()
    trained = train(task, config, out / "run")
    _say(f"trained {trained['trained_steps']} steps, now at step {trained['step']} ({time.time() - t1:.0f} s)")
    state, step = restore_state(task, config, out / "run")
    evaluation = task.full_report(state, "test")
    table = results_table(evaluation)
    print(f"\nTest split, checkpoint step {step}:\n{table}\n")

    samples = task.sample(state, num=4, seed=0)
    for i, s in enumerate(samples):
        _write_music(s, out / f"sample_{i + 1:02d}", synth)
    test_lines = [melody_line(s, part) for corpus, part in config.data.sources
                  for s in datasets.load_scores(corpus, "test") if part < len(s.parts)]
    stats = {"samples": mean_stats(samples), "test_set": mean_stats(test_lines)}
    print("Musical statistics (means over pieces): samples vs test set")
    for k in stats["test_set"]:
        print(f"  {k:18} {stats['samples'].get(k, float('nan')):8.3f}  {stats['test_set'][k]:8.3f}")

    chorale = datasets.load_scores("bach_chorales", "test")[0]
    _write_music(chorale, out / chorale.meta.source_id.replace("/", "_"), synth)
    summary = {"train": trained, "test": evaluation, "music_stats": stats, "seconds": round(time.time() - t0, 1),
               "files": sorted(str(p) for p in out.glob("*.mid"))}
    atomic_write_text(out / "demo_summary.json", json.dumps(summary, indent=1, ensure_ascii=False))
    print(f"\nwrote {len(summary['files'])} MIDI files (with WAV and PNG) and demo_summary.json to {out}")
    return summary
