"""Polyphonic performances as event tokens (Oore et al. 2018, Magenta's PerformanceRNN): note-on
and note-off per pitch, time shifts of 10 ms up to 1 s, and 32 velocity bins."""

from __future__ import annotations

import dataclasses

import numpy as np

from musicjax.data.score import Metadata, Part, Score, cut_unison_overlaps, make_score, seconds_to_quarters

PAD, BOS, EOS = 0, 1, 2
NUM_SPECIAL = 3
NUM_PITCHES = 128


@dataclasses.dataclass(frozen=True)
class PerformanceCodec:
    """Ids: PAD 0, BOS 1, EOS 2; NOTE_ON 3-130; NOTE_OFF 131-258; TIME_SHIFT 259-358 (1-100 steps);
    VELOCITY 359-390 (32 bins). Quantisation: times to the nearest 10 ms, velocity v to bin
    (v-1)//4, decoded as 4*bin+1."""

    steps_per_second: int = 100
    max_shift_steps: int = 100
    velocity_bins: int = 32

    @property
    def note_on(self) -> int:
        return NUM_SPECIAL

    @property
    def note_off(self) -> int:
        return NUM_SPECIAL + NUM_PITCHES

    @property
    def time_shift(self) -> int:  # id of a one-step shift
        return NUM_SPECIAL + 2 * NUM_PITCHES

    @property
    def velocity(self) -> int:
        return self.time_shift + self.max_shift_steps

    @property
    def vocab_size(self) -> int:
        return self.velocity + self.velocity_bins

    def velocity_bin(self, v):
        return (np.asarray(v, np.int64) - 1) * self.velocity_bins // 128

    def bin_velocity(self, b):
        return np.asarray(b, np.int64) * 128 // self.velocity_bins + 1

    def quantize(self, score: Score) -> Score:
        """What `decode(encode(score))` returns: one part, times on the 10 ms grid, velocities binned,
        a note at least one step long."""
        sps = self.steps_per_second
        s = np.round(score.start * sps).astype(np.int64)
        e = np.maximum(np.round(score.end * sps).astype(np.int64), s + 1)
        # in grid steps as "quarters" first, so that the unison cut happens exactly on the grid
        steps = make_score(score.pitch, s, e, velocity=self.bin_velocity(self.velocity_bin(score.velocity)),
                           parts=(Part(),), tempos=((0.0, 60.0),))
        steps = cut_unison_overlaps(steps, within_parts=False)
        tempos = np.array([[0.0, score.qpm]])
        return make_score(steps.pitch, seconds_to_quarters(steps.start_q / sps, tempos),
                          seconds_to_quarters(steps.end_q / sps, tempos), velocity=steps.velocity,
                          parts=(Part(),), tempos=tempos, meta=score.meta)

    def encode(self, score: Score) -> np.ndarray:
        """Score (all parts) -> [events] int32 of `quantize(score)`. At one instant: releases, then
        velocity changes and onsets; notes in pitch order."""
        score = self.quantize(score)
        sps = self.steps_per_second
        s = np.round(score.start * sps).astype(np.int64)
        e = np.round(score.end * sps).astype(np.int64)
        vbin = self.velocity_bin(score.velocity)
        # (time, kind 0=off 1=on, pitch, velocity bin)
        events = sorted([(int(t), 0, int(p), 0) for t, p in zip(e, score.pitch)]
                        + [(int(t), 1, int(p), int(b)) for t, p, b in zip(s, score.pitch, vbin)])
        out, now, current_bin = [], 0, None
        for t, kind, p, b in events:
            while t > now:
                step = min(t - now, self.max_shift_steps)
                out.append(self.time_shift + step - 1)
                now += step
            if kind == 0:
                out.append(self.note_off + p)
            else:
                if b != current_bin:
                    out.append(self.velocity + b)
                    current_bin = b
                out.append(self.note_on + p)
        return np.asarray(out, np.int32)

    def decode(self, tokens, qpm: float = 120.0, meta: Metadata = Metadata()) -> Score:
        """[events] -> Score. A note-on of a sounding pitch first releases it; notes still sounding
        at the end (or at EOS) are released there. Quarters follow from constant tempo `qpm`."""
        tokens = np.asarray(tokens).reshape(-1)
        stop = np.flatnonzero(tokens == EOS)
        tokens = tokens[: stop[0]] if stop.size else tokens
        now, vel = 0, 64
        sounding = {}
        pitch, start, end, velocity = [], [], [], []

        def release(p, t):
            i = sounding.pop(p)
            end[i] = t

        for tok in tokens.tolist():
            if self.note_on <= tok < self.note_off:
                p = tok - self.note_on
                if p in sounding:
                    release(p, now)
                sounding[p] = len(pitch)
                pitch.append(p), start.append(now), end.append(None), velocity.append(vel)
            elif self.note_off <= tok < self.time_shift:
                if tok - self.note_off in sounding:
                    release(tok - self.note_off, now)
            elif self.time_shift <= tok < self.velocity:
                now += tok - self.time_shift + 1
            elif self.velocity <= tok < self.vocab_size:
                vel = int(self.bin_velocity(tok - self.velocity))
        for p in list(sounding):
            release(p, now)
        tempos = np.array([[0.0, qpm]])
        sps = self.steps_per_second
        start_s, end_s = np.array(start, float) / sps, np.array(end, float) / sps
        keep = end_s > start_s
        return make_score(np.array(pitch)[keep], seconds_to_quarters(start_s[keep], tempos),
                          seconds_to_quarters(end_s[keep], tempos), velocity=np.array(velocity)[keep],
                          parts=(Part(),), tempos=tempos, meta=meta)
