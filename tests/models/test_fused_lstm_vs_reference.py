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


# --- FusedLSTM / FusedBidirectionalLSTM: the layer every family uses ---------------------------

import pytest

from musicjax.models.fused_lstm import (FusedBidirectionalLSTM, FusedLSTM, FusedLSTMStack,
                                        lstm_recurrence_with_cells,
                                        lstm_recurrence_with_cells_autodiff, lstm_step)


def _reference_layer(params, x, initial, reverse=False):
    """A plain Python loop over time: gates i, f, g, o; c' = f*c + i*g; h' = o*tanh(c')."""
    h, c = initial
    steps = range(x.shape[1])
    ys = [None] * x.shape[1]
    for t in (reversed(steps) if reverse else steps):
        pre = x[:, t] @ params["wx"] + h @ params["wh"] + params["b"]
        i, f, g, o = jnp.split(pre, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        ys[t] = h
    return jnp.stack(ys, 1), (h, c)


def _layer_inputs(b=3, t=7, i=5, h=6, seed=0):
    k = jax.random.split(jax.random.key(seed), 4)
    x = jax.random.normal(k[0], (b, t, i))
    initial = (jax.random.normal(k[1], (b, h)), jax.random.normal(k[2], (b, h)))
    params = FusedLSTM(h, forget_bias=1.0).init(k[3], x)["params"]
    params = dict(params, b=params["b"] + 0.1 * jax.random.normal(k[3], params["b"].shape))
    return params, x, initial


def _close(a, b, atol=1e-5, rtol=1e-5):
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=atol, rtol=rtol)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("zero_initial", [True, False])
def test_layer_equals_a_python_loop_reference(reverse, zero_initial):
    params, x, initial = _layer_inputs(seed=1)
    if zero_initial:
        initial = jax.tree_util.tree_map(jnp.zeros_like, initial)
    layer = FusedLSTM(6, reverse=reverse)
    got = layer.apply({"params": params}, x, None if zero_initial else initial)
    _close(got, _reference_layer(params, x, initial, reverse))


@pytest.mark.parametrize("reverse", [False, True])
def test_layer_gradients_equal_autodiff_of_the_reference(reverse):
    params, x, initial = _layer_inputs(seed=2)
    w_out = jax.random.normal(jax.random.key(9), x.shape[:2] + (6,))

    def loss(ys_final):
        ys, (h, c) = ys_final
        return jnp.sum(ys * w_out) + jnp.sum(h ** 2) + jnp.sum(jnp.sin(c))

    layer = FusedLSTM(6, reverse=reverse)
    mine = jax.grad(lambda p, x, s: loss(layer.apply({"params": p}, x, s)), argnums=(0, 1, 2))(params, x, initial)
    ref = jax.grad(lambda p, x, s: loss(_reference_layer(p, x, s, reverse)), argnums=(0, 1, 2))(params, x, initial)
    _close(mine, ref)


def test_recurrence_with_cells_backward_equals_autodiff():
    xg, wh, h0, c0 = _inputs(seed=4)
    w_h, w_c = (jax.random.normal(k, xg.shape[:2] + (8,)) for k in jax.random.split(jax.random.key(5)))
    loss = lambda fn, *a: (lambda hs, cs: jnp.sum(hs * w_h) + jnp.sum(jnp.sin(cs) * w_c))(*fn(*a))
    mine = jax.grad(lambda *a: loss(lstm_recurrence_with_cells, *a), argnums=(0, 1, 2, 3))(xg, wh, h0, c0)
    ref = jax.grad(lambda *a: loss(lstm_recurrence_with_cells_autodiff, *a), argnums=(0, 1, 2, 3))(xg, wh, h0, c0)
    _close(mine, ref)


LENGTHS = (7, 3, 1, 0, 5)


@pytest.mark.parametrize("reverse", [False, True])
def test_padded_rows_equal_each_row_run_alone(reverse):
    params, x, initial = _layer_inputs(b=len(LENGTHS), seed=3)
    layer = FusedLSTM(6, reverse=reverse)
    lengths = jnp.array(LENGTHS)
    ys, (h, c) = layer.apply({"params": params}, x, initial, lengths)
    for row, n in enumerate(LENGTHS):
        state = (initial[0][row:row + 1], initial[1][row:row + 1])
        if n == 0:  # nothing to run: the state passes through
            alone_ys, (alone_h, alone_c) = jnp.zeros((1, 0, 6)), state
        else:
            alone_ys, (alone_h, alone_c) = layer.apply({"params": params}, x[row:row + 1, :n], state)
        _close((ys[row, :n], h[row], c[row]), (alone_ys[0], alone_h[0], alone_c[0]))
        assert np.all(np.asarray(ys[row, n:]) == 0.0)  # padded steps hold zeros


@pytest.mark.parametrize("reverse", [False, True])
def test_padded_rows_gradients_equal_each_row_alone(reverse):
    params, x, initial = _layer_inputs(b=len(LENGTHS), seed=6)
    layer = FusedLSTM(6, reverse=reverse)
    w_out = jax.random.normal(jax.random.key(7), x.shape[:2] + (6,))

    def loss(ys, h, c, w):
        return jnp.sum(ys * w) + jnp.sum(h ** 2) + jnp.sum(jnp.sin(c))

    def padded(p, x, s):
        ys, (h, c) = layer.apply({"params": p}, x, s, jnp.array(LENGTHS))
        return loss(ys, h, c, w_out)

    def row_by_row(p, x, s):
        total = 0.0
        for row, n in enumerate(LENGTHS):
            state = (s[0][row:row + 1], s[1][row:row + 1])
            if n == 0:
                total += loss(0.0, *state, 0.0)
                continue
            ys, (h, c) = _reference_layer(p, x[row:row + 1, :n], state, reverse)
            total += loss(ys, h, c, w_out[row:row + 1, :n])
        return total

    mine = jax.grad(padded, argnums=(0, 1, 2))(params, x, initial)
    ref = jax.grad(row_by_row, argnums=(0, 1, 2))(params, x, initial)
    _close(mine, ref)


def test_bidirectional_is_a_forward_and_a_reverse_layer():
    _, x, _ = _layer_inputs(b=len(LENGTHS), seed=8)
    lengths = jnp.array(LENGTHS)
    model = FusedBidirectionalLSTM(6)
    params = model.init(jax.random.key(0), x, lengths)["params"]
    ys, (fwd_final, bwd_final) = model.apply({"params": params}, x, lengths)
    ys_f, final_f = FusedLSTM(6).apply({"params": params["fwd"]}, x, lengths=lengths)
    ys_b, final_b = FusedLSTM(6, reverse=True).apply({"params": params["bwd"]}, x, lengths=lengths)
    assert ys.shape == (len(LENGTHS), x.shape[1], 12)
    _close((ys, fwd_final, bwd_final), (jnp.concatenate([ys_f, ys_b], -1), final_f, final_b), atol=0, rtol=0)
    assert not np.allclose(np.asarray(ys_f), np.asarray(ys_b))  # two independently initialised layers


def test_gates_in_equals_projecting_outside_the_layer():
    params, x, initial = _layer_inputs(seed=10)
    gates = x @ params["wx"]
    want = FusedLSTM(6, reverse=True).apply({"params": params}, x, initial)
    no_wx = {k: v for k, v in params.items() if k != "wx"}
    assert set(FusedLSTM(6).init(jax.random.key(0), gates, gates_in=True)["params"]) == {"wh", "b"}
    got = FusedLSTM(6, reverse=True).apply({"params": no_wx}, gates, initial, gates_in=True)
    _close(got, want)


def test_lstm_step_repeated_equals_the_layer():
    params, x, initial = _layer_inputs(seed=11)
    ys, final = FusedLSTM(6).apply({"params": params}, x, initial)
    carry = initial
    for t in range(x.shape[1]):
        carry = lstm_step(params, x[:, t], carry)
        _close(carry[0], ys[:, t])
    _close(carry, final)


def test_forget_bias_sets_only_the_f_slice():
    b = FusedLSTM(4, forget_bias=1.0).init(jax.random.key(0), jnp.zeros((1, 2, 3)))["params"]["b"]
    np.testing.assert_array_equal(np.asarray(b), np.r_[np.zeros(4), np.ones(4), np.zeros(8)])


def test_stack_with_lengths_equals_each_row_alone():
    _, x, _ = _layer_inputs(b=len(LENGTHS), seed=12)
    stack = FusedLSTMStack(6, 2)
    params = stack.init(jax.random.key(1), x)["params"]
    ys, finals = stack.apply({"params": params}, x, lengths=jnp.array(LENGTHS))
    for row, n in [(r, n) for r, n in enumerate(LENGTHS) if n > 0]:
        alone_ys, alone_finals = stack.apply({"params": params}, x[row:row + 1, :n])
        _close((ys[row, :n], [(h[row], c[row]) for h, c in finals]),
               (alone_ys[0], [(h[0], c[0]) for h, c in alone_finals]))


def test_bfloat16_layers_stay_close_to_float32():
    _, x, initial = _layer_inputs(b=len(LENGTHS), seed=13)
    lengths = jnp.array(LENGTHS)
    bi32, bi16 = FusedBidirectionalLSTM(6), FusedBidirectionalLSTM(6, jnp.bfloat16)
    params = bi32.init(jax.random.key(2), x)["params"]
    loss = lambda m: lambda p, x: jnp.mean(m.apply({"params": p}, x, lengths)[0] ** 2)
    a, b = bi32.apply({"params": params}, x, lengths), bi16.apply({"params": params}, x, lengths)
    assert b[0].dtype == jnp.float32
    _close(b, a, atol=3e-2, rtol=0)
    ga = jax.grad(loss(bi32), argnums=(0, 1))(params, x)
    gb = jax.grad(loss(bi16), argnums=(0, 1))(params, x)
    for u, v in zip(jax.tree_util.tree_leaves(ga), jax.tree_util.tree_leaves(gb)):
        assert v.dtype == u.dtype
        assert float(jnp.linalg.norm(u - v) / jnp.linalg.norm(u)) < 3e-2  # measured 0.5-1%
    # with an initial state, reverse, no lengths
    l32, l16 = FusedLSTM(6, reverse=True), FusedLSTM(6, jnp.bfloat16, reverse=True)
    p = l32.init(jax.random.key(3), x)["params"]
    _close(l16.apply({"params": p}, x, initial), l32.apply({"params": p}, x, initial), atol=3e-2, rtol=0)
