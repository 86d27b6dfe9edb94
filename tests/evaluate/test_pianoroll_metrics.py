"""The piano-roll metrics on hand-made rolls whose values are known, and the Fréchet distance on
sets whose distance follows from the formula."""

import math

import numpy as np
import pytest

from musicjax.evaluate import pianoroll_metrics as pm

MIN_PITCH = 36  # index 0 is C2; index 12 is C3


def empty(segments=1, tracks=2, bars=4, steps=16, pitches=48):
    return np.zeros((segments, tracks, bars, steps, pitches), bool)


def put(roll, segment, track, bar, step, length, index):
    """A note of `length` steps from (bar, step) at pitch index `index` (may cross bar lines)."""
    flat = roll[segment, track].reshape(-1, roll.shape[-1])
    start = bar * roll.shape[3] + step
    flat[start:start + length, index] = True


def test_empty_bar_rate_counts_silent_bars_per_track():
    r = empty()
    put(r, 0, 0, 0, 0, 4, 5)
    put(r, 0, 0, 1, 3, 2, 5)
    for bar in range(4):
        put(r, 0, 1, bar, 0, 16, 10)
    np.testing.assert_allclose(pm.empty_bar_rate(r), [0.5, 0.0])


def test_used_pitch_classes_per_nonempty_bar_fold_octaves():
    r = empty(tracks=1)
    put(r, 0, 0, 0, 0, 4, 0)   # C2
    put(r, 0, 0, 0, 4, 4, 12)  # C3: the same class
    put(r, 0, 0, 0, 8, 4, 7)   # G2
    for i, idx in enumerate((0, 4, 7, 11)):  # bar 1: C E G B
        put(r, 0, 0, 1, 4 * i, 4, idx)
    # bars 2 and 3 are empty and do not count
    np.testing.assert_allclose(pm.used_pitch_classes(r, MIN_PITCH), [3.0])


def test_notes_are_runs_and_qualified_notes_last_three_steps():
    r = empty(tracks=1)
    for i, length in enumerate((1, 2, 3, 4)):
        put(r, 0, 0, 0, 4 * i, length, 20 + i)
    put(r, 0, 0, 1, 14, 5, 30)  # crosses the bar line: one note of 5 steps
    seg, trk, pit, start, length = pm.notes(r)
    assert sorted(length.tolist()) == [1, 2, 3, 4, 5]
    assert start[pit == 30][0] == 30
    np.testing.assert_allclose(pm.qualified_note_rate(r, 3), [3 / 5])
    np.testing.assert_allclose(pm.qualified_note_rate(r, 5), [1 / 5])


def test_polyphony_texture_and_pitch_range():
    r = empty(tracks=2)
    put(r, 0, 0, 0, 0, 2, 0)
    put(r, 0, 0, 0, 0, 1, 4)
    put(r, 0, 0, 0, 0, 1, 7)  # step 0: three pitches; step 1: one
    put(r, 0, 1, 0, 0, 2, 0)  # the other track doubles C2: texture counts it once
    put(r, 0, 1, 2, 0, 1, 19)
    np.testing.assert_allclose(pm.polyphony(r), [2.0, 1.0])
    assert pm.texture(r) == pytest.approx((3 + 1 + 1) / 3)  # steps 0, 1 and the one in bar 2
    np.testing.assert_allclose(pm.pitch_range(r), [7.0, 19.0])


def test_tonal_distance_of_c_against_g_is_the_sum_over_harte_circles():
    r = empty(tracks=3, bars=1)
    put(r, 0, 0, 0, 0, 16, 0)   # C
    put(r, 0, 1, 0, 0, 16, 7)   # G
    put(r, 0, 2, 0, 0, 16, 12)  # C an octave up
    # on each circle the classes 0 and 7 lie at angles 0 and 7 * step (mod 2 pi): chord 2 r sin(angle / 2)
    fifths, minor_thirds, major_thirds = 7 * 7 * math.pi / 6, 7 * 3 * math.pi / 2, 7 * 2 * math.pi / 3
    chord = lambda radius, angle: 2 * radius * abs(math.sin(angle / 2))
    expected = math.sqrt(chord(1, fifths) ** 2 + chord(1, minor_thirds) ** 2 + chord(0.5, major_thirds) ** 2)
    td = pm.tonal_distance(r, MIN_PITCH, [(0, 1), (0, 2), (1, 2)])
    np.testing.assert_allclose(td, [expected, 0.0, expected], atol=1e-12)


def test_tonal_distance_skips_bars_where_a_track_is_silent():
    r = empty(tracks=2, bars=2)
    put(r, 0, 0, 0, 0, 16, 0)
    put(r, 0, 1, 0, 0, 16, 0)
    put(r, 0, 0, 1, 0, 16, 0)  # bar 1: track 1 silent
    np.testing.assert_allclose(pm.tonal_distance(r, MIN_PITCH, [(0, 1)]), [0.0])


def test_notes_in_key_of_the_estimated_key():
    r = empty(tracks=2, bars=1)
    for i, idx in enumerate((0, 2, 4, 5, 7, 9, 11, 12)):  # a C major scale in track 0, two steps each
        put(r, 0, 0, 0, 2 * i, 2, idx)
    put(r, 0, 1, 0, 0, 8, 0)   # C held
    put(r, 0, 1, 0, 8, 4, 7)   # G
    put(r, 0, 1, 0, 12, 1, 6)  # one F#: out of the key
    tonic, minor = pm.segment_keys(r, MIN_PITCH)
    assert tonic[0] == 0 and not minor[0]
    per_track, overall = pm.notes_in_key(r, MIN_PITCH)
    np.testing.assert_allclose(per_track, [1.0, 2 / 3])
    assert overall == pytest.approx(10 / 11)


def test_voice_crossings_between_adjacent_voices():
    r = empty(tracks=2, bars=1)
    put(r, 0, 0, 0, 0, 8, 20)  # upper voice
    put(r, 0, 1, 0, 0, 6, 10)  # lower voice below it for 6 steps
    put(r, 0, 1, 0, 6, 2, 25)  # then above it for 2
    put(r, 0, 1, 0, 8, 8, 10)  # both do not sound here: not counted
    np.testing.assert_allclose(pm.voice_crossings(r, [(0, 1)]), [2 / 8])


def test_all_metrics_names_and_percentages():
    r = empty(tracks=2)
    put(r, 0, 0, 0, 0, 16, 24)
    put(r, 0, 1, 0, 0, 16, 12)
    m = pm.all_metrics(r, MIN_PITCH, ("upper", "lower"))
    assert m["eb_upper"] == pytest.approx(75.0) and m["qn_lower"] == pytest.approx(100.0)
    assert m["td_upper_lower"] == pytest.approx(0.0) and m["crossings_upper_lower"] == 0.0
    assert {"upc_upper", "polyphony_lower", "pitch_range_upper", "in_key_lower", "texture", "in_key_all"} <= set(m)


def test_compare_and_markdown_table():
    rows = pm.compare({"a": 2.0, "b": 0.0, "c": 1.0, "d": 3.0}, {"a": 2.1, "b": 0.5, "c": 4.0, "d": math.nan})
    assert rows["a"]["within"] is True and rows["c"]["within"] is False and rows["b"]["within"] is None
    assert rows["a"]["relative_difference"] == pytest.approx(0.05) and rows["d"]["relative_difference"] == math.inf
    assert rows["d"]["within"] is False  # a metric the generated rolls leave undefined (a silent track) fails
    error, within = pm.summary(rows)
    assert error == pytest.approx((0.05 + 1 + 1) / 3) and within == pytest.approx(1 / 3)
    table = pm.markdown_table(rows)
    assert table.splitlines()[2].startswith("| a | 2.000 | 2.100 | 5.0% | yes |")
    assert table.splitlines()[5] == "| d | 3.000 | – | ∞ | no |"
    halves = ({"a": 2.0, "b": 0.0, "c": 1.0, "d": 3.0}, {"a": 1.5, "b": 1.0, "c": 1.2, "d": 3.0})
    rows = pm.compare({"a": 2.0, "b": 0.0, "c": 1.0, "d": 3.0}, {"a": 2.1, "b": 0.5, "c": 4.0, "d": math.nan},
                      halves=halves)
    assert rows["a"]["halves_difference"] == pytest.approx(0.25) and math.isnan(rows["b"]["halves_difference"])
    assert pm.summary(rows) == (error, within)  # the halves inform, they do not move the goal
    table = pm.markdown_table(rows).splitlines()
    assert table[0].endswith("| real halves' rel. difference |") and table[2].endswith("| yes | 25.0% |")


def test_frechet_distance_known_values():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    mu = np.arange(6.0)
    assert pm.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert pm.frechet_distance(a, a + mu) == pytest.approx(float(mu @ mu), rel=1e-6)  # same covariance
    centred = a - a.mean(0)
    # S_b = 4 S_a: tr(S + 4S - 2 * 2S) = tr(S)
    assert pm.frechet_distance(centred, 2 * centred) == pytest.approx(np.trace(np.cov(a, rowvar=False)), rel=1e-6)


def test_pictures_are_written(tmp_path):
    r = empty(segments=3, tracks=2)
    put(r, 1, 0, 0, 0, 16, 24)
    pm.pianoroll_grid_png(r, tmp_path / "grid.png", MIN_PITCH, ("a", "b"), columns=2)
    (tmp_path / "m.jsonl").write_text('{"step": 1, "d_loss": 1.0, "g_loss": 0.5}\n{"step": 2, "d_loss": 0.9}\n')
    assert pm.loss_curves_png(tmp_path / "m.jsonl", tmp_path / "loss.png") == ["d_loss", "g_loss"]
    assert (tmp_path / "grid.png").stat().st_size > 1000 and (tmp_path / "loss.png").stat().st_size > 1000
