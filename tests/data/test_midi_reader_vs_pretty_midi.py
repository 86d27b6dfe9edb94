"""Our MIDI reader against pretty_midi, the reference: on every file pretty_midi reads, the notes
(pitch, start and end to the tick, velocity, program, drum flag, grouped into the same parts) are
pretty_midi's; on files it refuses (long pieces at 10,080 ticks per quarter) we read what is there.
Files: variants of the chorales made as collections hold them (benchmarks/midi_read.py) and the
corner cases of note pairing, written byte by byte."""

import collections
import dataclasses
import importlib.util
import io
import pathlib
import random
import struct
import warnings

import numpy as np
import pretty_midi
import pytest

from musicjax.data import midi, midi_kernel, midi_lyrics_kernel, midi_write
from musicjax.data.io import read_score
from musicjax.data.score import TEXT_KINDS, ScoreError, lyric_rows, make_score
from tests.data import midi_reference as reference

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
    # system real-time and common messages inside a track are skipped (mido reads them too)
    "clock_inside": [(0, on(60)), (10, b"\xf8"), (20, b"\xfe"), (100, off(60))],
    "song_position_inside": [(0, on(60)), (10, bytes([0xF2, 0x10, 0x00])), (20, bytes([0xF3, 0x02])),
                             (100, off(60))],
    "same_start_other_velocity": [(0, on(62, 30)), (0, on(60, 70)), (0, on(60, 90)), (0, on(62, 50)),
                                  (200, off(60)), (250, off(62))],
}


def corner_file(events, tpq=480):
    return bench.smf([[(0, bench._meta(0x51, (500000).to_bytes(3, "big")))], events], tpq)


def decoded(data: bytes, name: str = "f.mid"):
    """(ticks per quarter, the MTrk chunks' starts and sizes, `midi_kernel.read_file`'s output)."""
    tpq, pos, declared = midi._midi_header(name, data)
    array = np.frombuffer(data, np.uint8)
    starts, sizes = midi_kernel.track_chunks(array, pos, declared, np.zeros(6, np.int64))
    return tpq, starts.tolist(), sizes.tolist(), midi_kernel.read_file(array, pos, declared, tpq, 100_000)


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


def test_compiled_decoder_equals_the_python_reference(variants):
    """`midi_kernel.read_file` decodes exactly what the plain Python reference decodes, track by
    track: the notes in file order, the text metas, time and key signatures, the tempo map, the
    note-on count and the first error, on the variants and on copies with bytes overwritten."""
    rng = random.Random(3)
    files = [d for d, _ in variants[:100]]
    for d in files[:80]:
        b = bytearray(d)
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(14, len(b))] = rng.randrange(256)
        files.append(bytes(b))
    errors = 0
    for k, data in enumerate(files):
        try:
            tpq, starts, sizes, out = decoded(data)
        except ScoreError:
            continue
        if out[-1][1] == midi_kernel.TRUNCATED:
            continue
        notes, texts, signatures, tempos, ons, error = [], [], [], [], 0, None
        for t, (at, size) in enumerate(zip(starts, sizes)):
            try:
                rows, metas, count = reference.decode_track(data[at:at + size])
            except ValueError as e:
                error = str(e)
                break
            notes += [(t, *r) for r in rows]
            ons += count
            for tick, kind, payload in metas:
                if kind in (0x01, 0x03, 0x05, 0x06):
                    texts.append((t, tick, kind, payload))
                elif kind == 0x51 and len(payload) == 3:
                    tempos.append((tick, int.from_bytes(payload, "big")))
                elif kind == 0x58 and len(payload) >= 2:
                    signatures.append((kind, tick, payload[0], 2 ** min(payload[1], 31)))
                elif kind == 0x59 and len(payload) == 2:
                    signatures.append((kind, tick, payload[0] - 256 if payload[0] > 127 else payload[0], payload[1]))
        columns, order, parts, metas, tempo_map, sigs, note_ons, tracks, extent, err = out
        assert tracks == len(starts), k
        if error is not None:
            assert midi._DECODE_ERRORS[int(err[1])](int(err[2]), int(err[3])) == error, k
            errors += 1
            continue
        assert err[1] == 0 and note_ons == ons, k
        pitch, start_q, end_q, _, _, velocity, part = columns
        got = [None] * len(order)
        for r, i in enumerate(order):
            track, channel, program = parts[part[r]]
            got[i] = (track, channel, program, round(start_q[r] * tpq), round(end_q[r] * tpq), pitch[r], velocity[r])
        assert got == notes, k
        assert extent.tolist() == ([end_q.max(), columns[4].max()] if len(order) else [0.0, 0.0]), k
        for rows, kinds in zip(metas, ((0x03,), (0x01, 0x06), (0x05,))):  # names, texts with a payload, lyrics
            assert [(t, tick, kind, data[a:a + n]) for t, tick, kind, a, n in rows.tolist()] == [
                r for r in texts if r[2] in kinds and (r[3] or kinds != (0x01, 0x06))], k
        assert [tuple(r) for r in sigs.tolist()] == signatures, k
        try:
            want = reference.tempo_map(tempos, tpq)
        except ValueError as e:
            assert f"a tempo of {err[5]} microseconds per quarter note at tick {err[4]}" == str(e), k
            continue
        assert err[4] == -1 and tempo_map.tolist() == [list(r) for r in want], k
    assert errors >= 20, errors  # the overwritten bytes made errors to compare


ERROR_TRACKS = {  # name -> one track's events (bytes), each refused for a reason of its own
    "system_message": b"\x00\x90\x3c\x40\x00\xf4\x10\x80\x3c\x00",
    "no_status": b"\x00\x3c\x40",
    "data_byte": b"\x00\xc0\x85",
    "data_bytes": b"\x00\x90\x3c\xc0",
    "common_data_byte": b"\x00\xf2\x10\x90",
    "long_number": b"\x81" * 8 + b"\x00\x90\x3c\x40",
    "far_time": (b"\xff" * 7 + b"\x7f\x90\x3c\x40") * 2,
}


@pytest.mark.parametrize("name", sorted(ERROR_TRACKS))
def test_each_refusal_is_the_references(name):
    """Each kind of undecodable event: the compiled decoder refuses it where, and as, the
    reference does."""
    body = ERROR_TRACKS[name] + b"\x00\xff\x2f\x00"
    with pytest.raises(ValueError) as e:
        reference.decode_track(body)
    err = decoded(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(body)) + body)[-1][-1]
    assert err[1] != midi_kernel.OK and midi._DECODE_ERRORS[int(err[1])](int(err[2]), int(err[3])) == str(e.value)


def test_the_score_is_what_make_score_builds(variants, tmp_path):
    """`read_midi` sorts and times the notes in compiled code; the Score equals, bit for bit,
    what `make_score` builds from the same notes and lyrics handed over in file order (ties of
    (start, part, pitch) with other ends or velocities included: the corner cases)."""
    corners = [(corner_file(CORNERS[name]), ".mid") for name in sorted(CORNERS)]
    for k, (data, suffix) in enumerate(variants[:80] + corners):
        score = read_score(_write(tmp_path / f"v{k}{suffix}", data))
        order = decoded(data)[-1][1]

        def in_file_order(x):
            y = np.empty_like(x)
            y[order] = x
            return y

        want = make_score(
            in_file_order(score.pitch), in_file_order(score.start_q), in_file_order(score.end_q),
            velocity=in_file_order(score.velocity), part=in_file_order(score.part), parts=score.parts,
            lyrics=[(int(order[n]), t, s, v) for n, t, s, v in lyric_rows(score)], tempos=score.tempos,
            meta=score.meta, time_signatures=score.time_signatures, key_signatures=score.key_signatures,
            texts=[(q, t, TEXT_KINDS[c]) for q, t, c in zip(score.text_q, score.text, score.text_kind)])
        for field in dataclasses.fields(score):
            a, b = getattr(score, field.name), getattr(want, field.name)
            if isinstance(a, np.ndarray):
                assert a.dtype == b.dtype and np.array_equal(a, b), (k, field.name)
            else:
                assert a == b, (k, field.name)


def test_lyrics_go_to_the_notes_the_reference_picks(variants):
    """`midi_lyrics_kernel.attach_lyrics` against the plain reference: on the variants' lyric and karaoke
    events, and on random notes (chords, ties of pitch, drums, tracks without notes, lyrics
    between and after the notes) whose answers a few steps of the rule decide."""
    checked = 0
    for data, suffix in variants:
        tpq, _, _, (columns, order, part_rows, metas, *_) = decoded(data, "f" + suffix)
        track, tick, raws = midi._lyric_events(data, metas[2])
        if not raws and len(metas[1]):
            (track, tick, raws), _ = midi._karaoke_words(midi._text_events(data, metas[1]), suffix == ".kar")
        if not raws or not len(order):
            continue
        args = (columns[0], columns[1], columns[6], order, part_rows[:, 0], part_rows[:, 1] == 9, track, tick, tpq)
        got = midi_lyrics_kernel.attach_lyrics(*args)
        assert [x.tolist() for x in got] == list(reference.attach_lyrics(*args))
        checked += 1
    assert checked > 100
    rng = np.random.default_rng(3)
    for trial in range(300):
        num_parts, tpq = int(rng.integers(1, 5)), int(rng.choice([1, 3, 4, 480]))
        k = num_parts + int(rng.integers(0, 40))
        # a third of the cases near 2**53 ticks, where neighbouring ticks share a quarter
        far = 2**53 - 400 if trial % 3 == 0 else 0
        start_tick = far + rng.integers(0, 12, k) * tpq // 2
        pitch = rng.integers(58, 64, k).astype(np.int16)  # few pitches: equal highest notes
        part = np.concatenate([np.arange(num_parts), rng.integers(0, num_parts, k - num_parts)]).astype(np.int16)
        by_score = np.lexsort((pitch, part, start_tick))
        pitch, part, start_q = pitch[by_score], part[by_score], start_tick[by_score] / tpq
        part_track = rng.integers(0, 3, num_parts)
        part_drum = rng.random(num_parts) < 0.3
        lyric_track = np.sort(rng.integers(0, 4, int(rng.integers(1, 15))))  # track 3 never has notes
        lyric_tick = far + rng.integers(0, 15, len(lyric_track)) * tpq // 2
        # file order: each part's notes together, as the decoder lists them
        order = np.empty(k, np.int64)
        order[np.lexsort((rng.permutation(k), part))] = np.arange(k)
        args = (pitch, start_q, part, order, part_track, part_drum, lyric_track, lyric_tick, tpq)
        got = midi_lyrics_kernel.attach_lyrics(*args)
        assert [x.tolist() for x in got] == list(reference.attach_lyrics(*args)), trial


def test_more_verses_than_a_score_holds_are_refused(tmp_path):
    """Score.lyric_verse is int8: a note with 128 lyrics, or a lyric naming verse 200, is refused
    with that reason (and make_score says the same)."""
    lyric = lambda text: b"\xff\x05" + bytes([len(text)]) + text
    many = corner_file([(0, on(60))] + [(0, lyric(b"la"))] * 128 + [(480, off(60))])
    named = corner_file([(0, on(60)), (0, lyric(b"[v200]la")), (480, off(60))])
    for name, data in (("many.mid", many), ("named.mid", named)):
        with pytest.raises(ScoreError, match="the largest verse number is 127"):
            read_score(_write(tmp_path / name, data))
    assert read_score(_write(tmp_path / "ok.mid", corner_file([(0, on(60)), (0, lyric(b"[v127]la")),
                                                               (480, off(60))]))).lyric_verse.tolist() == [127]
    with pytest.raises(ValueError, match="the largest verse number is 127"):
        make_score([60], [0.0], [1.0], lyrics=[(0, "la", "single", 128)])


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
    data = midi_write.midi_bytes(score, 10080)
    with pytest.raises(ValueError, match="likely corrupt"):
        pm_notes(data)
    ours = read_score(_write(tmp_path / "long.mid", data))
    want = midi_write.midi_representable(score)
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


def test_the_decoders_sort_is_numpys_stable_sort():
    """`midi_kernel._stable_order` (a radix sort) orders as numpy's stable argsort, ties included,
    for keys of one to eight bytes."""
    rng = np.random.default_rng(0)
    for n in (0, 1, 2, 7, 300):
        for top in (1, 3, 256, 70_000, 2**40, 2**63 - 1):
            key = rng.integers(0, top, n, dtype=np.int64, endpoint=True)
            assert np.array_equal(midi_kernel._stable_order(key), np.argsort(key, kind="stable")), (n, top)
            assert np.array_equal(midi_kernel._stable_order(np.sort(key)), np.arange(n)), (n, top)  # in order


def test_the_merge_sort_is_numpys_stable_sort():
    """`midi_kernel._merge_order` (a natural merge sort of a permutation by two keys) against
    numpy's stable lexsort: in order already, one run per voice, shuffled, all equal, ties
    everywhere, empty and one element, from the identity and from a shuffled start."""
    rng = np.random.default_rng(0)
    cases = [np.zeros(0, np.int64), np.array([5]), np.arange(50), np.full(40, 7), rng.integers(0, 4, 300),
             rng.integers(0, 1 << 40, 300), np.concatenate([np.sort(rng.integers(0, 90, 60)) for _ in range(5)])]
    for k, major in enumerate(cases):
        major = major.astype(np.int64)
        minor = rng.integers(0, 3, len(major)).astype(np.int64)
        for start in (np.arange(len(major)), rng.permutation(len(major))):
            got = midi_kernel._merge_order(major, minor, start)
            want = start[np.lexsort((minor[start], major[start]))]  # lexsort is stable
            assert np.array_equal(got, want), k


def test_compiled_words_equal_the_general_path(variants):
    """`midi._words` (syllables, notes, order and title in compiled code, the texts decoded at
    once) equals `_words_general` (one Python step per event, then the Score's lyric order) on the
    variants and on lyric and karaoke files made to catch it out: blank and hyphen-only payloads,
    Unicode spaces, Latin-1 bytes, zero bytes, verse tags, headers, markers, several word tracks,
    .kar or not. Where the compiled path declines, the general path is what comes back."""
    lyric_payloads = [b"Herr", b"-lich-", b"-", b"--", b"a-", b"-b", b" ", b"\t\x1c", b"", b"\xc3\xa9-", b"\xe9t\xe9",
                      b"[v2]Gott", b"[vx]so", b"\xc2\xa0", b"\xe3\x80\x80", b"a\x00b", b"\xc2\x85", b"-\xc3\xbc-",
                      b"x y"]
    words = [b"@KMIDI KARAOKE FILE", b"@T  Lied ", b"@T", b"@Lde", b"@Iinfo", b"/Herr", b" Gott", b"lich", b"\\Vers",
             b"-", b"--x", b"a-", b" ", b"", b"x ", b"[v2]so", b"\xc3\xa9", b"\xe9", b"a\x00b", b"\xe3\x80\x80", b" / "]
    rng = random.Random(5)
    made = []
    for trial in range(120):
        notes = [(0, on(60)), (0, on(64)), (120, off(60)), (120, on(62)), (240, off(62)), (240, off(64)),
                 (240, on(67)), (480, off(67))]
        if trial < 40:  # lyric events on the notes' track
            chosen = rng.sample(lyric_payloads, rng.randint(1, 6))
            made.append((corner_file([(60 * k, b"\xff\x05" + bytes([len(p)]) + p) for k, p in enumerate(chosen)]
                                     + notes), ".mid"))
            continue
        tracks = [[(0, bench._meta(0x51, (500000).to_bytes(3, "big")))], notes]
        for _ in range(rng.randint(1, 3)):  # karaoke words (and markers) in tracks of their own
            chosen = [rng.choice(words) for _ in range(rng.randint(1, 9))]
            kinds = [0x06 if rng.random() < 0.1 else 0x01 for _ in chosen]  # a few markers among the words
            tracks.append([(40 * k, bench._meta(kind, p)) for k, (kind, p) in enumerate(zip(kinds, chosen))])
        made.append((bench.smf(tracks, 480), rng.choice([".kar", ".mid"])))
    compiled = declined = 0
    for data, suffix in [(d, s) for d, s in variants] + made:
        tpq, _, _, (columns, order, part_rows, metas, *_) = decoded(data, "f" + suffix)
        if not len(order) or not (len(metas[1]) or len(metas[2])):
            continue
        args = ("f" + suffix, data, tpq, "", columns, order, part_rows, metas[1], metas[2])
        (note, texts, syllabic, verse), in_order, title, text_cols = midi._words(*args)
        (g_note, g_texts, g_syllabic, g_verse), _, g_title, g_cols = midi._words_general(*args)
        # the Score's lyric order, as score_of_sorted_notes puts it (where _words declined, it is the general path's)
        by = np.lexsort((g_verse, g_note)) if in_order else np.arange(len(g_note))
        assert note.tolist() == g_note[by].tolist() and list(texts) == [g_texts[i] for i in by]
        assert syllabic.tolist() == g_syllabic[by].tolist() and verse.tolist() == g_verse[by].tolist()
        assert title == g_title and text_cols[1] == g_cols[1]
        assert text_cols[0].tolist() == g_cols[0].tolist() and text_cols[2].tolist() == g_cols[2].tolist()
        plain = midi_lyrics_kernel.sung_words(np.frombuffer(data, np.uint8), metas[1], metas[2], suffix == ".kar",
                                              columns[0], columns[1], columns[6], order, part_rows, tpq,
                                              midi._SYLLABIC_OF_HYPHENS)[4]
        compiled += bool(in_order and len(g_note))
        declined += not plain
    assert compiled > 150 and declined > 10, (compiled, declined)


def test_blank_and_utf8_as_python_says():
    """`midi_lyrics_kernel._blank_utf8` against Python's decoder and str.strip() on every code
    point's UTF-8, on the white space among them two at a time, and on random bytes (overlong
    forms, surrogates, cut-off sequences)."""
    def python(b: bytes):
        try:
            return b.decode("utf-8").strip() == "", True, 0 in b
        except UnicodeDecodeError:
            return None, False, 0 in b

    spaces = [chr(c).encode() for c in range(0x110000) if chr(c).isspace()]
    cases = [chr(c).encode("utf-8", "surrogatepass") for c in range(0x110000)] + [a + b for a in spaces for b in spaces]
    rng = np.random.default_rng(0)
    cases += [bytes(rng.choice([0, 0x20, 0x41, 0x80, 0x85, 0xA0, 0xBF, 0xC2, 0xE0, 0xE1, 0xE3, 0xED, 0xF0, 0xF4, 0xF5],
                               int(rng.integers(0, 6))).tolist()) for _ in range(20_000)]
    for b in cases:
        blank, valid, zero = midi_lyrics_kernel._blank_utf8(np.frombuffer(b"x" + b + b"y", np.uint8), 1, len(b))
        want = python(b)
        assert (valid, zero) == want[1:] and (not valid or blank == want[0]), b


def test_a_chunk_cut_short_is_named(tmp_path):
    """A file whose second track ends before its declared size: refused, the track and its
    bytes named (found in compiled code, `midi_kernel.track_chunks`)."""
    data = corner_file(CORNERS["overlap"])
    first_track = struct.unpack_from(">I", data, 18)[0]  # after the 14-byte header and "MTrk"
    second_body = 14 + 8 + first_track + 8
    with pytest.raises(ScoreError, match=r"truncated: track 2 holds 10 of its \d+ bytes"):
        read_score(_write(tmp_path / "cut.mid", data[:second_body + 10]))
