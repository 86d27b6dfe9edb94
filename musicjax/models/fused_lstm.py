"""An LSTM layer whose recurrence has a hand-written backward pass (`jax.custom_vjp`).

Autodiff of a scanned LSTM forms the weight gradients inside the backward loop, one batch-sized
matmul per step. Here the input projection is hoisted out of the loop (one [T*B, I] x [I, 4H]
matmul), the forward scan saves the gate activations, and the backward scan does only the
elementwise gate algebra and dG_t @ Wh^T; dWh is then one [H, T*B] x [T*B, 4H] matmul after the
loop, and dWx, dx follow from autodiff of the hoisted projection. Gates are ordered i, f, g, o;
c' = f*c + i*g, h' = o*tanh(c'). Gradients equal autodiff of the plain scan (tests)."""

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


def _forward(xg, wh, h0, c0, dtype):
    """xg [T, B, 4H] (input projection plus bias), wh [H, 4H] -> hs [T, B, H], saved activations."""

    def step(carry, xg_t):
        h, c = carry
        i, f, g, o = _gates(xg_t + _dot(h, wh, dtype))
        c_new = f * c + i * g
        tc = jnp.tanh(c_new)
        h_new = o * tc
        return (h_new, c_new), (h_new, c_new, jnp.concatenate([i, f, g, o], -1), tc)

    (h_t, c_t), (hs, cs, acts, tcs) = jax.lax.scan(step, (h0, c0), xg)
    return hs, (h_t, c_t), (cs, acts, tcs)


def _make_recurrence(dtype):
    @jax.custom_vjp
    def recurrence(xg, wh, h0, c0):
        hs, final, _ = _forward(xg, wh, h0, c0, dtype)
        return hs, final

    def fwd(xg, wh, h0, c0):
        hs, final, (cs, acts, tcs) = _forward(xg, wh, h0, c0, dtype)
        return (hs, final), (wh, h0, c0, hs, cs, acts, tcs)

    def bwd(res, cotangents):
        wh, h0, c0, hs, cs, acts, tcs = res
        dhs, (dh_t, dc_t) = cotangents
        c_prev = jnp.concatenate([c0[None], cs[:-1]], 0)
        wh_t = _transposed(wh, dtype)  # materialised once, outside the loop

        def step(carry, inputs):
            dh_next, dc_next = carry
            dh_out, act, tc, cp = inputs
            i, f, g, o = jnp.split(act, 4, axis=-1)
            dh = dh_out + dh_next
            dc = dc_next + dh * o * (1.0 - tc * tc)
            d_pre = jnp.concatenate([dc * g * i * (1.0 - i), dc * cp * f * (1.0 - f), dc * i * (1.0 - g * g),
                                     dh * tc * o * (1.0 - o)], -1)
            return (_dot(d_pre, wh_t, dtype), dc * f), d_pre

        (dh0, dc0), d_pre = jax.lax.scan(step, (dh_t, dc_t), (dhs, acts, tcs, c_prev), reverse=True)
        h_prev = jnp.concatenate([h0[None], hs[:-1]], 0)
        t, b, h = h_prev.shape
        dwh = _dot_tn(h_prev.reshape(t * b, h), d_pre.reshape(t * b, 4 * h), dtype)
        return d_pre, dwh.astype(wh.dtype), dh0, dc0

    recurrence.defvjp(fwd, bwd)
    return recurrence


_RECURRENCES = {jnp.dtype(jnp.float32): _make_recurrence(jnp.float32),
                jnp.dtype(jnp.bfloat16): _make_recurrence(jnp.bfloat16)}


def lstm_recurrence(xg, wh, h0, c0, dtype=jnp.float32):
    """The LSTM over time given input gates: xg [T, B, 4H] float32, wh [H, 4H], h0, c0 [B, H] ->
    (hs [T, B, H], (h_T, c_T)). Differentiable (custom backward); matmuls in `dtype`."""
    return _RECURRENCES[jnp.dtype(dtype)](xg, wh, h0, c0)


def lstm_recurrence_autodiff(xg, wh, h0, c0, dtype=jnp.float32):
    """The same function left to autodiff: the reference for gradient tests."""
    hs, final, _ = _forward(xg, wh, h0, c0, dtype)
    return hs, final


class FusedLSTMStack(nn.Module):
    """`num_layers` LSTM layers using `lstm_recurrence`; input [batch, time, features] or, with
    `gates_in`, layer 0's input gates [batch, time, 4*hidden] computed by the caller."""

    hidden: int
    num_layers: int
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, carries=None, deterministic: bool = True, gates_in: bool = False):
        batch = x.shape[0]
        xt = jnp.swapaxes(x, 0, 1)  # time-major for the scans
        out = []
        for layer in range(self.num_layers):
            init = nn.initializers.lecun_normal()
            in_dim = xt.shape[-1]
            wh = self.param(f"wh_{layer}", nn.initializers.orthogonal(), (self.hidden, 4 * self.hidden))
            b = self.param(f"b_{layer}", nn.initializers.zeros, (4 * self.hidden,))
            if gates_in and layer == 0:
                xg = xt + b
            else:
                wx = self.param(f"wx_{layer}", init, (in_dim, 4 * self.hidden))
                t = xt.shape[0]
                xg = _dot(xt.reshape(t * batch, in_dim), wx, self.dtype).reshape(t, batch, -1) + b
            h0, c0 = (carries if carries is not None else zero_carries(batch, self.hidden, self.num_layers))[layer]
            xt, final = lstm_recurrence(xg, wh, h0, c0, self.dtype)
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
