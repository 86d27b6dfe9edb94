"""One entry point for reading and writing any supported file: dispatch on the extension, and the
one boundary where whatever a parser or the file system raises becomes a `ScoreError`."""

from __future__ import annotations

import os
import pathlib

from musicjax.data import limits
from musicjax.data.midi import read_midi
from musicjax.data.midi_write import write_midi
from musicjax.data.notation import NOTATION_SUFFIXES, read_abc_text, read_notation, write_musicxml
from musicjax.data.score import Metadata, Score, ScoreError

MIDI_SUFFIXES = (".mid", ".midi", ".kar")
READ_SUFFIXES = MIDI_SUFFIXES + tuple(NOTATION_SUFFIXES)
WRITE_SUFFIXES = MIDI_SUFFIXES + (".musicxml", ".xml")
_FORMAT_NAMES = {**{s: "MIDI" for s in MIDI_SUFFIXES}, ".xml": "MusicXML", ".musicxml": "MusicXML",
                 ".mxl": "MusicXML (.mxl)", ".abc": "ABC", ".krn": "Humdrum"}


def _why(e: BaseException) -> str:
    """An exception as one short line."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__


class score_boundary:
    """Inside the block (`with score_boundary(path):`), anything raised becomes one
    ScoreError('<path>: <reason>', one line).

    Every reader and writer of files runs inside it, so that no parser's or file system's
    exception type — known or not yet seen — reaches a caller as anything else. MemoryError
    becomes a refusal too (a file too big for this machine); KeyboardInterrupt and SystemExit
    (not Exceptions) pass through untouched. (A class, not a generator-based context manager:
    it wraps every file read, and costs a few microseconds less.)"""

    __slots__ = ("path", "doing")

    def __init__(self, path, doing: str = "read"):
        self.path, self.doing = path, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, e, tb) -> bool:
        if e is None or not isinstance(e, Exception):
            return False  # nothing raised, or KeyboardInterrupt / SystemExit: untouched
        path, doing = self.path, self.doing
        if isinstance(e, ScoreError):
            if "\n" in e.reason:
                raise ScoreError(e.path, " ".join(e.reason.split())) from None
            return False
        if isinstance(e, MemoryError):
            raise ScoreError(path, f"ran out of memory trying to {doing} it") from None
        if isinstance(e, OSError) and e.strerror:  # the file system's own complaint: permission, name too long, a symlink loop
            raise ScoreError(path, e.strerror if doing == "read" else f"cannot {doing} it ({e.strerror})") from None
        raise ScoreError(path, _unusable(path, doing, e)) from None


def _unusable(path, doing: str, e: Exception) -> str:
    what = _FORMAT_NAMES.get(pathlib.Path(str(path)).suffix.lower())
    prefix = f"not a readable {what} file" if doing == "read" and what else f"cannot {doing} it"
    return f"{prefix} ({_why(e)})"


def _within_limits(score: Score, path) -> Score:
    problem = limits.score_problem(score)
    if problem:
        raise ScoreError(path, problem)
    return score


def read_scores(path: str | os.PathLike, data: bytes | None = None) -> list[Score]:
    """Every piece in the file (an ABC book holds many). Raises ScoreError naming file and reason,
    whatever went wrong; files and pieces beyond `musicjax.data.limits` are refused. A MIDI file's
    bytes may be handed in as `data` (already read: `path` then names it)."""
    with score_boundary(path):
        path = path if isinstance(path, pathlib.Path) else pathlib.Path(path)
        suffix = path.suffix.lower()
        if suffix not in READ_SUFFIXES:
            raise ScoreError(path, f"unknown extension {path.suffix!r} (readable: {', '.join(READ_SUFFIXES)})")
        if suffix in MIDI_SUFFIXES:
            return [read_midi(path, data)]  # which holds the Score to the limits itself
        return [_within_limits(s, path) for s in read_notation(path)]


def size_limit(path: str | os.PathLike) -> int:
    """The most bytes a file of this extension may hold (`musicjax.data.limits`)."""
    suffix = pathlib.Path(path).suffix.lower()
    kind = {".xml": "musicxml", ".musicxml": "musicxml", ".mxl": "mxl", ".abc": "abc", ".krn": "humdrum"}
    return limits.MAX_FILE_BYTES[kind.get(suffix, "midi")]


def read_score(path: str | os.PathLike) -> Score:
    """The first (usually only) piece in the file."""
    return read_scores(path)[0]


def read_abc_tune(text: str, name: str, meta: Metadata = Metadata()) -> Score:
    """One ABC tune's text (`name` says where it came from), through the same boundary and limits."""
    with score_boundary(name):
        return _within_limits(read_abc_text(text, name, meta), name)


def write_score(score: Score, path: str | os.PathLike) -> None:
    """Write a Score; the format follows the extension. Atomic: no partial file on failure.

    Refuses (ScoreError naming `path`) anything the readers would refuse — a Score beyond
    `musicjax.data.limits`, a pitch or velocity MIDI cannot hold, output bytes beyond the file
    limits — so that whatever is written reads back."""
    with score_boundary(path, "write"):
        path = pathlib.Path(path)
        if path.suffix.lower() not in WRITE_SUFFIXES:
            raise ScoreError(path, f"cannot write {path.suffix!r} (writable: {', '.join(WRITE_SUFFIXES)})")
        if path.parent.exists() and not path.parent.is_dir():
            raise ScoreError(path, f"cannot write it: {path.parent} is not a folder")
        problem = limits.score_problem(score)  # (an empty Score is written: samples may be empty)
        if problem is None and not ((score.pitch >= 0) & (score.pitch <= 127)).all():
            problem = "a pitch outside the MIDI range 0-127"
        if problem is None and not ((score.velocity >= 1) & (score.velocity <= 127)).all():
            problem = "a velocity outside 1-127"
        if problem:
            raise ScoreError(path, f"not written: {problem}")
        if path.suffix.lower() in MIDI_SUFFIXES:
            write_midi(score, path)
        else:
            write_musicxml(score, path)


def describe(score: Score) -> dict:
    """What `musicjax data inspect` prints for one piece."""
    return {
        "title": score.meta.title,
        "parts": len(score.parts),
        "notes": score.num_notes,
        "duration_s": round(score.duration, 3),
        "duration_quarters": round(score.duration_q, 3),
        "key": score.meta.key,
        "meter": score.meta.meter,
        "lyrics": len(score.lyric_text),
    }
