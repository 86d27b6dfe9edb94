"""What the one training loop needs from a model family: a few plain functions (`Task`).

`tasks/<family>.py: make(config) -> Task` builds one; `train/loop.py` runs any of them and knows no
family and no metric name."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable


@dataclasses.dataclass(frozen=True)
class Task:
    """init(key) -> state: any pytree dataclass with int32 `step` and `bad_steps` (e.g.
        `train.step.TrainState`, or a GAN's state with two optimizer states).
    train_step(state, batch, key) -> (state, metrics): pure; the loop jits it once with the state
        donated and replicated, the batch sharded on its leading axis. Metrics are scalars.
    batch(step, process_index, process_count) -> dict of numpy arrays [rows, ...]: this
        process's rows of global batch `step`, a pure function of its arguments (so the data
        position of a run is its step).
    evaluate(state, split) -> dict of floats (host side; the loop logs them as `<split>_<name>`).
    best_metric: (name, "min" | "max") among evaluate's keys: which checkpoint is "best".
    sample(state, num, seed, **options) -> list of Scores (a music family) or of text lines (a
        text family, which says so with extra["text_samples"]; the CLI writes them to one file).
    report(state, split) -> dict: the full evaluation `musicjax evaluate` writes (JSON), by
        default `evaluate`'s.
    rate_metrics: names of count metrics of a step (e.g. "tokens") the loop logs per second.
    guard_metrics: names of positive step metrics whose spike (a multiple of their recent median)
        stops the run as diverged: a loss that stays finite can still blow up. () for losses that
        may be negative (a WGAN critic).
    extra: family-specific host functions the CLI may call by name: "interpolate" (`musicjax
        interpolate`), "write_outputs(state, workdir, split, evaluation)" (what `musicjax evaluate`
        writes beside eval_<split>.json: pictures, audio, a Markdown table), "text_samples",
        "unit_log_probs(state, split, transpose=0) -> [units] float64" (the log-probability of
        every unit the split scores, in a fixed order, with the split moved `transpose` semitones:
        `musicjax evaluate --ensemble / --transpose` mixes runs and keys through it)."""

    init: Callable[[Any], Any]
    train_step: Callable
    batch: Callable[[int, int, int], dict]
    evaluate: Callable[[Any, str], dict]
    best_metric: tuple[str, str]
    sample: Callable[..., list]
    report: Callable[[Any, str], dict] | None = None
    rate_metrics: tuple[str, ...] = ()
    guard_metrics: tuple[str, ...] = ("loss",)
    extra: dict = dataclasses.field(default_factory=dict)

    def full_report(self, state, split: str) -> dict:
        return (self.report or self.evaluate)(state, split)
