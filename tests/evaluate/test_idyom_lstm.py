import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicjax.codecs.viewpoints import ALL_VIEWPOINTS, Vocabulary
from musicjax.data.idyom import chorale_melodies, kinder_melodies
from musicjax.evaluate.idyom_lstm import (PitchLSTMConfig, dynamic_evaluation, lstm_cross_validation,
                                          melody_distributions, train_fold)
from musicjax.models.feature_lstm import FeatureLSTMModel
from musicjax.models.fused_lstm import FusedLSTMLanguageModel


@pytest.fixture(scope="module")
def chorales():
    return chorale_melodies()


def test_chorale_melodies_carry_meter_fermatas_and_key(chorales):
    bwv253 = chorales[0]
    assert bwv253.id == "bwv253" and bwv253.tonic == 9 and bwv253.mode == 1  # A major
    assert bwv253.beat[0] == 4.0 and bwv253.beat[1] == 1.0  # a one-beat pickup into 4/4
    assert bwv253.fermata[8] and not bwv253.fermata[:8].any()  # the first phrase ends on its ninth note
    for m in chorales:
        assert np.all(np.diff(m.onset) > 0) and np.all(m.duration > 0)
        assert np.all(m.onset[1:] >= m.onset[:-1] + m.duration[:-1] - 1e-9)  # monophonic
        assert m.fermata[-1]  # every chorale ends a phrase on its last note
    assert sum(m.fermata.sum() for m in chorales) > 6 * len(chorales)


def test_kinder_phrases_are_the_lines_of_the_abc():
    kinder = kinder_melodies()
    first = kinder[0]  # " | A2GG | F2z" / "C | AAGG | F2z" / ...: phrases of 4 and 6 notes
    assert np.flatnonzero(first.fermata)[:2].tolist() == [3, 9]
    assert all(m.fermata[-1] for m in kinder) and sum(m.fermata.sum() for m in kinder) > 4 * len(kinder)


def test_feature_lstm_with_one_feature_is_the_language_model_with_embedding_folded_in():
    lm = FusedLSTMLanguageModel(30, 8, 16, 2)
    tokens = jax.random.randint(jax.random.key(1), (3, 11), 0, 30)
    p = lm.init(jax.random.key(0), tokens)["params"]
    fm = FeatureLSTMModel((30,), 30, 16, 2)
    q = {"gates_0": p["embedding"] @ p["wx_0"], "lstm": p["lstm"], "out_kernel": p["out_kernel"],
         "out_bias": p["out_bias"]}
    want, _ = lm.apply({"params": p}, tokens)
    got, _ = fm.apply({"params": q}, tokens[..., None])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_features_sum_like_concatenated_embeddings_projected():
    fm = FeatureLSTMModel((5, 7), 9, 8, 1)
    feats = jnp.stack([jax.random.randint(jax.random.key(2), (2, 6), 0, 5),
                       jax.random.randint(jax.random.key(3), (2, 6), 0, 7)], -1)
    p = fm.init(jax.random.key(0), feats)["params"]
    e = jnp.concatenate([jax.nn.one_hot(feats[..., 0], 5), jax.nn.one_hot(feats[..., 1], 7)], -1)
    w = jnp.concatenate([p["gates_0"], p["gates_1"]], 0)  # one-hot concat @ stacked tables
    single = FeatureLSTMModel((12,), 9, 8, 1)
    # the same gates through a model fed the concatenation as one dense feature table is the sum
    gates = e @ w
    q = dict(p)
    q.pop("gates_1")
    q["gates_0"] = gates.reshape(-1, gates.shape[-1])
    ids = jnp.arange(12).reshape(2, 6)[..., None]
    want, _ = fm.apply({"params": p}, feats)
    got, _ = single.apply({"params": q}, ids)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_dynamic_evaluation_without_learning_equals_the_static_model_and_learning_helps():
    mels = list(kinder_melodies())
    vocab = Vocabulary.for_dataset(mels, 12)
    cfg = PitchLSTMConfig(hidden=32, steps=40, viewpoints=ALL_VIEWPOINTS[:4], dynamic_window=5, dynamic_lr=0.0)
    model, params = train_fold(mels[20:], vocab, cfg, jax.random.key(0))
    static = melody_distributions(model, params, mels[:3], vocab, cfg)
    frozen = dynamic_evaluation(model, params, mels[:3], vocab, cfg)  # the window slides over each melody
    for s, d in zip(static, frozen):
        assert s.shape == d.shape and len(s) > cfg.dynamic_window
        np.testing.assert_allclose(d, s, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(s.sum(-1), 1.0, rtol=1e-5)
    bits = lambda dists: np.mean([-np.log2(d[np.arange(len(d)), vocab.symbols(m)]).mean()
                                  for m, d in zip(mels[:3], dists)])
    learning = dynamic_evaluation(model, params, mels[:3], vocab, dataclasses.replace(cfg, dynamic_lr=0.05))
    assert bits(learning) < bits(static)


def test_an_ensemble_averages_its_members_and_its_first_member_is_the_single_model():
    cfg = PitchLSTMConfig(hidden=16, steps=20, learning_rate=1e-2, viewpoints=ALL_VIEWPOINTS[:3])
    single = lstm_cross_validation("kinder", cfg, dynamic=False, max_folds=1)
    pair = lstm_cross_validation("kinder", dataclasses.replace(cfg, ensemble=2), dynamic=False, max_folds=1)
    a, b = (m["LSTM"] for m in pair["members"])
    assert a == pytest.approx(single["bits_per_note"]["LSTM"], abs=1e-6) and abs(a - b) > 1e-3  # seeds differ
    assert pair["bits_per_note"]["LSTM"] < (a + b) / 2  # -log of a mean of probabilities is below the mean of -logs
    assert set(pair["bits_per_note"]) == {"LSTM", "BOTH"}


@pytest.mark.slow  # the Transformer's train step compiles for each melody-length bucket
def test_the_transformer_runs_the_same_protocol():
    mels = list(kinder_melodies())
    vocab = Vocabulary.for_dataset(mels, 12)
    cfg = PitchLSTMConfig(architecture="transformer", hidden=32, num_layers=1, steps=20, learning_rate=1e-2,
                          viewpoints=ALL_VIEWPOINTS[:3], dynamic_window=6, dynamic_lr=0.0, max_len=256)
    model, params = train_fold(mels[20:], vocab, cfg, jax.random.key(0))
    static = melody_distributions(model, params, mels[:2], vocab, cfg)
    frozen = dynamic_evaluation(model, params, mels[:2], vocab, cfg)
    for s, d in zip(static, frozen):
        np.testing.assert_allclose(s.sum(-1), 1.0, rtol=1e-5)
        # inside the first window both read the same notes; after it the window forgets the start
        np.testing.assert_allclose(d[:cfg.dynamic_window], s[:cfg.dynamic_window], rtol=1e-4, atol=1e-6)
        assert not np.allclose(d[cfg.dynamic_window + 2:], s[cfg.dynamic_window + 2:], atol=1e-4)
    bits = lambda dists: np.mean([-np.log2(d[np.arange(len(d)), vocab.symbols(m)]).mean()
                                  for m, d in zip(mels[:2], dists)])
    assert bits(static) < np.log2(len(vocab.alphabet))  # it learned something in 30 steps


def test_the_table_names_the_network_that_ran():
    from musicjax.evaluate.idyom import markdown_table

    bits = {"STM": 2.5, "LTM": 2.4, "LTM+": 2.2, "BOTH+": 2.0}
    ours = {"BOTH": 1.8, "LSTM": 1.9, "LSTM+": 1.85, "BOTH+": 1.88, "ALL+": 1.78}
    result = lambda config: {"dataset": "kinder", "published": bits, "ppm": {"bits_per_note": bits, "seconds": 1.0},
                             "lstm": {"config": config, "bits_per_note": ours, "seconds": 2.0}}
    rows = markdown_table(result({"architecture": "transformer", "num_layers": 2, "hidden": 128, "num_heads": 4,
                                  "viewpoints": ["pitch", "interval"]})).splitlines()
    assert rows[4].startswith("| ours: Transformer 2×128, 4 heads, viewpoint inputs") and "LSTM" not in rows[4]
    assert rows[5].startswith("| ours: Transformer+ (viewpoint) with PPM* LTM+ and STM")
    assert rows[5].endswith("1.780 | |")
    rows = markdown_table(result({"num_layers": 1, "hidden": 256, "ensemble": 2,
                                  "viewpoints": ["pitch"]})).splitlines()
    assert rows[4].startswith("| ours: LSTM 1×256, 2 seeds averaged, pitch inputs")
    assert "| 1.800 | 1.900 | 1.850 | 1.880 |" in rows[4]
