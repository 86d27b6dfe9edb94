"""Pieces every benchmark shares: interleaved median timing, the machine's peak matmul rate, the
environment record, and running a side that this CPU may not support (marked, not fatal)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp

from musicjax.allocator import keep_freed_memory

# Both sides of every benchmark run under the allocator setting the CLI gives a run (applied before
# the first JAX array; MUSICJAX_MALLOC=system keeps glibc's defaults, for comparison).
MALLOC = keep_freed_memory()


def interleaved(fns: dict, warmup: int, steps: int, settle: int = 0) -> dict:
    """Median seconds per call of each function, calls alternating between them so every side
    sees the same machine state. With `settle` > 0 each turn first makes that many untimed calls:
    after a PyTorch call its OpenMP threads keep spinning for a while, and a call of a few ms that
    starts then runs on contended cores (one fused LSTM layer's forward, 6.6 ms alone, took 11-12.7
    ms right after `nn.LSTM`'s on the 2-core AMD EPYC Zen 5, 2026-12-07; an 85 ms MusicVAE step
    moved by less than the noise)."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    times = {k: [] for k in fns}
    for _ in range(steps):
        for k, f in fns.items():
            for _ in range(settle):
                f()
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def add_settle_argument(parser, default: int = 0, why: str = "") -> None:
    """The `--settle N` option of a benchmark's parser (untimed calls before each timed one: see
    `interleaved`)."""
    parser.add_argument("--settle", type=int, default=default,
                        help=f"untimed calls of a side before each timed one (default {default}{why}; "
                             "see common.interleaved)")


def peak_matmul_gflops(n: int = 2048, reps: int = 10) -> float:
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f(a).block_until_ready()
        times.append(time.perf_counter() - t)
    return 2 * n**3 / min(times) / 1e9


def environment() -> dict:
    import torch

    return {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "avx512": _has_flag("avx512f"), "avx512_bf16": _has_flag("avx512_bf16"),
            "jax": jax.__version__, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "malloc": MALLOC,
            **{k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MALLOC_ARENA_MAX",
                                              "OPENBLAS_CORETYPE", "XLA_FLAGS") if os.environ.get(k)}}


def _has_flag(flag: str) -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return any(flag in line.split() for line in f if line.startswith("flags"))
    except OSError:
        return False


def supported(make_side, *args):
    """(side, None) when building the side and one call of it work on this CPU, else (None, the
    reason): e.g. PyTorch's bfloat16 LSTM needs AVX-512 and fails without it."""
    try:
        side = make_side(*args)
        (side[0] if isinstance(side, tuple) else side)()
        return side, None
    except Exception as e:  # any failure of a framework's kernel on this CPU: report it, go on
        return None, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"


def emit(label: str, row) -> None:
    """Print one result as soon as it is measured (a later failure loses nothing)."""
    print(json.dumps({label: row}), file=sys.stderr, flush=True)


def require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SystemExit("this benchmark needs PyTorch: bash scripts/setup.sh test,bench") from None


def side_by_side(label: str, jax_built, torch_built, steps: int, items_per_step: int, unit: str,
                 sizes: dict, unsupported: dict, warmup: int = 3) -> dict:
    """One row of a train-step benchmark: each side as `supported` returned it ((run, None) or
    (None, reason)), timed interleaved; {'sizes', '<side>_step_s', '<side>_<unit>_per_s',
    'ratio_jax_over_torch'} (the ratio where both sides ran). A side this CPU cannot run is named
    in `unsupported` under '<label>_<side>'. The row is printed as soon as it is measured."""
    fns = {}
    for side, (run, why) in (("jax", jax_built), ("torch", torch_built)):
        if why:
            unsupported[f"{label}_{side}"] = why
        else:
            fns[side] = run
    med = interleaved(fns, warmup=warmup, steps=steps) if fns else {}
    row = {"sizes": sizes, **{f"{k}_step_s": round(v, 4) for k, v in med.items()},
           **{f"{k}_{unit}_per_s": round(items_per_step / v) for k, v in med.items()}}
    if len(med) == 2:
        row["ratio_jax_over_torch"] = round(med["torch"] / med["jax"], 3)
    emit(label, row)
    return row


def torch_train_step(model, opt, loss, clip_norm: float = 0.0, precision: str = "float32"):
    """The PyTorch twin's timed step as a function: zero the gradients, `loss()` (the forward and the
    loss, under bfloat16 autocast when `precision` asks for it), backward, optional global-norm
    clipping, the optimizer step; returns the loss as a float (a host sync, as the JAX side's)."""
    import torch

    def run():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            value = loss()
        value.backward()
        if clip_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        opt.step()
        return float(value.detach())

    return run


def train_main(benchmark: str, description: str, labels, make_row, argv=None, quick_help: str = "") -> dict:
    """The main of a train-step benchmark with one row per label: `--quick` (the first label, 5
    timed steps) or `--steps N` (default 20); `make_row(label, steps, unsupported) -> row`. Prints
    the JSON object and returns it."""
    import argparse

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help=f"fewer timed steps (5), {quick_help or labels[0]} only")
    p.add_argument("--steps", type=int, default=None, help="timed steps per side (default 20; --quick 5)")
    args = p.parse_args(argv)
    require_torch()
    steps = args.steps or (5 if args.quick else 20)
    result = {"benchmark": benchmark, "environment": environment(), "timed_steps": steps, "train": {},
              "unsupported": {}}
    for label in labels[:1] if args.quick else labels:
        result["train"][label] = make_row(label, steps, result["unsupported"])
    print(json.dumps(result, indent=1))
    return result

