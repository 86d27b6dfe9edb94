"""The host allocator setting (musicjax/allocator.py): applied on glibc, skipped on request, and it
does what it is for: a large buffer freed and asked for again comes back without page faults."""

import os
import subprocess
import sys

import pytest

from musicjax.allocator import keep_freed_memory

# Twenty 64 MB arrays, each filled and freed; prints the minor page faults they cost.
FAULTS = """
import resource, sys
import numpy as np
from musicjax.allocator import keep_freed_memory
print(keep_freed_memory())
np.ones(8 << 20)  # the first one may fault in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    np.ones(8 << 20).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(env_value: str) -> tuple[str, int]:
    env = {**os.environ, "MUSICJAX_MALLOC": env_value}
    out = subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, check=True).stdout
    state, faults = out.split()
    return state, int(faults)


glibc = pytest.mark.skipif(keep_freed_memory() != "kept", reason="needs glibc, and MUSICJAX_MALLOC unset")


def test_system_is_left_alone_on_request(monkeypatch):
    monkeypatch.setenv("MUSICJAX_MALLOC", "system")
    assert keep_freed_memory() == "system"


@glibc
def test_freed_memory_is_reused_without_page_faults():
    kept_state, kept = _faults("")
    system_state, system = _faults("system")
    assert (kept_state, system_state) == ("kept", "system")
    # glibc's default maps each 64 MB array afresh (above its largest mmap threshold, 32 MiB), so
    # each of the 20 faults its pages in again (10,881 faults here; fewer with huge pages); kept: 1
    assert system >= 20, system
    assert kept < system / 10, (kept, system)
