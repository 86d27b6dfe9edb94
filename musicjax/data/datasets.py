"""The corpora as TFDS datasets in array_record format (no TensorFlow), built once into
`MUSICJAX_DATA/tfds` and read back as random-access sources for grain.

A build holds a lock (`MUSICJAX_DATA/tfds/<name>.lock`): a second build of the same corpus waits
for it and then finds the corpus built. What a killed build left (tfds's `incomplete.*` folders)
is removed by the next build, under the lock."""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import json
import logging
import shutil
import sys
import time

import tensorflow_datasets as tfds
from tensorflow_datasets.core.utils import tqdm_utils

from musicjax.data import corpora
from musicjax.data.files import atomic_write_text, data_dir, exclusive_lock
from musicjax.data.records import record_to_score, score_to_record, tfds_features
from musicjax.data.score import Score


# The score record format (records.py): 1.1.0 added time and key signature maps and text events;
# 1.2.0 the pickup (`Score.pickup_q`).
RECORD_VERSION = tfds.core.Version("1.2.0")


def tfds_dir():
    return data_dir() / "tfds"


class _LocalDatasetInfo(tfds.core.DatasetInfo):
    """DatasetInfo of a corpus built here. tfds looks up every unbuilt dataset's info on GCS, and
    before looking it makes an empty `tmp…tfds` folder in the system temp dir that it never
    removes (one per builder made: `musicjax data list` left several each run). Nothing of ours is
    on GCS, so there is nothing to look up."""

    def initialize_from_bucket(self) -> None:
        pass


@contextlib.contextmanager
def _tfds_quiet():
    """No absl warnings about the variant folder a build has not written yet ("has no
    dataset_info.json"), and no tfds bars for writing and shuffling the splits (seconds; the parse
    bar shows what takes the time). Both restored after."""
    absl = logging.getLogger("absl")
    level, bars = absl.level, tqdm_utils._active
    absl.setLevel(logging.ERROR)
    tfds.display_progress_bar(False)
    try:
        yield
    finally:
        absl.setLevel(level)
        tfds.display_progress_bar(bars)


class _LocalBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A builder of data made here (the built-in corpora, lyric texts, ingested collections),
    checked and prepared quietly (`_tfds_quiet`), wherever that is called from. tfds's download
    messages ("Downloading and preparing dataset Unknown size (download: Unknown size, …)",
    "downloaded and prepared to …") would say that something is downloaded, and nothing is; the
    build prints its own counts instead."""

    def is_prepared(self) -> bool:
        with _tfds_quiet():
            return super().is_prepared()

    def download_and_prepare(self, *args, **kwargs):
        with _tfds_quiet():
            return super().download_and_prepare(*args, **kwargs)

    def _log_download_bytes(self) -> None:
        pass

    def _log_download_done(self) -> None:
        pass


class _ScoreCorpus(_LocalBuilder):
    """A score corpus split 80/10/10 by melody fingerprint."""

    VERSION = RECORD_VERSION
    CORPUS = ""

    def _info(self):
        return _LocalDatasetInfo(builder=self, description=corpora.CORPORA[self.CORPUS].description,
                                 features=tfds_features())

    def _split_generators(self, dl_manager):
        start = time.time()
        bar = _progress(f"parsing {self.CORPUS}", len(corpora.CORPORA[self.CORPUS].tasks()))
        try:
            scores, errors = corpora.load_corpus(self.CORPUS, progress=bar.update)
        finally:
            bar.close()  # also when interrupted: the next line starts clean
        by_split = collections.defaultdict(list)
        for s in scores:
            by_split[corpora.split_of(corpora.melody_fingerprint(s))].append(s)
        _write_build_report(self.name, scores, errors, by_split, time.time() - start)
        return {split: self._generate_examples(by_split[split]) for split in corpora.SPLITS}

    def _generate_examples(self, scores: list[Score]):
        for s in scores:
            yield s.meta.source_id, score_to_record(s)


class BachChorales(_ScoreCorpus):
    CORPUS = "bach_chorales"


class Essen(_ScoreCorpus):
    CORPUS = "essen"


class FolkAbc(_ScoreCorpus):
    CORPUS = "folk_abc"


class LyricsText(_LocalBuilder):
    """Lyric and poem texts: chorale verses (from the notes' syllables), Tang poems and Song ci
    (fortunes-zh), English songs and poems (fortunes). Split by a hash of the id."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        t = tfds.features.Text()
        return _LocalDatasetInfo(builder=self, description="lyric lines: chorale verses, Tang/Song poems, songs",
                                 features=tfds.features.FeaturesDict(
                                     {k: t for k in ("id", "title", "author", "text", "language", "source")}))

    def _split_generators(self, dl_manager):
        start = time.time()
        chorales = [record_to_score(r) for split in corpora.SPLITS for r in data_source("bach_chorales", split)]
        records = corpora.chorale_texts(chorales)
        more, missing = corpora.fortune_texts()
        for m in missing:
            print(f"lyrics_text: {m}: not installed, skipped (apt-get install fortunes fortunes-zh)", file=sys.stderr)
        records += more
        by_split = collections.defaultdict(list)
        for r in records:
            by_split[corpora.split_of(r["id"])].append(r)
        _write_build_report(self.name, records, missing, by_split, time.time() - start)
        return {split: self._generate_examples(by_split[split]) for split in corpora.SPLITS}

    def _generate_examples(self, records):
        for r in records:
            yield r["id"], r


BUILTIN_BUILDERS = {"bach_chorales": BachChorales, "essen": Essen, "folk_abc": FolkAbc, "lyrics_text": LyricsText}


class _IngestedCorpus(_LocalBuilder, skip_registration=True):
    """A corpus made by `musicjax data ingest` from a user's folder (musicjax/data/ingest.py): the
    built-in corpora's records and splits, written from the ingest cache."""

    VERSION = RECORD_VERSION
    kept: dict = {}  # source_id -> split, set by ingest.write_dataset before preparing

    def _info(self):
        from musicjax.data import ingest

        manifest = ingest.read_manifest(self.name) or {}
        return _LocalDatasetInfo(builder=self, description=f"ingested from {manifest.get('source', '?')}",
                                 features=tfds_features())

    def _split_generators(self, dl_manager):
        from musicjax.data import ingest

        # tfds cannot write a split of no examples: a small collection may have none in a split
        return {split: ingest.cached_records(self.name, split, self.kept) for split in corpora.SPLITS
                if split in set(self.kept.values())}

    def _generate_examples(self, rows):  # unused: the split generators above are the examples
        yield from rows


_INGESTED_CLASSES: dict[str, type] = {}


def ingested_builder_class(name: str) -> type:
    """The builder class of ingested corpus `name` (made once per name; not in tfds's registry)."""
    if name not in _INGESTED_CLASSES:
        _INGESTED_CLASSES[name] = type(f"Ingested_{name}", (_IngestedCorpus,), {"name": name})
    return _INGESTED_CLASSES[name]


class _Builders(collections.abc.Mapping):
    """The built-in corpora, then those ingested into the current data directory (looked up at
    each use: the data directory is an environment variable)."""

    def _all(self) -> dict:
        from musicjax.data import ingest

        names = [n for n in ingest.ingested_names() if n not in BUILTIN_BUILDERS]
        return {**BUILTIN_BUILDERS, **{n: ingested_builder_class(n) for n in names}}

    def __getitem__(self, name):
        return self._all()[name]

    def __iter__(self):
        return iter(self._all())

    def __len__(self):
        return len(self._all())


BUILDERS = _Builders()


def _progress(desc: str, total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="task", file=sys.stderr, leave=False)


def _write_build_report(name, items, errors, by_split, seconds):
    report = {
        "name": name,
        "items": len(items),
        "notes": int(sum(s.num_notes for s in items if isinstance(s, Score))),
        "splits": {k: len(by_split[k]) for k in corpora.SPLITS},
        "skipped": len(errors),
        "errors": errors,
        "parse_seconds": round(seconds, 1),
    }
    for e in errors:
        print(f"skipped: {e}", file=sys.stderr)
    atomic_write_text(tfds_dir() / f"{name}.build.json", json.dumps(report, indent=1, ensure_ascii=False))


def builder(name: str) -> tfds.core.DatasetBuilder:
    if name not in BUILDERS:
        raise KeyError(f"unknown corpus {name!r}; known: {', '.join(BUILDERS)}")
    return BUILDERS[name](data_dir=str(tfds_dir()), file_format="array_record")


def is_built(name: str) -> bool:
    return builder(name).is_prepared()


def build(name: str) -> dict:
    """Build a corpus once (a no-op when built); returns its build report. Safe to run in several
    processes at once: one builds, the others wait and then find it built."""
    if name == "lyrics_text":
        build("bach_chorales")
    if is_built(name):
        return build_report(name)
    with exclusive_lock(tfds_dir() / f"{name}.lock", f"{name}: waiting for another build of it to finish"):
        b = builder(name)  # made anew under the lock: another process may have built it meanwhile
        if not b.is_prepared():
            _remove_incomplete(name)
            if name in BUILTIN_BUILDERS:
                b.download_and_prepare()
            else:  # an ingested corpus whose dataset is missing: written again from its cache
                from musicjax.data import ingest

                ingest.write_dataset(name)
    return build_report(name)


def _remove_incomplete(name: str) -> None:
    """tfds builds into `<name>/incomplete.XXXXXX_<version>` and renames it when done; one left
    behind is a dead build's (call only under the build lock)."""
    for stale in sorted((tfds_dir() / name).glob("incomplete.*")):
        print(f"{name}: removing {stale.name}, left by a build that did not finish", file=sys.stderr)
        shutil.rmtree(stale, ignore_errors=True)


def build_report(name: str) -> dict:
    path = tfds_dir() / f"{name}.build.json"
    return json.loads(path.read_text()) if path.exists() else {}


def data_source(name: str, split: str):
    """Random-access source of records for `split`, building the corpus first if needed."""
    if not is_built(name):
        build(name)
    b = builder(name)
    if split not in b.info.splits and name not in BUILTIN_BUILDERS:
        return []  # an ingested collection with no piece in this split
    return b.as_data_source(split=split)


def load_scores(name: str, split: str) -> list[Score]:
    return [record_to_score(r) for r in data_source(name, split)]


