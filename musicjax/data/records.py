"""Scores as flat records of arrays and strings: the form stored in the TFDS datasets and handed
out by grain. `record_to_score(score_to_record(s))` equals `s` bit for bit.

Float64 arrays (times, tempos) are stored as their int64 bit patterns: TFDS's numpy path rounds
float64 tensors through float32 (measured: 1/3 came back 1e-8 off, 88.00002347 qpm 6e-7 off)."""

from __future__ import annotations

import numpy as np

from musicjax.data.score import Metadata, Part, Score

META_FIELDS = tuple(f for f in Metadata.__dataclass_fields__)
NOTE_FIELDS = {"pitch": np.int16, "start": np.float64, "end": np.float64, "start_q": np.float64,
               "end_q": np.float64, "velocity": np.int16, "part": np.int16}


def _stored_dtype(dt):
    return np.int64 if dt == np.float64 else dt


def _store(x, dt):
    x = np.asarray(x, dt)
    return x.view(np.int64) if dt == np.float64 else x


def _load(x, dt):
    return np.asarray(x, np.int64).view(np.float64) if dt == np.float64 else np.asarray(x, dt)
LYRIC_FIELDS = {"lyric_note": np.int32, "lyric_syllabic": np.int8, "lyric_verse": np.int8}
# The maps and text events (records of format 1.1 on): one array per column.
MAP_FIELDS = {"time_signatures": ("ts_q", "ts_numerator", "ts_denominator"),
              "key_signatures": ("ks_q", "ks_fifths", "ks_minor")}
MAP_DTYPES = {"ts_q": np.float64, "ts_numerator": np.int16, "ts_denominator": np.int32,
              "ks_q": np.float64, "ks_fifths": np.int8, "ks_minor": np.int8}


def tfds_features():
    """The TFDS FeaturesDict of a score record."""
    import tensorflow_datasets as tfds

    f = tfds.features
    spec = {name: f.Text() for name in META_FIELDS}
    spec.update({name: f.Tensor(shape=(None,), dtype=_stored_dtype(dt))
                 for name, dt in {**NOTE_FIELDS, **LYRIC_FIELDS}.items()})
    spec.update({
        "lyric_text": f.Sequence(f.Text()),
        "part_name": f.Sequence(f.Text()),
        "part_program": f.Tensor(shape=(None,), dtype=np.int16),
        "part_is_drum": f.Tensor(shape=(None,), dtype=np.bool_),
        "tempo_q": f.Tensor(shape=(None,), dtype=np.int64),  # float64 bits
        "tempo_qpm": f.Tensor(shape=(None,), dtype=np.int64),
        "text": f.Sequence(f.Text()),
        "text_q": f.Tensor(shape=(None,), dtype=np.int64),  # float64 bits
        "text_kind": f.Tensor(shape=(None,), dtype=np.int8),
        "pickup_q": f.Tensor(shape=(None,), dtype=np.int64),  # float64 bits; empty: not stated (format 1.2)
    })
    spec.update({name: f.Tensor(shape=(None,), dtype=_stored_dtype(dt)) for name, dt in MAP_DTYPES.items()})
    return f.FeaturesDict(spec)


def score_to_record(score: Score) -> dict:
    rec = {name: getattr(score.meta, name) for name in META_FIELDS}
    rec.update({name: _store(getattr(score, name), dt) for name, dt in {**NOTE_FIELDS, **LYRIC_FIELDS}.items()})
    rec.update({
        "lyric_text": list(score.lyric_text),
        "part_name": [p.name for p in score.parts],
        "part_program": np.array([p.program for p in score.parts], np.int16),
        "part_is_drum": np.array([p.is_drum for p in score.parts], np.bool_),
        "tempo_q": _store(score.tempos[:, 0].copy(), np.float64),
        "tempo_qpm": _store(score.tempos[:, 1].copy(), np.float64),
        "text": list(score.text),
        "text_q": _store(score.text_q, np.float64),
        "text_kind": np.asarray(score.text_kind, np.int8),
        "pickup_q": _store(np.zeros(0) if score.pickup_q is None else np.array([score.pickup_q]), np.float64),
    })
    for field, columns in MAP_FIELDS.items():
        rows = getattr(score, field)
        rec.update({c: _store(rows[:, j].copy(), MAP_DTYPES[c]) for j, c in enumerate(columns)})
    return rec


def _text(x) -> str:
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)


def record_to_score(rec: dict) -> Score:
    """Inverse of `score_to_record`; accepts the bytes TFDS returns for text fields (and records
    of format 1.1, which hold no pickup)."""
    pickup = _load(rec.get("pickup_q", np.zeros(0, np.int64)), np.float64)
    maps = {field: np.stack([_load(rec[c], MAP_DTYPES[c]).astype(np.float64) for c in columns], 1).reshape(-1, 3)
            for field, columns in MAP_FIELDS.items()}
    return Score(
        **{name: _load(rec[name], dt) for name, dt in {**NOTE_FIELDS, **LYRIC_FIELDS}.items()},
        lyric_text=tuple(_text(t) for t in rec["lyric_text"]),
        parts=tuple(Part(_text(n), int(p), bool(d))
                    for n, p, d in zip(rec["part_name"], rec["part_program"], rec["part_is_drum"])),
        tempos=np.stack([_load(rec["tempo_q"], np.float64), _load(rec["tempo_qpm"], np.float64)], 1),
        meta=Metadata(**{name: _text(rec[name]) for name in META_FIELDS}),
        **maps,
        text_q=_load(rec["text_q"], np.float64),
        text=tuple(_text(t) for t in rec["text"]),
        text_kind=np.asarray(rec["text_kind"], np.int8),
        pickup_q=float(pickup[0]) if len(pickup) else None,
    )
