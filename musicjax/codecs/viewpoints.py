"""IDyOM-style viewpoints as a codec: a Melody -> per-note int feature columns (the previous note's
pitch, interval, degree and duration; the predicted note's known attributes) and pitch-id targets.

`Vocabulary` is the pitch half of it: pitch ids `pitch - shift - low + 1` (0 = the start of the
melody) and back, the dataset's pitch alphabet, and every column's number of values."""

from __future__ import annotations

import dataclasses

import numpy as np

from musicjax.data.idyom import MODES, Melody

MAX_INTERVAL = 12  # larger leaps share the +-12 feature value
TICKS_PER_QUARTER = 12  # duration and position features are counted in twelfths of a quarter
MAX_TICKS = 96  # eight quarters; longer durations share the last value
VIEWPOINT_SIZES = {  # name -> number of values, beyond `pitch` (whose size is the pitch vocabulary)
    "interval": 2 * MAX_INTERVAL + 2,  # previous note's interval from the one before; 0 = none
    "degree": 13,  # previous note's pitch class above the notated tonic; 0 = none
    "prev_duration": MAX_TICKS + 1,  # previous note's duration; 0 = none
    "duration": MAX_TICKS + 1,  # the predicted note's duration
    "rest": MAX_TICKS + 1,  # silence before the predicted note
    "beat": MAX_TICKS + 1,  # the predicted note's onset from its bar's downbeat
    "bar": MAX_TICKS + 1,  # bar length
    "fermata": 2,  # a phrase ends on the predicted note
    "prev_fermata": 3,  # a phrase ended on the previous note (2: no previous note)
    "mode": len(MODES),
}
PITCH_ONLY = ("pitch",)
ALL_VIEWPOINTS = ("pitch",) + tuple(VIEWPOINT_SIZES)


def check_viewpoints(viewpoints) -> None:
    """Raise ValueError unless the viewpoints include 'pitch' and all come from ALL_VIEWPOINTS."""
    if set(viewpoints) - set(ALL_VIEWPOINTS) or "pitch" not in viewpoints:
        raise ValueError(f"viewpoints must include 'pitch' and come from {ALL_VIEWPOINTS}; got {tuple(viewpoints)}")


def key_shift(mel: Melody) -> int:
    """Semitones (-5..6) that take the melody's notated tonic to pitch class 0."""
    return (mel.tonic + 5) % 12 - 5


def pitch_ids(pitch, shift: int, low: int) -> np.ndarray:
    """MIDI pitches moved down `shift` semitones -> int32 ids, `low` -> 1 (0 is the melody's start)."""
    return (np.asarray(pitch) - shift - low + 1).astype(np.int32)


def id_pitches(ids, shift: int, low: int) -> np.ndarray:
    """The inverse of `pitch_ids`: ids -> int64 MIDI pitches at the melody's own height."""
    return np.asarray(ids).astype(np.int64) + shift + low - 1


def _ticks(q: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(q) * TICKS_PER_QUARTER), 0, MAX_TICKS).astype(np.int32)


def melody_features(mel: Melody, viewpoints, shift: int, low: int) -> tuple[np.ndarray, np.ndarray]:
    """The melody moved down `shift` semitones -> (features [n, len(viewpoints)] int32, targets [n]
    int32). Pitch ids are pitch - shift - low + 1 (0 is the start of the melody)."""
    n = len(mel.pitch)
    ids = pitch_ids(mel.pitch, shift, low)
    if ids.min() < 1:
        raise ValueError(f"{mel.id}: pitch below the vocabulary's lowest ({low})")
    prev_dur = np.concatenate([[0], np.maximum(_ticks(mel.duration[:-1]), 1)])
    gap = np.concatenate([[0.0], mel.onset[1:] - mel.onset[:-1] - mel.duration[:-1]])
    interval = np.zeros(n, np.int32)
    interval[2:] = np.clip(np.diff(mel.pitch[:-1]), -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL + 1
    columns = {
        "pitch": np.concatenate([[0], ids[:-1]]),
        "interval": interval,
        "degree": np.concatenate([[0], (mel.pitch[:-1] - mel.tonic) % 12 + 1]),
        "prev_duration": prev_dur,
        "duration": np.maximum(_ticks(mel.duration), 1),
        "rest": _ticks(gap),
        "beat": _ticks(mel.beat - 1.0),  # in the meter's beats (a dotted quarter in 6/8)
        "bar": _ticks(mel.bar),
        "fermata": mel.fermata.astype(np.int32),
        "prev_fermata": np.concatenate([[2], mel.fermata[:-1].astype(np.int32)]),
        "mode": np.full(n, mel.mode, np.int32),
    }
    return np.stack([columns[v] for v in viewpoints], -1).astype(np.int32), ids


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Pitch ids of a dataset: pitch - shift - low + 1, from 1 to vocab - 1."""

    low: int
    vocab: int
    alphabet: np.ndarray  # [A] the dataset's distinct MIDI pitches, sorted

    @classmethod
    def for_dataset(cls, melodies, margin: int) -> "Vocabulary":
        """Ids for the dataset's pitches with `margin` semitones of room each side (transposition)."""
        alphabet = np.unique(np.concatenate([m.pitch for m in melodies]))
        low = int(alphabet.min()) - margin
        return cls(low, int(alphabet.max()) + margin - low + 2, alphabet)

    def feature_sizes(self, viewpoints) -> tuple[int, ...]:
        """Number of values of each feature column of `melody_features(..., viewpoints, ...)`."""
        return tuple(self.vocab if v == "pitch" else VIEWPOINT_SIZES[v] for v in viewpoints)

    def encode(self, mel: Melody, viewpoints, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """`melody_features` with this vocabulary's lowest pitch."""
        return melody_features(mel, viewpoints, shift, self.low)

    def pitches(self, ids, shift: int = 0) -> np.ndarray:
        """Pitch ids (targets, or the `pitch` column's nonzero entries) -> MIDI pitches."""
        return id_pitches(ids, shift, self.low)

    def alphabet_ids(self, shift: int) -> np.ndarray:
        return pitch_ids(self.alphabet, shift, self.low)

    def symbols(self, mel: Melody) -> list[int]:
        """The melody's pitches as indices into the alphabet (the PPM models' symbols)."""
        return np.searchsorted(self.alphabet, mel.pitch).tolist()
