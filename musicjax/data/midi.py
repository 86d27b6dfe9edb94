"""MIDI files to Scores, and what reading and writing share (the lyric text convention, key
names). Reading decodes each track's bytes in compiled code (`midi_kernel.py`, numba) and builds
the Score here; writing is `midi_write.py` (mido), interop with pretty_midi and symusic objects
`midi_interop.py`.

How notes are read (the rule of pretty_midi, and of a General MIDI synthesizer such as FluidSynth):
a note-off (or a note-on of velocity 0) ends every sounding note of its channel and pitch that did
not begin at its own tick; a note-off that finds only notes begun at its own tick drops them; a
note never ended is dropped. A note belongs to the program its channel had at its note-on (the
sound it was begun with; pretty_midi takes the program at its note-off). Tempos, time and key
signatures are read from every track (pretty_midi reads them from the first only)."""

from __future__ import annotations

import functools
import operator
import struct

import numpy as np

from musicjax.data import limits
from musicjax.data.files import read_capped
from musicjax.data.score import (SYLLABIC, Metadata, Part, Score, ScoreError, lyric_columns,
                                 score_of_sorted_notes, text_columns)


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


@functools.lru_cache(maxsize=64)
def key_signature_name(fifths: int, minor: int) -> str:
    """A MIDI key signature (fifths: sharps > 0, flats < 0; minor 0/1) as 'F# minor' / 'Db major'."""
    return f"{_MIDO_MINOR[fifths][:-1]} minor" if minor else f"{_MIDO_MAJOR[fifths]} major"


def _key_number_to_fifths(number: int) -> tuple[int, int]:
    """A key number (`key_to_midi_number`) as the MIDI key signature (fifths, minor) that spells it."""
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


def _track_names(data: bytes, rows: np.ndarray) -> dict[int, str]:
    """Each track's (last) name, from the decoder's name rows [m, 5] of (track, tick, kind,
    payload start, payload length)."""
    rows = rows.tolist()
    return dict(zip([r[0] for r in rows], _payload_texts(data, rows))) if rows else {}


def _text_events(data: bytes, rows: np.ndarray) -> list[tuple[int, int, str, str]]:
    """The decoder's text rows (text FF 01, marker FF 06) as (track, tick, text, kind name) in file order."""
    rows = rows.tolist()
    return [(track, tick, text, "text" if k == 0x01 else "marker")
            for (track, tick, k, _, _), text in zip(rows, _payload_texts(data, rows))]


def _lyric_events(data: bytes, lyrics: np.ndarray) -> tuple:
    """The lyric events that are not blank among the decoder's lyric rows: track [k], tick [k],
    raw texts [k] (hyphens and verse tags on; `_lyrics_from_midi_texts`), one Python step each."""
    words = _payload_texts(data, lyrics.tolist())
    sung = [k for k, word in enumerate(words) if word.strip()]
    return lyrics[sung, 0], lyrics[sung, 1], [words[k] for k in sung]


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


@functools.cache
def _kernel():
    from musicjax.data import midi_kernel

    return midi_kernel


@functools.cache
def _lyrics_kernel():
    from musicjax.data import midi_lyrics_kernel

    return midi_lyrics_kernel


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
    timed, in compiled code (`midi_kernel.read_file`). A file beyond `musicjax.data.limits` is
    refused (ScoreError)."""
    if data is None:
        data = read_capped(path, limits.MAX_FILE_BYTES["midi"], "a MIDI file")
    tpq, pos, declared = _midi_header(path, data)
    columns, order, part_rows, metas, tempos, signatures, note_ons, tracks, extent, error = _kernel().read_file(
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
    problem = limits.extent_problem(len(order), float(extent[0]), float(extent[1]), tempos)
    if problem:  # the limits `io.read_scores` holds every Score to, checked here without its columns
        raise ScoreError(path, problem)
    names = _track_names(data, metas[0])
    parts = [_part(names.get(t, ""), program, channel == 9) for t, channel, program in part_rows.tolist()]
    title = names.get(0, "") if tracks > 1 else ""
    if len(metas[1]) or len(metas[2]):
        lyrics, in_order, title, texts = _words(path, data, tpq, title, columns, order, part_rows, *metas[1:])
    else:
        lyrics, in_order, texts = _NO_LYRICS, True, _NO_TEXTS
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
                                 time_signatures=time_rows, key_signatures=key_rows, texts=texts,
                                 lyrics_in_order=in_order)


@functools.lru_cache(maxsize=4096)
def _part(name: str, program: int, is_drum: bool) -> Part:
    """A Part, shared between the Scores that have it (it is frozen): most files name the same few."""
    return Part(name, program, is_drum)


_NO_LYRICS, _NO_TEXTS = lyric_columns(()), text_columns(())  # most files' (empty arrays, shared)


def _words(path, data: bytes, tpq: int, title: str, columns, order: np.ndarray, part_rows: np.ndarray,
           text_rows: np.ndarray, lyric_rows: np.ndarray) -> tuple[tuple, bool, str, tuple]:
    """(lyric columns (note index in the Score's order, texts, syllabic codes, verses), whether
    they are in the Score's order already, the title (`title`, else a karaoke file's), text
    columns (quarter, text, kind code) in time order) of the decoder's text and lyric rows
    [m, 5] of (track, tick, kind, payload start, payload length). The syllables, their notes
    (`midi_lyrics_kernel.attach_lyrics`, whose docstring gives the rule) and their order are
    found in compiled code (`midi_lyrics_kernel.sung_words`) and all texts decoded at once; what it
    declines takes `_words_general`, which it equals."""
    note, syllabic, verse, joined, plain, title_rows, text_q, text_kind, text_joined = _lyrics_kernel().sung_words(
        np.frombuffer(data, np.uint8), text_rows, lyric_rows, str(path).lower().endswith(".kar"), columns[0],
        columns[1], columns[6], order, part_rows, tpq, _SYLLABIC_OF_HYPHENS)
    texts, sung = _NO_TEXTS, []
    try:
        if len(text_q):
            joined_texts = text_joined.tobytes()
            plain = plain and joined_texts.count(0) == len(text_q) - 1  # else a payload holds a zero byte
            texts = (text_q, tuple(joined_texts.decode("utf-8").split("\x00")), text_kind)
        if plain and len(note):
            sung = joined.tobytes().decode("utf-8").split("\x00")
    except UnicodeDecodeError:  # the general path decodes such a text as Latin-1
        plain = False
    if not plain:
        return _words_general(path, data, tpq, title, columns, order, part_rows, text_rows, lyric_rows)
    if not title:
        for r in title_rows.tolist():  # the first karaoke track's "@T" header that holds a title
            title = _text(data[text_rows[r, 3] + 2:text_rows[r, 3] + text_rows[r, 4]]).strip()
            if title:
                break
    return (note, sung, syllabic, verse), True, title, texts


def _words_general(path, data: bytes, tpq: int, title: str, columns, order: np.ndarray, part_rows: np.ndarray,
                   text_rows: np.ndarray, lyric_rows: np.ndarray) -> tuple[tuple, bool, str, tuple]:
    """`_words` one Python step per event, the lyrics left for `score_of_sorted_notes` to order:
    the rule the compiled path is held to, and the path for what it declines."""
    texts = _text_events(data, text_rows)
    in_time = text_columns([(t / tpq, text, kind) for _, t, text, kind in sorted(texts, key=operator.itemgetter(1))])
    track, tick, raws = _lyric_events(data, lyric_rows)
    if not raws and texts:
        (track, tick, raws), karaoke_title = _karaoke_words(texts, str(path).lower().endswith(".kar"))
        title = title or karaoke_title
    if not raws:
        return _NO_LYRICS, True, title, in_time
    note, ordinal = _lyrics_kernel().attach_lyrics(columns[0], columns[1], columns[6], order, part_rows[:, 0],
                                                   part_rows[:, 1] == 9, track, tick, tpq)
    return (note, *_lyrics_from_midi_texts(raws, ordinal)), False, title, in_time


@functools.lru_cache(maxsize=4096)
def _metadata(title: str, key: str, meter: str) -> Metadata:
    """A MIDI file's Metadata, shared between the Scores that have it (it is frozen)."""
    return Metadata(title=title, key=key, meter=meter)


def _signature_rows(rows) -> list:
    """Signature rows (time, a, b) in time order, each once, a repeat of the one in force dropped:
    a signature repeated in several tracks is one signature (the reader's and the writer's rule)."""
    out = []
    for r in sorted(dict.fromkeys(tuple(r) for r in rows), key=lambda r: r[0]):
        if not out or tuple(out[-1][1:]) != tuple(r[1:]):
            out.append(r)
    return out


def _signature_map(rows: list, tpq: int) -> list:
    """(tick, a, b) rows in file order -> (quarter, a, b) rows of `_signature_rows`."""
    if len(rows) > 1:  # most files have one, or none
        rows = _signature_rows(rows)
    return [(r[0] / tpq, r[1], r[2]) for r in rows]


def _karaoke_words(texts: list, is_kar: bool) -> tuple[tuple, str]:
    """A karaoke file's syllables as lyric events (track [k], tick [k], raw texts; as `_lyric_events`)
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
