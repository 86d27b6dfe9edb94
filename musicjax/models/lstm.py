"""A multi-layer LSTM scanned over time, and the LSTM language model built on it (embedding ->
LSTM stack -> logits), as in Magenta's melody RNN."""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

Carry = tuple[Any, ...]  # one pair of [batch, hidden] state arrays per layer


def zero_carries(batch: int, hidden: int, num_layers: int) -> Carry:
    """The all-zero starting state of a `num_layers` LSTM stack."""
    z = jnp.zeros((batch, hidden), jnp.float32)
    return tuple((z, z) for _ in range(num_layers))


class LSTMStack(nn.Module):
    """`num_layers` LSTMs of `hidden` units, each scanned over time (`nn.RNN`), dropout between
    layers. Input [batch, time, features] -> output [batch, time, hidden] and the final carries."""

    hidden: int
    num_layers: int
    dropout: float = 0.0
    dtype: Any = jnp.float32  # matmul dtype; parameters stay float32

    @nn.compact
    def __call__(self, x, carries: Carry | None = None, deterministic: bool = True):
        out = []
        for i in range(self.num_layers):
            cell = nn.OptimizedLSTMCell(self.hidden, dtype=self.dtype, param_dtype=jnp.float32, name=f"cell_{i}")
            carry, x = nn.RNN(cell, return_carry=True, name=f"lstm_{i}")(
                x, initial_carry=None if carries is None else carries[i])
            out.append(carry)
            if self.dropout > 0 and i < self.num_layers - 1:
                x = nn.Dropout(self.dropout, deterministic=deterministic)(x)
        return x, tuple(out)

    def zero_carries(self, batch: int) -> Carry:
        return zero_carries(batch, self.hidden, self.num_layers)


class LSTMLanguageModel(nn.Module):
    """tokens [batch, time] int -> logits [batch, time, vocab], predicting each next token."""

    vocab_size: int
    embed_dim: int
    hidden: int
    num_layers: int
    dropout: float = 0.0
    dtype: Any = jnp.float32

    def setup(self):
        self.embed = nn.Embed(self.vocab_size, self.embed_dim, name="embed")
        self.lstm = LSTMStack(self.hidden, self.num_layers, self.dropout, self.dtype, name="lstm")
        self.drop = nn.Dropout(self.dropout)
        self.out = nn.Dense(self.vocab_size, dtype=self.dtype, param_dtype=jnp.float32, name="logits")

    def __call__(self, tokens, carries: Carry | None = None, deterministic: bool = True):
        """Returns (logits [batch, time, vocab] float32, final carries)."""
        x = self.embed(tokens)
        x, carries = self.lstm(x, carries, deterministic=deterministic)
        x = self.drop(x, deterministic=deterministic or self.dropout == 0)
        return self.out(x).astype(jnp.float32), carries

    def zero_carries(self, batch: int) -> Carry:
        return zero_carries(batch, self.hidden, self.num_layers)


def lstm_reference(params_layers: Sequence[dict], x, hidden: int):
    """Plain Python loop over time and layers with OptimizedLSTMCell's equations (gates i, f, g, o;
    c' = f*c + i*g; h' = o*tanh(c')): the reference the scanned stack is tested against.
    params_layers[l] holds the cell's 'ii','if','ig','io' (input) and 'hi','hf','hg','ho' (hidden)
    Dense params. x [batch, time, features] -> [batch, time, hidden]."""
    import jax

    batch, steps = x.shape[0], x.shape[1]
    for p in params_layers:
        c = jnp.zeros((batch, hidden))
        h = jnp.zeros((batch, hidden))
        ys = []
        for t in range(steps):
            def gate(name):
                pre = x[:, t] @ p["i" + name]["kernel"] + h @ p["h" + name]["kernel"]
                return pre + p["h" + name].get("bias", 0.0) + p["i" + name].get("bias", 0.0)
            i, f, g, o = jax.nn.sigmoid(gate("i")), jax.nn.sigmoid(gate("f")), jnp.tanh(gate("g")), jax.nn.sigmoid(gate("o"))
            c = f * c + i * g
            h = o * jnp.tanh(c)
            ys.append(h)
        x = jnp.stack(ys, 1)
    return x
