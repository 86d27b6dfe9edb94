"""The host allocator setting that XLA on CPU runs fastest under, applied at the process boundary
(the CLI, the test session, a benchmark run) before JAX starts its backend.

Why. XLA's CPU runtime mallocs each step's temporaries afresh: for a Transformer train step that
is tens of [B, H, T, T] buffers of ~33 MB. glibc serves a request above its mmap threshold (at most
32 MiB) with a fresh mmap and gives it back on free, and serves XLA's worker threads from per-thread
arenas whose heaps it also returns, so every step page-faults (and the kernel zeroes) its
temporaries in again. On the 2-core VMs this project runs on, that was most of the cost of
memory-bound work: `x + 1` on a 33 MB array took 19 ms, 2.2 ms with the memory kept; the
attention logits `einsum('bhid,bhjd->bhij')` of the benchmark's sizes 38 ms, 9 ms; the Transformer
benchmark's whole train step ~1.7 s, ~1.2 s (a process timing three variants of that step,
27 steps and their compilations: 4.5 M minor page faults, 0.6-0.8 M kept).

What. One arena (M_ARENA_MAX 1), no mmap'd chunks (M_MMAP_MAX 0) and no trimming of the heap's
top (M_TRIM_THRESHOLD at its largest): freed memory stays in the process and the next step reuses
it. The cost is that the resident size stays at its high-water mark (the benchmark step: 2.3 GB
against 1.7 GB) and that every thread shares one arena's lock (small blocks still come from each
thread's cache). Arenas already made stay, so this must run before the first JAX array; set
MUSICJAX_MALLOC=system to leave glibc's defaults. Other C libraries (musl, macOS) are left alone."""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8  # glibc's malloc.h
SETTINGS = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1))


def keep_freed_memory() -> str:
    """Apply the setting above if this process runs on glibc; returns what the process runs under:
    'kept' (applied now or before), 'system' (MUSICJAX_MALLOC=system, or not glibc)."""
    if os.environ.get("MUSICJAX_MALLOC", "").lower() == "system" or not sys.platform.startswith("linux"):
        return "system"
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - glibc's own symbol: AttributeError off glibc
    except (OSError, AttributeError):
        return "system"
    ok = all(libc.mallopt(option, value) == 1 for option, value in SETTINGS)
    return "kept" if ok else "system"
