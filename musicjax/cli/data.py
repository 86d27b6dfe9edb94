"""`musicjax data ...`: the built-in corpora (list, build), a researcher's own folder (ingest) and
single files (inspect, convert, render)."""

from __future__ import annotations

import json
import pathlib
import sys

from musicjax.cli.common import SYNTH_HELP, CliError
from musicjax.data.score import ScoreError


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


def add_parser(sub) -> None:
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
    c.add_argument("--method", choices=("auto", "fluidsynth", "numpy"), default="auto", help=SYNTH_HELP)
    c.add_argument("--sample-rate", type=int, default=22050, help="samples per second of the audio (default 22050)")
    c.set_defaults(func=cmd_data_render)
    c = dsub.add_parser("ingest", help="your own folder of music files as a corpus (new files only on a rerun)")
    c.add_argument("folder", metavar="DIR", help="every .mid .midi .kar .xml .musicxml .mxl .abc .krn under it")
    c.add_argument("--name", required=True, help="the corpus name, for data.sources and data list")
    c.add_argument("--workers", type=int, help="parse processes (default: one per core)")
    c.set_defaults(func=cmd_data_ingest)

