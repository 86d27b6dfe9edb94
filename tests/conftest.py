"""Shared fixtures: one data directory for the whole session (the corpora are built once into
<repo>/.cache/test-data, or $MUSICJAX_TEST_DATA), and the music21 corpus path.

One XLA compilation cache serves the session, its xdist workers and the processes tests start:
many tests build the same tiny models, and a program compiled once is then read, not compiled
again (measured on the GAN task tests: 148 s -> 123 s on the first, empty-cache run). It lives in
a temporary folder named for this run (set here, in the first process, before any worker or
subprocess is started: they inherit it) and is removed when the run ends, so every run starts as
CI does, empty.

XLA compiles at backend optimisation level 0 here (unless XLA_FLAGS already names a level): the
suite's tiny models spend most of their time compiling, and level 0 took 28% off the Transformer,
fused-LSTM and seq2seq tests (193 s -> 139 s) with the same results; benchmarks and runs keep
XLA's default."""

import os
import pathlib
import shutil
import tempfile
import uuid

import pytest

from musicjax.allocator import keep_freed_memory

keep_freed_memory()  # as the CLI does, before the first JAX array of this process or a worker

REPO = pathlib.Path(__file__).resolve().parents[1]
os.environ["MUSICJAX_DATA"] = os.environ.get("MUSICJAX_TEST_DATA", str(REPO / ".cache" / "test-data"))
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["MUSICJAX_TEST_JAX_CACHE"] = os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(
        tempfile.gettempdir(), f"musicjax-test-xla-{uuid.uuid4().hex[:12]}")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()


def pytest_sessionfinish(session, exitstatus):
    if not hasattr(session.config, "workerinput") and os.environ.get("MUSICJAX_TEST_JAX_CACHE"):
        shutil.rmtree(os.environ["MUSICJAX_TEST_JAX_CACHE"], ignore_errors=True)


@pytest.fixture(scope="session")
def corpus_dir() -> pathlib.Path:
    from musicjax.data.corpora import music21_corpus_dir

    return music21_corpus_dir()


@pytest.fixture(scope="session")
def chorales():
    """Every chorale of the built corpus, all splits (built on first use)."""
    from musicjax.data.datasets import load_scores

    return [s for split in ("train", "valid", "test") for s in load_scores("bach_chorales", split)]


@pytest.fixture(scope="session")
def essen_sample():
    """Every 20th Essen tune of the test split, and all of the Chinese ones in it."""
    from musicjax.data.datasets import load_scores

    test = load_scores("essen", "test")
    return [s for i, s in enumerate(test) if i % 20 == 0 or s.meta.collection.startswith("han")]


@pytest.fixture(scope="session")
def train_run(tmp_path_factory):
    """train_run(spec, overrides, name) -> (config, task, workdir): an experiment config trained by
    the one loop into a fresh folder (quietly), for a module's `trained` fixture."""
    from musicjax.config import load_config
    from musicjax.tasks import make
    from musicjax.train.loop import train

    def run(spec: str, overrides=(), name: str = "run"):
        config = load_config(spec, list(overrides))
        task = make(config)
        workdir = tmp_path_factory.mktemp(name)
        train(task, config, workdir, quiet=True)
        return config, task, workdir

    return run

