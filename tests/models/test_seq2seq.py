"""The seq2seq module on real chorale phrases: attention weights are a distribution over the real
source positions only; the one-step decoder and the scheduled-sampling scan equal the
teacher-forced forward; the blind twin ignores the source; Luong attention learns (Bahdanau: in
tests/tasks/test_lyrics_seq2seq.py)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from musicjax.codecs.lyrics import BOS, Vocabulary
from musicjax.models.seq2seq import Seq2Seq, masked_softmax, step_fn
from musicjax.tasks.lyrics_seq2seq import decoder_inputs
from musicjax.tasks.lyrics_seq2seq_data import SOURCE_VOCABS, melody_examples, pad_examples
from musicjax.train.losses import token_cross_entropy

LEN = 24


@pytest.fixture(scope="module")
def phrases():
    """Padded arrays of the phrases of 20 validation chorales: source [N, 24, 4], targets [N, 24]."""
    from musicjax.data.datasets import load_scores

    ex = melody_examples(load_scores("bach_chorales", "valid")[:20], LEN)
    vocab = Vocabulary.build([e["tokens"] for e in ex])
    arrays = pad_examples([e["source"] for e in ex], [vocab.encode(e["tokens"]) for e in ex], LEN, LEN, 4)
    return {k: jnp.asarray(v) for k, v in arrays.items()}, len(vocab)


def tiny(attention: str, vocab: int) -> Seq2Seq:
    return Seq2Seq(SOURCE_VOCABS, (8, 4, 4, 2), vocab, 16, 16, 1, 32, attention, 16)


@functools.cache
def call(model: Seq2Seq, method=None):
    """model.apply({'params': p}, *args, method=method), jitted (eager scans compile every call)."""
    return jax.jit(lambda params, *args: model.apply({"params": params}, *args, method=method))


@pytest.fixture(scope="module")
def models(phrases):
    arrays, vocab = phrases
    b = {k: v[:8] for k, v in arrays.items()}
    out = {}
    for att in ("bahdanau", "luong", "none"):
        m = tiny(att, vocab)
        out[att] = m, jax.jit(m.init)(jax.random.key(0), b["source"], b["source_len"], decoder_inputs(b["targets"]))["params"]
    return out


def test_masked_softmax_is_a_distribution_over_the_real_positions():
    scores = jnp.array([[3.0, -1.0, 50.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    mask = jnp.array([[1, 1, 0, 1], [1, 0, 0, 0]], jnp.float32)
    w = masked_softmax(scores, mask)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)
    assert w[0, 2] == 0.0 and (w[1, 1:] == 0.0).all() and w[1, 0] == 1.0
    np.testing.assert_allclose(w[0, [0, 1, 3]], jax.nn.softmax(jnp.array([3.0, -1.0, 2.0])), rtol=1e-6)


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_attention_weights_sum_to_one_and_respect_the_source_mask(phrases, models, attention):
    arrays, _ = phrases
    model, params = models[attention]
    b = {k: v[:8] for k, v in arrays.items()}
    assert len(set(np.asarray(b["source_len"]).tolist())) > 1  # rows of different lengths
    logits, w = call(model)(params, b["source"], b["source_len"], decoder_inputs(b["targets"]))
    assert w.shape == (8, LEN, LEN)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
    real = np.arange(LEN)[None, :] < np.asarray(b["source_len"])[:, None]
    assert (np.asarray(w)[~np.broadcast_to(real[:, None, :], w.shape)] == 0.0).all()
    # what lies in the padding of the source changes nothing
    noise = jax.random.randint(jax.random.key(5), b["source"].shape, 0, 2)
    padded = jnp.where(real[..., None], b["source"], noise)
    logits2, _ = call(model)(params, padded, b["source_len"], decoder_inputs(b["targets"]))
    np.testing.assert_allclose(logits2, logits, atol=1e-5)


@pytest.mark.parametrize("attention", ["bahdanau", "luong", "none"])
def test_one_step_decoder_and_scheduled_scan_equal_the_teacher_forced_forward(phrases, models, attention):
    arrays, _ = phrases
    model, params = models[attention]
    b = {k: v[:6] for k, v in arrays.items()}
    inputs = decoder_inputs(b["targets"])
    logits, w = call(model)(params, b["source"], b["source_len"], inputs)
    cache = call(model, Seq2Seq.encode)(params, b["source"], b["source_len"])
    fn = jax.jit(step_fn(model, params))
    weights = []
    for t in range(LEN):
        out, cache_next, wt = call(model, Seq2Seq.decode_step)(params, inputs[:, t], cache)
        np.testing.assert_allclose(out, logits[:, t], atol=2e-5, err_msg=f"step {t}")
        np.testing.assert_allclose(fn(inputs[:, t], cache)[0], out, atol=1e-6)
        cache = cache_next
        weights.append(wt)
    if attention != "none":
        np.testing.assert_allclose(jnp.stack(weights, 1), w, atol=2e-5)
    start = call(model, Seq2Seq.encode)(params, b["source"], b["source_len"])
    ss, used = call(model, Seq2Seq.scheduled)(params, start, inputs, 1.0, jax.random.key(2))
    np.testing.assert_array_equal(used, inputs)
    np.testing.assert_allclose(ss, logits, atol=2e-5)


def test_scheduled_sampling_feeds_back_the_models_own_tokens(phrases, models):
    arrays, vocab = phrases
    model, params = models["bahdanau"]
    b = {k: v[:16] for k, v in arrays.items()}
    inputs = decoder_inputs(b["targets"])
    start = call(model, Seq2Seq.encode)(params, b["source"], b["source_len"])
    logits, used = call(model, Seq2Seq.scheduled)(params, start, inputs, 0.0, jax.random.key(3))
    assert (used[:, 0] == BOS).all()
    assert np.mean(np.asarray(used[:, 1:] != inputs[:, 1:])) > 0.5  # an untrained model's draws, not the text
    # with every input drawn, the logits are those of teacher forcing on the drawn tokens
    tf, _ = call(model)(params, b["source"], b["source_len"], used)
    np.testing.assert_allclose(logits, tf, atol=2e-5)


def test_the_blind_twin_never_sees_the_source(phrases, models):
    arrays, _ = phrases
    model, params = models["none"]
    b = {k: v[:4] for k, v in arrays.items()}
    inputs = decoder_inputs(b["targets"])
    a, w = call(model)(params, b["source"], b["source_len"], inputs)
    other = call(model)(params, jnp.zeros_like(b["source"]), jnp.full_like(b["source_len"], 3), inputs)[0]
    np.testing.assert_array_equal(a, other)
    assert w.shape[-1] == 0 and not any("encoder" in k for k in params)
    # same size otherwise: the decoder LSTM and its readout match the attention models'
    _, full = models["bahdanau"]
    for name in ("embedding", "wx_token", "wh", "b"):
        assert params[name].shape == full[name].shape


@pytest.mark.parametrize("attention", ["luong"])  # Bahdanau trains in tests/tasks (the tiny config's)
def test_luong_attention_trains(phrases, attention):
    arrays, vocab = phrases
    model = tiny(attention, vocab)
    b = {k: v[:16] for k, v in arrays.items()}
    params = jax.jit(model.init)(jax.random.key(1), b["source"], b["source_len"], decoder_inputs(b["targets"]))["params"]
    tx = optax.adam(1e-2)
    opt = tx.init(params)

    @jax.jit
    def step(params, opt):
        def loss(p):
            logits, _ = model.apply({"params": p}, b["source"], b["source_len"], decoder_inputs(b["targets"]))
            return token_cross_entropy(logits, b["targets"], b["mask"])[0]

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt = tx.update(grads, opt)
        return optax.apply_updates(params, updates), opt, value

    losses = []
    for _ in range(20):
        params, opt, value = step(params, opt)
        losses.append(float(value))
    assert losses[-1] < 0.6 * losses[0], losses
