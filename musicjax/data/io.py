"""One entry point for reading and writing any supported file: dispatch on the extension."""

from __future__ import annotations

import os
import pathlib

from musicjax.data.midi import read_midi, write_midi
from musicjax.data.notation import NOTATION_SUFFIXES, read_notation, write_musicxml
from musicjax.data.score import Score, ScoreError

MIDI_SUFFIXES = (".mid", ".midi", ".kar")
READ_SUFFIXES = MIDI_SUFFIXES + tuple(NOTATION_SUFFIXES)
WRITE_SUFFIXES = MIDI_SUFFIXES + (".musicxml", ".xml")


def _check_path(path) -> pathlib.Path:
    path = pathlib.Path(path)
    if path.suffix.lower() not in READ_SUFFIXES:
        raise ScoreError(path, f"unknown extension {path.suffix!r} (readable: {', '.join(READ_SUFFIXES)})")
    if not path.exists():
        raise ScoreError(path, "no such file")
    if path.is_dir():
        raise ScoreError(path, "is a directory")
    return path


def read_scores(path: str | os.PathLike) -> list[Score]:
    """Every piece in the file (an ABC book holds many). Raises ScoreError naming file and reason."""
    path = _check_path(path)
    if path.suffix.lower() in MIDI_SUFFIXES:
        return [read_midi(path)]
    return read_notation(path)


def read_score(path: str | os.PathLike) -> Score:
    """The first (usually only) piece in the file."""
    return read_scores(path)[0]


def write_score(score: Score, path: str | os.PathLike) -> None:
    """Write a Score; the format follows the extension. Atomic: no partial file on failure."""
    path = pathlib.Path(path)
    if path.suffix.lower() not in WRITE_SUFFIXES:
        raise ScoreError(path, f"cannot write {path.suffix!r} (writable: {', '.join(WRITE_SUFFIXES)})")
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
