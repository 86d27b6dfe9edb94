"""`musicjax train | sample | interpolate | lyrics | demo`: training runs and what is drawn from them."""

from __future__ import annotations

import json
import pathlib
import sys

from musicjax.cli.common import (SYNTH_HELP, CliError, fitted_family, make_task, restored, workdir_config,
                                 write_lines, write_music)


def cmd_train(args) -> int:
    from musicjax.config import ConfigError, load_config
    from musicjax.train.loop import ConfigChanged, TrainingDiverged, train
    from musicjax.train.parallel import initialize_distributed

    initialize_distributed()
    try:
        config = load_config(args.config, args.set or ())
    except ConfigError as e:
        raise CliError(str(e)) from None
    fitted = fitted_family(config)
    try:
        if fitted:  # fitted by its own inference (MCMC, SVI), not the gradient loop
            result = fitted.fit(config, args.workdir)
        else:
            result = train(make_task(config), config, args.workdir, allow_config_change=args.allow_config_change)
    except TrainingDiverged as e:
        raise CliError(f"training stopped: {e}") from None
    except ConfigChanged as e:
        raise CliError(f"{e} (--allow-config-change)") from None
    print(json.dumps(result))
    return 0


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
    fitted = fitted_family(workdir_config(args.workdir))
    if fitted:  # a text model: lines, written to one file
        return write_lines(fitted.sample(args.workdir, args.num, args.seed), args.out)
    _, task, state, step = restored(args.workdir)
    if task.extra.get("text_samples"):  # a text model trained by the loop (lyrics LM): primed with text
        if args.primer:
            raise CliError(f"{args.workdir}: a text model is primed with --primer-text TEXT, not a melody file")
        return write_lines(task.sample(state, args.num, args.seed, temperature=args.temperature, top_k=args.top_k,
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
        write_music(score, stem, args.synth)
        print(json.dumps({"file": str(stem.with_suffix(".mid")), "checkpoint_step": step, **melody_stats(score)}))
    return 0


def cmd_interpolate(args) -> int:
    from musicjax.data.io import read_score
    from musicjax.evaluate.plots import pianoroll_strip_png

    _, task, state, step = restored(args.workdir)
    if "interpolate" not in task.extra:
        raise CliError(f"{args.workdir}: this model family has no latent space to interpolate in")
    if args.steps < 2:
        raise CliError(f"--steps must be at least 2 (the two endpoints), got {args.steps}")
    a, b = read_score(args.a), read_score(args.b)
    scores = task.extra["interpolate"](state, a, b, args.steps, args.mode)
    out = pathlib.Path(args.out)
    for i, score in enumerate(scores):
        write_music(score, out / f"interp_{i + 1:02d}", args.synth)
    pianoroll_strip_png(scores, out / "interpolation.png")
    print(json.dumps({"files": [str(out / f"interp_{i + 1:02d}.mid") for i in range(len(scores))],
                      "strip": str(out / "interpolation.png"), "checkpoint_step": step, "mode": args.mode}))
    return 0


def cmd_lyrics(args) -> int:
    _, task, state, step = restored(args.workdir)
    if "lyrics_files" not in task.extra:
        raise CliError(f"{args.workdir}: not a lyrics seq2seq run (model_family lyrics_seq2seq)")
    try:
        result = task.extra["lyrics_files"](state, args.melody, args.out, args.part, args.seed, args.beam,
                                            args.temperature)
    except ValueError as e:
        raise CliError(str(e)) from None
    print(json.dumps({"checkpoint_step": step, **result}, ensure_ascii=False))
    return 0


def cmd_demo(args) -> int:
    from musicjax.demo import run_demo
    from musicjax.train.loop import ConfigChanged

    try:
        run_demo(pathlib.Path(args.out), quick=args.quick)
    except ConfigChanged as e:  # a run left by an older demo: a different config
        raise CliError(f"{e}; the demo keeps its run in {pathlib.Path(args.out) / 'run'}: "
                       "give the demo a new --out, or remove that folder") from None
    return 0


def add_parsers(sub) -> None:
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
    c.add_argument("--synth", choices=("auto", "fluidsynth", "numpy"), default="auto", help=SYNTH_HELP)
    c.set_defaults(func=cmd_sample)

    c = sub.add_parser("interpolate", help="decode points between the latent codes of two melodies (VAE workdirs)")
    c.add_argument("a", metavar="A", help="first melody file")
    c.add_argument("b", metavar="B", help="second melody file")
    c.add_argument("--workdir", required=True, help="a trained MusicVAE run's directory")
    c.add_argument("--steps", type=int, default=7, help="points decoded, the two endpoints included")
    c.add_argument("--mode", choices=("slerp", "lerp"), default="slerp", help="spherical or linear interpolation")
    c.add_argument("--out", required=True, help="directory for MIDI, WAV and the PNG strip")
    c.add_argument("--synth", choices=("auto", "fluidsynth", "numpy"), default="auto", help=SYNTH_HELP)
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

    c = sub.add_parser("demo", help="the main job: build the data, train the melody LSTM for a few minutes, "
                                    "evaluate it, write samples")
    c.add_argument("--out", default="demo_out", help="directory for everything the demo writes")
    c.add_argument("--quick", action="store_true", help="a seconds-long version (for tests)")
    c.set_defaults(func=cmd_demo)
