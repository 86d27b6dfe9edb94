"""Our MIDI reader against pretty_midi, the reference: on every file pretty_midi reads, the notes
(pitch, start and end to the tick, velocity, program, drum flag, grouped into the same parts) are
pretty_midi's; on files it refuses (long pieces at 10,080 ticks per quarter) we read what is there.
Files: variants of the chorales made as collections hold them (benchmarks/midi_read.py) and the
corner cases of note pairing, written byte by byte."""

import collections
import importlib.util
import io
import pathlib
import random
import warnings

import numpy as np
import pretty_midi
import pytest

from musicjax.data import midi
from musicjax.data.io import read_score
from musicjax.data.score import make_score

REPO = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("midi_read_bench", REPO / "benchmarks" / "midi_read.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

on = lambda p, v=80, ch=0: bytes([0x90 | ch, p, v])
off = lambda p, ch=0: bytes([0x80 | ch, p, 0])
pc = lambda prog, ch=0: bytes([0xC0 | ch, prog])
CORNERS = {  # name -> one track of (tick, event)
    "overlap": [(0, on(60)), (100, on(60, 90)), (200, off(60)), (300, off(60))],
    "same_tick_ons": [(0, on(60, 70)), (0, on(60, 90)), (200, off(60)), (300, off(60))],
    "no_length": [(0, on(60)), (0, off(60)), (100, on(62)), (200, off(62))],
    "off_then_on": [(0, on(60)), (100, off(60)), (100, on(60)), (200, off(60))],
    "on_then_off": [(0, on(60)), (100, on(60)), (100, off(60)), (200, off(60))],
    "never_ended": [(0, on(60)), (100, on(62)), (200, off(62))],
    "ended_by_another": [(0, on(60)), (100, on(60)), (200, off(60))],
    "program_changes": [(0, pc(5)), (0, on(60)), (100, off(60)), (100, pc(7)), (100, on(62)), (200, off(62))],
    "channels": [(0, on(60)), (0, on(64, ch=1)), (0, on(36, ch=9)), (100, off(60)), (100, off(64, ch=1)),
                 (100, off(36, ch=9))],
    "stray_off": [(0, off(60)), (10, on(60)), (100, off(60)), (150, off(60))],
    "channels_share_a_pitch": [(0, on(60)), (50, on(60, ch=1)), (100, off(60)), (150, off(60, ch=1))],
}


def corner_file(events, tpq=480):
    return bench.smf([[(0, bench._meta(0x51, (500000).to_bytes(3, "big")))], events], tpq)


def pm_notes(data: bytes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    return collections.Counter(
        frozenset(collections.Counter((int(i.program), bool(i.is_drum), n.pitch, pm.time_to_tick(n.start),
                                       pm.time_to_tick(n.end), n.velocity) for n in i.notes).items())
        for i in pm.instruments if i.notes)


def our_notes(score, tpq: int):
    parts = collections.defaultdict(collections.Counter)
    for i in range(score.num_notes):
        p = score.parts[score.part[i]]
        parts[int(score.part[i])][(p.program, p.is_drum, int(score.pitch[i]), int(round(score.start_q[i] * tpq)),
                                   int(round(score.end_q[i] * tpq)), int(score.velocity[i]))] += 1
    return collections.Counter(frozenset(c.items()) for c in parts.values())


def _tpq(data: bytes) -> int:
    return int.from_bytes(data[12:14], "big")


@pytest.fixture(scope="module")
def variants(chorales):
    rng = random.Random(7)
    return [bench.piece_variant(chorales[i % len(chorales)], rng) for i in range(250)]


def test_variants_equal_pretty_midi(variants, tmp_path):
    read = refused = 0
    for k, (data, suffix) in enumerate(variants):
        ours = read_score(_write(tmp_path / f"v{k}{suffix}", data))
        try:
            theirs = pm_notes(data)
        except Exception:  # pretty_midi refuses it: see test_what_pretty_midi_refuses_is_read
            refused += 1
            continue
        assert our_notes(ours, _tpq(data)) == theirs, k
        read += 1
    assert read > 200, (read, refused)


@pytest.mark.parametrize("name", sorted(CORNERS))
def test_corner_cases_equal_pretty_midi(name, tmp_path):
    data = corner_file(CORNERS[name])
    assert our_notes(read_score(_write(tmp_path / "c.mid", data)), 480) == pm_notes(data)


def test_both_parsers_of_ours_agree(variants, tmp_path, monkeypatch):
    """The symusic path and our own decoder read every track alike (each takes the other's place)."""
    mixed = [read_score(_write(tmp_path / f"v{k}{s}", d)) for k, (d, s) in enumerate(variants[:80])]
    monkeypatch.setattr(midi, "_read_track_symusic", lambda body, tpq: None)
    for k, (d, s) in enumerate(variants[:80]):
        decoded = read_score(_write(tmp_path / f"v{k}{s}", d))
        assert our_notes(decoded, _tpq(d)) == our_notes(mixed[k], _tpq(d)), k
        assert np.array_equal(decoded.tempos, mixed[k].tempos) and decoded.lyric_text == mixed[k].lyric_text
        assert np.array_equal(decoded.time_signatures, mixed[k].time_signatures)
        assert np.array_equal(decoded.key_signatures, mixed[k].key_signatures)


def test_what_pretty_midi_refuses_is_read(chorales, tmp_path):
    """A 1,200-quarter piece at music21's 10,080 ticks per quarter: past pretty_midi's largest tick."""
    long = [s for s in chorales if len(s.parts) == 4][:30]
    offsets = np.cumsum([0.0] + [s.duration_q for s in long[:-1]])
    pitch = np.concatenate([s.pitch for s in long])
    start = np.concatenate([s.start_q + o for s, o in zip(long, offsets)])
    end = np.concatenate([s.end_q + o for s, o in zip(long, offsets)])
    part = np.concatenate([s.part for s in long])
    score = make_score(pitch, start, end, part=part, parts=long[0].parts)
    assert score.duration_q * 10080 > pretty_midi.pretty_midi.MAX_TICK
    data = midi.midi_bytes(score, 10080)
    with pytest.raises(ValueError, match="likely corrupt"):
        pm_notes(data)
    ours = read_score(_write(tmp_path / "long.mid", data))
    want = midi.midi_representable(score)
    assert ours.num_notes == want.num_notes and np.array_equal(ours.pitch, want.pitch)
    assert np.allclose(ours.start_q, want.start_q, atol=1e-9) and np.allclose(ours.end_q, want.end_q, atol=1e-9)


def test_a_note_keeps_the_program_it_began_with(tmp_path):
    """Where we differ from pretty_midi, on purpose: a note sounding across a program change is
    played (by a synthesizer) with the program of its note-on; pretty_midi files it under the
    program at its note-off."""
    data = corner_file([(0, pc(5)), (0, on(60)), (50, pc(7)), (100, off(60))])
    assert [p.program for p in read_score(_write(tmp_path / "p.mid", data)).parts] == [5]
    assert [k[0][0] for c in pm_notes(data) for k in c] == [7]


def _write(path, data):
    path.write_bytes(data)
    return path
