import jax
import jax.numpy as jnp
import numpy as np

from musicjax.models.fused_lstm import (FusedLSTMLanguageModel, lstm_recurrence,
                                        lstm_recurrence_autodiff)


def _inputs(t=9, b=3, h=8, seed=0):
    k = jax.random.split(jax.random.key(seed), 4)
    return (jax.random.normal(k[0], (t, b, 4 * h)), jax.random.normal(k[1], (h, 4 * h)) * 0.3,
            jax.random.normal(k[2], (b, h)), jax.random.normal(k[3], (b, h)))


def test_forward_equals_an_unrolled_loop():
    xg, wh, h0, c0 = _inputs()
    hs, (h_t, c_t) = lstm_recurrence(xg, wh, h0, c0)
    h, c = h0, c0
    for t in range(xg.shape[0]):
        pre = xg[t] + h @ wh
        i, f, g, o = np.split(np.asarray(pre), 4, axis=-1)
        sig = lambda z: 1 / (1 + np.exp(-z))
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        np.testing.assert_allclose(np.asarray(hs[t]), h, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.asarray(c_t), c, atol=1e-5, rtol=0)


def test_custom_backward_equals_autodiff():
    xg, wh, h0, c0 = _inputs(seed=1)
    w_out = jax.random.normal(jax.random.key(9), xg.shape[:2] + (8,))

    def loss(fn, *args):
        hs, (h_t, c_t) = fn(*args)
        return jnp.sum(hs * w_out) + jnp.sum(h_t ** 2) + jnp.sum(jnp.sin(c_t))

    mine = jax.grad(lambda *a: loss(lstm_recurrence, *a), argnums=(0, 1, 2, 3))(xg, wh, h0, c0)
    ref = jax.grad(lambda *a: loss(lstm_recurrence_autodiff, *a), argnums=(0, 1, 2, 3))(xg, wh, h0, c0)
    for a, b in zip(mine, ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=1e-5)


def test_language_model_gradients_equal_autodiff_of_plain_scan(monkeypatch):
    from musicjax.models import fused_lstm

    model = FusedLSTMLanguageModel(vocab_size=20, embed_dim=6, hidden=8, num_layers=2)
    tokens = jax.random.randint(jax.random.key(3), (4, 7), 0, 20)
    params = model.init(jax.random.key(0), tokens)["params"]
    loss = lambda p: jnp.mean(model.apply({"params": p}, tokens)[0] ** 2)
    mine = jax.grad(loss)(params)
    monkeypatch.setattr(fused_lstm, "lstm_recurrence", lstm_recurrence_autodiff)
    ref = jax.grad(loss)(params)
    for a, b in zip(jax.tree_util.tree_leaves(mine), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6, rtol=1e-5)


def test_carries_continue_a_sequence():
    model = FusedLSTMLanguageModel(vocab_size=20, embed_dim=6, hidden=8, num_layers=2)
    tokens = jax.random.randint(jax.random.key(3), (2, 10), 0, 20)
    params = model.init(jax.random.key(0), tokens)["params"]
    whole, _ = model.apply({"params": params}, tokens)
    a, c = model.apply({"params": params}, tokens[:, :4])
    b, _ = model.apply({"params": params}, tokens[:, 4:], c)
    np.testing.assert_allclose(np.asarray(jnp.concatenate([a, b], 1)), np.asarray(whole), atol=1e-5, rtol=0)


def test_bfloat16_matmuls_stay_close_to_float32():
    xg, wh, h0, c0 = _inputs(seed=2)
    a = lstm_recurrence(xg, wh, h0, c0)[0]
    b = lstm_recurrence(xg, wh, h0, c0, jnp.bfloat16)[0]
    assert b.dtype == jnp.float32 and float(jnp.max(jnp.abs(a - b))) < 0.05
