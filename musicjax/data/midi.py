"""MIDI files to and from Scores. Reading decodes each track's bytes in compiled code
(`midi_kernel.py`, numba) and builds the Score here; writing uses mido (`write_midi`).

How notes are read (the rule of pretty_midi, and of a General MIDI synthesizer such as FluidSynth):
a note-off (or a note-on of velocity 0) ends every sounding note of its channel and pitch that did
not begin at its own tick; a note-off that finds only notes begun at its own tick drops them; a
note never ended is dropped. A note belongs to the program its channel had at its note-on (the
sound it was begun with; pretty_midi takes the program at its note-off). Tempos, time and key
signatures are read from every track (pretty_midi reads them from the first only)."""

from __future__ import annotations

import functools
import io
import math
import os
import struct
from fractions import Fraction

import mido
import numpy as np

from musicjax.data import limits
from musicjax.data.files import atomic_write, read_capped
from musicjax.data.score import (DEFAULT_QPM, SYLLABIC, TEXT_KINDS, Metadata, Part, Score, ScoreError,
                                 lyric_columns, quarters_to_seconds, score_of_sorted_notes, select_notes)

TICKS_PER_QUARTER = 960  # divisible by 2, 3, 4, 5, 6, 8, 16, 32, 64: tuplets land on ticks
MAX_TICKS_PER_QUARTER = 0x7FFF  # the header's 15 bits
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


# syllabic code of (hyphen before, hyphen after), at 2 * before + after
_SYLLABIC_OF_HYPHENS = np.array([SYLLABIC.index(name) for name in ("single", "begin", "end", "middle")], np.int8)


def _verse_tag(raw: str) -> tuple[int | None, str]:
    """(the verse a "[vN]" prefix names, the rest), or (None, raw) without one."""
    if raw.startswith("[v") and "]" in raw:
        head, rest = raw[2:].split("]", 1)
        if head.isascii() and head.isdigit():  # what the writer puts there (str.isdigit takes "²" too)
            return int(head), rest
    return None, raw


def _lyrics_from_midi_texts(raws: list, ordinal: np.ndarray) -> tuple[list, np.ndarray, np.ndarray]:
    """Inverse of `_lyric_to_midi_text` over a track's raw lyrics, each the `ordinal`-th [k] on
    its note -> (texts, syllabic codes [k] int8, verses [k] int64), with no Python call per lyric
    unless one names its verse. A raw of one character is a single syllable, hyphen or not."""
    verse = ordinal
    if "\x00[v" in "\x00" + "\x00".join(raws):
        tagged = [_verse_tag(raw) for raw in raws]
        raws = [rest for _, rest in tagged]
        verse = np.array([n if v is None else v for (v, _), n in zip(tagged, ordinal.tolist())], np.int64)
    before = [len(raw) > 1 and raw[0] == "-" for raw in raws]
    after = [len(raw) > 1 and raw[-1] == "-" for raw in raws]
    texts = [raw[b:len(raw) - a] for raw, b, a in zip(raws, before, after)]
    codes = _SYLLABIC_OF_HYPHENS[2 * np.array(before, np.int64) + np.array(after, np.int64)]
    return texts, codes.reshape(-1), verse


# ---- key names ---------------------------------------------------------------------------------

_TONICS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def key_to_midi_number(key: str) -> int | None:
    """'F major' / 'g minor' / 'E- major' (music21's flat) -> key number (0-11 major, 12-23 minor,
    by tonic pitch class, as pretty_midi numbers them); None otherwise."""
    words = key.split()
    if len(words) != 2 or words[1].lower() not in ("major", "minor") or not words[0]:
        return None
    tonic, accidentals = words[0][0].lower(), words[0][1:].replace("-", "b")
    if tonic not in _TONICS or any(a not in "#b" for a in accidentals):
        return None
    pc = (_TONICS[tonic] + accidentals.count("#") - accidentals.count("b")) % 12
    return pc + (12 if words[1].lower() == "minor" else 0)


def midi_number_to_key(number: int) -> str:
    """Key number -> 'C# minor' / 'Db major', spelled as its key signature (sharps or flats)."""
    return key_signature_name(*_key_number_to_fifths(number))


@functools.lru_cache(maxsize=64)
def key_signature_name(fifths: int, minor: int) -> str:
    return f"{_MIDO_MINOR[fifths][:-1]} minor" if minor else f"{_MIDO_MAJOR[fifths]} major"


def key_signature_number(fifths: int, minor: int) -> int:
    """A MIDI key signature (sharps > 0, flats < 0; minor 0/1) as a key number."""
    return (fifths * 7 + (9 if minor else 0)) % 12 + (12 if minor else 0)


def _key_number_to_fifths(number: int) -> tuple[int, int]:
    minor = int(number >= 12)
    pc = (number % 12 - (9 if minor else 0)) % 12
    fifths = (pc * 7) % 12  # pc = 7 * fifths (mod 12); 7 is its own inverse mod 12
    return (fifths - 12 if fifths > 6 else fifths), minor  # F# major / D# minor: 6 sharps


_MIDO_MAJOR = {-7: "Cb", -6: "Gb", -5: "Db", -4: "Ab", -3: "Eb", -2: "Bb", -1: "F", 0: "C", 1: "G", 2: "D", 3: "A",
               4: "E", 5: "B", 6: "F#", 7: "C#"}
_MIDO_MINOR = {-7: "Abm", -6: "Ebm", -5: "Bbm", -4: "Fm", -3: "Cm", -2: "Gm", -1: "Dm", 0: "Am", 1: "Em", 2: "Bm",
               3: "F#m", 4: "C#m", 5: "G#m", 6: "D#m", 7: "A#m"}


# ---- reading: the file's chunks ----------------------------------------------------------------


def _midi_header(path, data: bytes) -> tuple[int, int, int]:
    """(ticks per quarter, where the chunks after the header start in `data`, the tracks the
    header declares); refuses what no parser should be handed."""
    if not data:
        raise ScoreError(path, "empty file")
    start = 0
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":  # RIFF-wrapped MIDI (.rmi)
        start = max(data.find(b"MThd"), 0)
    if data[start:start + 4] != b"MThd" or len(data) < start + 14:
        raise ScoreError(path, "not a readable MIDI file (no MThd header)")
    header_len, _, declared, division = struct.unpack_from(">IHHH", data, start + 4)
    if division == 0:
        raise ScoreError(path, "0 ticks per quarter note")
    if division & 0x8000:  # the header's top bit: SMPTE frames, not ticks per quarter
        raise ScoreError(path, "SMPTE time division, which is not supported (only ticks per quarter note)")
    if declared > limits.MAX_MIDI_TRACKS:
        raise ScoreError(path, f"{declared:,} tracks; the limit is {limits.MAX_MIDI_TRACKS:,}")
    return division, start + 8 + header_len, declared


class _Metas:
    """A file's text meta events, in ticks, in file order (track by track), from the decoder's
    rows (`midi_kernel.read_file`'s metas: names, texts, lyrics; each [m, 5] of (track, tick,
    kind, payload start, payload length))."""

    def __init__(self, data: bytes, metas: tuple):
        names, texts, lyrics = metas
        self.names: dict[int, str] = {}  # track -> its (last) name
        for track, _, _, at, size in names.tolist():
            self.names[track] = _text(data[at:at + size])
        # lyric events: track [k], tick [k] (tracks ascending, file order within one), texts
        # [k], syllabic codes [k] (None: the texts are raw, hyphens on; `_lyrics_from_midi_texts`)
        self.lyrics: tuple = _lyric_events(data, lyrics) if len(lyrics) else _NO_LYRIC_EVENTS
        texts = texts.tolist()  # text (FF 01), marker (FF 06)
        self.texts: list = [(track, tick, text, "text" if k == 0x01 else "marker")  # (track, tick, text, kind)
                            for (track, tick, k, _, _), text in zip(texts, _payload_texts(data, texts))]


_NO_LYRIC_EVENTS = (np.empty(0, np.int64), np.empty(0, np.int64), (), None)


def _lyric_events(data: bytes, lyrics: np.ndarray, compiled: bool = True) -> tuple:
    """`_Metas.lyrics` of the lyric rows `lyrics`: hyphens and blanks settled in compiled code
    and the texts decoded at once where they allow it (`midi_kernel.lyric_payloads`), else (or
    not `compiled`) raw text by text."""
    rows, hyphens, joined, plain = _kernel().lyric_payloads(np.frombuffer(data, np.uint8), lyrics)
    if plain and compiled:
        try:
            texts = joined.tobytes().decode("utf-8").split("\x00") if len(rows) else []
        except UnicodeDecodeError:
            pass
        else:
            return lyrics[rows, 0], lyrics[rows, 1], texts, _SYLLABIC_OF_HYPHENS[hyphens]
    words = _payload_texts(data, lyrics.tolist())
    sung = [k for k, word in enumerate(words) if word.strip()]
    return lyrics[sung, 0], lyrics[sung, 1], [words[k] for k in sung], None


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin1")


def _payload_texts(data: bytes, rows: list) -> list[str]:
    """The payloads of meta rows [(track, tick, kind, payload start, length)] as text, each as
    `_text` decodes it: joined and decoded at once (a lyric-heavy file has thousands), one by one
    if a payload holds a zero byte or is not UTF-8."""
    if not rows:
        return []
    chunks = [data[r[3]:r[3] + r[4]] for r in rows]
    joined = b"\x00".join(chunks)
    if joined.count(0) == len(chunks) - 1:
        try:
            return joined.decode("utf-8").split("\x00")
        except UnicodeDecodeError:
            pass
    return [_text(chunk) for chunk in chunks]


# ---- reading: the compiled track decoder ---------------------------------------------------


def _symusic_parse(data: bytes):
    import symusic

    return symusic.Score.from_midi(data)


@functools.cache
def _kernel():
    from musicjax.data import midi_kernel

    return midi_kernel


_DECODE_ERRORS = {
    1: lambda tick, value: f"a system message (status {value:#x}) inside a track at tick {tick}",
    2: lambda tick, value: f"running status without a status byte at tick {tick}",
    3: lambda tick, value: f"a data byte of {value} at tick {tick}",
    4: lambda tick, value: f"a data byte over 127 at tick {tick}",
    5: lambda tick, value: f"a variable-length number of more than 8 bytes after tick {tick}",
    6: lambda tick, value: f"a time past 2**53 ticks after tick {tick}",
}


# ---- reading: the Score ------------------------------------------------------------------------


def read_midi(path, data: bytes | None = None) -> Score:
    """Read a .mid/.kar file (or its bytes `data`, `path` then only names it): every track's notes
    by the rule in this module's docstring, one part per (track, channel, program); tempo, time and
    key signature maps; lyrics, each on the note of its own track starting at its tick (the highest
    such note), else the next note of that track; text events and markers. A karaoke file's words
    (text events, no lyric events) become lyrics. The events are decoded, and the notes sorted and
    timed, in compiled code (`midi_kernel.read_file`)."""
    if data is None:
        data = read_capped(path, limits.MAX_FILE_BYTES["midi"], "a MIDI file")
    tpq, pos, declared = _midi_header(path, data)
    columns, order, part_rows, metas, tempos, signatures, note_ons, tracks, error = _kernel().read_file(
        np.frombuffer(data, np.uint8), pos, declared, tpq, limits.MAX_NOTES)
    if error[1] == _kernel().TRUNCATED:
        raise ScoreError(path, f"not a readable MIDI file (truncated: track {int(error[0]) + 1} holds "
                               f"{int(error[2]):,} of its {int(error[3]):,} bytes)")
    if error[1]:
        raise ValueError(_DECODE_ERRORS[int(error[1])](int(error[2]), int(error[3])))
    if note_ons > limits.MAX_NOTES:
        raise ScoreError(path, f"{note_ons:,} notes; the limit is {limits.MAX_NOTES:,}")
    if not len(order):
        raise ScoreError(path, "MIDI file has no notes")
    if len(part_rows) > limits.MAX_PARTS:
        raise ScoreError(path, f"{len(part_rows):,} parts (tracks x channels x programs); the limit is "
                               f"{limits.MAX_PARTS:,}")
    if error[4] >= 0:
        raise ScoreError(path, f"a tempo of {int(error[5])} microseconds per quarter note at tick {int(error[4])}")
    found = _Metas(data, metas)
    names = found.names
    parts = [_part(names.get(t, ""), program, channel == 9) for t, channel, program in part_rows.tolist()]
    if found.lyrics[2] or found.texts:
        lyrics, title, texts = _words(path, tpq, tracks, columns, order, part_rows, found)
    else:
        lyrics, texts = lyric_columns(()), []
        title = names.get(0, "") if tracks > 1 else ""
    time_rows, key_rows = [], []  # [tick, a, b] of the time and key signatures that mean something
    for kind, tick, a, b in signatures.tolist():
        if kind == 0x58:
            if a > 0 and b > 0:
                time_rows.append((tick, a, b))
        elif -7 <= a <= 7 and b in (0, 1):
            key_rows.append((tick, a, b))
    time_rows, key_rows = _signature_map(time_rows, tpq), _signature_map(key_rows, tpq)
    meta = _metadata(title, key_signature_name(*key_rows[0][1:]) if key_rows else "",
                     f"{time_rows[0][1]}/{time_rows[0][2]}" if time_rows else "")
    # the Score `make_score` builds from these notes (tests/data/test_midi_reader_vs_pretty_midi.py
    # holds it to that), sorted and timed in compiled code
    return score_of_sorted_notes(*columns, parts=parts, lyrics=lyrics, tempos=tempos, meta=meta,
                                 time_signatures=time_rows, key_signatures=key_rows,
                                 texts=[(t / tpq, text, kind) for t, text, kind in texts])


@functools.lru_cache(maxsize=4096)
def _part(name: str, program: int, is_drum: bool) -> Part:
    """A Part, shared between the Scores that have it (it is frozen): most files name the same few."""
    return Part(name, program, is_drum)


def _words(path, tpq: int, num_tracks: int, columns, order: np.ndarray, part_rows: np.ndarray,
           found: _Metas) -> tuple[tuple, str, list]:
    """(lyric columns (note index in the Score's order, texts, syllabic codes, verses), the title,
    text rows (tick, text, kind) in time order). The notes are chosen in compiled code
    (`midi_kernel.attach_lyrics`, whose docstring gives the rule)."""
    title = found.names.get(0, "") if num_tracks > 1 else ""
    texts = sorted((r[1:] for r in found.texts), key=lambda r: r[0])
    track, tick, raws, codes = found.lyrics
    if not raws and found.texts:
        (track, tick, raws), karaoke_title = _karaoke_words(found.texts, str(path).lower().endswith(".kar"))
        title = title or karaoke_title
    if not raws:
        return lyric_columns(()), title, texts
    note, ordinal = _kernel().attach_lyrics(columns[0], columns[1], columns[6], order, part_rows[:, 0],
                                            part_rows[:, 1] == 9, track, tick, tpq)
    if codes is not None:  # texts without hyphens or verse tags (`_lyric_events`)
        return (note, raws, codes, ordinal), title, texts
    return (note, *_lyrics_from_midi_texts(raws, ordinal)), title, texts


@functools.lru_cache(maxsize=4096)
def _metadata(title: str, key: str, meter: str) -> Metadata:
    """A MIDI file's Metadata, shared between the Scores that have it (it is frozen)."""
    return Metadata(title=title, key=key, meter=meter)


def _signature_map(rows: list, tpq: int) -> list:
    """(tick, a, b) rows in file order -> (quarter, a, b) rows in time order, each once: a
    signature repeated in several tracks is one signature."""
    if len(rows) <= 1:  # most files: one, or none
        return [(r[0] / tpq, r[1], r[2]) for r in rows]
    out = []
    for r in sorted(dict.fromkeys(rows), key=lambda r: r[0]):
        if not out or out[-1][1:] != r[1:]:
            out.append((r[0] / tpq, r[1], r[2]))
    return out


def _karaoke_words(texts: list, is_kar: bool) -> tuple[tuple, str]:
    """A karaoke file's syllables as lyric events (track [k], tick [k], texts; as `_Metas.lyrics`)
    and its title (the first '@T' line), from the file's text events [(track, tick, text, kind)].
    Soft Karaoke words are text events: '@' lines are headers, '/' starts a line and '\\' a
    verse, a syllable starting with a space starts a word."""
    out, title = [], ""  # (track, tick, text) in track order
    for ti in sorted({r[0] for r in texts}):
        words = [(t, x) for track, t, x, kind in texts if track == ti and kind == "text"]
        headers = [x for _, x in words if x.startswith("@")]
        if not words or not (is_kar or any(h[:2] in ("@K", "@L", "@T") for h in headers)):
            continue
        title = title or next((h[2:].strip() for h in headers if h.startswith("@T")), "")
        syllables = []
        for t, raw in words:
            if raw.startswith("@"):
                continue
            starts = not syllables or raw[:1] in (" ", "/", "\\") or syllables[-1][2]
            text = raw.strip(" /\\\r\n\t")
            if text:
                syllables.append([t, text, raw.endswith(" "), starts])
        for k, (t, text, _, starts) in enumerate(syllables):
            ends = k + 1 == len(syllables) or syllables[k + 1][3]
            out.append((ti, t, ("" if starts else "-") + text + ("" if ends else "-")))
    return (np.array([r[0] for r in out], np.int64), np.array([r[1] for r in out], np.int64),
            [r[2] for r in out]), title


# ---- writing -----------------------------------------------------------------------------------


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


def _signature_rows(rows) -> list:
    """Signature rows (time, a, b) in time order, each once, a repeat of the one in force dropped:
    a signature repeated in several tracks is one signature."""
    out = []
    for r in sorted(dict.fromkeys(tuple(r) for r in rows), key=lambda r: r[0]):
        if not out or tuple(out[-1][1:]) != tuple(r[1:]):
            out.append(r)
    return out


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


# ---- interop: pretty_midi and symusic objects ---------------------------------------------------


def score_to_pretty_midi(score: Score):
    """The score as a `pretty_midi.PrettyMIDI` (for synthesis, or a user's own code), via the bytes
    `write_midi` writes at 960 ticks per quarter (pretty_midi allocates an array per tick)."""
    import pretty_midi

    return pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(score, TICKS_PER_QUARTER)))


def pretty_midi_to_score(pm, name: str = "<pretty_midi>") -> Score:
    """A `pretty_midi.PrettyMIDI` as a Score: the MIDI bytes it writes, read by `read_midi`."""
    buf = io.BytesIO()
    pm.write(buf)
    return read_midi(name, buf.getvalue())


def score_to_symusic(score: Score):
    """The score as a `symusic.Score` (ticks), via the bytes `write_midi` writes."""
    return _symusic_parse(midi_bytes(score))


def symusic_to_score(sym, name: str = "<symusic>") -> Score:
    """A `symusic.Score` (any time unit) as a Score: the MIDI bytes it writes, read by `read_midi`."""
    return read_midi(name, bytes(sym.to("tick").dumps_midi() if sym.ttype != "Tick" else sym.dumps_midi()))
