"""The lyrics seq2seq task on the real chorales: phrases are text lines with one syllable token per
note, the teacher-forcing schedules follow their formulas, decoding gives exactly one token per
note, beam search of width 1 is greedy decoding, and `musicjax lyrics` writes a MusicXML whose
lyrics music21 reads back under the notes."""

import json
import math

import jax
import numpy as np
import pytest

from experiments.lyrics_seq2seq import get_config
from musicjax.codecs.lyrics import SPECIALS
from musicjax.data.score import make_score
from musicjax.tasks import lyrics_seq2seq as s2s
from musicjax.tasks import lyrics_seq2seq_data as s2d


@pytest.fixture(scope="module")
def task():
    return s2s.make(get_config("tiny"))


@pytest.fixture(scope="module")
def trained(task):
    """The tiny task's state after 12 jitted steps (scheduled sampling, linear decay), and the
    step's metrics."""
    state = jax.jit(task.init)(jax.random.key(0))
    step = jax.jit(task.train_step, donate_argnums=0)
    history = []
    for i in range(12):
        state, metrics = step(state, task.batch(i), jax.random.key(1))
        history.append({k: float(v) for k, v in metrics.items()})
    return state, history


def test_teacher_forcing_probability_follows_each_decay():
    steps = np.array([0, 1, 10, 250, 1000, 5000])
    p = lambda kind, **kw: np.asarray([s2s.teacher_forcing_probability(t, kind, **kw) for t in steps])
    np.testing.assert_allclose(p("always"), 1.0)
    np.testing.assert_allclose(p("linear", decay_steps=1000.0), np.maximum(1 - steps / 1000, 0), rtol=1e-6)
    rate = float(np.float32(0.99))  # the schedule computes in float32
    np.testing.assert_allclose(p("exponential", decay_rate=0.99), rate ** steps, rtol=1e-5)
    np.testing.assert_allclose(p("inverse_sigmoid", sigmoid_k=100.0), 100 / (100 + np.exp(steps / 100)), rtol=1e-5)
    np.testing.assert_allclose(p("linear", decay_steps=1000.0, min_prob=0.3), np.maximum(1 - steps / 1000, 0.3), rtol=1e-6)
    with pytest.raises(ValueError, match="teacher forcing must be one of"):
        s2s.teacher_forcing_probability(0, "cosine")


def test_the_training_loss_uses_the_schedule_and_falls(trained):
    _, history = trained
    np.testing.assert_allclose([h["p_teacher"] for h in history], [1 - i / 12 for i in range(12)], rtol=1e-5)
    assert np.mean([h["loss"] for h in history[-3:]]) < history[0]["loss"] - 0.5


def test_phrases_are_text_lines_with_one_token_per_note(task):
    data = task.extra["data"]
    ex = data.raw("train")
    assert len(ex) > 100 and len({e["piece"] for e in ex}) > 10
    for e in ex:
        n = len(e["source"])
        assert len(e["tokens"]) == n == len(e["strong"]) and 3 <= n <= 32
        assert e["source"][:, 3].tolist() == [0] * (n - 1) + [1]  # phrase end on the last note only
        assert s2d.syllabic_type(e["tokens"][0]) in ("single", "begin")  # a line starts a word
    # held-out chorales: no piece in two splits
    assert not {e["piece"] for e in ex} & {e["piece"] for e in data.raw("valid")}
    aligned = [("Ge", "begin"), None, ("lobt,", "end"), ("seist", "single"), ("du.", "single"), None,
               ("Je", "begin"), ("su", "end")]
    assert s2d.text_phrases(aligned) == [(0, 2), (3, 5), (6, 7)]
    assert s2d.text_phrases(aligned + [None] * 6) == [(0, 2), (3, 5), (6, 7)]  # a long untexted tail is cut


def test_downbeat_of_a_line_with_a_one_beat_pickup():
    # a quarter pickup, then a half note on every downbeat and quarters between, 4/4
    starts = [0.0] + [q for bar in range(4) for q in (1 + 4 * bar, 3 + 4 * bar, 4 + 4 * bar)]
    durs = [1.0] + [2.0, 1.0, 1.0] * 4
    line = make_score([60] * len(starts), starts, np.add(starts, durs))
    offset = s2d.downbeat_offset(line, 4.0)
    assert offset == 1.0
    pos = s2d.positions_in_bar(line, offset, 4.0)
    assert pos[0] == 3.0 and pos[1] == 0.0
    assert s2d.strong_beats(pos, "4/4").tolist()[:4] == [False, True, True, False]
    assert s2d.strong_beats(np.array([0.0, 1.0, 2.0]), "3/4").tolist() == [True, False, False]
    assert s2d.downbeat_offset(line.replace(pickup_q=3.0), 4.0) == 3.0  # the notation's pickup wins
    assert s2d.downbeat_offset(line.replace(pickup_q=0.0), 4.0) == 0.0


def test_stress_heuristic_and_word_forms():
    tokens = ["ge-", "-lo-", "-bet", "seist", "du", "_", "je-", "-su", "christ", "ver-", "-trau-", "-en"]
    assert s2d.stressed_syllables(tokens) == [1, 6, 10]  # ge|LO|bet, JE|su, ver|TRAU|en; one-syllable words out
    assert [s2d.syllabic_type(t) for t in ("ge-", "-lo-", "-bet", "du", "_")] == ["begin", "middle", "end", "single",
                                                                              "melisma"]
    assert s2d.unknown_token("-lo-") == "-?-" and s2d.syllabic_type(s2d.unknown_token("ver-")) == "begin"
    assert s2d.well_formed_share([tokens, ["ge-", "du"], ["je-", "_", "-su"], ["-su"]]) == 0.5


def test_batches_are_a_pure_function_of_step(task):
    a, b = task.batch(3), s2s.make(get_config("tiny")).batch(3)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert a["source"].shape == (16, 32, 4) and a["targets"].shape == (16, 32)
    assert not np.array_equal(a["targets"], task.batch(4)["targets"])
    np.testing.assert_array_equal(a["mask"].sum(1), a["source_len"])  # a target token per note


def test_decoding_gives_one_token_per_note_and_beam_1_is_greedy(task, trained):
    state, _ = trained
    decode = task.extra["decode_split"]
    arrays = {k: v[:32] for k, v in task.extra["data"].arrays("valid").items()}  # one decoding batch
    lengths = arrays["source_len"]
    greedy, lp_g, n_g = decode(state.params, "", "greedy", arrays=arrays)
    beam1, lp_1, _ = decode(state.params, "", "beam", arrays=arrays, beam_size=1)
    np.testing.assert_array_equal(beam1, greedy)
    np.testing.assert_allclose(lp_1, lp_g, rtol=1e-5)
    np.testing.assert_array_equal(n_g, lengths)
    real = np.arange(greedy.shape[1])[None, :] < lengths[:, None]
    assert (greedy[real] >= len(SPECIALS)).all() and (greedy[~real] == 0).all()
    tokens = task.extra["vocab"].tokens
    assert not any(tokens[t].strip("-") == "?" for t in greedy[real])  # typed unknowns are never sung
    beam4, lp_4, _ = decode(state.params, "", "beam", arrays=arrays, beam_size=4)
    assert np.mean(lp_4 >= lp_g - 1e-4) > 0.9 and lp_4.mean() >= lp_g.mean()


def _check_lyrics_files(result, melody, out):
    """The written MusicXML read back by music21: one generated token per note of the melody line,
    each texted token's syllable and syllabic under its note; the MIDI carries the lyric events."""
    import mido
    import music21

    from musicjax.data.io import read_scores
    from musicjax.data.score import melody_line

    tokens = [t for phrase in result["lyrics"] for t in phrase.split()]
    assert len(tokens) == result["notes"] == melody_line(read_scores(melody)[0], 0).num_notes
    back = [n for n in music21.converter.parse(str(out) + ".musicxml").parts[0].flatten().notes
            if n.tie is None or n.tie.type == "start"]  # a note tied over a bar line is one note
    assert len(back) == len(tokens)
    for note, token in zip(back, tokens):
        if token == s2d.MELISMA:
            assert not note.lyrics
        else:
            assert [l.text for l in note.lyrics] == [token.strip("-") or "?"]
            assert note.lyrics[0].syllabic == s2d.syllabic_type(token)
    events = [m for track in mido.MidiFile(str(out) + ".mid").tracks for m in track if m.type == "lyrics"]
    assert len(events) == sum(t != s2d.MELISMA for t in tokens) > 0


def test_lyrics_under_a_melody_are_written_and_read_back_under_the_notes(task, trained, tmp_path, corpus_dir):
    state, _ = trained
    melody, out = corpus_dir / "bach" / "bwv66.6.mxl", tmp_path / "bwv66"
    result = task.extra["lyrics_files"](state, melody, out, temperature=1.0)  # the barely trained argmax: melismas
    _check_lyrics_files(result, melody, out)
    assert result["phrases"] >= 4 and (tmp_path / "bwv66.attention.png").stat().st_size > 1000


@pytest.mark.slow
def test_lyrics_command_end_to_end(tmp_path, corpus_dir, capsys):
    from musicjax.cli import main

    wd = tmp_path / "run"
    assert main(["train", "experiments/lyrics_seq2seq.py:tiny", "--workdir", str(wd), "--set", "train.num_steps=6"]) == 0
    capsys.readouterr()
    melody, out = corpus_dir / "bach" / "bwv66.6.mxl", tmp_path / "out" / "bwv66"
    assert main(["lyrics", "--workdir", str(wd), "--melody", str(melody), "--out", str(out), "--temperature", "1"]) == 0
    _check_lyrics_files(json.loads(capsys.readouterr().out), melody, out)
    assert main(["lyrics", "--workdir", str(wd), "--melody", str(melody), "--out", str(out), "--part", "7"]) == 1
    assert "part 7 is out of range" in capsys.readouterr().err
    assert main(["lyrics", "--workdir", str(wd), "--melody", str(tmp_path / "none.mid"), "--out", str(out)]) == 1
    assert "none.mid" in capsys.readouterr().err


def test_next_line_pairs_are_consecutive_lines_of_a_poem():
    text = "离离原上草，一岁一枯荣。\n野火烧不尽，春风吹又生。"
    pairs = s2d.line_pairs([text, "白日依山尽，黄河入海流。"], max_chars=12)
    assert ["".join(a) + ">" + "".join(b) for a, b in pairs] == [
        "离离原上草>一岁一枯荣", "一岁一枯荣>野火烧不尽", "野火烧不尽>春风吹又生", "白日依山尽>黄河入海流"]
    assert s2d.line_pairs([text], max_chars=4) == []


@pytest.mark.slow
def test_next_line_task_trains_and_reports():
    task = s2s.make(get_config("tiny_lines"))
    state = jax.jit(task.init)(jax.random.key(0))
    step = jax.jit(task.train_step)
    for i in range(12):
        state, m = step(state, task.batch(i), jax.random.key(1))
    rep = task.report(state, "valid")
    assert rep["task"] == "next_line" and 0 <= rep["greedy"]["right_length"] <= 1
    assert math.isfinite(rep["log_prob"]["beam"]["mean_log_prob"]) and len(rep["greedy"]["examples"]) == 3


def test_type_table_baseline_predicts_the_most_frequent_type_in_context():
    src = lambda n: np.tile([[30, 4, 0, 0]], (n, 1))
    train = [{"tokens": ["ge-", "-lobt", "du"], "source": src(3)}, {"tokens": ["ge-", "-lobt", "du"], "source": src(3)},
             {"tokens": ["ge-", "-lo-", "du"], "source": src(3)}]
    held = [{"tokens": ["je-", "-su", "christ"], "source": src(3)}, {"tokens": ["so", "-su", "christ"], "source": src(3)}]
    # start -> begin, begin -> end (2 of 3), end -> single: the first held-out line all right, the second 1 of 3
    assert s2d.type_table_baseline(train, held, lambda t: t) == pytest.approx(4 / 6)
    # the ceiling: inside words and at melismas always right; at a word boundary the training
    # majority of single vs begin (single 3, begin 1 here)
    words = [{"tokens": ["ge-", "-lobt", "du", "_"], "source": src(4)}, {"tokens": ["und", "du"], "source": src(2)}]
    held = [{"tokens": ["je-", "-su", "christ", "_", "du"], "source": src(5)}]
    # boundaries in held: je- (begin), christ (single), du (single); training majority single (3 vs 1)
    assert s2d.type_accuracy_ceiling(words, held, lambda t: t) == pytest.approx(4 / 5)
