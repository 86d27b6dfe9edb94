"""The two melody datasets of Pearce's IDyOM evaluations that ship with music21, and their 10-fold
cross-validation split by melody (Pearce 2005, Table 4.1): chorale soprano melodies BWV 253-438,
and the Essen `kinder` German folk songs.

Each melody carries, besides its pitches, the attributes IDyOM's basic viewpoints are derived from
(onset, duration, position in the bar, phrase ends, the notated key): when IDyOM
predicts a note's pitch, the other attributes of that note are known (its candidate events differ
only in pitch; idyom mvs/multiple-viewpoint-system.lisp, `mapping`)."""

from __future__ import annotations

import dataclasses
import functools
import re
from fractions import Fraction

import numpy as np

from musicjax.data.score import melody_line
from musicjax.data.corpora import music21_corpus_dir
from musicjax.data.io import read_scores
from musicjax.data.notation import _parse, read_text, split_abc, stream_to_score
from musicjax.data.score import ScoreError

FOLDS = 10
FOLD_SEED = 2005  # fixed: the folds are part of the dataset
MODES = ("", "major", "minor")  # index = mode code; "" where the source names no mode
_FIELD_LINE = re.compile(r"^[A-Za-z]:")  # an ABC header field line


@dataclasses.dataclass(frozen=True, eq=False)
class Melody:
    """One monophonic melody, n notes (ties merged; at a shared onset the highest pitch).

    pitch [n] int64 MIDI; onset [n] float64 quarters from the first note; duration [n] float64
    quarters sounding; beat [n] float64 music21 beat of the onset (1.0 = downbeat; a pickup counts
    from its bar's start); bar [n] float64 bar length in quarters; fermata [n] bool (a phrase ends
    on the note: a fermata in the chorales, the end of a line in the Essen ABC); tonic: pitch class
    0-11 of the notated key; mode: index into MODES."""

    id: str
    pitch: np.ndarray
    onset: np.ndarray
    duration: np.ndarray
    beat: np.ndarray
    bar: np.ndarray
    fermata: np.ndarray
    tonic: int
    mode: int


def _melody(stream, id_: str, path) -> Melody:
    """The top part of a music21 stream as a Melody."""
    from music21 import expressions, key

    part = stream.parts[0] if hasattr(stream, "parts") and len(stream.parts) else stream
    flat = part.flatten()
    ks = flat.getElementsByClass(key.KeySignature).first()
    if ks is None:
        raise ScoreError(path, f"{id_}: no key signature")
    k = ks if isinstance(ks, key.Key) else ks.asKey("major")
    mode = MODES.index(k.mode) if isinstance(ks, key.Key) and k.mode in MODES else 0
    rows = []  # [pitch, onset, duration, beat, bar, fermata]
    for el in flat.notes:
        if el.duration.isGrace or el.quarterLength == 0:
            continue
        n = max(el.notes, key=lambda x: x.pitch.midi) if el.isChord else el
        off, dur = float(Fraction(el.offset)), float(Fraction(el.quarterLength))
        ferm = any(isinstance(e, expressions.Fermata) for e in el.expressions)
        tie = (n.tie or el.tie).type if (n.tie or el.tie) is not None else None
        if rows and abs(rows[-1][1] - off) < 1e-9:  # a shared onset: the highest pitch wins
            if n.pitch.midi > rows[-1][0]:
                rows[-1][0] = n.pitch.midi
            continue
        last = rows[-1] if rows else None
        if tie in ("stop", "continue") and last and last[0] == n.pitch.midi and abs(last[1] + last[2] - off) < 1e-9:
            last[2] += dur
            last[5] = last[5] or ferm
            continue
        ts = el.getContextByClass("TimeSignature")
        bar = float(ts.barDuration.quarterLength) if ts is not None else 4.0
        rows.append([n.pitch.midi, off, dur, float(el.beat), bar, ferm])
    if not rows:
        raise ScoreError(path, f"{id_}: no notes")
    a = np.array(rows, dtype=np.float64)
    onset = a[:, 1] - a[0, 1]
    duration = np.minimum(a[:, 2], np.append(np.diff(a[:, 1]), np.inf))  # cut where the next note starts
    return Melody(id_, a[:, 0].astype(np.int64), onset, duration, a[:, 3], a[:, 4], a[:, 5] > 0,
                  int(k.tonic.pitchClass), mode)


def _checked(mel: Melody, pitches: np.ndarray, path) -> Melody:
    """The melody, after checking its pitches equal those of musicjax's own reader."""
    if not np.array_equal(mel.pitch, pitches):
        raise ScoreError(path, f"{mel.id}: melody attributes parsed out of step with the score's notes")
    return mel


@functools.cache
def chorale_melodies() -> tuple[Melody, ...]:
    """The soprano of every chorale BWV 253-438 in music21."""
    root = music21_corpus_dir() / "bach"
    out = []
    for bwv in range(253, 439):
        path = root / f"bwv{bwv}.mxl"
        if path.exists():
            parsed = _parse(None, path, "musicxml")
            pitches = melody_line(stream_to_score(parsed, path=path), 0).pitch
            out.append(_checked(_melody(parsed, f"bwv{bwv}", path), pitches, path))
    return tuple(out)


def _abc_phrase_ends(body: str, n: int, id_: str, path) -> np.ndarray:
    """[n] bool: the last note of each line of the tune body. The Essen ABC files write one phrase a
    line (their sources mark phrases; the ABC keeps them only as lines), with no ties or chords, so a
    line's notes are its note letters."""
    lines = body.split("K:", 1)[1].splitlines()[1:]
    counts = [len(re.findall(r"[A-Ga-g]", line)) for line in lines if not _FIELD_LINE.match(line)]
    ends = np.cumsum([c for c in counts if c]) - 1
    if not ends.size or ends[-1] != n - 1:
        raise ScoreError(path, f"{id_}: {ends[-1] + 1 if ends.size else 0} note letters in the lines, {n} notes")
    out = np.zeros(n, bool)
    out[ends] = True
    return out


@functools.cache
def kinder_melodies() -> tuple[Melody, ...]:
    """The 213 tunes of essenFolksong/kinder0.abc; `fermata` marks phrase ends (ends of ABC lines)."""
    path = music21_corpus_dir() / "essenFolksong" / "kinder0.abc"
    scores = read_scores(path)
    out = []
    for i, ((_, body), score) in enumerate(zip(split_abc(read_text(path)), scores)):
        parsed = _parse(body, path, "abc", fast=False)  # music21's own bars: beats of pickups
        parsed = parsed.scores[0] if hasattr(parsed, "scores") and len(parsed.scores) else parsed
        mel = _checked(_melody(parsed, f"kinder0/{i + 1}", path), melody_line(score, 0).pitch, path)
        out.append(dataclasses.replace(mel, fermata=_abc_phrase_ends(body, len(mel.pitch), mel.id, path)))
    return tuple(out)


DATASETS = {"chorales": chorale_melodies, "kinder": kinder_melodies}


def folds(n: int, k: int = FOLDS, seed: int = FOLD_SEED) -> list[np.ndarray]:
    """k disjoint test sets of melody indices covering range(n), sizes differing by at most one."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[i::k]) for i in range(k)]
