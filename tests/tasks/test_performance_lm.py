"""The LM task on performance events (`data.representation = "performance"`): the chorales' four
voices as PerformanceRNN events, transposed without leaving the piano, windows drawn by step; the
Transformer trains on them through the one loop and samples polyphonic Scores."""

import json

import numpy as np
import pytest

from musicjax.codecs.performance import PerformanceCodec
from musicjax.config import load_config
from musicjax.data import datasets
from musicjax.data.records import record_to_score
from musicjax.tasks import make
from musicjax.tasks.melody_data import MelodyData, PerformanceData, melody_sequences, train_batches
from musicjax.train.loop import restore_state


@pytest.fixture(scope="module")
def chorale():
    return record_to_score(datasets.data_source("bach_chorales", "valid")[0])


def test_performance_data_encodes_every_part_or_one(chorale):
    data = PerformanceData()
    every, soprano = data.encode(chorale), data.encode(chorale, 0)
    assert data.notes_in(every) == PerformanceCodec().quantize(chorale).num_notes
    assert data.notes_in(soprano) < data.notes_in(every)
    decoded = data.codec.decode(every, qpm=chorale.qpm)
    onsets = np.round(decoded.start_q, 3)
    assert np.max(np.unique(onsets, return_counts=True)[1]) >= 4  # four voices start together
    with pytest.raises(ValueError, match="no such part"):
        data.encode(chorale, 9)
    with pytest.raises(ValueError, match="outside the range"):
        PerformanceData(min_pitch=60, max_pitch=70).encode(chorale)


def test_transposition_moves_notes_only_and_stays_on_the_piano(chorale):
    data = PerformanceData(min_pitch=21, max_pitch=108)
    tokens = data.encode(chorale)
    up = data.transpose(tokens, 3)
    c = data.codec
    pitched = (tokens >= c.note_on) & (tokens < c.time_shift)
    assert np.array_equal(up[~pitched], tokens[~pitched]) and np.array_equal(up[pitched], tokens[pitched] + 3)
    assert np.array_equal(data.transpose(up, -3), tokens)
    back = c.decode(up, qpm=chorale.qpm)
    assert np.array_equal(np.sort(back.pitch), np.sort(c.decode(tokens, qpm=chorale.qpm).pitch + 3))
    narrow = PerformanceData(min_pitch=int(chorale.pitch.min()) - 1, max_pitch=int(chorale.pitch.max()) + 2)
    assert narrow.shifts(tokens, 5).tolist() == [-1, 0, 1, 2]


def test_melody_data_keeps_its_transpositions():
    data = MelodyData((("bach_chorales", 0),))
    seqs, _ = melody_sequences(data, "valid")
    notes = seqs[0][seqs[0] >= 5] - 5 + data.min_pitch
    expected = [s for s in range(-5, 6) if notes.min() + s >= data.min_pitch and notes.max() + s <= data.max_pitch]
    assert data.shifts(seqs[0], 5).tolist() == expected


def test_performance_batches_are_a_function_of_the_step():
    data = PerformanceData()
    seqs, skipped = melody_sequences(data, "valid")
    assert len(seqs) > 20 and not skipped
    a, b = train_batches(seqs, data, 64, 4, seed=3, max_shift=5), train_batches(seqs, data, 64, 4, seed=3, max_shift=5)
    assert all(np.array_equal(a[7][k], b[7][k]) for k in a[7])
    assert not np.array_equal(a[7]["inputs"], a[8]["inputs"])
    assert a[7]["inputs"].max() < data.codec.vocab_size


@pytest.fixture(scope="module")
def trained(train_run):
    return train_run("experiments/transformer_melody.py:performance_tiny",
                     ["train.num_steps=16", "train.learning_rate=3e-3"], "performance")


def test_transformer_learns_performance_events_and_samples_chords(trained):
    config, task, workdir = trained
    lines = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
    losses = [l["loss"] for l in lines if "loss" in l]
    assert losses[-1] < losses[0] - 0.5  # from ~log(391) = 5.97 nats
    state, _ = restore_state(task, config, workdir, "latest")
    rows = task.report(state, "valid")["models"]
    assert set(rows) == {"transformer", "unigram", "bigram"}
    assert 0 < rows["transformer"]["nll_per_token"] < np.log(task.extra["data"].codec.vocab_size)
    scores = task.sample(state, 2, seed=1, steps=48)
    assert len(scores) == 2 and all(s.num_notes > 0 for s in scores)


def test_performance_lstm_variant_builds():
    config = load_config("experiments/melody_lstm.py:performance_tiny")
    task = make(config)
    batch = task.batch(0)
    assert batch["inputs"].shape == (8, 32) and batch["inputs"].max() < PerformanceCodec().vocab_size
