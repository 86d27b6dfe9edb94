import collections

import pytest

from musicjax.data import corpora, datasets
from musicjax.data.records import record_to_score, score_to_record
from musicjax.data.score import scores_equal


def test_split_is_stable_and_roughly_80_10_10():
    assert corpora.split_of("bach/bwv253") == corpora.split_of("bach/bwv253")
    counts = collections.Counter(corpora.split_of(f"id{i}") for i in range(20000))
    assert abs(counts["train"] / 20000 - 0.8) < 0.01 and abs(counts["test"] / 20000 - 0.1) < 0.01


def test_fingerprint_ignores_transposition(chorales):
    from musicjax.data.augment import transpose

    s = chorales[0]
    assert corpora.melody_fingerprint(transpose(s, 3)) == corpora.melody_fingerprint(s)


def test_bach_chorales_corpus(chorales):
    rep = datasets.build_report("bach_chorales")
    assert rep["items"] == len(chorales) == 350 and rep["skipped"] == 0
    four = sum(len(s.parts) == 4 for s in chorales)
    texted = sum(len(s.lyric_text) > 0 for s in chorales)
    assert four >= 330 and texted >= 320, (four, texted)
    assert all(s.meta.key and s.meta.meter and s.meta.source_id.startswith("bach/bwv") for s in chorales)
    # no melody in two splits, including transposed copies (fingerprints are transposition-free)
    split_of = {}
    for split in corpora.SPLITS:
        for s in datasets.load_scores("bach_chorales", split):
            fp = corpora.melody_fingerprint(s)
            assert split_of.setdefault(fp, split) == split


def test_records_round_trip_exactly(chorales):
    for s in chorales[:40]:
        back = record_to_score(score_to_record(s))
        assert scores_equal(back, s) and back.pickup_q == s.pickup_q
    assert record_to_score(score_to_record(chorales[0].replace(pickup_q=None))).pickup_q is None
    assert all(s.pickup_q is not None for s in chorales)  # notation states its bar lines
    assert sum(s.pickup_q > 0 for s in chorales) > len(chorales) / 2  # most chorales start with a pickup
    # and through the stored array_record files: times are bit-exact (no float32 rounding)
    src = datasets.data_source("bach_chorales", "valid")
    back = record_to_score(src[0])
    again = [s for s in chorales if s.meta.source_id == back.meta.source_id][0]
    assert scores_equal(back, again)


@pytest.mark.slow
def test_essen_corpus(essen_sample):
    rep = datasets.build_report("essen")
    assert rep["items"] == 8514 and rep["skipped"] == 0 and rep["notes"] > 440000
    test = datasets.load_scores("essen", "test")
    assert 700 < len(test) < 1000
    han = [s for s in test if s.meta.collection in ("han1", "han2")]
    assert han and all("China" in s.meta.region for s in han)
    assert all(len(s.parts) == 1 for s in essen_sample)


@pytest.mark.slow
def test_folk_abc_book_parses_with_tune_types():
    """Ryan's Mammoth (1,059 tunes, a quarter of the folk_abc corpus) through that corpus's own
    parse tasks: nearly every tune read, each with its tune type from R:. The whole build (4,433
    tunes, README) is the same tasks over four books, stored by the builder the chorale and Essen
    tests exercise; building it here cost 96 s of the suite."""
    tasks = [t for t in corpora.folk_abc_tasks() if t.collection == "ryansMammoth"]
    scores, errors = corpora.parse_parallel(tasks)
    assert len(scores) > 1000 and len(errors) < 10, errors[:3]
    assert all(s.meta.collection == "ryansMammoth" and s.num_notes > 0 for s in scores)
    types = collections.Counter(s.meta.tune_type for s in scores)
    assert {"reel", "jig", "hornpipe"} <= set(types), types


def test_lyrics_text_corpus():
    datasets.build("lyrics_text")
    recs = [r for split in corpora.SPLITS for r in datasets.data_source("lyrics_text", split)]
    langs = collections.Counter(r["language"].decode() for r in recs)
    assert langs["de"] > 300
    if corpora.FORTUNES_DIR.joinpath("tang300").exists():
        assert langs["zh"] > 350 and langs["en"] > 600
        tang = [r for r in recs if r["source"] == b"tang300"]
        assert all(b"\x1b" not in r["text"] for r in tang) and tang[0]["author"]


def test_second_build_reads_the_cache(chorales):
    import time

    t = time.time()
    datasets.build("bach_chorales")
    assert time.time() - t < 5
