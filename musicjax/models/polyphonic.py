"""Polyphonic frame models: a sequence of multi-hot frames (88 keys) predicted frame by frame. A body
(an LSTM stack or the Music Transformer's stack) reads the previous frames; a head turns its state
into a distribution over the next frame: independent sigmoids per key, or a NADE (Larochelle &
Murray 2011) that is autoregressive over the keys in pitch order, its biases set by the body's
state as in the RNN-NADE (Boulanger-Lewandowski et al. 2012).

NADE: for key k, a_k = c + sum_{j<k} x_j W_j (c [N] from the context, W [K, N]), and
p(x_k = 1 | x_<k) = sigmoid(b_k + V_k . sigmoid(a_k)) (b [K] from the context, V [K, N]). Training
reads every a_k at once from an exclusive cumulative sum over keys; sampling walks the keys in one
`lax.scan`."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from musicjax.models.fused_lstm import FusedLSTMStack
from musicjax.models.transformer import TransformerStack


class SigmoidHead(nn.Module):
    """context [..., C] -> logits [..., K] of K independent keys."""

    num_keys: int

    def setup(self):
        self.out = nn.Dense(self.num_keys, name="logits")

    def __call__(self, context, frames):
        """The frames are not read: each key is independent of the others given the context."""
        del frames
        return self.out(context.astype(jnp.float32))

    def sample(self, context, key, temperature=1.0):
        """context [B, C] -> frame [B, K] float32 of 0/1 (logits divided by `temperature`)."""
        logits = self(context, None) / temperature
        return jax.random.bernoulli(key, jax.nn.sigmoid(logits)).astype(jnp.float32)


class NADEHead(nn.Module):
    """context [..., C] and the frame [..., K] -> logits [..., K], logit k conditioned on keys < k."""

    num_keys: int
    hidden: int

    def setup(self):
        self.visible_bias = nn.Dense(self.num_keys, name="visible_bias")  # b from the context
        self.hidden_bias = nn.Dense(self.hidden, name="hidden_bias")  # c from the context
        init = nn.initializers.normal(0.01)
        self.w = self.param("w", init, (self.num_keys, self.hidden))  # key j -> hidden
        self.v = self.param("v", init, (self.num_keys, self.hidden))  # hidden -> key k

    def __call__(self, context, frames):
        context = context.astype(jnp.float32)
        contrib = frames.astype(jnp.float32)[..., :, None] * self.w  # [..., K, N]
        before = jnp.cumsum(contrib, axis=-2) - contrib  # sum over keys j < k
        a = self.hidden_bias(context)[..., None, :] + before
        return self.visible_bias(context) + jnp.sum(jax.nn.sigmoid(a) * self.v, axis=-1)

    def sample(self, context, key, temperature=1.0):
        """context [B, C] -> frame [B, K] float32, key by key (one draw each, `fold_in(key, k)`;
        each key's logit divided by `temperature`)."""
        context = context.astype(jnp.float32)
        b, a0 = self.visible_bias(context), self.hidden_bias(context)

        def step(a, k):
            logit = (b[:, k] + jax.nn.sigmoid(a) @ self.v[k]) / temperature
            x = jax.random.bernoulli(jax.random.fold_in(key, k), jax.nn.sigmoid(logit)).astype(jnp.float32)
            return a + x[:, None] * self.w[k], x

        _, keys = jax.lax.scan(step, a0, jnp.arange(self.num_keys))
        return keys.T


class FrameModel(nn.Module):
    """previous frames [B, T, K] (row t holds frame t - 1; the first a zero frame) -> (logits [B, T,
    K] of frames [B, T, K], state). The state is the body's: LSTM carries, or the Transformer's KV
    cache; passing it back continues the sequence, one frame at a time when sampling. With
    `tonic_input`, every input row also carries the piece's tonic as a one-hot over 12 pitch classes:
    training windows transposed away from C say where they were moved, so the model can share what
    holds in every key and still keep what is particular to C (evaluation and sampling are in C)."""

    num_keys: int = 88
    body: str = "lstm"  # lstm | transformer
    head: str = "nade"  # nade | sigmoid
    hidden: int = 256  # LSTM units per layer, or the Transformer's model width
    num_layers: int = 1
    num_heads: int = 4  # transformer only
    ff_dim: int = 512  # transformer only
    max_len: int = 512  # transformer only: KV-cache slots
    max_distance: int = 128  # transformer only: relative distances embedded
    nade_hidden: int = 128
    dropout: float = 0.0
    tonic_input: bool = False  # each frame's input also holds a one-hot of the piece's tonic (12 classes)
    dtype: Any = jnp.float32

    def setup(self):
        if self.body == "lstm":
            self.stack = FusedLSTMStack(self.hidden, self.num_layers, self.dropout, self.dtype, name="lstm")
        elif self.body == "transformer":
            self.embed = nn.Dense(self.hidden, name="embed")
            self.stack = TransformerStack(self.num_layers, self.num_heads, self.ff_dim, self.max_len,
                                          self.max_distance, self.dropout, True, self.dtype, name="transformer")
        else:
            raise ValueError(f"body must be lstm or transformer, got {self.body!r}")
        if self.head == "nade":
            self.out = NADEHead(self.num_keys, self.nade_hidden, name="nade")
        elif self.head == "sigmoid":
            self.out = SigmoidHead(self.num_keys, name="sigmoid")
        else:
            raise ValueError(f"head must be nade or sigmoid, got {self.head!r}")
        self.drop = nn.Dropout(self.dropout)

    def context(self, previous, state=None, deterministic: bool = True, tonic=None):
        """previous [B, T, K] (and with `tonic_input`, tonic [B] int pitch classes: None for C, 0)
        -> (context [B, T, C], state)."""
        x = previous.astype(jnp.float32)
        if self.tonic_input:
            tonic = jnp.zeros(x.shape[:1], jnp.int32) if tonic is None else tonic
            one_hot = jnp.broadcast_to(jax.nn.one_hot(tonic, 12)[:, None, :], x.shape[:2] + (12,))
            x = jnp.concatenate([x, one_hot], axis=-1)
        if self.body == "lstm":
            return self.stack(x, state, deterministic=deterministic)
        return self.stack(self.embed(x), state, deterministic=deterministic)

    def __call__(self, previous, frames, state=None, deterministic: bool = True, tonic=None):
        context, state = self.context(previous, state, deterministic, tonic)
        context = self.drop(context, deterministic=deterministic or self.dropout == 0)
        return self.out(context, frames), state

    def sample_frame(self, context, key, temperature=1.0):
        """context [B, C] -> the next frame [B, K], drawn from the head."""
        return self.out.sample(context, key, temperature)
