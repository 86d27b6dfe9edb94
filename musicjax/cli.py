"""`musicjax` command line: thin wrappers that call the stages. Errors about input files print on
one line (file: reason) and exit non-zero; batch commands report, skip and count bad files."""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from musicjax.allocator import keep_freed_memory
from musicjax.data.score import ScoreError


class CliError(Exception):
    """A usage problem worth one line, not a traceback."""


# ---- data --------------------------------------------------------------------------------------


def cmd_data_list(args) -> int:
    from musicjax.data import datasets

    rows = []
    for name in datasets.BUILDERS:
        built = datasets.is_built(name)
        rep = datasets.build_report(name) if built else {}
        rows.append({"name": name, "built": built, "items": rep.get("items"), "notes": rep.get("notes") or None,
                     "splits": rep.get("splits"), "skipped": rep.get("skipped"),
                     "description": datasets.builder(name).info.description})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'corpus':15} {'built':6} {'pieces':>7} {'notes':>8}  train/valid/test   description")
    for r in rows:
        sp = "/".join(str(r["splits"][k]) for k in ("train", "valid", "test")) if r["splits"] else "-"
        print(f"{r['name']:15} {'yes' if r['built'] else 'no':6} {r['items'] or '-':>7} {r['notes'] or '-':>8}  "
              f"{sp:17}  {r['description']}")
    return 0


def cmd_data_build(args) -> int:
    from concurrent.futures.process import BrokenProcessPool

    from musicjax.data import datasets

    names = list(datasets.BUILDERS) if args.names == ["all"] else args.names
    for name in names:
        if name not in datasets.BUILDERS:
            raise CliError(f"unknown corpus {name!r}; known: {', '.join(datasets.BUILDERS)}, all")
    for name in names:
        try:
            rep = datasets.build(name)
        except BrokenProcessPool:
            raise CliError(f"{name}: a parse worker died (killed by the system: out of memory?); "
                           "nothing was kept; run the build again") from None
        print(json.dumps({k: v for k, v in rep.items() if k != "errors"}, ensure_ascii=False))
    return 0


def cmd_data_inspect(args) -> int:
    from musicjax.data.io import describe, read_scores

    failed = 0
    for f in args.files:
        try:
            scores = read_scores(f)
        except ScoreError as e:
            print(f"skipped: {e}", file=sys.stderr)
            failed += 1
            continue
        fmt = pathlib.Path(f).suffix.lower().lstrip(".")
        for i, s in enumerate(scores):
            row = {"file": str(f), "format": fmt, **({"tune": i + 1} if len(scores) > 1 else {}), **describe(s)}
            print(json.dumps(row, ensure_ascii=False))
    if failed:
        print(f"{failed} of {len(args.files)} files could not be read", file=sys.stderr)
    return 1 if failed else 0


def cmd_data_convert(args) -> int:
    from musicjax.data.io import read_scores, write_score

    scores = read_scores(args.input)
    if args.tune < 1 or args.tune > len(scores):
        raise CliError(f"{args.input}: has {len(scores)} tune(s); --tune {args.tune} is out of range")
    write_score(scores[args.tune - 1], args.output)
    print(f"wrote {args.output}")
    return 0


def cmd_data_render(args) -> int:
    import io

    import soundfile

    from musicjax.data.audio import synthesize
    from musicjax.data.files import atomic_write
    from musicjax.data.io import read_scores
    from musicjax.evaluate.plots import pianoroll_png

    formats = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
               ".aiff": ("AIFF", "PCM_16"), ".aif": ("AIFF", "PCM_16")}  # soundfile (libsndfile) formats
    out = pathlib.Path(args.out)
    if out.suffix.lower() not in formats:
        raise CliError(f"{out}: cannot write {out.suffix or 'a file without an extension'!r} audio "
                       f"(writable: {', '.join(formats)})")
    if args.sample_rate < 1:
        raise CliError(f"--sample-rate must be a positive number of samples per second, got {args.sample_rate}")
    scores = read_scores(args.file)
    if args.tune < 1 or args.tune > len(scores):
        raise CliError(f"{args.file}: has {len(scores)} tune(s); --tune {args.tune} is out of range")
    score = scores[args.tune - 1]
    audio = synthesize(score, args.sample_rate, args.method)
    buf = io.BytesIO()
    soundfile.write(buf, audio, args.sample_rate, format=formats[out.suffix.lower()][0],
                    subtype=formats[out.suffix.lower()][1])
    atomic_write(out, lambda f: f.write(buf.getvalue()))
    print(f"wrote {out}")
    png = pathlib.Path(args.png) if args.png else out.with_suffix(".png")
    pianoroll_png(score, png)
    print(f"wrote {png}")
    return 0


def cmd_data_ingest(args) -> int:
    from concurrent.futures.process import BrokenProcessPool

    from musicjax.data import ingest

    try:
        rep = ingest.ingest(args.folder, args.name, workers=args.workers)
    except ValueError as e:
        raise CliError(str(e)) from None
    except BrokenProcessPool:
        raise CliError(f"{args.name}: a parse worker died (killed by the system: out of memory?); "
                       "what finished is kept; run the ingest again") from None
    print(json.dumps({k: v for k, v in rep.items() if k not in ("errors", "duplicate_list")}, ensure_ascii=False))
    return 0


# ---- train / sample / evaluate ----------------------------------------------------------------


def _workdir_config(workdir):
    from musicjax.train.loop import read_config

    try:
        return read_config(workdir)
    except FileNotFoundError as e:
        raise CliError(str(e)) from None


def _task(config):
    from musicjax import tasks

    try:
        return tasks.make(config)
    except ValueError as e:
        raise CliError(str(e)) from None


def _fitted_family(config):
    """The module of a family fitted by its own `fit` (not the training loop), else None."""
    from musicjax import tasks

    try:
        m = tasks.module(config)
    except ValueError as e:
        raise CliError(str(e)) from None
    return m if hasattr(m, "fit") else None


def _with_settings(config, items):
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


def _restored(workdir, which: str = "best", settings=()):
    """(config, task, state, step) of a training workdir, its best (or latest) checkpoint, with
    evaluation `settings` (`--set` items, `_with_settings`) applied."""
    from musicjax.train.loop import restore_state

    config = _workdir_config(workdir)
    if settings:
        config = _with_settings(config, settings)
    task = _task(config)
    try:
        state, step = restore_state(task, config, workdir, which)
    except FileNotFoundError as e:
        raise CliError(str(e)) from None
    return config, task, state, step


def cmd_train(args) -> int:
    from musicjax.config import ConfigError, load_config
    from musicjax.train.loop import ConfigChanged, TrainingDiverged, train
    from musicjax.train.parallel import initialize_distributed

    initialize_distributed()
    try:
        config = load_config(args.config, args.set or ())
    except ConfigError as e:
        raise CliError(str(e)) from None
    fitted = _fitted_family(config)
    try:
        if fitted:  # fitted by its own inference (MCMC, SVI), not the gradient loop
            result = fitted.fit(config, args.workdir)
        else:
            result = train(_task(config), config, args.workdir, allow_config_change=args.allow_config_change)
    except TrainingDiverged as e:
        raise CliError(f"training stopped: {e}") from None
    except ConfigChanged as e:
        raise CliError(f"{e} (--allow-config-change)") from None
    print(json.dumps(result))
    return 0


def _write_music(score, stem: pathlib.Path, synth: str) -> None:
    from musicjax.data.audio import synthesize, write_wav
    from musicjax.data.io import write_score
    from musicjax.evaluate.plots import pianoroll_png

    write_score(score, stem.with_suffix(".mid"))
    write_wav(synthesize(score, method=synth), stem.with_suffix(".wav"))
    pianoroll_png(score, stem.with_suffix(".png"))


def cmd_sample(args) -> int:
    from musicjax.data.io import read_scores
    from musicjax.evaluate.music_stats import melody_stats

    if args.num < 1:
        raise CliError(f"--num must be at least 1, got {args.num}")
    if args.temperature is not None and not args.temperature >= 0:
        raise CliError(f"--temperature must be >= 0 (0: greedy: the most probable token), got {args.temperature}")
    if args.top_k is not None and args.top_k < 0:
        raise CliError(f"--top-k must be >= 0 (0: off), got {args.top_k}")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise CliError(f"--top-p must be in (0, 1] (1: off; near 0: only the most probable token), got {args.top_p}")
    if args.steps is not None and args.steps < 1:
        raise CliError(f"--steps must be at least 1, got {args.steps}")
    if args.primer_tune is not None and not args.primer:
        raise CliError("--primer-tune chooses a tune of the --primer file: give --primer too")
    workdir = pathlib.Path(args.workdir)
    if not (workdir / "config.json").exists() and (workdir / "run" / "config.json").exists():
        raise CliError(f"{workdir}: not a training workdir; the demo's training run is in {workdir / 'run'} "
                       f"(--workdir {workdir / 'run'})")
    fitted = _fitted_family(_workdir_config(args.workdir))
    if fitted:  # a text model: lines, written to one file
        return _write_lines(fitted.sample(args.workdir, args.num, args.seed), args.out)
    _, task, state, step = _restored(args.workdir)
    if task.extra.get("text_samples"):  # a text model trained by the loop (lyrics LM): primed with text
        if args.primer:
            raise CliError(f"{args.workdir}: a text model is primed with --primer-text TEXT, not a melody file")
        return _write_lines(task.sample(state, args.num, args.seed, temperature=args.temperature, top_k=args.top_k,
                                        top_p=args.top_p, primer=args.primer_text, steps=args.steps), args.out)
    if args.primer_text is not None:
        raise CliError(f"{args.workdir}: --primer-text is for text models (lyrics); give a melody with --primer")
    primer = None
    if args.primer:
        tunes, n = read_scores(args.primer), args.primer_tune or 1
        if n < 1 or n > len(tunes):
            raise CliError(f"{args.primer}: has {len(tunes)} tune(s); --primer-tune {n} is out of range")
        primer = tunes[n - 1]
        if len(tunes) > 1:
            title = f" ({primer.meta.title})" if primer.meta.title else ""
            print(f"primer: tune {n} of {len(tunes)} in {args.primer}{title} (--primer-tune N for another)",
                  file=sys.stderr)
    scores = task.sample(state, args.num, args.seed, temperature=args.temperature, top_k=args.top_k,
                         top_p=args.top_p, primer=primer, steps=args.steps)
    out = pathlib.Path(args.out)
    for i, score in enumerate(scores):
        stem = out / f"sample_{i + 1:02d}"
        _write_music(score, stem, args.synth)
        print(json.dumps({"file": str(stem.with_suffix(".mid")), "checkpoint_step": step, **melody_stats(score)}))
    return 0


def _write_lines(lines, out) -> int:
    """Sampled text lines printed and written to OUT/samples.txt."""
    from musicjax.data.files import atomic_write_text

    path = pathlib.Path(out) / "samples.txt"
    atomic_write_text(path, "\n".join(lines) + "\n")
    for line in lines:
        print(line)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_interpolate(args) -> int:
    from musicjax.data.io import read_score
    from musicjax.evaluate.plots import pianoroll_strip_png

    _, task, state, step = _restored(args.workdir)
    if "interpolate" not in task.extra:
        raise CliError(f"{args.workdir}: this model family has no latent space to interpolate in")
    if args.steps < 2:
        raise CliError(f"--steps must be at least 2 (the two endpoints), got {args.steps}")
    a, b = read_score(args.a), read_score(args.b)
    scores = task.extra["interpolate"](state, a, b, args.steps, args.mode)
    out = pathlib.Path(args.out)
    for i, score in enumerate(scores):
        _write_music(score, out / f"interp_{i + 1:02d}", args.synth)
    pianoroll_strip_png(scores, out / "interpolation.png")
    print(json.dumps({"files": [str(out / f"interp_{i + 1:02d}.mid") for i in range(len(scores))],
                      "strip": str(out / "interpolation.png"), "checkpoint_step": step, "mode": args.mode}))
    return 0


def cmd_lyrics(args) -> int:
    _, task, state, step = _restored(args.workdir)
    if "lyrics_files" not in task.extra:
        raise CliError(f"{args.workdir}: not a lyrics seq2seq run (model_family lyrics_seq2seq)")
    try:
        result = task.extra["lyrics_files"](state, args.melody, args.out, args.part, args.seed, args.beam,
                                            args.temperature)
    except ValueError as e:
        raise CliError(str(e)) from None
    print(json.dumps({"checkpoint_step": step, **result}, ensure_ascii=False))
    return 0


def cmd_evaluate(args) -> int:
    from musicjax.data.files import atomic_write_text

    if args.idyom:
        return _evaluate_idyom(args)
    if not args.workdir:
        raise CliError("evaluate needs --workdir (a training run) or --idyom CONFIG")
    if args.ensemble or args.transpose:
        return _evaluate_ensemble(args)
    fitted = _fitted_family(_workdir_config(args.workdir))
    if fitted:
        if args.set:
            raise CliError(f"{args.workdir}: --set does not apply to a fitted {fitted.__name__.split('.')[-1]} run")
        result = fitted.report(args.workdir, args.split)
    else:
        _, task, state, step = _restored(args.workdir, args.checkpoint, args.set or ())
        report = task.full_report(state, args.split)
        result = {"checkpoint_step": step, "checkpoint": args.checkpoint, **report}
        write_outputs = task.extra.get("write_outputs")  # a family's pictures, audio and tables of this split
        if write_outputs:
            result["written"] = write_outputs(state, args.workdir, split=args.split, evaluation=report)
    atomic_write_text(pathlib.Path(args.workdir) / f"eval_{args.split}.json", json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


def _evaluate_ensemble(args) -> int:
    """--workdir A --ensemble B [--ensemble C ...] [--transpose K]: each run's NLL and their equal
    mixture's on one split (runs of one family whose task gives `unit_log_probs`), with --transpose
    each run also scored on the split moved by every shift in -K..K and those mixed in, written to
    A/ensemble_SPLIT.json."""
    import numpy as np

    from musicjax.data.files import atomic_write_text
    from musicjax.evaluate.ensemble import report

    if args.set:
        raise CliError("--set does not apply to an ensemble (each member is evaluated as it was trained)")
    if args.transpose < 0:
        raise CliError(f"--transpose must be 0 or more, got {args.transpose}")
    shifts = list(range(-args.transpose, args.transpose + 1))
    workdirs = [args.workdir, *(args.ensemble or ())]
    members, names, family = [], [], None
    for w in workdirs:
        config, task, state, step = _restored(w, args.checkpoint)
        if family not in (None, config.model_family):
            raise CliError(f"{w}: a {config.model_family} run cannot join an ensemble of {family} runs")
        family = config.model_family
        log_probs = task.extra.get("unit_log_probs")
        if log_probs is None:
            raise CliError(f"{w}: the {family} family does not score units for an ensemble")
        try:
            members.append(np.stack([log_probs(state, args.split, transpose=s) for s in shifts]))
        except ValueError as e:
            raise CliError(f"{w}: {e}") from None
        names.append(f"{w} (step {step})")
    try:
        result = {"family": family, "split": args.split, "checkpoint": args.checkpoint,
                  **report(members, names, shifts)}
    except ValueError as e:
        raise CliError(f"{args.split}: {e}") from None
    atomic_write_text(pathlib.Path(args.workdir) / f"ensemble_{args.split}.json", json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


def _evaluate_idyom(args) -> int:
    from musicjax.config import ConfigError, load_config
    from musicjax.data.files import atomic_write_text
    from musicjax.evaluate.idyom import markdown_table, run_experiment

    try:
        config = load_config(args.idyom, args.set or (), training=False)
    except ConfigError as e:
        raise CliError(str(e)) from None
    if "dataset" not in config or "model_family" in config:
        raise CliError(f"{args.idyom}: not an IDyOM benchmark config (such as experiments/idyom.py:kinder)"
                       + (f"; a training config: musicjax train {args.idyom} --workdir DIR"
                          if "model_family" in config else ""))
    result = run_experiment(config)
    table = markdown_table(result)
    out = pathlib.Path(args.out or ".")
    atomic_write_text(out / f"idyom_{config.dataset}.json", json.dumps(result, indent=1))
    atomic_write_text(out / f"idyom_{config.dataset}.md", table + "\n")
    print(table)
    return 0


# ---- bench -------------------------------------------------------------------------------------


def cmd_bench(args) -> int:
    """Run a registered benchmark: a .py file directly in benchmarks/ whose stem is a plain
    identifier and which defines a top-level `main` (shared helpers such as common.py do not),
    named by that stem; never a path it is handed ("../x", "a/b", "x.py")."""
    import importlib.util
    import re

    root = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
    known = {p.stem: p for p in sorted(root.glob("*.py")) if root.is_dir()
             and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", p.stem)
             and re.search(r"^def main\(", p.read_text(encoding="utf-8", errors="replace"), re.M)}
    if args.name not in known:
        raise CliError(f"no benchmark {args.name!r} (known: {', '.join(known) or 'none; run from a checkout'})")
    path = known[args.name]
    spec = importlib.util.spec_from_file_location(f"musicjax_bench_{args.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(args.rest)
    return 0


# ---- demo --------------------------------------------------------------------------------------


def cmd_demo(args) -> int:
    from musicjax.demo import run_demo
    from musicjax.train.loop import ConfigChanged

    try:
        run_demo(pathlib.Path(args.out), quick=args.quick)
    except ConfigChanged as e:  # a run left by an older demo: a different config
        raise CliError(f"{e}; the demo keeps its run in {pathlib.Path(args.out) / 'run'}: "
                       "give the demo a new --out, or remove that folder") from None
    return 0


# ---- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="musicjax", description="Music and lyrics generation in JAX.")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    synth_help = "audio: FluidSynth with its General MIDI soundfont (auto: when installed), else a numpy synthesiser"
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="corpora and files: list, build, inspect, convert, render")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    c = dsub.add_parser("list", help="the built-in corpora, their sizes and whether each is built")
    c.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    c.set_defaults(func=cmd_data_list)
    c = dsub.add_parser("build", help="build corpora into $MUSICJAX_DATA (TFDS array_record)")
    c.add_argument("names", nargs="+", metavar="NAME", help="corpus names, or 'all'")
    c.set_defaults(func=cmd_data_build)
    c = dsub.add_parser("inspect", help="format, parts, notes, duration, key, meter, lyrics per file")
    c.add_argument("files", nargs="+", metavar="FILE",
                   help="music files: .mid .midi .kar .xml .musicxml .mxl .abc .krn")
    c.set_defaults(func=cmd_data_inspect)
    c = dsub.add_parser("convert", help="convert IN to OUT (.mid or .musicxml) by extension")
    c.add_argument("input", metavar="IN", help="a music file (.mid .xml .musicxml .mxl .abc .krn)")
    c.add_argument("output", metavar="OUT",
                   help="the file to write: .mid or .musicxml (meter, key, tempo, title and lyrics are kept)")
    c.add_argument("--tune", type=int, default=1, help="which tune of an ABC book (from 1)")
    c.set_defaults(func=cmd_data_convert)
    c = dsub.add_parser("render", help="render a file to audio (WAV, FLAC, OGG, AIFF) and a piano-roll PNG")
    c.add_argument("file", metavar="FILE", help="a music file (.mid .xml .musicxml .mxl .abc .krn)")
    c.add_argument("--out", required=True,
                   help="the audio file to write; its format by extension: .wav .flac .ogg .aiff")
    c.add_argument("--png", help="the piano-roll .png (default: beside the audio file)")
    c.add_argument("--tune", type=int, default=1, help="which tune of an ABC book (from 1)")
    c.add_argument("--method", choices=("auto", "fluidsynth", "numpy"), default="auto", help=synth_help)
    c.add_argument("--sample-rate", type=int, default=22050, help="samples per second of the audio (default 22050)")
    c.set_defaults(func=cmd_data_render)
    c = dsub.add_parser("ingest", help="your own folder of music files as a corpus (new files only on a rerun)")
    c.add_argument("folder", metavar="DIR", help="every .mid .midi .kar .xml .musicxml .mxl .abc .krn under it")
    c.add_argument("--name", required=True, help="the corpus name, for data.sources and data list")
    c.add_argument("--workers", type=int, help="parse processes (default: one per core)")
    c.set_defaults(func=cmd_data_ingest)

    c = sub.add_parser("train", help="train an experiment; the same command on the same workdir resumes")
    c.add_argument("config", metavar="CONFIG[:VARIANT]", help="e.g. experiments/melody_lstm.py:tiny")
    c.add_argument("--workdir", required=True, help="the run's directory: config, checkpoints, logs (created if new)")
    c.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)")
    c.add_argument("--allow-config-change", action="store_true",
                   help="resume a workdir under a config that differs from its config.json")
    c.set_defaults(func=cmd_train)

    c = sub.add_parser("sample", help="sample from a trained workdir: MIDI, WAV and PNG per sample "
                                      "(text models: samples.txt)")
    c.add_argument("--workdir", required=True, help="a training run's directory (the demo's is demo_out/run)")
    c.add_argument("--num", type=int, default=4, help="how many samples (default 4)")
    c.add_argument("--out", required=True, help="directory for the samples' MIDI, WAV and PNG files")
    c.add_argument("--temperature", type=float, help="softmax temperature, >= 0 (0: greedy; default: the config's)")
    c.add_argument("--top-k", type=int,
                   help="sample among the k most probable tokens, >= 0 (0: off; default: the config's)")
    c.add_argument("--top-p", type=float, help="nucleus sampling: among the most probable tokens holding this "
                                               "much probability, in (0, 1] (1: off; default: the config's)")
    c.add_argument("--primer", metavar="FILE", help="a melody file whose notes start every sample")
    c.add_argument("--primer-tune", type=int, metavar="N", help="which tune of a --primer ABC book (from 1; default 1)")
    c.add_argument("--primer-text", metavar="TEXT", help="text models (lyrics LM): the start of every sampled line")
    c.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same samples")
    c.add_argument("--steps", type=int, help="tokens to sample (default: the config's)")
    c.add_argument("--synth", choices=("auto", "fluidsynth", "numpy"), default="auto", help=synth_help)
    c.set_defaults(func=cmd_sample)

    c = sub.add_parser("interpolate", help="decode points between the latent codes of two melodies (VAE workdirs)")
    c.add_argument("a", metavar="A", help="first melody file")
    c.add_argument("b", metavar="B", help="second melody file")
    c.add_argument("--workdir", required=True, help="a trained MusicVAE run's directory")
    c.add_argument("--steps", type=int, default=7, help="points decoded, the two endpoints included")
    c.add_argument("--mode", choices=("slerp", "lerp"), default="slerp", help="spherical or linear interpolation")
    c.add_argument("--out", required=True, help="directory for MIDI, WAV and the PNG strip")
    c.add_argument("--synth", choices=("auto", "fluidsynth", "numpy"), default="auto", help=synth_help)
    c.set_defaults(func=cmd_interpolate)

    c = sub.add_parser("lyrics", help="set generated lyrics under a melody (a melody_lyrics seq2seq run): "
                                      "MIDI with lyric events, MusicXML, attention PNG")
    c.add_argument("--workdir", required=True, help="a trained lyrics_seq2seq melody_lyrics run's directory")
    c.add_argument("--melody", required=True, metavar="FILE", help="a music file (.mid .xml .musicxml .mxl .abc .krn)")
    c.add_argument("--out", required=True, help="output stem: writes OUT.mid, OUT.musicxml, OUT.attention.png")
    c.add_argument("--part", type=int, default=0, help="which part carries the melody (from 0; default 0)")
    c.add_argument("--beam", type=int, help="beam width (default: the run's eval.beam_size)")
    c.add_argument("--temperature", type=float, help="> 0: sample at this temperature instead of beam search")
    c.add_argument("--seed", type=int, default=0, help="random seed of sampling")
    c.set_defaults(func=cmd_lyrics)

    c = sub.add_parser("evaluate", help="a run's NLL, bits per note, accuracy with unigram/bigram baselines "
                                        "(JSON); or Pearce's melody benchmark with --idyom")
    c.add_argument("--workdir", help="a training run's directory; writes eval_SPLIT.json there")
    c.add_argument("--split", default="test", choices=("train", "valid", "test"),
                   help="which split to score (default test)")
    c.add_argument("--checkpoint", default="best", choices=("best", "latest"),
                   help="best (by the family's best metric, the default) or the latest checkpoint")
    c.add_argument("--idyom", metavar="CONFIG[:VARIANT]",
                   help="e.g. experiments/idyom.py:kinder: 10-fold PPM and LSTM, tens of minutes "
                        "(:kinder_quick: the LSTM on one fold, about a minute)")
    c.add_argument("--out", help="with --idyom: directory for the JSON and Markdown table")
    c.add_argument("--ensemble", action="append", metavar="WORKDIR",
                   help="another run of the same family (repeatable): score --workdir's and these runs' "
                        "equal mixture (chorale_frames); writes ensemble_SPLIT.json in --workdir")
    c.add_argument("--transpose", type=int, default=0, metavar="K",
                   help="also score each run on the split moved by every shift in -K..K semitones (its "
                        "tonic told to a model that takes one) and mix those in: a transposition "
                        "ensemble (chorale_frames); writes ensemble_SPLIT.json")
    c.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config field (repeatable); with --workdir eval.* and sample.* only, "
                        "e.g. eval.classifier_count=5")
    c.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("bench", help="run a benchmark from benchmarks/ (prints JSON)")
    c.add_argument("name", help="e.g. lstm_lm")
    c.add_argument("rest", nargs=argparse.REMAINDER, help="its own options, e.g. --quick")
    c.set_defaults(func=cmd_bench)

    c = sub.add_parser("demo", help="the main job: build the data, train the melody LSTM for a few minutes, "
                                    "evaluate it, write samples")
    c.add_argument("--out", default="demo_out", help="directory for everything the demo writes")
    c.add_argument("--quick", action="store_true", help="a seconds-long version (for tests)")
    c.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    """The CLI's one error boundary: every failure becomes one line (with `--debug`, the traceback)."""
    keep_freed_memory()  # before the first JAX array: see musicjax/allocator.py
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("musicjax: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        if isinstance(e, (ScoreError, CliError)):
            print(f"musicjax: error: {e}", file=sys.stderr)
        else:  # an unforeseen failure: still one line, naming what failed, and how to see more
            text = " ".join(str(e).split()) or "(no message)"
            print(f"musicjax: error: {type(e).__name__}: {text[:500]} (run with --debug for the traceback)",
                  file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
