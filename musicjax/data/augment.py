"""Augmentations, kept apart from encoding: transposition and tempo scaling of Scores, the range of
transpositions a set of pitches allows, and piano-rolls moved along their pitch axis."""

from __future__ import annotations

import dataclasses

import numpy as np

from musicjax.data.score import Score

_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def transpose(score: Score, semitones: int, min_pitch: int = 0, max_pitch: int = 127) -> Score:
    """Every pitched note moved by `semitones` (drum parts stay); ValueError if a note would leave
    [min_pitch, max_pitch]."""
    drum = np.array([p.is_drum for p in score.parts], bool)[score.part] if score.num_notes else np.zeros(0, bool)
    pitch = np.where(drum, score.pitch, score.pitch + semitones)
    if pitch.size and (pitch.min() < min_pitch or pitch.max() > max_pitch):
        raise ValueError(f"transposing by {semitones} leaves the pitch range {min_pitch}-{max_pitch}")
    return score.replace(pitch=pitch.astype(np.int16))


def shifts_in_range(pitches, max_shift: int, min_pitch: int, max_pitch: int) -> np.ndarray:
    """The shifts in [-max_shift, max_shift] that keep every one of `pitches` (any integer array:
    MIDI pitches, or key indices with the range given in keys) within [min_pitch, max_pitch]; all of
    them when there is no pitch."""
    shifts = np.arange(-max_shift, max_shift + 1)
    pitches = np.asarray(pitches)
    if not pitches.size:
        return shifts
    lo, hi = int(pitches.min()), int(pitches.max())
    return shifts[(lo + shifts >= min_pitch) & (hi + shifts <= max_pitch)]


def transpositions_in_range(score: Score, max_shift: int, min_pitch: int, max_pitch: int) -> np.ndarray:
    """The shifts in [-max_shift, max_shift] that keep every note within [min_pitch, max_pitch]."""
    return shifts_in_range(score.pitch, max_shift, min_pitch, max_pitch)


def shift_pitches(roll: np.ndarray, shift: int) -> np.ndarray:
    """A piano-roll [..., pitches] moved `shift` pitches up (down if negative), zeros shifted in and
    what moves off the end dropped (callers choose shifts that keep the notes: `shifts_in_range`)."""
    if shift == 0:
        return roll
    out = np.zeros_like(roll)
    if shift > 0:
        out[..., shift:] = roll[..., :-shift]
    else:
        out[..., :shift] = roll[..., -shift:]
    return out


def random_transpose(score: Score, rng: np.random.Generator, max_shift: int = 5, min_pitch: int = 0,
                     max_pitch: int = 127) -> Score:
    """Transposed by a shift drawn uniformly from those that keep the notes in range."""
    return transpose(score, int(rng.choice(transpositions_in_range(score, max_shift, min_pitch, max_pitch))))


def tempo_scale(score: Score, factor: float) -> Score:
    """Played `factor` times faster: seconds divided by it, quarters unchanged."""
    if factor <= 0:
        raise ValueError(f"tempo factor must be positive, got {factor}")
    tempos = score.tempos.copy()
    tempos[:, 1] *= factor
    return score.replace(start=score.start / factor, end=score.end / factor, tempos=tempos)


def tonic_pitch_class(key: str) -> int | None:
    """'Bb major' -> 10; None when the key is unknown."""
    if not key:
        return None
    name = key.split()[0]
    if name[0].upper() not in _PITCH_CLASS:
        return None
    return (_PITCH_CLASS[name[0].upper()] + name[1:].count("#") - name[1:].count("b") - name[1:].count("-")) % 12


def transpose_to_c(score: Score) -> tuple[Score, int]:
    """Move the piece to C major / C minor by the smaller shift (at most a tritone); returns the
    transposed score (key renamed) and the shift. A score without a key is returned unchanged."""
    pc = tonic_pitch_class(score.meta.key)
    if pc is None:
        return score, 0
    shift = -pc if pc <= 6 else 12 - pc
    mode = score.meta.key.split()[1] if len(score.meta.key.split()) > 1 else "major"
    moved = transpose(score, shift)
    return moved.replace(meta=dataclasses.replace(score.meta, key=f"C {mode}")), shift
