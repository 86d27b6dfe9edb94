"""`musicjax` command line: thin wrappers that call the stages, one module per command group (data,
runs, evaluate, bench). Errors about input files print on one line (file: reason) and exit
non-zero; batch commands report, skip and count bad files."""

from __future__ import annotations

import argparse
import sys

from musicjax.allocator import keep_freed_memory
from musicjax.cli import bench, data, evaluate, runs
from musicjax.cli.common import CliError
from musicjax.data.score import ScoreError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="musicjax", description="Music and lyrics generation in JAX.")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data.add_parser(sub)
    runs.add_parsers(sub)
    evaluate.add_parser(sub)
    bench.add_parser(sub)
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
