"""An LSTM layer whose recurrence has a hand-written backward pass (`jax.custom_vjp`).

Autodiff of a scanned LSTM forms the weight gradients inside the backward loop, one batch-sized
matmul per step. Here the input projection is hoisted out of the loop (one [T*B, I] x [I, 4H]
matmul), the forward scan saves the gate activations, and the backward scan does only the
elementwise gate algebra and dG_t @ Wh^T; dWh is then one [H, T*B] x [T*B, 4H] matmul after the
loop, and dWx, dx follow from autodiff of the hoisted projection. Gates are ordered i, f, g, o;
c' = f*c + i*g, h' = o*tanh(c'). Gradients equal autodiff of the plain scan (tests).

`FusedLSTM` (one layer: initial state, reverse, per-row lengths, bf16 matmuls) and
`FusedBidirectionalLSTM` are the LSTM layers every model family builds on; `FusedLSTMStack`
and the language models share its `lstm_layer`."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from musicjax.models.lstm import zero_carries


def _dot(a, b, dtype):
    """a @ b with operands in `dtype` and float32 accumulation; in bfloat16 its gradients are
    bfloat16 matmuls too (autodiff of the casts would make them float32)."""
    if jnp.dtype(dtype) == jnp.dtype(jnp.float32):
        return jnp.dot(a, b, preferred_element_type=jnp.float32)
    return _dot_low(a, b)


@jax.custom_vjp
def _dot_low(a, b):
    return jnp.dot(a.astype(jnp.bfloat16), b.astype(jnp.bfloat16), preferred_element_type=jnp.float32)


def _dot_low_fwd(a, b):
    a16, b16 = a.astype(jnp.bfloat16), b.astype(jnp.bfloat16)
    return jnp.dot(a16, b16, preferred_element_type=jnp.float32), (a16, b16, jnp.zeros((), a.dtype), jnp.zeros((), b.dtype))


def _dot_low_bwd(res, g):
    a16, b16, a_like, b_like = res  # zero scalars carrying the input dtypes
    g16 = g.astype(jnp.bfloat16)
    da = jnp.dot(g16, _transposed_any(b16), preferred_element_type=jnp.float32)
    db = jnp.dot(_transposed_any(a16), g16, preferred_element_type=jnp.float32)
    return da.astype(a_like.dtype), db.astype(b_like.dtype)


_dot_low.defvjp(_dot_low_fwd, _dot_low_bwd)


def _transposed_any(x):
    """x.T for a 2-D x, by reshape-transpose-reshape (see `_transposed`)."""
    n, m = x.shape
    return x.reshape(n, 1, m).transpose(1, 2, 0).reshape(m, n)


def _transposed(w, dtype):
    """w.T [4H, H] of w [H, 4H] in `dtype`, built by reshape-transpose-reshape: XLA on CPU upcasts
    a plainly transposed bf16 dot operand to float32 (measured; ../shared/NOTES.md)."""
    h, g = w.shape
    return w.astype(dtype).reshape(h, 4, g // 4).transpose(1, 2, 0).reshape(g, h)


def _dot_tn(a, b, dtype):
    """a.T @ b for a [N, K], b [N, M], contracting the shared leading axis without an explicit
    transpose, float32 accumulation."""
    return jax.lax.dot_general(a.astype(dtype), b.astype(dtype), (((0,), (0,)), ((), ())),
                               preferred_element_type=jnp.float32)


def _gates(pre):
    i, f, g, o = jnp.split(pre, 4, axis=-1)
    return jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)


def _gate_inputs(xg):
    """xg [T, B, 4H] -> its four gate blocks (i, f, g, o), each [T, B, H], split once before the
    scan. XLA:CPU ran a step's elementwise gate work ~3.5x slower when the step sliced its row of
    a stacked [T, B, 4H] input itself (B 64, H 256, 2026-12-01); with the gates split outside the
    loop (and saved and read back per gate) one layer's forward+backward took 10-16% less at B 16-64,
    H 128-256 and the same at B 64, H 512 (A/B in one process, machine shared). In the whole
    MusicVAE 2-bar train step on the idle machine the gain did not show (0.244 s against 0.2365 s
    before): the dots dominate there."""
    h = xg.shape[-1] // 4
    return tuple(xg[..., k * h:(k + 1) * h] for k in range(4))


def _forward(xg, wh, h0, c0, dtype):
    """xg [T, B, 4H] (input projection plus bias), wh [H, 4H] -> hs [T, B, H], saved activations
    (cs [T, B, H], the gates (i, f, g, o) each [T, B, H], tanh(cs) [T, B, H])."""
    hidden = wh.shape[0]

    def step(carry, x):
        h, c = carry
        pre = _dot(h, wh, dtype)
        i = jax.nn.sigmoid(x[0] + pre[:, :hidden])
        f = jax.nn.sigmoid(x[1] + pre[:, hidden:2 * hidden])
        g = jnp.tanh(x[2] + pre[:, 2 * hidden:3 * hidden])
        o = jax.nn.sigmoid(x[3] + pre[:, 3 * hidden:])
        c_new = f * c + i * g
        tc = jnp.tanh(c_new)
        h_new = o * tc
        return (h_new, c_new), (h_new, c_new, (i, f, g, o), tc)

    (h_t, c_t), (hs, cs, acts, tcs) = jax.lax.scan(step, (h0, c0), _gate_inputs(xg))
    return hs, (h_t, c_t), (cs, acts, tcs)


def _backward(wh, h0, c0, hs, cs, acts, tcs, dhs, dcs, dh_t, dc_t, dtype):
    """The custom backward pass: d(input gates) [T, B, 4H], dWh, dh0, dc0 given the cotangents of
    hs, of cs (None when cs is not an output) and of the final state."""
    c_prev = jnp.concatenate([c0[None], cs[:-1]], 0)
    wh_t = _transposed(wh, dtype)  # materialised once, outside the loop

    def step(carry, inputs):
        dh_next, dc_next = carry
        dh_out, dc_out, (i, f, g, o), tc, cp = inputs
        dh = dh_out + dh_next
        dc = dc_next + dh * o * (1.0 - tc * tc)
        if dc_out is not None:
            dc = dc + dc_out
        parts = (dc * g * i * (1.0 - i), dc * cp * f * (1.0 - f), dc * i * (1.0 - g * g), dh * tc * o * (1.0 - o))
        return (_dot(jnp.concatenate(parts, -1), wh_t, dtype), dc * f), parts

    (dh0, dc0), parts = jax.lax.scan(step, (dh_t, dc_t), (dhs, dcs, acts, tcs, c_prev), reverse=True)
    d_pre = jnp.concatenate(parts, -1)  # [T, B, 4H], stacked per gate in the loop and joined once
    h_prev = jnp.concatenate([h0[None], hs[:-1]], 0)
    t, b, h = h_prev.shape
    dwh = _dot_tn(h_prev.reshape(t * b, h), d_pre.reshape(t * b, 4 * h), dtype)
    return d_pre, dwh.astype(wh.dtype), dh0, dc0


def _make_recurrence(dtype):
    @jax.custom_vjp
    def recurrence(xg, wh, h0, c0):
        hs, final, _ = _forward(xg, wh, h0, c0, dtype)
        return hs, final

    def fwd(xg, wh, h0, c0):
        hs, final, (cs, acts, tcs) = _forward(xg, wh, h0, c0, dtype)
        return (hs, final), (wh, h0, c0, hs, cs, acts, tcs)

    def bwd(res, cotangents):
        dhs, (dh_t, dc_t) = cotangents
        return _backward(*res, dhs, None, dh_t, dc_t, dtype)

    recurrence.defvjp(fwd, bwd)
    return recurrence


def _make_recurrence_with_cells(dtype):
    """The recurrence returning every step's cell state too, (hs, cs) [T, B, H] each: rows of
    different lengths read their final state at their own last step. A separate function so the
    common path keeps no [T, B, H] cotangent of cs to zero-fill and add."""

    @jax.custom_vjp
    def recurrence(xg, wh, h0, c0):
        hs, _, (cs, _, _) = _forward(xg, wh, h0, c0, dtype)
        return hs, cs

    def fwd(xg, wh, h0, c0):
        hs, _, (cs, acts, tcs) = _forward(xg, wh, h0, c0, dtype)
        return (hs, cs), (wh, h0, c0, hs, cs, acts, tcs)

    def bwd(res, cotangents):
        dhs, dcs = cotangents
        h0 = res[1]
        return _backward(*res, dhs, dcs, jnp.zeros_like(h0), jnp.zeros_like(h0), dtype)

    recurrence.defvjp(fwd, bwd)
    return recurrence


_RECURRENCES = {jnp.dtype(jnp.float32): _make_recurrence(jnp.float32),
                jnp.dtype(jnp.bfloat16): _make_recurrence(jnp.bfloat16)}
_RECURRENCES_WITH_CELLS = {jnp.dtype(jnp.float32): _make_recurrence_with_cells(jnp.float32),
                           jnp.dtype(jnp.bfloat16): _make_recurrence_with_cells(jnp.bfloat16)}


def lstm_recurrence(xg, wh, h0, c0, dtype=jnp.float32):
    """The LSTM over time given input gates: xg [T, B, 4H] float32, wh [H, 4H], h0, c0 [B, H] ->
    (hs [T, B, H], (h_T, c_T)). Differentiable (custom backward); matmuls in `dtype`."""
    return _RECURRENCES[jnp.dtype(dtype)](xg, wh, h0, c0)


def lstm_recurrence_with_cells(xg, wh, h0, c0, dtype=jnp.float32):
    """As `lstm_recurrence`, returning (hs, cs) [T, B, H]: every step's hidden and cell state."""
    return _RECURRENCES_WITH_CELLS[jnp.dtype(dtype)](xg, wh, h0, c0)


def lstm_recurrence_autodiff(xg, wh, h0, c0, dtype=jnp.float32):
    """The same function left to autodiff: the reference for gradient tests."""
    hs, final, _ = _forward(xg, wh, h0, c0, dtype)
    return hs, final


def lstm_recurrence_with_cells_autodiff(xg, wh, h0, c0, dtype=jnp.float32):
    """`lstm_recurrence_with_cells` left to autodiff."""
    hs, _, (cs, _, _) = _forward(xg, wh, h0, c0, dtype)
    return hs, cs


@jax.custom_vjp
def _permute_time(x, order):
    """x [T, B, F] with its rows reordered in time, out[t, b] = x[order[t, b], b]. `order` is an
    involution per row (reversing a valid prefix, padding left in place), so the backward pass is
    the same gather rather than autodiff's scatter-add."""
    return jnp.take_along_axis(x, order[..., None], axis=0)


def _permute_time_fwd(x, order):
    return _permute_time(x, order), order


def _permute_time_bwd(order, g):
    return _permute_time(g, order), None


_permute_time.defvjp(_permute_time_fwd, _permute_time_bwd)


def _prefix_reversal(lengths, steps):
    """order [T, B] reversing each row's first lengths[b] steps and leaving the rest in place."""
    t = jnp.arange(steps)[:, None]
    return jnp.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)


def lstm_layer(xt, wx, wh, b, h0, c0, dtype=jnp.float32, reverse: bool = False, lengths=None):
    """One LSTM layer, time-major: xt [T, B, I] (or, with wx None, the input gates [T, B, 4H]),
    wx [I, 4H], wh [H, 4H], b [4H], h0, c0 [B, H] -> (hs [T, B, H] float32, (h, c)).

    `reverse` runs right to left, hs aligned with xt. `lengths` [B] (0 <= lengths <= T) marks rows
    as right-padded: hs is zero at padded steps; forward, (h, c) is the state after a row's last
    valid step; reversed, each row starts at its own last valid step and (h, c) is the state after
    its first step. A row of length 0 returns (h0, c0)."""
    steps, batch = xt.shape[:2]
    if lengths is not None:
        lengths = jnp.asarray(lengths, jnp.int32)
        if reverse:  # reverse each valid prefix, run forward, reverse back: keeps the fast path
            order = _prefix_reversal(lengths, steps)
            xt = _permute_time(xt, order)
    elif reverse:
        xt = jnp.flip(xt, 0)
    if wx is None:
        xg = xt.astype(jnp.float32) + b
    else:
        in_dim = xt.shape[-1]
        xg = _dot(xt.reshape(steps * batch, in_dim), wx, dtype).reshape(steps, batch, -1) + b
    h0, c0 = h0.astype(jnp.float32), c0.astype(jnp.float32)
    if lengths is None:
        hs, final = lstm_recurrence(xg, wh, h0, c0, dtype)
        return (jnp.flip(hs, 0) if reverse else hs), final
    hs, cs = lstm_recurrence_with_cells(xg, wh, h0, c0, dtype)
    last, rows, nonempty = jnp.maximum(lengths - 1, 0), jnp.arange(batch), (lengths > 0)[:, None]
    final = (jnp.where(nonempty, hs[last, rows], h0), jnp.where(nonempty, cs[last, rows], c0))
    if reverse:
        hs = _permute_time(hs, order)
    valid = jnp.arange(steps)[:, None] < lengths[None, :]
    return jnp.where(valid[..., None], hs, 0.0), final


def lstm_step(params, x_t, carry, dtype=jnp.float32):
    """One step of a `FusedLSTM` layer from its param dict (wx, wh, b; without wx, x_t holds the
    input gates): x_t [B, I], carry (h, c) [B, H] each -> the next (h, c), e.g. to sample a decoder
    one token at a time."""
    h, c = carry
    xg = x_t.astype(jnp.float32) if "wx" not in params else _dot(x_t, params["wx"], dtype)
    i, f, g, o = _gates(xg + params["b"] + _dot(h, params["wh"], dtype))
    c = f * c + i * g
    return o * jnp.tanh(c), c


def _lstm_bias_init(forget_bias: float):
    def init(key, shape, dtype=jnp.float32):
        h = shape[0] // 4
        return jnp.zeros(shape, dtype).at[h:2 * h].set(forget_bias)
    return init


class FusedLSTM(nn.Module):
    """One LSTM layer on `lstm_recurrence`: x [B, T, I] -> (ys [B, T, H] float32, (h, c) [B, H]).

    `initial` (h0, c0) [B, H] each, e.g. computed from a latent z; zeros by default. `reverse` runs
    right to left (ys aligned with x). `lengths` [B] int: rows are right-padded; ys is zero at
    padded steps, the final state is the one after a row's last valid step (forward) or after its
    first step (reverse, which starts at each row's own last valid step). `gates_in`: x already
    holds the input gates [B, T, 4H] (no wx param). Params wx [I, 4H] (lecun normal), wh [H, 4H]
    (orthogonal), b [4H] (zeros, `forget_bias` on the f slice); gates ordered i, f, g, o."""

    hidden: int
    dtype: Any = jnp.float32
    reverse: bool = False
    forget_bias: float = 0.0

    @nn.compact
    def __call__(self, x, initial=None, lengths=None, gates_in: bool = False):
        batch, four_h = x.shape[0], 4 * self.hidden
        if gates_in:
            if x.shape[-1] != four_h:
                raise ValueError(f"gates_in wants x [B, T, {four_h}], got {x.shape}")
            wx = None
        else:
            wx = self.param("wx", nn.initializers.lecun_normal(), (x.shape[-1], four_h))
        wh = self.param("wh", nn.initializers.orthogonal(), (self.hidden, four_h))
        b = self.param("b", _lstm_bias_init(self.forget_bias), (four_h,))
        h0, c0 = initial if initial is not None else zero_carries(batch, self.hidden, 1)[0]
        hs, final = lstm_layer(jnp.swapaxes(x, 0, 1), wx, wh, b, h0, c0, self.dtype, self.reverse, lengths)
        return jnp.swapaxes(hs, 0, 1), final


class FusedBidirectionalLSTM(nn.Module):
    """A forward and a backward `FusedLSTM` ('fwd', 'bwd') over the same input, both from zero
    state: x [B, T, I] -> (ys [B, T, 2H] (forward features, then backward), ((h_f, c_f), (h_b, c_b))).
    With `lengths`, each row's backward pass starts at its last valid step and padded steps of ys are
    zero; (h_f, c_f) is then the state after the last valid step, (h_b, c_b) after the first."""

    hidden: int
    dtype: Any = jnp.float32
    forget_bias: float = 0.0

    @nn.compact
    def __call__(self, x, lengths=None):
        ys_f, final_f = FusedLSTM(self.hidden, self.dtype, False, self.forget_bias, name="fwd")(x, lengths=lengths)
        ys_b, final_b = FusedLSTM(self.hidden, self.dtype, True, self.forget_bias, name="bwd")(x, lengths=lengths)
        return jnp.concatenate([ys_f, ys_b], -1), (final_f, final_b)


class FusedLSTMStack(nn.Module):
    """`num_layers` LSTM layers (`lstm_layer`), params wx_{l}, wh_{l}, b_{l}; input [batch, time,
    features] or, with `gates_in`, layer 0's input gates [batch, time, 4*hidden] computed by the
    caller. Optional `lengths` [batch] of right-padded rows, as in `FusedLSTM`."""

    hidden: int
    num_layers: int
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, carries=None, deterministic: bool = True, gates_in: bool = False, lengths=None):
        batch = x.shape[0]
        xt = jnp.swapaxes(x, 0, 1)  # time-major between layers
        carries = carries if carries is not None else zero_carries(batch, self.hidden, self.num_layers)
        out = []
        for layer in range(self.num_layers):
            in_dim = xt.shape[-1]
            # parameter order kept from before `lstm_layer` existed: init values depend on it
            wh = self.param(f"wh_{layer}", nn.initializers.orthogonal(), (self.hidden, 4 * self.hidden))
            b = self.param(f"b_{layer}", nn.initializers.zeros, (4 * self.hidden,))
            wx = None if gates_in and layer == 0 else self.param(
                f"wx_{layer}", nn.initializers.lecun_normal(), (in_dim, 4 * self.hidden))
            h0, c0 = carries[layer]
            xt, final = lstm_layer(xt, wx, wh, b, h0, c0, self.dtype, lengths=lengths)
            out.append(final)
            if self.dropout > 0 and layer < self.num_layers - 1:
                xt = nn.Dropout(self.dropout, deterministic=deterministic)(xt)
        return jnp.swapaxes(xt, 0, 1), tuple(out)


class FusedLSTMLanguageModel(nn.Module):
    """LSTMLanguageModel's twin on `FusedLSTMStack`, with the embedding folded into layer 0: its
    input gates are rows of the [vocab, 4H] table embedding @ Wx0, gathered per token (exact, and
    one matmul of vocab rows instead of batch*time rows)."""

    vocab_size: int
    embed_dim: int
    hidden: int
    num_layers: int
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, tokens, carries=None, deterministic: bool = True):
        embedding = self.param("embedding", nn.initializers.normal(1.0), (self.vocab_size, self.embed_dim))
        wx0 = self.param("wx_0", nn.initializers.lecun_normal(), (self.embed_dim, 4 * self.hidden))
        table = _dot(embedding, wx0, self.dtype)  # [vocab, 4H]
        gates0 = jnp.take(table, tokens, axis=0)
        return lstm_head(self, gates0, carries, deterministic)

    def zero_carries(self, batch: int):
        return zero_carries(batch, self.hidden, self.num_layers)


def lstm_head(module: nn.Module, gates0, carries, deterministic: bool):
    """The part of an LSTM language model after its layer-0 input gates, called inside `module`'s
    compact method (its params: `lstm`, `out_kernel` [H, vocab], `out_bias`): gates0 [B, T, 4H] ->
    the stack, dropout, the output projection -> logits [B, T, vocab], final carries. `module` has
    fields hidden, num_layers, dropout, dtype, vocab_size."""
    m = module
    x, carries = FusedLSTMStack(m.hidden, m.num_layers, m.dropout, m.dtype, name="lstm")(
        gates0, carries, deterministic=deterministic, gates_in=True)
    x = nn.Dropout(m.dropout, deterministic=deterministic or m.dropout == 0)(x)
    w = m.param("out_kernel", nn.initializers.lecun_normal(), (m.hidden, m.vocab_size))
    b = m.param("out_bias", nn.initializers.zeros, (m.vocab_size,))
    bsz, t, _ = x.shape
    logits = _dot(x.reshape(bsz * t, m.hidden), w, m.dtype).reshape(bsz, t, -1) + b
    return logits, carries
