"""What the command groups share: the one-line error, reading a training workdir (its config, task
and restored checkpoint, with evaluation settings) and writing what a command produces."""

from __future__ import annotations

import pathlib
import sys

SYNTH_HELP = "audio: FluidSynth with its General MIDI soundfont (auto: when installed), else a numpy synthesiser"


class CliError(Exception):
    """A usage problem worth one line, not a traceback."""


def workdir_config(workdir):
    from musicjax.train.loop import read_config

    try:
        return read_config(workdir)
    except FileNotFoundError as e:
        raise CliError(str(e)) from None


def make_task(config):
    from musicjax import tasks

    try:
        return tasks.make(config)
    except ValueError as e:
        raise CliError(str(e)) from None


def fitted_family(config):
    """The module of a family fitted by its own `fit` (not the training loop), else None."""
    from musicjax import tasks

    try:
        m = tasks.module(config)
    except ValueError as e:
        raise CliError(str(e)) from None
    return m if hasattr(m, "fit") else None


def with_settings(config, items):
    """A workdir's config with `--set` evaluation settings applied: only eval.* and sample.* (the
    model and its data are the checkpoint's); a field the run's config predates is taken from
    the family's defaults first, so older runs can be evaluated with newer settings."""
    import ml_collections

    from musicjax.config import ConfigError, apply_override, defaults

    try:
        base = defaults(config.model_family)
        for item in items:
            key = item.partition("=")[0]
            section, _, leaf = key.partition(".")
            if section not in ("eval", "sample") or not leaf or "." in leaf:
                raise ConfigError(f"--set {item!r}: a training run's evaluation can change eval.* and sample.* "
                                  "settings only (the model is the checkpoint's)")
            if section in base and leaf in base[section]:
                node = config.get(section)
                if node is None:
                    config[section] = node = ml_collections.ConfigDict()
                if leaf not in node:
                    node[leaf] = base[section][leaf]
            apply_override(config, item)
    except ConfigError as e:
        raise CliError(str(e)) from None
    return config


def restored(workdir, which: str = "best", settings=()):
    """(config, task, state, step) of a training workdir, its best (or latest) checkpoint, with
    evaluation `settings` (`--set` items, `_with_settings`) applied."""
    from musicjax.train.loop import restore_state

    config = workdir_config(workdir)
    if settings:
        config = with_settings(config, settings)
    task = make_task(config)
    try:
        state, step = restore_state(task, config, workdir, which)
    except FileNotFoundError as e:
        raise CliError(str(e)) from None
    return config, task, state, step


def write_music(score, stem: pathlib.Path, synth: str) -> None:
    from musicjax.data.audio import synthesize, write_wav
    from musicjax.data.io import write_score
    from musicjax.evaluate.plots import pianoroll_png

    write_score(score, stem.with_suffix(".mid"))
    write_wav(synthesize(score, method=synth), stem.with_suffix(".wav"))
    pianoroll_png(score, stem.with_suffix(".png"))


def write_lines(lines, out) -> int:
    """Sampled text lines printed and written to OUT/samples.txt."""
    from musicjax.data.files import atomic_write_text

    path = pathlib.Path(out) / "samples.txt"
    atomic_write_text(path, "\n".join(lines) + "\n")
    for line in lines:
        print(line)
    print(f"wrote {path}", file=sys.stderr)
    return 0
