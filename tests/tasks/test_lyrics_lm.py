"""The LSTM lyrics LM family on the real lyrics corpus (`tiny`: 200 chorale verse lines, characters):
what is counted, padding that changes nothing, training that lowers the held-out loss, the one
PPM* shared with the HMM family, seeded decodable samples, the training stream, and the CLI."""

import collections
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import lyrics_hmm as hmm_experiment
from experiments import lyrics_lm as experiment
from musicjax.codecs import lyrics
from musicjax.config import complete
from musicjax.tasks import lyrics_data, lyrics_hmm, lyrics_lm


def _config(variant="tiny", **data):
    c = complete(experiment.get_config(variant), "lyrics_lstm")
    for k, v in data.items():
        c.data[k] = v
    return c


@pytest.fixture(scope="module")
def tiny():
    config = _config()
    return config, lyrics_lm.make(config)


@pytest.fixture(scope="module")
def trained(tiny):
    """The tiny task before and after its 12 training steps (jitted once)."""
    config, task = tiny
    start = task.init(jax.random.key(0))
    step = jax.jit(task.train_step)
    state, losses = start, []
    for i in range(config.train.num_steps):
        state, metrics = step(state, task.batch(i), jax.random.key(1))
        losses.append(float(metrics["loss"]))
    return start, state, losses


def test_spaces_are_characters_and_lines_read_back():
    c = _config("de_chars")
    texts = lyrics_data.corpus_texts("de", "valid")
    lines = lyrics_data.split_lines(c.data, "valid")
    expected = [" ".join(l.split()) for t in texts for l in t.splitlines() if l.strip()]
    assert [lyrics_data.detokenize(l, "chars") for l in lines] == expected
    assert any(" " in l for l in lines) and not any(t.isspace() and t != " " for l in lines for t in l)
    words = lyrics_data.line_tokens("Nun  danket alle Gott,", "words", True)
    assert words == ["nun", "danket", "alle", "gott", ","]
    text = "I'm here, you've seen the dogs' home; don't go."
    assert lyrics_data.detokenize(lyrics_data.line_tokens(text, "words", False), "words") == text


def test_evaluation_counts_every_character_and_each_eos(tiny):
    config, task = tiny
    state = task.init(jax.random.key(0))
    result = task.evaluate(state, "valid")
    # a hand count from the raw texts: the characters of each non-empty line, whitespace runs as
    # one space, plus one <eos> per line
    texts = lyrics_data.corpus_texts("de", "valid")
    lines = [" ".join(l.split()) for t in texts for l in t.splitlines() if l.strip()]
    assert result["lines"] == len(lines) and result["tokens"] == sum(len(l) + 1 for l in lines)
    assert result["bits_per_char"] == result["bits_per_token"]
    assert np.isclose(result["bits_per_token"], result["nll_per_token"] / np.log(2))
    assert np.isclose(result["perplexity"], np.exp(result["nll_per_token"]))


def test_padding_changes_no_score(tiny):
    """A line's masked NLL in a padded evaluation row equals the line scored alone, unpadded."""
    config, task = tiny
    model, rows = task.extra["model"], task.extra["rows"]("valid")
    params = task.init(jax.random.key(0)).params
    n = rows["mask"].sum(1).astype(int)
    picked = [int(i) for i in np.unique(n, return_index=True)[1][:4]]  # four lines of different lengths
    alone = 0.0
    for i in picked:
        logits, _ = model.apply({"params": params}, rows["inputs"][i:i + 1, :n[i]])
        alone += float(-jnp.take_along_axis(jax.nn.log_softmax(logits[0]), rows["targets"][i, :n[i], None], -1).sum())
    padded, _ = model.apply({"params": params}, rows["inputs"][picked])
    nll = -jnp.take_along_axis(jax.nn.log_softmax(padded), rows["targets"][picked, :, None], -1)[..., 0]
    assert rows["inputs"].shape[1] > n[picked].max()  # there is padding to ignore
    np.testing.assert_allclose(float((nll * rows["mask"][picked]).sum()), alone, rtol=1e-5)


def test_training_lowers_the_held_out_loss(tiny, trained):
    _, task = tiny
    start, state, losses = trained
    before, after = task.evaluate(start, "valid"), task.evaluate(state, "valid")
    assert after["nll_per_token"] < before["nll_per_token"] - 0.3, (before, after)
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.3


def test_ppm_star_is_the_hmm_familys_on_the_same_lines():
    """One PPM* implementation: the LSTM report's row equals the HMM's on the same lines."""
    h = hmm_experiment.get_config("tiny")
    h.data.max_tokens = 1000  # the HMM keeps every line, as the LM does
    c = _config(tokens="words", lowercase=True, spaces=False, vocab_size=h.data.vocab_size, min_count=1,
                max_lines=h.data.max_lines)
    task = lyrics_lm.make(c)
    assert len(task.extra["vocab"]) == h.data.vocab_size + 2
    rep = task.full_report(task.init(jax.random.key(0)), "valid")
    hmm_vocab, _ = lyrics_hmm.build_vocab(h, lyrics_hmm.training_lines(h)[0])
    assert hmm_vocab == task.extra["vocab"]
    test_tokens, test_lengths = lyrics_hmm.encode(hmm_vocab, lyrics_data.split_lines(h.data, "valid"))
    train_tokens, train_lengths = lyrics_hmm.encode(hmm_vocab, lyrics_hmm.training_lines(h)[0])
    log_probs = lyrics_hmm._ppm_log_probs(h, test_tokens, test_lengths, train_tokens, train_lengths)
    assert rep["tokens"] == test_lengths.sum()
    row = rep["models"]["ppm_star_c"]
    np.testing.assert_allclose(row["nll_per_token"], -log_probs.sum() / test_lengths.sum(), rtol=1e-12)
    models = rep["models"]
    assert set(models) == {"lstm", "ppm_star_c", "lstm_ppm_star_mean", "lstm_ppm_star_entropy_weighted", "unigram",
                           "bigram"}
    # -log of a mean of two probabilities is at most the mean of their -logs (and the LSTM's
    # distribution renormalised over the emitted symbols only gains)
    assert models["lstm_ppm_star_mean"]["nll_per_token"] <= 0.5 * (models["lstm"]["nll_per_token"] +
                                                                   row["nll_per_token"]) + 1e-9
    # PPM* learns this text: far below the untrained LSTM and the unigram model
    assert row["bits_per_token"] < rep["models"]["unigram"]["bits_per_token"] < rep["models"]["lstm"]["bits_per_token"]
    assert f"{row['bits_per_token']:.3f}" in rep["markdown"]


def test_samples_are_seeded_decodable_lines(tiny, trained):
    config, task = tiny
    _, state, _ = trained
    lines = task.sample(state, 5, seed=3)
    assert lines == task.sample(state, 5, seed=3) and lines != task.sample(state, 5, seed=4)
    assert len(lines) == 5 and all(isinstance(l, str) for l in lines)
    assert not any(s in l for l in lines for s in lyrics.SPECIALS)
    train_chars = {t for l in task.extra["lines"]("train") for t in l}
    assert {ch for l in lines for ch in l} <= train_chars
    assert all(len(l) <= config.sample.max_tokens for l in lines)
    greedy = task.sample(state, 3, seed=0, primer="Nun ", temperature=0.0)
    assert all(l.startswith("Nun ") for l in greedy) and len(set(greedy)) == 1
    with pytest.raises(ValueError, match="primed with text"):
        task.sample(state, 1, seed=0, primer=object())


def test_training_batches_are_pure_and_bucketed():
    c = _config("de_chars", max_lines=300)
    task = lyrics_lm.make(c)
    lengths = lyrics_lm.bucket_lengths(c.train.seq_len, c.train.length_buckets)
    assert lengths == (24, 48, 96)
    seen = collections.Counter()
    for step in range(12):
        b = task.batch(step)
        again = task.batch(step)
        assert all(np.array_equal(b[k], again[k]) for k in b)
        length = b["inputs"].shape[1]
        seen[length] += 1
        assert b["inputs"].shape == (c.train.batch_size, length) and length in lengths
        # a row holds one line: after its first pad nothing but pad
        m = b["mask"]
        assert np.all(np.diff(m, axis=1) <= 0) and np.all(m[:, 0] == 1)
        shorter = [l for l in lengths if l < length]
        if shorter:  # every line is longer than the next shorter bucket holds
            assert np.all(m.sum(1) > shorter[-1])
        halves = [task.batch(step, p, 2) for p in (0, 1)]
        assert all(np.array_equal(np.concatenate([h[k] for h in halves]), b[k]) for k in b)
    assert len(seen) >= 2


def test_bad_configs_name_the_problem():
    with pytest.raises(ValueError, match="data.spaces .* needs data.tokens chars"):
        lyrics_lm.make(_config(tokens="words"))
    with pytest.raises(ValueError, match="bach_chorales holds German verses only"):
        lyrics_lm.make(_config(source="bach_chorales", language="zh"))


@pytest.mark.slow  # reads all 371 chorales from their records (about 20 s)
def test_chorale_source_is_the_lyrics_text_verses_split_by_piece():
    from musicjax.data import corpora

    by_source = {s: collections.Counter(t for sp in corpora.SPLITS for t in lyrics_data.corpus_texts("de", sp, s))
                 for s in lyrics_data.SOURCES}
    assert by_source["lyrics_text"] == by_source["bach_chorales"]


def test_cli_train_sample_evaluate(tmp_path, capsys):
    from musicjax.cli import main

    wd = tmp_path / "run"
    assert main(["train", "experiments/lyrics_lm.py:tiny", "--workdir", str(wd)]) == 0
    capsys.readouterr()
    assert main(["sample", "--workdir", str(wd), "--num", "3", "--out", str(tmp_path / "a"), "--seed", "2",
                 "--primer-text", "Herr ", "--top-k", "10"]) == 0
    printed = capsys.readouterr().out
    text = (tmp_path / "a" / "samples.txt").read_text()
    assert text == printed and [l[:5] for l in text.splitlines()] == ["Herr "] * 3
    assert main(["evaluate", "--workdir", str(wd), "--split", "valid"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["checkpoint_step"] == 12 and {"lstm", "ppm_star_c", "unigram", "bigram"} <= set(result["models"])
    assert json.loads((wd / "eval_valid.json").read_text())["models"]["lstm"] == result["models"]["lstm"]
