"""The chorale frame benchmark's data: each chorale moved to C major / C minor and sampled at every
quarter-note start into frames of the 88 piano keys, the split, training windows (optionally moved
along the keys, with soft targets riding along), a piece moved and its answers moved back, and the
independent-keys baseline.

Split: ours, not the original 229/76/77. All chorales of the corpus are re-split 60/20/20 (the
original's proportions) on a stable hash: by default (`split_by="melody"`) of the soprano's
interval-and-duration sequence, so that a melody Bach harmonised more than once (with the same
rhythm) sits in one split only; with `split_by="piece"`, of the piece's source id alone, so that
two harmonisations of one tune may fall in different splits, as in the original split (which
keeps no rule about them). Frame t is predicted from frames < t; the first from a zero frame, as in the original."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from musicjax.codecs.pianoroll import PianorollCodec
from musicjax.data import corpora, datasets
from musicjax.data.augment import shift_pitches, shifts_in_range, transpose
from musicjax.data.score import Score
from musicjax.evaluate.music_stats import key_label


@dataclasses.dataclass(frozen=True)
class FrameSpec:
    corpus: str = "bach_chorales"
    frames_per_quarter: int = 1
    min_pitch: int = 21  # A0: key 0 of 88
    num_keys: int = 88
    split_fractions: tuple[float, float] = (0.6, 0.8)  # train below the first, valid below the second
    split_by: str = "melody"  # melody (a re-harmonised tune in one split only) | piece (the source id)

    def __post_init__(self):
        if self.split_by not in ("melody", "piece"):
            raise ValueError(f"split_by must be melody or piece, got {self.split_by!r}")

    @property
    def codec(self) -> PianorollCodec:
        return PianorollCodec(self.frames_per_quarter, self.min_pitch, self.num_keys)


def shift_to_c(score: Score) -> int:
    """Semitones (-6..5) that move the piece's tonic (its notated key, else the estimated one) to
    C: the smaller shift, as `augment.transpose_to_c`, which knows only notated keys."""
    tonic = key_label(score) % 12
    return -tonic if tonic <= 6 else 12 - tonic


def piece_frames(score: Score, spec: FrameSpec) -> np.ndarray:
    """Score -> frames [T, num_keys] bool in C major / C minor; ValueError if it has no notes or
    a note falls off the keyboard."""
    if not score.num_notes:
        raise ValueError("no notes")
    return spec.codec.sampled(transpose(score, shift_to_c(score)))


@functools.cache
def split_pieces(spec: FrameSpec) -> dict:
    """{'train'|'valid'|'test': [(source_id, frames [T, K] bool)]}, 'skipped': {reason: count}}."""
    out = {"train": [], "valid": [], "test": [], "skipped": {}}
    for split in ("train", "valid", "test"):
        for score in datasets.load_scores(spec.corpus, split):
            try:
                frames = piece_frames(score, spec)
            except ValueError as e:
                reason = "no_notes" if str(e) == "no notes" else "off_the_keyboard"
                out["skipped"][reason] = out["skipped"].get(reason, 0) + 1
                continue
            key = corpora.melody_fingerprint(score) if spec.split_by == "melody" else score.meta.source_id
            ours = corpora.split_of(key, spec.split_fractions)
            out[ours].append((score.meta.source_id, frames))
    for split in ("train", "valid", "test"):
        out[split].sort(key=lambda p: p[0])
        if not out[split]:
            raise ValueError(f"{spec.corpus}: no pieces in the {split} split")
    return out


def with_previous(frames: np.ndarray, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """The window frames[start:start + length] and its inputs (each row the frame before it; a zero
    frame before the piece's first)."""
    window = frames[start:start + length]
    before = frames[start - 1:start] if start > 0 else np.zeros((1, frames.shape[1]), frames.dtype)
    return window, np.concatenate([before, window[:-1]])


def pad_rows(rows: list[tuple[np.ndarray, np.ndarray]], length: int, num_keys: int) -> dict:
    """[(window, previous)] -> {'frames', 'previous' [N, length, K] float32, 'mask' [N, length]}."""
    n = len(rows)
    out = {"frames": np.zeros((n, length, num_keys), np.float32), "previous": np.zeros((n, length, num_keys), np.float32),
           "mask": np.zeros((n, length), np.float32)}
    for i, (window, previous) in enumerate(rows):
        out["frames"][i, :len(window)] = window
        out["previous"][i, :len(window)] = previous
        out["mask"][i, :len(window)] = 1.0
    return out


def training_batch(pieces, step: int, seed: int, batch_size: int, seq_len: int, num_keys: int,
                   max_transpose: int = 0, targets=None) -> dict:
    """A batch of `batch_size` windows of up to `seq_len` frames ({'frames', 'previous', 'mask'} as
    `pad_rows`, and 'tonic' [N] int32: each window's tonic pitch class, 0 (C) unless transposed), the
    same for a given (seed, step):
    pieces drawn in proportion to their length, a window start uniform within each; with
    `max_transpose`, each window moved along the keys by a shift drawn uniformly from those in
    [-max_transpose, max_transpose] that keep its notes on the keyboard (training augmentation: the
    evaluated pieces stay in C). `targets` (one [T, K] float array per piece, e.g. a teacher's key
    probabilities) adds 'soft' [N, seq_len, K] float32: each window's rows of its piece's targets,
    moved with it (zero where padded); the windows and shifts do not depend on it."""
    rng = np.random.default_rng([seed, step])
    shift_rng = np.random.default_rng([seed, step, 1])  # its own stream: the windows do not depend on it
    lengths = np.array([len(f) for _, f in pieces], np.float64)
    chosen = rng.choice(len(pieces), size=batch_size, p=lengths / lengths.sum())
    rows, tonics = [], []
    soft = None if targets is None else np.zeros((batch_size, seq_len, num_keys), np.float32)
    for n, i in enumerate(chosen):
        frames = pieces[i][1]
        start = int(rng.integers(0, max(1, len(frames) - seq_len + 1)))
        window, previous = with_previous(frames, start, seq_len)
        shift = 0
        if max_transpose:
            used = np.flatnonzero(window.any(0) | previous.any(0))  # keys sounding in the window
            shift = int(shift_rng.choice(shifts_in_range(used, max_transpose, 0, num_keys - 1)))
            window, previous = shift_pitches(window, shift), shift_pitches(previous, shift)
        if soft is not None:
            soft[n, :len(window)] = shift_pitches(targets[i][start:start + seq_len], shift)
        rows.append((window, previous))
        tonics.append(shift % 12)  # the pieces are in C: the window's tonic is where C moved
    out = {**pad_rows(rows, seq_len, num_keys), "tonic": np.array(tonics, np.int32)}
    return out if soft is None else {**out, "soft": soft}


def moved_back(values: np.ndarray, shift: int) -> np.ndarray:
    """values [..., K] of a roll moved `shift` keys up, returned to the unmoved keys: out[..., k] =
    values[..., k + shift]; the unmoved keys whose moved place is off the keyboard are NaN."""
    keys = values.shape[-1]
    out = np.full(values.shape, np.nan, np.float32)
    lo, hi = max(0, -shift), min(keys, keys - shift)
    out[..., lo:hi] = values[..., lo + shift:hi + shift]
    return out


def mean_of_answers(answers) -> list[np.ndarray]:
    """An iterable of answers, each a list of [T, K] arrays (one per piece; NaN where that answer
    has none, e.g. a key a shift pushed off the keyboard) -> their mean per piece [T, K] float32, each
    entry over the answers that have it (NaN where none has)."""
    sums, counts = None, None
    for answer in answers:
        if sums is None:
            sums = [np.zeros(a.shape, np.float64) for a in answer]
            counts = [np.zeros(a.shape, np.int32) for a in answer]
        for total, count, a in zip(sums, counts, answer):
            seen = ~np.isnan(a)
            total[seen] += a[seen]
            count += seen
    if sums is None:
        raise ValueError("no answers to average")
    return [np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)
            for total, count in zip(sums, counts)]


def transposed_frames(source: str, frames: np.ndarray, transpose: int) -> np.ndarray:
    """frames [T, K] moved `transpose` keys up (down if negative); ValueError naming the piece if a
    note would leave the keyboard (nothing is dropped: a scored frame must be the piece's own)."""
    used = np.flatnonzero(frames.any(0))
    if transpose not in shifts_in_range(used, abs(transpose), 0, frames.shape[1] - 1):
        raise ValueError(f"{source}: moved {transpose:+d} keys, its notes leave the {frames.shape[1]}-key keyboard")
    return shift_pitches(frames, transpose)


def marginal_nll(train_pieces, pieces, alpha: float = 1.0) -> tuple[float, int]:
    """The independent-keys baseline: each key on with its training frequency (add-alpha smoothed);
    (summed NLL in nats, frames) over `pieces`."""
    train = np.concatenate([f for _, f in train_pieces]).astype(np.float64)
    p = (train.sum(0) + alpha) / (len(train) + 2 * alpha)
    frames = np.concatenate([f for _, f in pieces]).astype(np.float64)
    ll = frames @ np.log(p) + (1 - frames) @ np.log1p(-p)
    return float(-ll.sum()), len(frames)
