"""MIDI files to and from Scores. Reading goes through pretty_midi (notes, tempo map, key, meter)
plus one pass over the raw tracks for lyrics; writing uses mido directly (see `write_midi`)."""

from __future__ import annotations

import io
import os
import warnings

import mido
import numpy as np
import pretty_midi

from musicjax.data import limits
from musicjax.data.files import atomic_write, read_capped
from musicjax.data.score import SYLLABIC, Metadata, Part, Score, ScoreError, cut_unison_overlaps, make_score, quarters_to_seconds

TICKS_PER_QUARTER = 960  # divisible by 2, 3, 4, 5, 6, 8, 16, 32, 64: tuplets land on ticks
DEFAULT_VELOCITY = 80


# ---- lyric text <-> (text, syllabic, verse) --------------------------------------------------
# A MIDI lyric event holds one string. Syllabic position uses the karaoke hyphen convention
# ("Je-", "-su-", "-su"); a verse other than the note's next ordinal is written as a "[vN]" prefix,
# so every lyric of a Score survives the trip while plain files stay readable elsewhere.


def _lyric_to_midi_text(text: str, syllabic: int, verse: int, ordinal: int) -> str:
    name = SYLLABIC[syllabic]
    if name in ("middle", "end"):
        text = "-" + text
    if name in ("begin", "middle"):
        text = text + "-"
    return text if verse == ordinal else f"[v{verse}]{text}"


def _lyric_from_midi_text(raw: str, ordinal: int) -> tuple[str, str, int]:
    verse = ordinal
    if raw.startswith("[v") and "]" in raw:
        head, rest = raw[2:].split("]", 1)
        if head.isdigit():
            verse, raw = int(head), rest
    leading = len(raw) > 1 and raw.startswith("-")
    trailing = len(raw) > 1 and raw.endswith("-")
    text = raw[1 if leading else 0 : len(raw) - (1 if trailing else 0)]
    syllabic = {(False, False): "single", (False, True): "begin", (True, True): "middle", (True, False): "end"}
    return text, syllabic[(leading, trailing)], verse


# ---- key names ---------------------------------------------------------------------------------


def key_to_midi_number(key: str) -> int | None:
    """'F major' / 'g minor' -> pretty_midi key number (0-11 major, 12-23 minor); None otherwise."""
    parts = key.split()
    if len(parts) != 2 or parts[1].lower() not in ("major", "minor"):
        return None
    try:
        return pretty_midi.key_name_to_key_number(f"{parts[0]} {parts[1].capitalize()}")
    except ValueError:
        return None


def midi_number_to_key(number: int) -> str:
    tonic, mode = pretty_midi.key_number_to_key_name(number).split()
    return f"{tonic} {mode.lower()}"


# ---- reading -----------------------------------------------------------------------------------


def _load_midi(path, data: bytes) -> tuple[pretty_midi.PrettyMIDI, mido.MidiFile]:
    """Parse MIDI bytes, refusing before pretty_midi's work (and its divisions) what it cannot
    hold or what is beyond `limits`. Other failures propagate to the reader boundary (io.py)."""
    if not data:
        raise ScoreError(path, "empty file")
    for charset in ("utf-8", "latin1"):
        try:
            mf = mido.MidiFile(file=io.BytesIO(data), charset=charset)
            break
        except UnicodeDecodeError as e:
            last_error = e
    else:
        raise ScoreError(path, f"undecodable text in MIDI meta events ({last_error})")
    if mf.ticks_per_beat == 0:
        raise ScoreError(path, "0 ticks per quarter note")
    if mf.ticks_per_beat < 0:  # the header's top bit: SMPTE frames, not ticks per quarter
        raise ScoreError(path, "SMPTE time division, which is not supported (only ticks per quarter note)")
    if len(mf.tracks) > limits.MAX_MIDI_TRACKS:
        raise ScoreError(path, f"{len(mf.tracks):,} tracks; the limit is {limits.MAX_MIDI_TRACKS:,}")
    notes, last_tick = 0, 0
    for track in mf.tracks:
        tick = 0
        for m in track:
            tick += m.time
            if m.type == "note_on" and m.velocity > 0:
                notes += 1
            elif m.type == "set_tempo" and m.tempo <= 0:
                raise ScoreError(path, f"a tempo of {m.tempo} microseconds per quarter note at tick {tick}")
        last_tick = max(last_tick, tick)
    if notes > limits.MAX_NOTES:
        raise ScoreError(path, f"{notes:,} notes; the limit is {limits.MAX_NOTES:,}")
    if last_tick / mf.ticks_per_beat > limits.MAX_QUARTERS:
        raise ScoreError(path, f"lasts {last_tick / mf.ticks_per_beat:,.0f} quarter notes; "
                               f"the limit is {limits.MAX_QUARTERS:,.0f}")
    if last_tick >= limits.MAX_MIDI_TICKS:
        raise ScoreError(path, f"{last_tick:,} ticks long at {mf.ticks_per_beat} per quarter; "
                               f"the limit is {limits.MAX_MIDI_TICKS:,} ticks")
    with warnings.catch_warnings():  # pretty_midi warns about meta events outside track 0
        warnings.simplefilter("ignore")
        return pretty_midi.PrettyMIDI(mido_object=mf), mf  # converts mf's times to absolute ticks


def read_midi(path, data: bytes | None = None) -> Score:
    """Read a .mid file (or its bytes `data`, `path` then only names it). Lyric events attach to
    the note of their own track starting at their tick (the highest such note), else the next note
    of that track."""
    if data is None:
        data = read_capped(path, limits.MAX_FILE_BYTES["midi"], "a MIDI file")
    pm, mf = _load_midi(path, data)
    res = pm.resolution
    tick = lambda seconds: pm.time_to_tick(seconds)

    note_ons = [{(m.time, m.note) for m in tr if m.type == "note_on" and m.velocity > 0} for tr in mf.tracks]
    pitch, start_q, end_q, vel, part_of, parts, track_of_part = [], [], [], [], [], [], []
    for inst in pm.instruments:
        if not inst.notes:
            continue
        notes = sorted(inst.notes, key=lambda n: (n.start, n.pitch))
        onsets = {(tick(n.start), n.pitch) for n in notes}
        # the track holding all of this instrument's onsets; of several, one not yet taken
        fits = [i for i, s in enumerate(note_ons) if onsets <= s]
        free = [i for i in fits if i not in track_of_part]
        track_of_part.append((free or fits or [-1])[0])
        for n in notes:
            pitch.append(n.pitch)
            start_q.append(tick(n.start) / res)
            end_q.append(tick(n.end) / res)
            vel.append(n.velocity)
            part_of.append(len(parts))
        parts.append(Part(inst.name, int(inst.program), bool(inst.is_drum)))
    if not pitch:
        raise ScoreError(path, "MIDI file has no notes")

    pitch, start_q, end_q, part_of = map(np.asarray, (pitch, start_q, end_q, part_of))
    lyrics = []
    for ti, tr in enumerate(mf.tracks):
        events = [(m.time, m.text) for m in tr if m.type == "lyrics" and m.text.strip()]
        if not events:
            continue
        mine = np.flatnonzero(np.isin(part_of, [p for p, t in enumerate(track_of_part) if t == ti]))
        if mine.size == 0:  # lyrics in a track without notes (e.g. track 0): any part may take them
            mine = np.arange(len(pitch))
        # A lyric at a note's start goes to the highest such note (of equal ones, the first),
        # else to the next note to start (the first of them); found by binary search, since a
        # scan of the track per lyric is quadratic in a long texted piece.
        by_pitch = mine[np.lexsort((mine, -pitch[mine], start_q[mine]))]
        by_index = mine[np.lexsort((mine, start_q[mine]))]
        starts_by_pitch, starts_by_index = start_q[by_pitch], start_q[by_index]
        ordinal = {}
        for t, raw in events:
            q = t / res
            k = int(np.searchsorted(starts_by_pitch, q))
            if k < len(by_pitch) and starts_by_pitch[k] == q:
                note = int(by_pitch[k])
            else:
                k = int(np.searchsorted(starts_by_index, q))
                note = int(by_index[k]) if k < len(by_index) else int(mine[-1])
            ordinal[note] = ordinal.get(note, 0) + 1
            text, syllabic, verse = _lyric_from_midi_text(raw, ordinal[note])
            lyrics.append((note, text, syllabic, verse))

    times, qpms = pm.get_tempo_changes()
    tempos = [(tick(t) / res, float(q)) for t, q in zip(times, qpms)]
    meta = Metadata(
        title=next((m.name for m in mf.tracks[0] if m.type == "track_name"), "") if len(mf.tracks) > 1 else "",
        key=midi_number_to_key(pm.key_signature_changes[0].key_number) if pm.key_signature_changes else "",
        meter=(f"{pm.time_signature_changes[0].numerator}/{pm.time_signature_changes[0].denominator}"
               if pm.time_signature_changes else ""),
    )
    return make_score(pitch, start_q, end_q, velocity=vel, part=part_of, parts=parts, lyrics=lyrics,
                      tempos=tempos, meta=meta)


# ---- writing -----------------------------------------------------------------------------------


def midi_representable(score: Score) -> Score:
    """The score as a MIDI file can hold it, since one channel has one key per pitch: of notes of
    one part and pitch starting together only the longest stays (their lyrics move to it), and a
    note is cut where the same pitch starts again in its part. Tempos are whole microseconds per
    quarter, so seconds follow from the rounded tempo map."""
    tempos = score.tempos.copy()
    tempos[:, 1] = 60e6 / np.array([mido.bpm2tempo(q) for q in tempos[:, 1]], np.float64)
    if not np.array_equal(tempos, score.tempos):
        score = score.replace(tempos=tempos, start=quarters_to_seconds(score.start_q, tempos),
                              end=quarters_to_seconds(score.end_q, tempos))
    return cut_unison_overlaps(score)


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


def score_to_midifile(score: Score, ticks_per_quarter: int = TICKS_PER_QUARTER) -> mido.MidiFile:
    """A type-1 MidiFile: a conductor track (title, tempo map, meter, key), then one track per part
    holding its notes and, just before each note-on, that note's lyrics (`midi_representable`
    says which notes are cut).

    Written with mido rather than pretty_midi because pretty_midi puts every lyric in track 0, which
    loses the part a lyric belongs to (a chorale has four texted voices).
    """
    score = midi_representable(score)
    to_tick = lambda q: int(round(float(q) * ticks_per_quarter))
    mf = mido.MidiFile(type=1, ticks_per_beat=ticks_per_quarter, charset="utf-8")
    conductor = [(0, 0, mido.MetaMessage("track_name", name=score.meta.title, time=0))]
    for q, qpm in score.tempos:
        conductor.append((to_tick(q), 1, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(qpm), time=0)))
    if score.meta.meter and "/" in score.meta.meter:
        num, den = (int(x) for x in score.meta.meter.split("/"))
        if den > 0 and (den & (den - 1)) == 0:
            conductor.append((0, 1, mido.MetaMessage("time_signature", numerator=num, denominator=den, time=0)))
    key_number = key_to_midi_number(score.meta.key)
    if key_number is not None:
        conductor.append((0, 1, mido.MetaMessage("key_signature", key=midi_number_to_key(key_number)
                                                 .replace(" major", "").replace(" minor", "m"), time=0)))
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


MIN_MIDI_QPM = 60e6 / 0xFFFFFF  # a MIDI tempo is 1 to 2**24 - 1 microseconds per quarter note


def write_midi(score: Score, path: str | os.PathLike) -> None:
    """Write `score` to a .mid file atomically (temporary file, then rename). Refuses (ScoreError)
    what `read_midi` would refuse: the bytes are made in memory and checked first."""
    qpm = score.tempos[:, 1]
    if not ((qpm >= MIN_MIDI_QPM) & (qpm <= 60e6)).all():
        raise ScoreError(path, f"a tempo of {qpm[(qpm < MIN_MIDI_QPM) | (qpm > 60e6)][0]:g} quarter notes per "
                               f"minute; MIDI holds {MIN_MIDI_QPM:.2f} to 60,000,000")
    buf = io.BytesIO()
    score_to_midifile(score).save(file=buf)
    data = buf.getvalue()
    if len(data) > limits.MAX_FILE_BYTES["midi"]:
        raise ScoreError(path, limits.too_big(len(data), limits.MAX_FILE_BYTES["midi"], "the MIDI file it makes"))
    atomic_write(path, lambda f: f.write(data))


def score_to_pretty_midi(score: Score) -> pretty_midi.PrettyMIDI:
    """The score as a PrettyMIDI object (for synthesis), via the same bytes `write_midi` writes."""
    buf = io.BytesIO()
    score_to_midifile(score).save(file=buf)
    buf.seek(0)
    return pretty_midi.PrettyMIDI(buf)
