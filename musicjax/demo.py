"""The main job of the README's first command: build the Essen folk songs and the Bach chorales,
train the melody LSTM on their melodies for a few minutes, print its test NLL beside unigram and
bigram baselines, and write sampled melodies (MIDI, WAV, PNG) with their musical statistics next
to the test set's. Run again on the same --out, it resumes training and reuses the built data."""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import sys
import time

import numpy as np

from musicjax.config import load_config
from musicjax.data import datasets
from musicjax.data.audio import synthesize, write_wav
from musicjax.data.files import atomic_write_text
from musicjax.data.io import write_score
from musicjax.data.score import Score, quarters_to_seconds, select_notes
from musicjax.evaluate.music_stats import estimate_key, mean_stats
from musicjax.evaluate.plots import pianoroll_png

EXPERIMENT = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "melody_lstm.py"
NUM_SAMPLES = 4
MIN_NOTES = 24  # a kept sample has at least this many notes (the test melodies' median is ~40) ...
MIN_QUARTERS = 16.0  # ... and lasts at least four 4/4 bars
BAR_QUARTERS = 4.0  # a sample that runs to the step limit is cut at its last bar line of 4/4
CANDIDATES = 16  # melodies drawn per round (one batch: about as fast as four)
MAX_ROUNDS = 4  # at most 64 drawn; the trained demo model ends about half of its melodies itself
TONIC_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
STAT_ROWS = ("notes", "pitch_4gram_repetition", "ends_on_tonic", "pitch_range", "in_key", "mean_abs_interval",
             "repeated_pitch", "notes_per_quarter")


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


def end_at_bar(score: Score, limit_q: float, bar_q: float = BAR_QUARTERS) -> Score:
    """A melody that ran to the sampling limit (`limit_q` quarters: the model never ended it) cut
    at its last bar line, the notes sounding across it ending there; a melody the model ended
    itself (its end token: a phrase end) is kept whole."""
    if score.num_notes == 0 or score.duration_q < limit_q - 1e-9:
        return score
    bar = math.floor(score.duration_q / bar_q) * bar_q
    if bar >= score.duration_q - 1e-9:
        return score
    cut = select_notes(score, score.start_q < bar - 1e-9)
    end_q = np.minimum(cut.end_q, bar)
    return cut.replace(end_q=end_q, end=quarters_to_seconds(end_q, cut.tempos))


def keepable_samples(task, state, limit_q: float, *, num: int = NUM_SAMPLES, seed: int = 0,
                     min_notes: int = MIN_NOTES, min_quarters: float = MIN_QUARTERS) -> tuple[list[Score], dict]:
    """`num` melodies a listener would keep: drawn `CANDIDATES` at a time with the config's
    sampling settings; those with at least `min_notes` notes over `min_quarters` quarters that the
    model ended itself (its end token: a phrase end) come first, in drawing order; if fewer than
    `num` are found in `MAX_ROUNDS`, long ones cut at a bar line (`end_at_bar`) fill up, then the
    longest of the rest. Nothing else is chosen for: pitch statistics, ending on the tonic
    included, are the model's. Returns (samples, counts)."""
    long_enough = lambda m: m.num_notes >= min_notes and m.duration_q >= min_quarters
    ended, cut, short, drawn = [], [], [], 0
    for r in range(MAX_ROUNDS):
        for s in task.sample(state, num=CANDIDATES, seed=seed + r):
            drawn += 1
            whole = s.duration_q < limit_q - 1e-9  # the model ended it
            s = end_at_bar(s, limit_q)
            (ended if whole and long_enough(s) else cut if long_enough(s) else short).append(s)
        if len(ended) >= num:
            break
    chosen = (ended + cut + sorted(short, key=lambda s: -s.num_notes))[:num]
    out = []
    for i, s in enumerate(chosen):
        tonic, mode = estimate_key(s) if s.num_notes else (0, "major")
        out.append(s.replace(meta=dataclasses.replace(s.meta, title=f"sample {i + 1}", meter="4/4",
                                                      key=f"{TONIC_NAMES[tonic]} {mode}")))
    counts = {"drawn": drawn, "ended_by_model": len(ended), "cut_at_bar": len(cut), "too_short": len(short),
              "kept_ended_by_model": min(len(ended), num), "min_notes": min_notes, "min_quarters": min_quarters}
    return out, counts


def _stats_table(stats: dict) -> str:
    s, t = stats["samples"], stats["test_set"]
    lines = [f"Musical statistics (means over pieces; key estimated from the notes): "
             f"{s['pieces']} samples vs {t['pieces']} test melodies"]
    for k in STAT_ROWS:
        lines.append(f"  {k:24} {s.get(k, float('nan')):8.3f}  {t.get(k, float('nan')):8.3f}")
    return "\n".join(lines)


def run_demo(out: pathlib.Path, quick: bool = False) -> dict:
    from musicjax import tasks
    from musicjax.data.score import melody_line
    from musicjax.train.loop import restore_state, train

    out.mkdir(parents=True, exist_ok=True)
    run = out / "run"
    config = load_config(f"{EXPERIMENT}:{'tiny' if quick else 'demo'}")
    synth = "numpy" if quick else "auto"
    seconds = {}
    t0 = time.time()
    for corpus, _ in config.data.sources:
        rep = datasets.build(corpus)
        _say(f"{corpus}: {rep['items']} pieces, {rep['notes']} notes, splits {rep['splits']}")
    seconds["data"] = time.time() - t0
    _say(f"data ready ({seconds['data']:.0f} s)")

    task = tasks.make(config)
    t1 = time.time()
    trained = train(task, config, run)
    seconds["training"] = time.time() - t1
    _say(f"trained {trained['trained_steps']} steps, now at step {trained['step']} ({seconds['training']:.0f} s)")

    t2 = time.time()
    state, step = restore_state(task, config, run)
    evaluation = task.full_report(state, "test")
    atomic_write_text(run / "eval_test.json", json.dumps({"checkpoint_step": step, **evaluation}, indent=1))
    seconds["evaluation"] = time.time() - t2
    print(f"\nTest split, checkpoint step {step}:\n{results_table(evaluation)}\n")

    t3 = time.time()
    limit_q = config.sample.steps / config.data.steps_per_quarter
    samples, drawn = keepable_samples(task, state, limit_q, **({"min_notes": 4, "min_quarters": 2.0} if quick else {}))
    for i, s in enumerate(samples):
        _write_music(s, out / f"sample_{i + 1:02d}", synth)
    test_lines = [melody_line(s, part) for corpus, part in config.data.sources
                  for s in datasets.load_scores(corpus, "test") if part < len(s.parts)]
    stats = {"samples": mean_stats(samples), "test_set": mean_stats(test_lines), "sampling": {
        **drawn, "temperature": config.sample.temperature, "top_k": config.sample.top_k,
        "top_p": config.sample.top_p}}
    print(_stats_table(stats))
    print(f"  (of {drawn['drawn']} melodies drawn at temperature {config.sample.temperature}, top-p "
          f"{config.sample.top_p}, {drawn['ended_by_model']} ended themselves after >= {drawn['min_notes']} notes "
          f"and {drawn['min_quarters']:g} quarters; {drawn['kept_ended_by_model']} of the {len(samples)} kept did)")

    chorale = datasets.load_scores("bach_chorales", "test")[0]
    _write_music(chorale, out / chorale.meta.source_id.replace("/", "_"), synth)
    seconds["samples_and_audio"] = time.time() - t3
    seconds["total"] = time.time() - t0
    summary = {"train": trained, "test": evaluation, "music_stats": stats,
               "seconds": {k: round(v, 1) for k, v in seconds.items()},
               "files": sorted(str(p) for p in out.glob("*.mid")), "workdir": str(run)}
    atomic_write_text(out / "demo_summary.json", json.dumps(summary, indent=1, ensure_ascii=False))
    print(f"\nwrote {len(summary['files'])} MIDI files (with WAV and PNG) and demo_summary.json to {out}; "
          f"the training run (checkpoints, metrics, eval_test.json) is {run}: "
          f"musicjax sample --workdir {run} --out {out / 'more'}")
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    return summary
