import numpy as np
import pytest

from musicjax.data.io import read_score, read_scores
from musicjax.data.notation import _parse, read_text, split_abc, stream_to_score


def _notes(s):
    return sorted(zip(s.part.tolist(), s.pitch.tolist(), s.start_q.tolist(), s.end_q.tolist()))


@pytest.mark.parametrize("rel", ["essenFolksong/kinder0.abc", "essenFolksong/han2.abc", "oneills1850/0001-0050.abc",
                                 "airdsAirs/book1.abc"])
def test_skipping_layout_steps_changes_no_note(corpus_dir, rel):
    tunes = split_abc(read_text(corpus_dir / rel))
    for fields, body in tunes[:: max(1, len(tunes) // 12)]:
        fast, full = (_parse(body, rel, "abc", fast=f) for f in (True, False))
        fast, full = (x.scores[0] if hasattr(x, "scores") else x for x in (fast, full))
        assert _notes(stream_to_score(fast)) == _notes(stream_to_score(full)), fields.get("T")


def test_ties_merge_only_same_pitches_and_keep_total_length(corpus_dir):
    # "G3-A" in O'Neill's book is a slur written as a tie: two notes, not one G lasting both
    s = read_scores(corpus_dir / "oneills1850/0001-0050.abc")[0]
    assert (s.pitch[:2].tolist(), s.end_q[:2].tolist()) == ([67, 69], [0.75, 1.0])
    raw = _parse(split_abc(read_text(corpus_dir / "essenFolksong/kinder0.abc"))[0][1], "k", "abc")
    raw = raw.scores[0] if hasattr(raw, "scores") else raw
    total = sum(float(n.quarterLength) for n in raw.flatten().notes)
    mine = stream_to_score(raw)
    assert np.isclose((mine.end_q - mine.start_q).sum(), total)


def test_chorale_parts_key_meter_and_lyrics(corpus_dir):
    s = read_score(corpus_dir / "bach/bwv253.mxl")
    assert [p.name for p in s.parts] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert (s.meta.key, s.meta.meter) == ("A major", "4/4")
    assert s.lyric_text[:3] == ("Ach", "bleib", "bei")
    assert set(s.part[s.lyric_note].tolist()) == {0}  # this file texts the soprano only


def test_pickups_are_read_from_the_notation(corpus_dir):
    assert read_score(corpus_dir / "bach/bwv253.mxl").pickup_q == 1.0  # one beat into 4/4
    assert read_score(corpus_dir / "bach/bwv366.krn").pickup_q == 0.0  # starts on the downbeat
    tunes = read_scores(corpus_dir / "essenFolksong/altdeu10.abc")[:7]
    assert [t.pickup_q for t in tunes] == [2.0, 0.0, 0.0, 4.0, 2.0, 1.0, 1.0]


def test_musicxml_writes_the_pickup_as_measure_zero(corpus_dir, tmp_path):
    from musicjax.data.io import write_score
    from musicjax.data.score import scores_equal

    for s in [read_score(corpus_dir / "bach/bwv253.mxl")] + read_scores(corpus_dir / "essenFolksong/altdeu10.abc")[:7]:
        write_score(s, tmp_path / "p.musicxml")
        back = read_score(tmp_path / "p.musicxml")
        assert back.pickup_q == s.pickup_q and scores_equal(back, s, atol=1e-9), s.meta.title
    assert b'number="0"' in (tmp_path / "p.musicxml").read_bytes()  # the last tune opens with a pickup


def test_abc_book_fields(corpus_dir):
    tunes = read_scores(corpus_dir / "ryansMammoth/7thRegimentReel.abc")
    assert len(tunes) == 1 and tunes[0].meta.tune_type == "reel" and tunes[0].meta.meter == "2/4"
    han = read_scores(corpus_dir / "essenFolksong/han1.abc")
    assert len(han) == 554 and han[0].meta.title == "Renmin gongshe shizai hao"


def test_humdrum_reads(corpus_dir):
    s = read_score(corpus_dir / "bach/bwv366.krn")
    assert len(s.parts) == 4 and s.num_notes > 100
