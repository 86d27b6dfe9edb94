"""Scores to MIDI files, through mido: one track per part (its program, its channel; drums on
channel 10), the tempo, time and key signature maps, lyrics on their notes (the hyphen and verse
convention `midi.py` reads back), text events and markers. Whatever is written reads back
(`write_midi` refuses what the reader would refuse); a file is written whole or not at all."""

from __future__ import annotations

import io
import math
import os
from fractions import Fraction

import mido
import numpy as np

from musicjax.data import limits
from musicjax.data.files import atomic_write
from musicjax.data.midi import (_MIDO_MAJOR, _MIDO_MINOR, _key_number_to_fifths, _lyric_to_midi_text,
                                _signature_rows, key_signature_name, key_to_midi_number)
from musicjax.data.score import DEFAULT_QPM, TEXT_KINDS, Score, ScoreError, quarters_to_seconds, select_notes

TICKS_PER_QUARTER = 960  # divisible by 2, 3, 4, 5, 6, 8, 16, 32, 64: tuplets land on ticks
MAX_TICKS_PER_QUARTER = 0x7FFF  # the header's 15 bits


def ticks_per_quarter_for(score: Score) -> int:
    """The resolution a written file uses: 960 where every time in the score lands on its ticks,
    else the smallest resolution of at least 960 (up to 32,767) on which they all land (a file read
    at 10,080 ticks per quarter is written at 10,080), else 960, times rounded to its ticks."""
    q = np.concatenate([score.start_q, score.end_q, score.tempos[:, 0], score.time_signatures[:, 0],
                        score.key_signatures[:, 0], score.text_q])
    if _on_grid(q, TICKS_PER_QUARTER):
        return TICKS_PER_QUARTER
    common = 1
    for v in np.unique(q):
        f = Fraction(float(v)).limit_denominator(MAX_TICKS_PER_QUARTER)
        common = math.lcm(common, f.denominator)
        if common > MAX_TICKS_PER_QUARTER or abs(float(f) - v) > 1e-9 * max(1.0, abs(v)):
            return TICKS_PER_QUARTER
    common *= max(1, -(-TICKS_PER_QUARTER // common))
    return common if common <= MAX_TICKS_PER_QUARTER and _on_grid(q, common) else TICKS_PER_QUARTER


def _on_grid(q: np.ndarray, tpq: int) -> bool:
    t = q * tpq
    return bool(np.all(np.abs(t - np.round(t)) < 1e-6))


def _meter_rows(score: Score) -> list:
    """(quarter, numerator, denominator) of the score's time signatures (its meter at 0 where it
    states no map) that a MIDI file can hold: a power-of-two denominator."""
    rows = [tuple(r) for r in score.time_signatures]
    if not rows and score.meta.meter.count("/") == 1:
        num, den = score.meta.meter.split("/")
        if num.strip().isdigit() and den.strip().isdigit():
            rows = [(0.0, int(num), int(den))]
    return [(q, int(n), int(d)) for q, n, d in rows if 0 < n < 256 and 0 < d <= 2**30 and d & (int(d) - 1) == 0]


def _key_rows(score: Score) -> list:
    """(quarter, fifths, minor) of the score's key signatures (its key at 0 where it states no map)."""
    rows = [(q, int(f), int(m)) for q, f, m in score.key_signatures if -7 <= f <= 7 and m in (0, 1)]
    number = key_to_midi_number(score.meta.key)
    if not len(score.key_signatures) and number is not None:
        fifths, minor = _key_number_to_fifths(number)
        tonic = score.meta.key.split()[0].replace("-", "b").lower()
        spelled = [f for f in range(-7, 8) if key_signature_name(f, minor).split()[0].lower() == tonic]
        rows = [(0.0, spelled[0] if spelled else fifths, minor)]  # Gb major stays Gb, not F#
    return rows


def midi_representable(score: Score) -> Score:
    """The score as a MIDI file written by `write_midi` holds it, which is what `read_midi` gives
    back. Times land on the file's ticks (`ticks_per_quarter_for`); tempos are whole microseconds
    per quarter; a note of no length is dropped. One channel has one key per pitch, and a note-off
    ends every sounding note of its pitch: of notes of one part and pitch that sound together, those
    that end together stay as they are (so what a MIDI file held is written back as it was read);
    of notes starting together, the longest stays with those as long (the lyrics of the others move
    to it); otherwise the notes sounding are cut where the pitch starts again."""
    tpq = ticks_per_quarter_for(score)
    snap = lambda q: np.round(np.asarray(q, np.float64) * tpq) / tpq
    tempo_rows = {}
    for q, qpm in zip(snap(score.tempos[:, 0]), score.tempos[:, 1]):
        tempo_rows[float(q)] = 60e6 / mido.bpm2tempo(qpm)  # at one tick the last one counts
    tempos = []
    for q, qpm in sorted(tempo_rows.items()):
        if not tempos or tempos[-1][1] != qpm:
            tempos.append((q, qpm))
    if tempos[0][0] > 0:
        tempos.insert(0, (0.0, DEFAULT_QPM))
    tempos = np.array(tempos, np.float64)
    order = np.argsort(snap(score.text_q), kind="stable")
    score = score.replace(
        start_q=snap(score.start_q), end_q=snap(score.end_q), tempos=tempos,
        time_signatures=np.array([(q, n, d) for q, n, d in _signature_rows(
            (snap(q), n, d) for q, n, d in _meter_rows(score))], np.float64).reshape(-1, 3),
        key_signatures=np.array([(q, f, m) for q, f, m in _signature_rows(
            (snap(q), f, m) for q, f, m in _key_rows(score))], np.float64).reshape(-1, 3),
        text_q=snap(score.text_q)[order], text=tuple(score.text[i] for i in order), text_kind=score.text_kind[order],
        pickup_q=None)  # MIDI has no bar lines: the reader cannot tell a pickup
    score = select_notes(score, score.end_q > score.start_q)
    score = _one_key_at_a_time(score, tpq)
    return score.replace(start=quarters_to_seconds(score.start_q, score.tempos),
                         end=quarters_to_seconds(score.end_q, score.tempos))


def _one_key_at_a_time(score: Score, tpq: int) -> Score:
    """`midi_representable`'s rule for notes of one part and pitch that sound together."""
    start, end = np.round(score.start_q * tpq).astype(np.int64), np.round(score.end_q * tpq).astype(np.int64)
    key = score.part.astype(np.int64) * 128 + score.pitch
    order = np.lexsort((-end, start, key))  # by key, then time, longest first
    k, s, e = key[order], start[order], end[order]
    clash = (k[1:] == k[:-1]) & (s[1:] < e[:-1]) & (e[1:] != e[:-1])
    if not clash.any():
        return score
    flagged = set(k[1:][clash].tolist())
    new_end, drop, lyric_to = end.copy(), np.zeros(len(end), bool), np.arange(len(end))
    for segment in np.split(np.arange(len(k)), np.flatnonzero(np.diff(k)) + 1):
        if k[segment[0]] not in flagged:
            continue
        group, group_end, head = [], None, None
        for i in order[segment]:
            if head is not None and start[i] == start[head]:
                if end[i] == end[head]:
                    group.append(i)
                else:  # shorter, starting with a longer one
                    drop[i], lyric_to[i] = True, head
            elif group and start[i] < group_end and end[i] != group_end:
                new_end[group] = start[i]
                group, group_end, head = [i], end[i], i
            elif group and start[i] < group_end:
                group.append(i)
                head = i
            else:
                group, group_end, head = [i], end[i], i
    score = score.replace(end_q=new_end / tpq, lyric_note=lyric_to[score.lyric_note].astype(np.int32))
    return select_notes(score, ~drop)


def _channels(parts) -> list[int]:
    melodic = [c for c in range(16) if c != 9]
    out, k = [], 0
    for p in parts:
        if p.is_drum:
            out.append(9)
        else:
            out.append(melodic[k % len(melodic)])
            k += 1
    return out


def score_to_midifile(score: Score, ticks_per_quarter: int | None = None) -> mido.MidiFile:
    """A type-1 MidiFile: a conductor track (title, tempo map, time and key signatures, text
    events and markers), then one track per part holding its notes and, just before each note-on,
    that note's lyrics (`midi_representable` says what a file holds). `ticks_per_quarter` defaults
    to `ticks_per_quarter_for(score)`.

    Written with mido rather than pretty_midi because pretty_midi puts every lyric in track 0, which
    loses the part a lyric belongs to (a chorale has four texted voices).
    """
    tpq = ticks_per_quarter or ticks_per_quarter_for(score)
    score = midi_representable(score) if ticks_per_quarter is None else _at_resolution(score, tpq)
    to_tick = lambda q: int(round(float(q) * tpq))
    mf = mido.MidiFile(type=1, ticks_per_beat=tpq, charset="utf-8")
    conductor = [(0, 0, mido.MetaMessage("track_name", name=score.meta.title, time=0))]
    for q, qpm in score.tempos:
        conductor.append((to_tick(q), 1, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(qpm), time=0)))
    for q, num, den in score.time_signatures:
        conductor.append((to_tick(q), 1, mido.MetaMessage("time_signature", numerator=int(num), denominator=int(den),
                                                          time=0)))
    for q, fifths, minor in score.key_signatures:
        name = (_MIDO_MINOR if minor else _MIDO_MAJOR)[int(fifths)]
        conductor.append((to_tick(q), 1, mido.MetaMessage("key_signature", key=name, time=0)))
    for q, text, kind in zip(score.text_q, score.text, score.text_kind):
        conductor.append((to_tick(q), 1, mido.MetaMessage(TEXT_KINDS[kind], text=text, time=0)))
    tracks = [conductor]

    lyrics_of = {}
    for n, t, s, v in zip(score.lyric_note, score.lyric_text, score.lyric_syllabic, score.lyric_verse):
        lyrics_of.setdefault(int(n), []).append((int(v), t, int(s)))
    for pi, (part, channel) in enumerate(zip(score.parts, _channels(score.parts))):
        events = [(0, 0, mido.MetaMessage("track_name", name=part.name, time=0))]
        if not part.is_drum:
            events.append((0, 1, mido.Message("program_change", program=part.program, channel=channel, time=0)))
        for i in score.part_notes(pi):
            s, e = to_tick(score.start_q[i]), to_tick(score.end_q[i])
            # at one tick: note-offs (2) before lyrics (3) before note-ons (4)
            events.append((e, 2, mido.Message("note_off", note=int(score.pitch[i]), velocity=0, channel=channel)))
            for ordinal, (verse, text, syl) in enumerate(sorted(lyrics_of.get(int(i), []), key=lambda r: r[0]), start=1):
                events.append((s, 3, mido.MetaMessage("lyrics", text=_lyric_to_midi_text(text, syl, verse, ordinal))))
            events.append((s, 4, mido.Message("note_on", note=int(score.pitch[i]),
                                              velocity=int(score.velocity[i]), channel=channel)))
        tracks.append(events)

    for events in tracks:
        events.sort(key=lambda e: (e[0], e[1]))
        track, now = mido.MidiTrack(), 0
        for t, _, msg in events:
            track.append(msg.copy(time=t - now))
            now = t
        mf.tracks.append(track)
    return mf


def _at_resolution(score: Score, tpq: int) -> Score:
    """`midi_representable` at a resolution the caller chose (times rounded to its ticks)."""
    snap = lambda q: np.round(np.asarray(q) * tpq) / tpq
    grid = score.replace(start_q=snap(score.start_q), end_q=snap(score.end_q), tempos=np.stack(
        [snap(score.tempos[:, 0]), score.tempos[:, 1]], 1), time_signatures=np.stack(
        [snap(score.time_signatures[:, 0]), score.time_signatures[:, 1], score.time_signatures[:, 2]], 1),
        key_signatures=np.stack([snap(score.key_signatures[:, 0]), score.key_signatures[:, 1],
                                 score.key_signatures[:, 2]], 1), text_q=snap(score.text_q))
    return midi_representable(grid)


MIN_MIDI_QPM = 60e6 / 0xFFFFFF  # a MIDI tempo is 1 to 2**24 - 1 microseconds per quarter note


def midi_bytes(score: Score, ticks_per_quarter: int | None = None) -> bytes:
    """The bytes `write_midi` writes."""
    buf = io.BytesIO()
    score_to_midifile(score, ticks_per_quarter).save(file=buf)
    return buf.getvalue()


def write_midi(score: Score, path: str | os.PathLike) -> None:
    """Write `score` to a .mid file atomically (temporary file, then rename). Refuses (ScoreError)
    what `read_midi` would refuse: the bytes are made in memory and checked first."""
    qpm = score.tempos[:, 1]
    if not ((qpm >= MIN_MIDI_QPM) & (qpm <= 60e6)).all():
        raise ScoreError(path, f"a tempo of {qpm[(qpm < MIN_MIDI_QPM) | (qpm > 60e6)][0]:g} quarter notes per "
                               f"minute; MIDI holds {MIN_MIDI_QPM:.2f} to 60,000,000")
    data = midi_bytes(score)
    if len(data) > limits.MAX_FILE_BYTES["midi"]:
        raise ScoreError(path, limits.too_big(len(data), limits.MAX_FILE_BYTES["midi"], "the MIDI file it makes"))
    atomic_write(path, lambda f: f.write(data))
