"""`musicjax bench NAME`: a throughput benchmark from the checkout's benchmarks/ folder."""

from __future__ import annotations

import argparse
import pathlib

from musicjax.cli.common import CliError


def cmd_bench(args) -> int:
    """Run a registered benchmark: a .py file directly in benchmarks/ whose stem is a plain
    identifier and which defines a top-level `main` (shared helpers such as common.py do not),
    named by that stem; never a path it is handed ("../x", "a/b", "x.py")."""
    import importlib.util
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
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


def add_parser(sub) -> None:
    c = sub.add_parser("bench", help="run a benchmark from benchmarks/ (prints JSON)")
    c.add_argument("name", help="e.g. lstm_lm")
    c.add_argument("rest", nargs=argparse.REMAINDER, help="its own options, e.g. --quick")
    c.set_defaults(func=cmd_bench)

