"""Piano-rolls: multi-hot pitch x frame arrays. Quarter-note frames over the 88 piano keys, with
the piece moved to C major / C minor, is the JSB Chorales setting (Boulanger-Lewandowski 2012)."""

from __future__ import annotations

import dataclasses

import numpy as np

from musicjax.data.score import Metadata, Part, Score, make_score


@dataclasses.dataclass(frozen=True)
class PianorollCodec:
    """Frame f covers quarters [f/fpq, (f+1)/fpq); a note is on in every frame its sounding span
    (quantised to frames) covers. `decode` joins consecutive on-frames of a pitch into one note,
    unless an onset array marks a re-attack: with onsets the trip is exact up to the frame grid."""

    frames_per_quarter: int = 1
    min_pitch: int = 21
    num_pitches: int = 88

    def frame_span(self, score: Score) -> tuple[np.ndarray, np.ndarray]:
        fpq = self.frames_per_quarter
        s = np.round(score.start_q * fpq).astype(np.int64)
        e = np.maximum(np.round(score.end_q * fpq).astype(np.int64), s + 1)
        return s, e

    def encode(self, score: Score, with_onsets: bool = False):
        """Score -> roll [frames, num_pitches] bool (and onsets of the same shape if asked)."""
        lo, hi = int(score.pitch.min()), int(score.pitch.max())
        if lo < self.min_pitch or hi >= self.min_pitch + self.num_pitches:
            raise ValueError(f"pitches {lo}-{hi} outside the roll's range {self.min_pitch}-"
                             f"{self.min_pitch + self.num_pitches - 1}")
        s, e = self.frame_span(score)
        roll = np.zeros((int(e.max()), self.num_pitches), bool)
        onsets = np.zeros_like(roll)
        for a, b, p in zip(s, e, score.pitch - self.min_pitch):
            roll[a:b, p] = True
            onsets[a, p] = True
        return (roll, onsets) if with_onsets else roll

    def sampled(self, score: Score) -> np.ndarray:
        """Score -> roll [frames, num_pitches] bool of the notes sounding at each frame's start
        (start_q <= f / fpq < end_q): the JSB Chorales' sampling, where a note between two frame
        starts (a passing eighth) is not seen. Frames run to the last note's end."""
        lo, hi = int(score.pitch.min()), int(score.pitch.max())
        if lo < self.min_pitch or hi >= self.min_pitch + self.num_pitches:
            raise ValueError(f"pitches {lo}-{hi} outside the roll's range {self.min_pitch}-"
                             f"{self.min_pitch + self.num_pitches - 1}")
        fpq = self.frames_per_quarter
        # the first frame start at or after each note's start, and the first at or after its end
        first = np.ceil(score.start_q * fpq - 1e-9).astype(np.int64)
        stop = np.ceil(score.end_q * fpq - 1e-9).astype(np.int64)
        roll = np.zeros((int(stop.max()), self.num_pitches), bool)
        for a, b, p in zip(first, stop, score.pitch - self.min_pitch):
            roll[a:b, p] = True
        return roll

    def decode(self, roll, onsets=None, qpm: float = 120.0, velocity: int = 80, meta: Metadata = Metadata()) -> Score:
        """roll [frames, num_pitches] (bool or probabilities > 0.5) -> one-part Score."""
        roll = np.asarray(roll) > 0.5 if np.asarray(roll).dtype != bool else np.asarray(roll)
        on = np.zeros(roll.shape, bool) if onsets is None else np.asarray(onsets, bool) & roll
        padded = np.concatenate([np.zeros((1, roll.shape[1]), bool), roll, np.zeros((1, roll.shape[1]), bool)])
        starts_mask = (padded[1:-1] & ~padded[:-2]) | on
        pitch, start, end = [], [], []
        for p in range(roll.shape[1]):
            frames = np.flatnonzero(starts_mask[:, p])
            for f in frames:
                g = f + 1
                while g < roll.shape[0] and roll[g, p] and not starts_mask[g, p]:
                    g += 1
                pitch.append(p + self.min_pitch), start.append(f), end.append(g)
        fpq = self.frames_per_quarter
        return make_score(pitch, np.array(start, float) / fpq, np.array(end, float) / fpq, velocity=velocity,
                          parts=(Part(),), tempos=((0.0, qpm),), meta=meta)
