"""Monophonic melodies as event tokens on a steps-per-quarter grid, as in Magenta's melody models:
at each step a new pitch starts, the sounding note is released (REST), or nothing changes (HOLD)."""

from __future__ import annotations

import dataclasses

import numpy as np

from musicjax.data.score import Metadata, Part, Score, make_score, melody_line, select_notes

PAD, BOS, EOS, REST, HOLD = 0, 1, 2, 3, 4
NUM_SPECIAL = 5


@dataclasses.dataclass(frozen=True)
class MelodyCodec:
    """Token ids: PAD 0, BOS 1, EOS 2, REST 3 (release), HOLD 4 (no event), then one note-on per
    pitch from `min_pitch` to `max_pitch`. The defaults cover the corpora's sung and played range
    (chorale sopranos, Essen and fiddle tunes lie within 48-96)."""

    steps_per_quarter: int = 4
    min_pitch: int = 36
    max_pitch: int = 96

    @property
    def vocab_size(self) -> int:
        return NUM_SPECIAL + self.max_pitch - self.min_pitch + 1

    def pitch_token(self, pitch):
        return np.asarray(pitch) - self.min_pitch + NUM_SPECIAL

    def token_pitch(self, token):
        return np.asarray(token) - NUM_SPECIAL + self.min_pitch

    def quantize(self, line: Score) -> Score:
        """The line as it will decode: onsets and releases rounded to the grid, a note at least one
        step long, and of notes whose onsets round to one step only the last kept."""
        spq = self.steps_per_quarter
        s = np.round(line.start_q * spq).astype(np.int64)
        keep = np.append(s[1:] != s[:-1], True)
        line = select_notes(line, keep)
        s = np.round(line.start_q * spq).astype(np.int64)
        e = np.maximum(np.round(line.end_q * spq).astype(np.int64), s + 1)
        e = np.minimum(e, np.append(s[1:], np.iinfo(np.int64).max))
        return make_score(line.pitch, s / spq, e / spq, velocity=line.velocity, parts=line.parts,
                          tempos=line.tempos, meta=line.meta)

    def encode(self, score: Score, part: int = 0) -> np.ndarray:
        """Score -> [steps] int32 tokens of `part`'s melody line, from quarter 0 to its last release."""
        line = self.quantize(melody_line(score, part))
        lo, hi = int(line.pitch.min()), int(line.pitch.max())
        if lo < self.min_pitch or hi > self.max_pitch:
            raise ValueError(f"melody pitches {lo}-{hi} outside the codec's range {self.min_pitch}-{self.max_pitch}")
        spq = self.steps_per_quarter
        s = np.round(line.start_q * spq).astype(np.int64)
        e = np.round(line.end_q * spq).astype(np.int64)
        tokens = np.full(int(e[-1]), HOLD, np.int32)
        release = e[np.append(e[:-1] < s[1:], True)]  # a release only where silence follows
        tokens[release[release < len(tokens)]] = REST
        tokens[s] = self.pitch_token(line.pitch)
        return tokens

    def decode(self, tokens, qpm: float = 120.0, velocity: int = 80, meta: Metadata = Metadata(),
               part: Part = Part()) -> Score:
        """[steps] tokens -> a one-part Score. PAD/BOS end nothing; decoding stops at EOS."""
        tokens = np.asarray(tokens).reshape(-1)
        stop = np.flatnonzero(tokens == EOS)
        tokens = tokens[: stop[0]] if stop.size else tokens
        pitch, start, end = [], [], []
        for t, tok in enumerate(tokens.tolist()):
            if tok >= NUM_SPECIAL or tok == REST:
                if len(end) and end[-1] is None:
                    end[-1] = t
                if tok >= NUM_SPECIAL:
                    pitch.append(int(self.token_pitch(tok)))
                    start.append(t)
                    end.append(None)
        if len(end) and end[-1] is None:
            end[-1] = len(tokens)
        spq = self.steps_per_quarter
        return make_score(pitch, np.array(start, float) / spq, np.array(end, float) / spq, velocity=velocity,
                          parts=(part,), tempos=((0.0, qpm),), meta=meta)
