
import mido
import numpy as np
import pytest

from musicjax.data.io import read_score, read_scores, write_score
from musicjax.data.midi import read_midi
from musicjax.data.midi_write import midi_representable, write_midi
from musicjax.data.score import Metadata, Part, ScoreError, lyric_rows, make_score, scores_equal


def test_every_chorale_survives_midi_round_trip(chorales, tmp_path):
    assert len(chorales) == 350
    lyrics = 0
    for s in chorales:
        path = tmp_path / "c.mid"
        write_midi(s, path)
        back = read_midi(path)
        assert scores_equal(midi_representable(s), back, atol=1e-9), s.meta.source_id
        assert back.meta.key == s.meta.key and back.meta.meter == s.meta.meter
        assert back.pickup_q is None and midi_representable(s).pickup_q is None  # MIDI has no bar lines
        lyrics += len(s.lyric_text)
    assert lyrics > 10000  # the chorales' German texts are on the notes


def test_lyrics_in_two_parts_survive_the_round_trip(chorales, tmp_path):
    """Each part's lyrics are read from its own track, then renumbered into the Score's note order:
    with texts in the soprano and the bass they interleave (as in a score with a second text)."""
    texted = [s for s in chorales if len(s.lyric_text)][:12]
    for s in texted:
        rows = lyric_rows(s)
        bass = s.part_notes(len(s.parts) - 1)
        extra = [(int(hit[0]), text.upper(), syllabic, verse) for n, text, syllabic, verse in rows
                 if len(hit := bass[s.start_q[bass] == s.start_q[n]])]
        both = make_score(s.pitch, s.start_q, s.end_q, velocity=s.velocity, part=s.part, parts=s.parts,
                          lyrics=rows + extra, tempos=s.tempos, meta=s.meta)
        assert len(set(both.part[both.lyric_note].tolist())) == 2
        write_midi(both, tmp_path / "c.mid")
        assert scores_equal(midi_representable(both), read_midi(tmp_path / "c.mid"), atol=1e-9), s.meta.source_id


def test_round_trip_keeps_tempo_changes_tuplets_programs_and_verses(tmp_path):
    s = make_score([60, 64, 67, 72, 36], [0, 1, 2, 2 + 1 / 3, 0], [1, 2, 2 + 1 / 3, 3, 4],
                   velocity=[10, 50, 90, 127, 64], part=[0, 0, 1, 1, 2],
                   parts=(Part("Voice", 52), Part("Flute", 73), Part("Kit", 0, True)),
                   lyrics=[(0, "Je", "begin", 1), (1, "su", "end", 1), (1, "Herr", "single", 3), (3, "好", "single", 1)],
                   tempos=[(0, 96), (2, 60.5)], meta=Metadata(title="t", key="F# minor", meter="6/8"))
    write_score(s, tmp_path / "a.mid")
    back = read_score(tmp_path / "a.mid")
    assert scores_equal(midi_representable(s), back, atol=1e-9)
    assert abs(back.tempos[1, 1] - 60.5) < 1e-4  # whole microseconds per quarter
    assert back.meta.title == "t" and back.meta.key == "F# minor" and back.meta.meter == "6/8"


def test_unison_overlap_in_a_part_is_cut_where_the_pitch_restarts(tmp_path):
    s = make_score([60, 60, 64], [0, 1, 0], [2, 3, 3])
    write_midi(s, tmp_path / "u.mid")
    back = read_midi(tmp_path / "u.mid")
    assert sorted(zip(back.pitch.tolist(), back.start_q.tolist(), back.end_q.tolist())) == [
        (60, 0.0, 1.0), (60, 1.0, 3.0), (64, 0.0, 3.0)]


def test_foreign_midi_lyrics_in_conductor_track_attach_to_notes(tmp_path):
    mf = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack([mido.MetaMessage("lyrics", text="la", time=0), mido.Message("note_on", note=60, velocity=90),
                         mido.Message("note_off", note=60, time=480), mido.MetaMessage("lyrics", text="lo", time=0),
                         mido.Message("note_on", note=62, velocity=90), mido.Message("note_off", note=62, time=240)])
    mf.tracks.append(tr)
    mf.save(tmp_path / "f.mid")
    s = read_score(tmp_path / "f.mid")
    assert s.lyric_text == ("la", "lo") and s.lyric_note.tolist() == [0, 1]
    assert s.end_q.tolist() == [1.0, 1.5]


def test_a_lyric_that_only_looks_like_a_verse_tag_is_read_as_text(tmp_path):
    mf = mido.MidiFile(ticks_per_beat=480)
    events = []
    for k, text in enumerate(["[v2]la-", "[v\u00b2]lo", "[vx]li"]):
        events += [mido.MetaMessage("lyrics", text=text, time=0), mido.Message("note_on", note=60 + k, velocity=90),
                   mido.Message("note_off", note=60 + k, time=480)]
    mf.tracks.append(mido.MidiTrack(events))
    mf.save(tmp_path / "f.mid")
    s = read_score(tmp_path / "f.mid")
    assert s.lyric_text == ("la", "[v\u00b2]lo", "[vx]li") and s.lyric_verse.tolist() == [2, 1, 1]


def _absurd_ticks(path):
    mf = mido.MidiFile()
    mf.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=90, time=0),
                                     mido.Message("note_off", note=60, time=10**9)]))
    mf.save(path)


def _no_notes(path):
    mf = mido.MidiFile()
    mf.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)]))
    mf.save(path)


BAD = {
    "empty.mid": lambda p: p.write_bytes(b""),
    "random.mid": lambda p: p.write_bytes(np.random.default_rng(0).bytes(3000)),
    "truncated.mid": lambda p: (write_midi(make_score([60, 62], [0, 1], [1, 2]), p),
                                p.write_bytes(p.read_bytes()[:30])),
    "nonotes.mid": _no_notes,
    "absurd.mid": _absurd_ticks,
    "bad.musicxml": lambda p: p.write_text("<score-partwise><part id='P1'><measure><note>"),
    "garbage.mxl": lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"),
    "bad.abc": lambda p: p.write_text("X:1\nT:x\nM:4/4\nK:C\n|: ]]] ((( \x7f\n"),
    "noabc.abc": lambda p: p.write_text("just some words\n"),
    "empty.krn": lambda p: p.write_text(""),
    "song.txt": lambda p: p.write_text("not music"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_raises_one_typed_error_naming_the_file(name, tmp_path):
    path = tmp_path / name
    BAD[name](path)
    try:
        scores = read_scores(path)
    except ScoreError as e:
        assert str(path) in str(e) and e.reason and "\n" not in str(e)
    else:  # music21 reads some junk ABC leniently; then it must at least be real notes
        assert name == "bad.abc" and all(s.num_notes > 0 for s in scores)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(ScoreError, match="no such file"):
        read_score(tmp_path / "nope.mid")
    (tmp_path / "d.mid").mkdir()
    with pytest.raises(ScoreError, match="directory"):
        read_score(tmp_path / "d.mid")


def test_failed_write_leaves_no_file(tmp_path):
    s = make_score([60, 200], [0, 1], [1, 2])  # pitch 200 cannot be written
    with pytest.raises(ScoreError):
        write_score(s, tmp_path / "x.mid")
    assert list(tmp_path.iterdir()) == []


def _notes(score, digits=6):
    """(part's program, pitch, start and end in seconds, velocity) of every note, sorted."""
    return sorted((score.parts[p].program, int(n), round(float(a), digits), round(float(b), digits), int(v))
                  for p, n, a, b, v in zip(score.part, score.pitch, score.start, score.end, score.velocity))


def test_pretty_midi_and_symusic_objects_both_ways(chorales):
    """Score -> PrettyMIDI / symusic.Score holds the Score's notes (programs, pitches, times in
    seconds, velocities), and back again the notes are the Score's."""
    from musicjax.data.midi_interop import (pretty_midi_to_score, score_to_pretty_midi, score_to_symusic,
                                            symusic_to_score)

    for s in chorales[:5]:
        want = _notes(midi_representable(s))
        pm = score_to_pretty_midi(s)
        assert sorted((i.program, n.pitch, round(n.start, 6), round(n.end, 6), n.velocity)
                      for i in pm.instruments for n in i.notes) == want
        assert _notes(pretty_midi_to_score(pm)) == want
        sym = score_to_symusic(s)
        assert sum(len(t.notes) for t in sym.tracks) == s.num_notes
        assert sorted((t.program, n.pitch, n.time, n.end, n.velocity) for t in sym.tracks for n in t.notes) == sorted(
            (s.parts[p].program, int(n), round(a * sym.ticks_per_quarter), round(b * sym.ticks_per_quarter), int(v))
            for p, n, a, b, v in zip(s.part, s.pitch, s.start_q, s.end_q, s.velocity))
        assert _notes(symusic_to_score(sym)) == want
        assert _notes(symusic_to_score(sym.to("second"))) == want
