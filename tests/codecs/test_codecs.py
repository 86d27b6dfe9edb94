import numpy as np
import pytest

from musicjax.codecs import lyrics as lx
from musicjax.codecs.melody import HOLD, REST, MelodyCodec
from musicjax.data.score import melody_line
from musicjax.codecs.performance import PerformanceCodec
from musicjax.codecs.pianoroll import PianorollCodec
from musicjax.data.augment import tempo_scale, transpose, transpose_to_c, transpositions_in_range
from musicjax.data.score import cut_unison_overlaps, make_score


def _on_grid(x, steps):
    return np.allclose(x * steps, np.round(x * steps))


def test_melody_round_trip_every_chorale_soprano(chorales):
    codec = MelodyCodec(steps_per_quarter=4)
    exact = 0
    for s in chorales:
        line = melody_line(s, 0)
        tokens = codec.encode(s)
        back = codec.decode(tokens, qpm=s.qpm)
        assert np.array_equal(codec.encode(back), tokens)  # token level: exact always
        assert np.array_equal(back.pitch, codec.quantize(line).pitch)
        if _on_grid(line.start_q, 4) and _on_grid(line.end_q, 4):
            exact += 1
            assert np.array_equal(back.pitch, line.pitch)
            assert np.allclose(back.start_q, line.start_q) and np.allclose(back.end_q, line.end_q)
    assert exact > 300


def test_melody_round_trip_essen_sample(essen_sample):
    codec = MelodyCodec(steps_per_quarter=4)
    for s in essen_sample:
        line = melody_line(s)
        back = codec.decode(codec.encode(s))
        if _on_grid(line.start_q, 4) and _on_grid(line.end_q, 4):
            assert np.array_equal(back.pitch, line.pitch) and np.allclose(back.end_q, line.end_q)


def test_melody_tokens_and_vocabulary():
    codec = MelodyCodec(steps_per_quarter=2, min_pitch=60, max_pitch=72)
    assert codec.vocab_size == 18
    s = make_score([60, 62, 64], [0, 1, 3], [0.5, 2, 3.5])
    assert codec.encode(s).tolist() == [5, REST, 7, HOLD, REST, HOLD, 9]
    with pytest.raises(ValueError, match="range"):
        codec.encode(make_score([80], [0], [1]))


def test_performance_round_trip_chorales(chorales):
    codec = PerformanceCodec()
    assert codec.vocab_size == 391
    for s in chorales[:60]:
        back = codec.decode(codec.encode(s), qpm=s.qpm)
        want = codec.quantize(s)
        key = lambda x: sorted(zip(x.pitch.tolist(), np.round(x.start * 100).astype(int).tolist(),
                                   np.round(x.end * 100).astype(int).tolist(), x.velocity.tolist()))
        a, b = key(back), key(want)
        assert a == b
        assert np.allclose(np.abs(back.start - np.round(back.start * 100) / 100), 0)


def test_performance_velocity_and_long_shifts():
    codec = PerformanceCodec()
    s = make_score([60, 61], [0, 8], [1, 9], velocity=[127, 1], tempos=((0, 60),))
    back = codec.decode(codec.encode(s), qpm=60)
    assert back.velocity.tolist() == [125, 1]
    assert np.allclose(back.start, [0, 8]) and np.allclose(back.end, [1, 9])


def test_pianoroll_round_trip_per_part(chorales):
    codec = PianorollCodec(frames_per_quarter=4)
    for s in chorales[:80]:
        for p in range(len(s.parts)):
            idx = s.part_notes(p)
            part = cut_unison_overlaps(make_score(s.pitch[idx], s.start_q[idx], s.end_q[idx]))
            if not (_on_grid(part.start_q, 4) and _on_grid(part.end_q, 4)):
                continue
            roll, onsets = codec.encode(part, with_onsets=True)
            back = codec.decode(roll, onsets)
            assert sorted(zip(back.pitch.tolist(), back.start_q.tolist(), back.end_q.tolist())) == \
                sorted(zip(part.pitch.tolist(), part.start_q.tolist(), part.end_q.tolist()))


def test_pianoroll_jsb_setting(chorales):
    codec = PianorollCodec(frames_per_quarter=1)
    s, shift = transpose_to_c(chorales[0])
    assert s.meta.key.startswith("C ") and -6 <= shift <= 6
    roll = codec.encode(s)
    assert roll.shape[1] == 88 and roll.any(1).mean() > 0.9


def test_transpose_and_tempo(chorales):
    s = chorales[0]
    shifts = transpositions_in_range(s, 6, 36, 81)
    assert all(transpose(s, int(k)).pitch.max() <= 81 for k in shifts)
    with pytest.raises(ValueError):
        transpose(s, 100)
    fast = tempo_scale(s, 2.0)
    assert np.allclose(fast.end, s.end / 2) and np.array_equal(fast.start_q, s.start_q)


def test_lyrics_codecs(chorales):
    texts = ["Ach bleib bei uns, Herr Jesu Christ", "床前明月光，疑是地上霜。"]
    vocab = lx.Vocabulary.build([lx.chars(t) for t in texts])
    for t in texts:
        assert "".join(vocab.decode(vocab.encode(lx.chars(t), bos=True, eos=True))) == t
        assert "".join(lx.words(t)) == t
    assert lx.words(texts[1])[:2] == ["床", "前"]
    assert lx.pinyin("明月光") == ["ming2", "yue4", "guang1"]
    assert lx.Vocabulary.from_json(vocab.to_json()) == vocab
    assert vocab.encode(["☃"]).tolist() == [lx.UNK]
    # syllables aligned to the soprano's notes
    s = chorales[0]
    line = s.part_notes(0)
    verse = int(s.lyric_verse[0]) if len(s.lyric_verse) else 1
    toks = lx.syllable_tokens(lx.syllables_per_note(s, line, verse))
    assert len(toks) == len(line)
    first_word = ""
    for n, t, c, v in zip(s.lyric_note, s.lyric_text, s.lyric_syllabic, s.lyric_verse):
        if v == verse and s.part[n] == 0:
            first_word += t
            if c in (0, 3):  # single, end
                break
    assert lx.join_syllables(toks).split()[0] == first_word == "Warum"
