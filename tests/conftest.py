"""Shared fixtures: one data directory for the whole session (the corpora are built once into
<repo>/.cache/test-data, or $MUSICJAX_TEST_DATA), and the music21 corpus path."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
os.environ["MUSICJAX_DATA"] = os.environ.get("MUSICJAX_TEST_DATA", str(REPO / ".cache" / "test-data"))


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
