"""From corpus records to language-model batches with grain: melody tokens (`MelodyData`, one part
on a grid) or performance events (`PerformanceData`, every part, 10 ms time shifts). Both give the
same small interface (`codec`, `encode`, `notes_in`, `shifts`, `transpose`), so the functions here
and the LM task serve either.

Element i of the training stream is a pure function of (seed, i): the piece, its crop and its
transposition are drawn from a key folded with i. So the data position of a run is its step
number, and a resumed run reads exactly the batches an uninterrupted one would have."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import grain
import numpy as np

from musicjax.codecs.melody import BOS, EOS, NUM_SPECIAL, PAD, MelodyCodec
from musicjax.codecs.performance import PerformanceCodec
from musicjax.data import datasets
from musicjax.data.augment import shifts_in_range
from musicjax.data.records import record_to_score
from musicjax.data.score import Score, select_notes


@dataclasses.dataclass(frozen=True)
class MelodyData:
    """Which melodies a melody LM reads: each (corpus, part) pair, e.g. ("essen", 0) and
    ("bach_chorales", 0) for the chorale sopranos."""

    sources: tuple[tuple[str, int], ...] = (("essen", 0), ("bach_chorales", 0))
    steps_per_quarter: int = 4
    min_pitch: int = 36
    max_pitch: int = 96

    @property
    def codec(self) -> MelodyCodec:
        return MelodyCodec(self.steps_per_quarter, self.min_pitch, self.max_pitch)

    def encode(self, score: Score, part: int | None = 0) -> np.ndarray:
        """One part of a Score (the first by default) as melody tokens [steps] (no BOS/EOS);
        ValueError if unusable."""
        if part is None or part >= len(score.parts):
            raise ValueError("no such part" if part is not None else "a melody is one part: name it")
        return self.codec.encode(score, part)

    def notes_in(self, tokens: np.ndarray) -> int:
        """How many notes a token sequence holds (note-on tokens)."""
        return int(np.sum(np.asarray(tokens) >= NUM_SPECIAL))

    def shifts(self, tokens: np.ndarray, max_shift: int) -> np.ndarray:
        """The transpositions in [-max_shift, max_shift] that keep every note in the codec's range."""
        notes = tokens[tokens >= NUM_SPECIAL] - NUM_SPECIAL + self.min_pitch
        return shifts_in_range(notes, max_shift, self.min_pitch, self.max_pitch)

    def transpose(self, tokens: np.ndarray, shift: int) -> np.ndarray:
        """Tokens with every note-on moved by `shift` semitones."""
        return transpose_tokens(tokens, shift)


@dataclasses.dataclass(frozen=True)
class PerformanceData:
    """Performance events (`PerformanceCodec`: note-on/off per pitch, 10 ms time shifts, velocity)
    of whole pieces: each (corpus, part) pair names a corpus and one part of it, or with part None
    every part at once (e.g. ("bach_chorales", None): the four voices). Transposition keeps notes
    within [min_pitch, max_pitch] (the piano's keys by default)."""

    sources: tuple[tuple[str, int | None], ...] = (("bach_chorales", None),)
    steps_per_second: int = 100
    min_pitch: int = 21
    max_pitch: int = 108

    @property
    def codec(self) -> PerformanceCodec:
        return PerformanceCodec(self.steps_per_second)

    def encode(self, score: Score, part: int | None = None) -> np.ndarray:
        """The events of a Score (all parts by default, or part `part`) [events] (no BOS/EOS); ValueError if
        unusable (no such part, no notes, a pitch outside [min_pitch, max_pitch])."""
        if part is not None:
            if part >= len(score.parts):
                raise ValueError("no such part")
            score = select_notes(score, score.part == part)
        if not len(score.pitch):
            raise ValueError("no notes")
        if score.pitch.min() < self.min_pitch or score.pitch.max() > self.max_pitch:
            raise ValueError("a pitch outside the range")
        return self.codec.encode(score)

    def _on(self, tokens: np.ndarray) -> np.ndarray:
        c = self.codec
        return (tokens >= c.note_on) & (tokens < c.note_off)

    def notes_in(self, tokens: np.ndarray) -> int:
        """How many notes an event sequence holds (note-on events)."""
        return int(np.sum(self._on(np.asarray(tokens))))

    def shifts(self, tokens: np.ndarray, max_shift: int) -> np.ndarray:
        """The transpositions in [-max_shift, max_shift] that keep every note in [min_pitch, max_pitch]."""
        notes = tokens[self._on(tokens)] - self.codec.note_on
        return shifts_in_range(notes, max_shift, self.min_pitch, self.max_pitch)

    def transpose(self, tokens: np.ndarray, shift: int) -> np.ndarray:
        """Events with every note-on and note-off moved by `shift` semitones (time shifts and
        velocities unchanged)."""
        c = self.codec
        pitched = (tokens >= c.note_on) & (tokens < c.time_shift)
        return np.where(pitched, tokens + shift, tokens).astype(np.int32)


def melody_sequences(data: MelodyData | PerformanceData, split: str) -> tuple[list[np.ndarray], list[str]]:
    """Every piece of `split` as `data`'s tokens [steps] (no BOS/EOS), and the ids of those skipped
    (out of the codec's range, empty, no such part)."""
    seqs, skipped = [], []
    for corpus, part in data.sources:
        for rec in datasets.data_source(corpus, split):
            score = record_to_score(rec)
            try:
                seqs.append(data.encode(score, part))
            except ValueError:
                skipped.append(score.meta.source_id)
    return seqs, skipped


def transpose_tokens(tokens: np.ndarray, shift: int) -> np.ndarray:
    """Melody tokens with every note-on moved by `shift` semitones."""
    return np.where(tokens >= NUM_SPECIAL, tokens + shift, tokens).astype(np.int32)


def _window(tokens: np.ndarray, length: int, start: int) -> dict:
    """BOS + tokens + EOS, cut to [start, start + length + 1); inputs/targets/mask of [length]."""
    full = np.concatenate([[BOS], tokens, [EOS]]).astype(np.int32)
    piece = full[start : start + length + 1]
    out = np.full(length + 1, PAD, np.int32)
    out[: len(piece)] = piece
    mask = np.zeros(length, np.float32)
    mask[: len(piece) - 1] = 1.0
    return {"inputs": out[:-1], "targets": out[1:], "mask": mask}


class _TrainElement:
    """grain map: index -> one training window, drawn from rng(seed, index)."""

    def __init__(self, seqs: Sequence[np.ndarray], length: int, max_shift: int, data, seed: int):
        self.seqs, self.length, self.max_shift, self.data, self.seed = seqs, length, max_shift, data, seed

    def __call__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, index])
        tokens = self.seqs[int(rng.integers(len(self.seqs)))]
        start = int(rng.integers(max(1, len(tokens) + 2 - self.length)))
        if self.max_shift:
            tokens = self.data.transpose(tokens, int(rng.choice(self.data.shifts(tokens, self.max_shift))))
        return _window(tokens, self.length, start)


def train_batches(seqs: Sequence[np.ndarray], data: MelodyData | PerformanceData, length: int, batch_size: int,
                  seed: int, max_shift: int = 0, process_index: int = 0, process_count: int = 1) -> grain.MapDataset:
    """An endless MapDataset of batches: batch b holds elements b*B .. b*B+B-1 of the training
    stream (each process the rows [process_index::process_count] of it, for multi-host runs)."""
    if batch_size % process_count:
        raise ValueError(f"batch size {batch_size} does not divide over {process_count} processes")
    per = batch_size // process_count
    element = _TrainElement(seqs, length, max_shift, data, seed)

    def batch(b: int) -> dict:
        rows = [element(b * batch_size + process_index * per + r) for r in range(per)]
        return {k: np.stack([r[k] for r in rows]) for k in rows[0]}

    return grain.MapDataset.range(2**62).map(batch)


def eval_windows(seqs: Sequence[np.ndarray], length: int) -> dict:
    """Every evaluation melody cut into consecutive windows [n, length] (BOS first, EOS last): the
    whole split scored once, each token predicted from its window's start. Padded rows mask 0."""
    rows = []
    for tokens in seqs:
        full_len = len(tokens) + 1  # targets: tokens + EOS
        for start in range(0, full_len, length):
            rows.append(_window(tokens, length, start))
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}
