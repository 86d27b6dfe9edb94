"""The `Score`: a piece of music as numpy arrays, the one currency every reader, codec and writer
shares. Notes carry both clock time (seconds) and musical time (quarter notes)."""

from __future__ import annotations

import dataclasses
import operator
from typing import Sequence

import numpy as np

SYLLABIC = ("single", "begin", "middle", "end")  # lyric syllable positions, index = stored code
TEXT_KINDS = ("text", "marker")  # MIDI text (FF 01, karaoke words) and marker (FF 06) events, index = stored code
DEFAULT_QPM = 120.0  # MIDI's (and music21's) tempo when a source states none


class ScoreError(Exception):
    """A file or input that cannot be turned into a Score; `str(e)` is '<path>: <reason>'."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclasses.dataclass(frozen=True)
class Part:
    """One instrument or voice."""

    name: str = ""
    program: int = 0  # General MIDI program, 0-127
    is_drum: bool = False


@dataclasses.dataclass(frozen=True)
class Metadata:
    """What the source says about the piece; empty string where it says nothing."""

    title: str = ""
    composer: str = ""
    key: str = ""  # e.g. "F major", "g minor" (tonic name, mode)
    meter: str = ""  # e.g. "3/4"
    source_id: str = ""  # stable id within musicjax, e.g. "bach/bwv253", "essen/kinder0/12"
    collection: str = ""  # sub-collection or book, e.g. "han1", "oneills1850"
    region: str = ""  # where the source places the tune, e.g. "Asien, Ostasien, China"
    tune_type: str = ""  # reel, jig, hornpipe, ... (ABC `R:` field)


@dataclasses.dataclass(frozen=True, eq=False)
class Score:
    """Notes, lyrics, tempo map and metadata of one piece.

    Notes are sorted by (start_q, part, pitch). Arrays, all of length n:
      pitch [n] int16 MIDI pitch; start/end [n] float64 seconds; start_q/end_q [n] float64 quarter
      notes from the beginning; velocity [n] int16 1-127; part [n] int16 index into `parts`.
    Lyrics, all of length m: lyric_note [m] int32 index of the note sung; lyric_text [m] str;
    lyric_syllabic [m] int8 index into SYLLABIC; lyric_verse [m] int8 verse number from 1.
    tempos [k, 2] float64 rows of (quarter, qpm), first row at quarter 0.
    The maps a source states (empty where it states none; `meta.meter` and `meta.key` name the
    first): time_signatures [t, 3] float64 rows of (quarter, numerator, denominator);
    key_signatures [s, 3] float64 rows of (quarter, fifths -7..7, minor 0/1). Text events, all of
    length x: text_q [x] float64 quarter; text [x] str; text_kind [x] int8 index into TEXT_KINDS.
    pickup_q: quarters before the first bar line (an anacrusis; 0.0 when the piece starts on a
    downbeat), as notation states it; None where the source does not say (MIDI has no bar lines).
    """

    pitch: np.ndarray
    start: np.ndarray
    end: np.ndarray
    start_q: np.ndarray
    end_q: np.ndarray
    velocity: np.ndarray
    part: np.ndarray
    parts: tuple[Part, ...]
    lyric_note: np.ndarray
    lyric_text: tuple[str, ...]
    lyric_syllabic: np.ndarray
    lyric_verse: np.ndarray
    tempos: np.ndarray
    meta: Metadata = Metadata()
    time_signatures: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 3)))
    key_signatures: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 3)))
    text_q: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    text: tuple[str, ...] = ()
    text_kind: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int8))
    pickup_q: float | None = None

    @property
    def first_downbeat_q(self) -> float:
        """Quarter of the first bar line: the pickup's length, 0.0 when no pickup is known."""
        return float(self.pickup_q or 0.0)

    @property
    def num_notes(self) -> int:
        return int(self.pitch.shape[0])

    @property
    def qpm(self) -> float:
        """The opening tempo in quarter notes per minute."""
        return float(self.tempos[0, 1])

    @property
    def duration(self) -> float:
        """Seconds from 0 to the last note's end."""
        return float(self.end.max()) if self.num_notes else 0.0

    @property
    def duration_q(self) -> float:
        return float(self.end_q.max()) if self.num_notes else 0.0

    def part_notes(self, index: int) -> np.ndarray:
        """Indices of the notes of part `index`, in time order."""
        return np.flatnonzero(self.part == index)

    def replace(self, **changes) -> "Score":
        return dataclasses.replace(self, **changes)


def quarters_to_seconds(quarters: np.ndarray, tempos: np.ndarray) -> np.ndarray:
    """Map quarter-note positions to seconds through a piecewise-constant tempo map [k, 2]."""
    quarters = np.asarray(quarters, np.float64)
    tq, qpm = tempos[:, 0], tempos[:, 1]
    if len(tq) == 1:  # one tempo (most pieces): no segments to look up (0.0 + as below: -0.0 -> 0.0)
        return 0.0 + (quarters - tq[0]) * 60.0 / qpm[0]
    seg_start = np.zeros(len(tq))
    np.cumsum((tq[1:] - tq[:-1]) * 60.0 / qpm[:-1], out=seg_start[1:])
    i = np.maximum(np.searchsorted(tq, quarters, side="right") - 1, 0)  # at most len(tq) - 1
    return seg_start[i] + (quarters - tq[i]) * 60.0 / qpm[i]


def seconds_to_quarters(seconds: np.ndarray, tempos: np.ndarray) -> np.ndarray:
    """Inverse of `quarters_to_seconds`."""
    seconds = np.asarray(seconds, np.float64)
    tq, qpm = tempos[:, 0], tempos[:, 1]
    seg_start = quarters_to_seconds(tq, tempos)
    i = np.clip(np.searchsorted(seg_start, seconds, side="right") - 1, 0, len(tq) - 1)
    return tq[i] + (seconds - seg_start[i]) * qpm[i] / 60.0


def make_score(
    pitch: Sequence[int],
    start_q: Sequence[float],
    end_q: Sequence[float],
    *,
    velocity: Sequence[int] | int = 80,
    part: Sequence[int] | int = 0,
    parts: Sequence[Part] = (Part(),),
    lyrics: Sequence[tuple[int, str, str, int]] = (),
    tempos: Sequence[tuple[float, float]] | np.ndarray = ((0.0, DEFAULT_QPM),),
    meta: Metadata = Metadata(),
    time_signatures: Sequence[tuple[float, int, int]] | np.ndarray = (),
    key_signatures: Sequence[tuple[float, int, int]] | np.ndarray = (),
    texts: Sequence[tuple[float, str, str]] = (),
    pickup_q: float | None = None,
) -> Score:
    """Build a Score from quarter-note times; seconds follow from the tempo map.

    `lyrics` rows are (note index in the given order, text, syllabic name, verse). Notes are sorted
    and lyric note indices remapped to match. `texts` rows are (quarter, text, kind name).
    """
    n = len(pitch)
    tempos = np.asarray(tempos, np.float64).reshape(-1, 2)
    if tempos.shape[0] == 0 or tempos[0, 0] != 0.0:
        tempos = np.concatenate([[[0.0, DEFAULT_QPM if tempos.shape[0] == 0 else tempos[0, 1]]], tempos])
    pitch = np.asarray(pitch, np.int16).reshape(n)
    start_q = np.asarray(start_q, np.float64).reshape(n)
    end_q = np.asarray(end_q, np.float64).reshape(n)
    velocity, part = (np.asarray(x, np.int16) for x in (velocity, part))
    velocity, part = (x if x.shape == (n,) else np.broadcast_to(x, (n,)) for x in (velocity, part))
    order = np.lexsort((pitch, part, start_q))
    note, text, syllabic, verse = lyric_columns(lyrics)
    if len(note):  # note indices into the sorted notes
        new_index = np.empty(n, np.int64)
        new_index[order] = np.arange(n)
        note = new_index[note]
    # seconds of starts and ends in one lookup of the tempo map
    quarters = np.concatenate([start_q[order], end_q[order]])
    seconds = quarters_to_seconds(quarters, tempos)
    return score_of_sorted_notes(
        pitch[order], quarters[:n], quarters[n:], seconds[:n], seconds[n:], velocity[order], part[order],
        parts=parts, lyrics=(note, text, syllabic, verse), tempos=tempos, meta=meta,
        time_signatures=time_signatures, key_signatures=key_signatures, texts=text_columns(texts), pickup_q=pickup_q)


def lyric_columns(rows: Sequence[tuple[int, str, str, int]]) -> tuple[np.ndarray, list, np.ndarray, np.ndarray]:
    """Lyric rows (note index, text, syllabic name, verse) -> the columns `score_of_sorted_notes`
    takes: note [m] int64, texts [m], syllabic [m] int8 (index into SYLLABIC), verse [m] int64."""
    if len(rows) == 0:  # most files
        return np.empty(0, np.int64), [], np.empty(0, np.int8), np.empty(0, np.int64)
    return (np.array([r[0] for r in rows], np.int64).reshape(-1), [r[1] for r in rows],
            np.array([SYLLABIC.index(r[2]) for r in rows], np.int8).reshape(-1),
            np.array([r[3] for r in rows], np.int64).reshape(-1))


def text_columns(rows: Sequence[tuple[float, str, str]]) -> tuple[np.ndarray, tuple, np.ndarray]:
    """Text rows (quarter, text, kind name) -> the columns `score_of_sorted_notes` takes: quarter
    [t] float64, texts [t], kind [t] int8 (index into TEXT_KINDS)."""
    if len(rows) == 0:
        return np.empty(0), (), np.empty(0, np.int8)
    return (np.array([r[0] for r in rows], np.float64).reshape(-1), tuple(r[1] for r in rows),
            np.array([TEXT_KINDS.index(r[2]) for r in rows], np.int8).reshape(-1))


def score_of_sorted_notes(
    pitch: np.ndarray, start_q: np.ndarray, end_q: np.ndarray, start: np.ndarray, end: np.ndarray,
    velocity: np.ndarray, part: np.ndarray, *, parts: Sequence[Part], lyrics: tuple,
    tempos: np.ndarray, meta: Metadata, time_signatures, key_signatures, texts: tuple,
    pickup_q: float | None = None, lyrics_in_order: bool = False,
) -> Score:
    """The Score of notes already in its order (start_q, part, pitch), their seconds computed,
    `tempos` starting at quarter 0: what `make_score` ends with, and what a reader that sorts and
    times notes itself (`midi.read_midi`) calls. `lyrics` are columns (note index in that order,
    texts, syllabic codes, verses; `lyric_columns`), put in the Score's order by (note, verse),
    ties as they came; with `lyrics_in_order` the caller has done that and checked the verses
    (int32, a sequence, int8, int8 columns). `texts` are columns (`text_columns`) in time order."""
    note, text, syllabic, verse = lyrics
    if len(note) > 1 and not lyrics_in_order:
        by_note = np.lexsort((verse, note))
        note, syllabic, verse = note[by_note], syllabic[by_note], verse[by_note]
        text = operator.itemgetter(*by_note.tolist())(text)  # a tuple: n > 1
    if len(verse) and not lyrics_in_order and not -128 <= verse.min() <= verse.max() <= 127:  # lyric_verse: int8
        raise ValueError(f"a lyric of verse {int(verse.max() if verse.max() > 127 else verse.min())}; "
                         f"the largest verse number is 127")
    sung = len(note) > 0
    return Score(
        pitch=pitch,
        start=start,
        end=end,
        start_q=start_q,
        end_q=end_q,
        velocity=velocity,
        part=part,
        parts=tuple(parts),
        lyric_note=np.asarray(note, np.int32) if sung else np.empty(0, np.int32),  # most files have none
        lyric_text=tuple(text),
        lyric_syllabic=np.asarray(syllabic, np.int8) if sung else np.empty(0, np.int8),
        lyric_verse=np.asarray(verse, np.int8) if sung else np.empty(0, np.int8),
        tempos=tempos,
        meta=meta,
        time_signatures=np.asarray(time_signatures, np.float64).reshape(-1, 3),
        key_signatures=np.asarray(key_signatures, np.float64).reshape(-1, 3),
        text_q=texts[0],
        text=tuple(texts[1]),
        text_kind=texts[2],
        pickup_q=None if pickup_q is None else float(pickup_q),
    )


def lyric_rows(score: Score) -> list[tuple[int, str, str, int]]:
    """The score's lyrics as (note index, text, syllabic name, verse) rows, `make_score`'s input."""
    return [
        (int(n), t, SYLLABIC[int(s)], int(v))
        for n, t, s, v in zip(score.lyric_note, score.lyric_text, score.lyric_syllabic, score.lyric_verse)
    ]


def select_notes(score: Score, keep: np.ndarray) -> Score:
    """The score with only the notes where boolean mask `keep` [n] is true (and their lyrics)."""
    keep = np.asarray(keep, bool)
    new_index = np.cumsum(keep) - 1
    lyr = keep[score.lyric_note] if len(score.lyric_note) else np.zeros(0, bool)
    return score.replace(
        pitch=score.pitch[keep],
        start=score.start[keep],
        end=score.end[keep],
        start_q=score.start_q[keep],
        end_q=score.end_q[keep],
        velocity=score.velocity[keep],
        part=score.part[keep],
        lyric_note=new_index[score.lyric_note[lyr]].astype(np.int32),
        lyric_text=tuple(t for t, k in zip(score.lyric_text, lyr) if k),
        lyric_syllabic=score.lyric_syllabic[lyr],
        lyric_verse=score.lyric_verse[lyr],
    )


def cut_unison_overlaps(score: Score, within_parts: bool = True) -> Score:
    """No two notes of one pitch overlap (within a part, or anywhere if not `within_parts`), as in
    a MIDI channel or an event stream with one key per pitch: of notes starting together only the
    longest stays (their lyrics move to it), and a note is cut where its pitch starts again."""
    key = score.pitch.astype(np.int64) + (score.part.astype(np.int64) * 128 if within_parts else 0)
    order = np.lexsort((-score.end_q, score.start_q, key))  # by key, time, longest first
    same_onset = (key[order][1:] == key[order][:-1]) & (score.start_q[order][1:] == score.start_q[order][:-1])
    if same_onset.any():
        survivor = order.copy()
        for j in np.flatnonzero(same_onset) + 1:
            survivor[j] = survivor[j - 1]
        to_survivor = np.empty(score.num_notes, np.int64)
        to_survivor[order] = survivor
        dup = np.zeros(score.num_notes, bool)
        dup[order[1:][same_onset]] = True
        score = select_notes(score.replace(lyric_note=to_survivor[score.lyric_note].astype(np.int32)), ~dup)
        key = score.pitch.astype(np.int64) + (score.part.astype(np.int64) * 128 if within_parts else 0)
        order = np.lexsort((score.start_q, key))
    same = key[order][1:] == key[order][:-1]
    nxt = score.start_q[order][1:]
    cut = np.flatnonzero(same & (score.end_q[order][:-1] > nxt))
    if cut.size == 0:
        return score
    end_q = score.end_q.copy()
    end_q[order[cut]] = nxt[cut]
    return score.replace(end_q=end_q, end=quarters_to_seconds(end_q, score.tempos))


def scores_equal(a: Score, b: Score, *, atol: float = 0.0) -> bool:
    """Same notes (times within `atol`), parts, lyrics and tempo map."""
    close = lambda x, y: x.shape == y.shape and np.allclose(x, y, rtol=0.0, atol=atol)
    return (
        np.array_equal(a.pitch, b.pitch)
        and close(a.start_q, b.start_q)
        and close(a.end_q, b.end_q)
        and close(a.start, b.start)
        and close(a.end, b.end)
        and np.array_equal(a.velocity, b.velocity)
        and np.array_equal(a.part, b.part)
        and a.parts == b.parts
        and np.array_equal(a.lyric_note, b.lyric_note)
        and a.lyric_text == b.lyric_text
        and np.array_equal(a.lyric_syllabic, b.lyric_syllabic)
        and np.array_equal(a.lyric_verse, b.lyric_verse)
        and close(a.tempos, b.tempos)
    )


def melody_line(score: Score, part: int = 0) -> Score:
    """The monophonic line of one part (part 0 is the soprano of a chorale): at a shared onset the
    highest pitch wins, and each note is cut where the next one starts."""
    idx = score.part_notes(part)
    if idx.size == 0:
        raise ValueError(f"part {part} has no notes")
    # among notes with the same start, keep the highest pitch (notes are sorted by start, part, pitch)
    starts = score.start_q[idx]
    last_of_onset = np.append(starts[1:] != starts[:-1], True)
    idx = idx[last_of_onset]
    keep = np.zeros(score.num_notes, bool)
    keep[idx] = True
    line = select_notes(score, keep)
    cut_q = np.minimum(line.end_q, np.append(line.start_q[1:], np.inf))
    cut_s = np.minimum(line.end, np.append(line.start[1:], np.inf))
    return line.replace(end_q=cut_q, end=cut_s, part=np.zeros_like(line.part), parts=(score.parts[part],))
