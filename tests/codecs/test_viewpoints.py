import numpy as np
import pytest

from musicjax.codecs.viewpoints import (ALL_VIEWPOINTS, MAX_INTERVAL, MAX_TICKS, TICKS_PER_QUARTER, VIEWPOINT_SIZES,
                                        Vocabulary, check_viewpoints, key_shift, melody_features)
from musicjax.data.idyom import DATASETS


@pytest.fixture(scope="module")
def kinder():
    return list(DATASETS["kinder"]())


@pytest.fixture(scope="module")
def vocab(kinder):
    return Vocabulary.for_dataset(kinder, 12)


def _columns(mel, vocab, shift=0):
    x, y = vocab.encode(mel, ALL_VIEWPOINTS, shift)
    return {v: x[:, i] for i, v in enumerate(ALL_VIEWPOINTS)}, y


def test_vocabulary_is_the_datasets_pitch_alphabet_with_room_to_transpose(kinder, vocab):
    assert len(vocab.alphabet) == 27  # Pearce's Table 4.1
    assert vocab.feature_sizes(ALL_VIEWPOINTS) == (vocab.vocab,) + tuple(VIEWPOINT_SIZES.values())
    for mel in kinder:
        assert np.array_equal(vocab.alphabet[vocab.symbols(mel)], mel.pitch)
    for shift in (-12, 12):  # the margin: a melody moved an octave either way still has ids
        ids = vocab.alphabet_ids(shift)
        assert ids.min() >= 1 and ids.max() < vocab.vocab and np.array_equal(vocab.pitches(ids, shift), vocab.alphabet)


def test_every_column_lies_in_its_range_at_every_transposition(kinder, vocab):
    sizes = vocab.feature_sizes(ALL_VIEWPOINTS)
    for mel in kinder:
        for shift in (-6, 0, 6):
            x, y = vocab.encode(mel, ALL_VIEWPOINTS, shift)
            assert x.dtype == np.int32 and y.dtype == np.int32 and x.shape == (len(mel.pitch), len(sizes))
            assert np.all(x >= 0) and np.all(x < np.array(sizes)) and np.all((y >= 1) & (y < vocab.vocab))


def test_pitch_ids_invert_to_the_melody_and_the_pitch_column_is_the_previous_note(kinder, vocab):
    for mel in kinder:
        for shift in (-5, 0, 6):
            col, y = _columns(mel, vocab, shift)
            assert np.array_equal(vocab.pitches(y, shift), mel.pitch)
            assert col["pitch"][0] == 0 and np.array_equal(vocab.pitches(col["pitch"][1:], shift), mel.pitch[:-1])


def test_interval_degree_and_phrase_columns_are_the_previous_notes(kinder, vocab):
    for mel in kinder:
        col, _ = _columns(mel, vocab)
        assert col["interval"][:2].tolist() == [0, 0]  # no interval before the second note
        leaps = np.diff(mel.pitch)[:-1]  # the interval into note i-1, seen when predicting note i
        assert np.abs(leaps).max() <= MAX_INTERVAL  # the kinder songs leap at most an octave: nothing clipped
        assert np.array_equal(col["interval"][2:] - MAX_INTERVAL - 1, leaps)
        assert col["degree"][0] == 0 and np.array_equal(col["degree"][1:] - 1, (mel.pitch[:-1] - mel.tonic) % 12)
        assert np.array_equal(col["fermata"], mel.fermata)
        assert col["prev_fermata"][0] == 2 and np.array_equal(col["prev_fermata"][1:], mel.fermata[:-1])
        assert np.all(col["mode"] == mel.mode)


def test_durations_and_rests_count_twelfths_of_a_quarter_exactly(kinder, vocab):
    for mel in kinder:
        col, _ = _columns(mel, vocab)
        assert mel.duration.max() * TICKS_PER_QUARTER <= MAX_TICKS
        np.testing.assert_allclose(col["duration"], mel.duration * TICKS_PER_QUARTER, atol=1e-9)
        np.testing.assert_allclose(col["prev_duration"][1:], col["duration"][:-1], atol=0)
        # each onset is the previous note's onset, its duration, and the rest before this note
        np.testing.assert_allclose(mel.onset[1:], mel.onset[:-1] + (col["duration"][:-1] + col["rest"][1:]) / 12,
                                   atol=1e-9)
        np.testing.assert_allclose(col["bar"], mel.bar * TICKS_PER_QUARTER, atol=1e-9)
        assert col["rest"][0] == 0 and np.all(col["beat"] < MAX_TICKS)


def test_chorale_features_are_the_previous_notes_and_the_known_attributes_of_the_predicted_one():
    chorales = DATASETS["chorales"]()
    mel = chorales[0]
    x, y = melody_features(mel, ALL_VIEWPOINTS, 0, 40)
    col = {v: x[:, i] for i, v in enumerate(ALL_VIEWPOINTS)}
    assert x.shape == (len(mel.pitch), len(ALL_VIEWPOINTS)) and np.array_equal(y, mel.pitch - 39)
    assert col["pitch"][0] == 0 and np.array_equal(col["pitch"][1:], y[:-1])  # 0 = start of the melody
    assert col["interval"][:2].tolist() == [0, 0] and col["interval"][3] == mel.pitch[2] - mel.pitch[1] + 13
    assert col["degree"][1] == (mel.pitch[0] - mel.tonic) % 12 + 1
    assert np.array_equal(col["fermata"], mel.fermata) and col["prev_fermata"][9] == 1
    assert col["duration"][1] == 6 and col["beat"][1] == 0 and col["beat"][0] == 36  # eighth note; downbeat
    # moving the melody moves its pitch ids and nothing else (the degree is relative to the tonic)
    x2, y2 = melody_features(mel, ALL_VIEWPOINTS, -3, 40)
    assert np.array_equal(y2, y + 3) and np.array_equal(x2[:, 1:], x[:, 1:])
    assert all(-5 <= key_shift(m) <= 6 and (m.tonic - key_shift(m)) % 12 == 0 for m in chorales)


def test_a_pitch_below_the_vocabulary_and_unknown_viewpoints_are_refused(kinder, vocab):
    with pytest.raises(ValueError, match="below the vocabulary"):
        vocab.encode(kinder[0], ALL_VIEWPOINTS, shift=int(kinder[0].pitch.min()) - vocab.low + 1)  # lowest -> id 0
    check_viewpoints(("pitch", "interval"))
    for bad in (("interval",), ("pitch", "loudness")):
        with pytest.raises(ValueError, match="viewpoints must include"):
            check_viewpoints(bad)
