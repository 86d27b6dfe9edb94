"""The piano-roll GAN's data: fixed-length multi-track segments of a corpus (the four chorale
voices, or Essen melodies as one track) as bool rolls [tracks, bars, steps, pitches], the training
rows drawn and transposed, a segment back to a Score, and a split's two halves by piece.

Segments. A bar is `quarters_per_bar` quarters at `steps_per_quarter` steps (4 x 4 = 16 steps a
bar); a segment is `num_bars` bars, cut at every `hop_bars` bar from the piece's first bar line
(`Score.first_downbeat_q`: after the pickup the notation states; quarter 0 where none is known), lying
wholly inside the piece. Only pieces with exactly one part per track and a meter in `meters` are
read; a segment with a note outside the roll's pitch range is skipped. Splits are the corpus's (by
piece). Training rows are transposed by a shift drawn uniformly from those within
±`max_transpose` that keep the segment in range (augmentation apart from encoding: the shift moves
the encoded roll along its pitch axis, which is what transposing the Score and encoding it gives)."""

from __future__ import annotations

import dataclasses

import numpy as np

from musicjax.codecs.pianoroll import PianorollCodec
from musicjax.data import datasets
from musicjax.data.records import record_to_score
from musicjax.data.score import Metadata, Part, Score, make_score
from musicjax.evaluate.music_stats import key_label


@dataclasses.dataclass(frozen=True)
class SegmentSpec:
    """Which segments of which corpus, on which grid."""

    corpus: str = "bach_chorales"
    tracks: tuple[str, ...] = ("soprano", "alto", "tenor", "bass")  # one per part, in part order
    num_bars: int = 4
    steps_per_quarter: int = 4
    quarters_per_bar: int = 4
    min_pitch: int = 36  # C2: the roll's lowest pitch (a C, so octave patches are pitch classes)
    num_pitches: int = 48  # four octaves: C2-B5 holds every chorale voice
    meters: tuple[str, ...] = ("4/4",)
    hop_bars: int = 1

    def __post_init__(self):
        if self.min_pitch % 12 or self.num_pitches % 12:
            raise ValueError(f"the roll must span whole octaves from a C: {self}")

    @property
    def steps_per_bar(self) -> int:
        return self.steps_per_quarter * self.quarters_per_bar

    @property
    def length(self) -> int:
        return self.num_bars * self.steps_per_bar

    @property
    def codec(self) -> PianorollCodec:
        return PianorollCodec(frames_per_quarter=self.steps_per_quarter, min_pitch=self.min_pitch,
                              num_pitches=self.num_pitches)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """A segment's: (tracks, bars, steps, pitches)."""
        return len(self.tracks), self.num_bars, self.steps_per_bar, self.num_pitches


def score_to_roll(score: Score, spec: SegmentSpec) -> tuple[np.ndarray, np.ndarray]:
    """(roll [frames, pitches, tracks] bool, outside [frames] bool: a note beyond the pitch range
    sounds there). Frames are the codec's (`PianorollCodec.frame_span`), track k is part k."""
    start, end = spec.codec.frame_span(score)
    frames = int(end.max()) if score.num_notes else 0
    roll = np.zeros((frames, spec.num_pitches, len(spec.tracks)), bool)
    outside = np.zeros(frames, bool)
    index = score.pitch.astype(np.int64) - spec.min_pitch
    for s, e, p, k in zip(start, end, index, score.part):
        if 0 <= p < spec.num_pitches:
            roll[s:e, p, k] = True
        else:
            outside[s:e] = True
    return roll, outside


def segments(spec: SegmentSpec, split: str) -> dict:
    """Every segment of `split`: {'rolls' [N, tracks, bars, steps, pitches] bool, 'piece' [N]
    (index into 'ids'), 'start' [N] (step in the piece), 'key' [N] (key_label), 'ids' (source ids
    of the pieces read), 'skipped': pieces and segments left out, by reason}."""
    rolls, pieces, starts, keys, ids = [], [], [], [], []
    skipped = {"parts_or_meter": 0, "too_short": 0, "segments_out_of_range": 0}
    hop, length = spec.hop_bars * spec.steps_per_bar, spec.length
    for rec in datasets.data_source(spec.corpus, split):
        score = record_to_score(rec)
        if len(score.parts) != len(spec.tracks) or score.meta.meter not in spec.meters or not score.num_notes:
            skipped["parts_or_meter"] += 1
            continue
        roll, outside = score_to_roll(score, spec)
        first = int(round(score.first_downbeat_q * spec.steps_per_quarter))
        begin = np.arange(first, roll.shape[0] - length + 1, hop)
        if begin.size == 0:
            skipped["too_short"] += 1
            continue
        label, piece, kept = key_label(score), len(ids), 0
        for s in begin:
            if outside[s:s + length].any():
                skipped["segments_out_of_range"] += 1
                continue
            rolls.append(roll[s:s + length].transpose(2, 0, 1).reshape(spec.shape))
            pieces.append(piece), starts.append(int(s)), keys.append(label)
            kept += 1
        if kept:
            ids.append(score.meta.source_id)
    if not rolls:
        raise ValueError(f"{spec.corpus} {split}: no segments of {spec.num_bars} bars with {len(spec.tracks)} parts")
    return {"rolls": np.stack(rolls), "piece": np.array(pieces), "start": np.array(starts), "key": np.array(keys),
            "ids": ids, "skipped": skipped}


def shift_range(rolls: np.ndarray, max_shift: int) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) pitch shift [N] within ±max_shift that keeps each segment in the roll."""
    used = rolls.any((1, 2, 3))  # [N, pitches]
    p = used.shape[1]
    has = used.any(1)
    lo_pitch = np.where(has, used.argmax(1), 0)
    hi_pitch = np.where(has, p - 1 - used[:, ::-1].argmax(1), p - 1)
    return np.maximum(-max_shift, -lo_pitch), np.minimum(max_shift, p - 1 - hi_pitch)


def draw_rows(data: dict, bounds, rows: int, seed: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(segment index [rows], shift [rows]) of global batch `step`: a pure function of (seed, step)."""
    rng = np.random.default_rng([seed, step])
    idx = rng.integers(0, len(data["rolls"]), rows)
    lo, hi = bounds[0][idx], bounds[1][idx]
    return idx, lo + np.floor(rng.random(rows) * (hi - lo + 1)).astype(np.int64)


def roll_to_score(roll: np.ndarray, spec: SegmentSpec, qpm: float, title: str = "") -> Score:
    """A segment [tracks, bars, steps, pitches] (bool) -> a Score with one part per track
    (consecutive sounding steps of a pitch are one note: `PianorollCodec.decode` per track)."""
    roll = np.asarray(roll, bool).reshape(len(spec.tracks), spec.length, spec.num_pitches)
    pitch, start, end, part = [], [], [], []
    for k in range(roll.shape[0]):
        s = spec.codec.decode(roll[k], qpm=qpm)
        pitch += list(s.pitch)
        start += list(s.start_q)
        end += list(s.end_q)
        part += [k] * s.num_notes
    parts = tuple(Part(name=n.capitalize()) for n in spec.tracks)
    meter = f"{spec.quarters_per_bar}/4"
    return make_score(pitch, start, end, part=np.array(part, np.int16), parts=parts, tempos=((0.0, qpm),),
                      meta=Metadata(title=title, meter=meter))


def halves(data: dict) -> tuple[np.ndarray, np.ndarray]:
    """Segment indices of the two halves of a split, alternate pieces in source-id order."""
    order = {pid: i for i, pid in enumerate(sorted(data["ids"]))}
    half = np.array([order[data["ids"][p]] % 2 for p in data["piece"]])
    return np.flatnonzero(half == 0), np.flatnonzero(half == 1)
