"""The Music Transformer (Huang et al. 2018): a pre-norm, decoder-only Transformer whose self-attention
adds a learned relative-position term, computed in the memory-efficient "skewing" form
(`models/attention.py`: the attention itself, its written-out backward and how it was measured),
with a KV cache for decoding inside the shared `lax.scan` sampler.

The cache is a tuple of per-layer (keys, values) [B, heads, slots, head_dim] and `pos`, a 0-d
int32 shared by every row (how many positions are filled): the sampler and beam search keep 0-d
leaves as they are and reorder the rest by row. A sequence read whole returns max_len slots; a
cached step attends to every slot of the cache it is given (those before `pos`), so
`resize_cache` can hand it fewer: the sampler grows the cache as it fills (`sample_lm`)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from musicjax.models.attention import (NEG_INF, drop_weights, cached_relative_logits, causal_attention, distance_rows,
                                       keep_mask, relative_logits)

Cache = dict  # {"layers": tuple[(keys, values)], "pos": int32 scalar}


def resize_cache(cache: Cache, slots: int) -> Cache:
    """The cache with `slots` slots per layer: padded with empty ones, or cut (only the empty
    ones: `pos` <= slots, which the caller keeps; a traced `pos` cannot be checked here). Each
    cached step reads every slot, filled or not: the Music Transformer's 512-token sampler at batch
    1 spent ~220 us a token with 129 slots against ~317 with 513 (2-core AMD EPYC Zen 5, 2026-12-07)."""

    def fit(x):  # [B, H, slots, Dh]
        have = x.shape[2]
        return x[:, :, :slots] if slots <= have else jnp.pad(x, [(0, 0), (0, 0), (0, slots - have), (0, 0)])

    return {"layers": tuple((fit(k), fit(v)) for k, v in cache["layers"]), "pos": cache["pos"]}


class _Projection(nn.Module):
    """The parameters of `nn.DenseGeneral(features)` on a last axis of `fan_in` (same names,
    shapes and initialisers), returned instead of applied: kernel [fan_in, *features], bias
    [*features]."""

    features: tuple

    @nn.compact
    def __call__(self, fan_in: int):
        size = int(np.prod(self.features))
        kernel = self.param("kernel", lambda key, shape: nn.initializers.lecun_normal()(key, (fan_in, size))
                            .reshape(shape), (fan_in, *self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), self.features)
        return kernel, bias


class RelativeSelfAttention(nn.Module):
    """Causal multi-head self-attention with relative position logits; x [B, T, D] -> [B, T, D]."""

    num_heads: int
    max_len: int  # cache slots: the longest sequence it can decode
    max_distance: int  # relative distances embedded; longer ones are clipped to the last
    dropout: float = 0.0
    relative: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, layer_cache=None, pos=None, deterministic: bool = True):
        """Without a cache: the whole sequence, returning (out, its keys and values padded to
        max_len). With `layer_cache` (keys, values) [B, H, slots, Dh] (any number of slots beyond
        the filled ones) and `pos` (0-d, the first position of x): x is appended there and attends
        to every filled slot."""
        batch, length, dim = x.shape
        if dim % self.num_heads:
            raise ValueError(f"model dimension {dim} is not divisible by {self.num_heads} heads")
        head_dim = dim // self.num_heads
        # Parameters as three DenseGenerals hold them. A cached step (decoding) applies them as one
        # matmul: at batch 1 each dot is a pass over its weights, and one dot replaces three per
        # token. Training keeps three (slicing one wide product apart cost more than it saved).
        weights = [_Projection((self.num_heads, head_dim), name=n)(dim) for n in ("query", "key", "value")]
        x = x.astype(self.dtype)
        if layer_cache is None:
            q, k, v = (jnp.einsum("btd,dhk->bthk", x, w.astype(self.dtype)) + b.astype(self.dtype)
                       for w, b in weights)  # [B, T, H, Dh]
        else:
            kernel = jnp.concatenate([w.reshape(dim, -1) for w, _ in weights], axis=-1).astype(self.dtype)
            bias = jnp.concatenate([b.reshape(-1) for _, b in weights]).astype(self.dtype)
            qkv = (x @ kernel + bias).reshape(batch, length, 3, self.num_heads, head_dim)
            q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        q = q / jnp.sqrt(head_dim).astype(q.dtype)
        rel_emb = (self.param("relative_embedding", nn.initializers.normal(head_dim ** -0.5),
                              (self.num_heads, self.max_distance, head_dim), jnp.float32).astype(self.dtype)
                   if self.relative else None)
        by_row = lambda t: jnp.swapaxes(t, 1, 2)  # [B, T, H, Dh] -> [B, H, T, Dh], the cache's layout
        if layer_cache is None:
            if length > self.max_len:
                raise ValueError(f"sequence of {length} positions is longer than the model's max_len {self.max_len}")
            heads_first = lambda t: jnp.transpose(t, (2, 0, 1, 3))  # [B, T, H, Dh] -> [H, B, T, Dh]
            kept, keep = self._dropout((self.num_heads, batch, length, length), deterministic)
            out = causal_attention(heads_first(q), heads_first(k), heads_first(v),
                                   distance_rows(rel_emb, length) if self.relative else None, kept, keep)
            out = jnp.transpose(out, (1, 2, 0, 3))  # [H, B, T, Dh] -> [B, T, H, Dh]
            pad = [(0, 0), (0, 0), (0, self.max_len - length), (0, 0)]
            new_cache = (jnp.pad(by_row(k), pad), jnp.pad(by_row(v), pad))
        else:
            out, new_cache = self._cached(by_row(q), by_row(k), by_row(v), rel_emb, layer_cache, pos, deterministic)
        out = nn.DenseGeneral(dim, axis=(-2, -1), dtype=self.dtype, param_dtype=jnp.float32,
                              name="out")(out)  # [B, T, H, Dh] -> [B, T, D]
        return out, new_cache

    def _dropout(self, shape, deterministic):
        """Dropout on the attention weights: (kept [shape] bool, keep), or (None, 1.0) when off."""
        if deterministic or self.dropout == 0:
            return None, 1.0
        return keep_mask(self.make_rng("dropout"), 1.0 - self.dropout, shape)

    def _cached(self, q, k, v, rel_emb, layer_cache, pos, deterministic):
        """q, k, v [B, H, T, Dh] of x, appended at `pos` to layer_cache (keys, values)
        [B, H, slots, Dh] -> (out [B, T, H, Dh], the updated cache)."""
        length, slots = q.shape[2], layer_cache[0].shape[2]
        own = jnp.einsum("bhid,bhjd->bhij", q, k, preferred_element_type=jnp.float32)  # [B, H, T, T]
        if self.relative:
            own = own + jnp.swapaxes(relative_logits(jnp.swapaxes(q, 0, 1), rel_emb), 0, 1)
        own = jnp.where(jnp.tril(jnp.ones((length, length), bool)), own, NEG_INF)  # each sees those before
        # Attention reads the cache as it was, and x's own keys and values apart: the updated
        # cache then feeds nothing but the carry, and XLA writes it in place. Read after the
        # update, it was copied whole (max_len slots) several times per layer and token.
        old_keys, old_values = layer_cache
        new_cache = (jax.lax.dynamic_update_slice(old_keys, k.astype(old_keys.dtype), (0, 0, pos, 0)),
                     jax.lax.dynamic_update_slice(old_values, v.astype(old_values.dtype), (0, 0, pos, 0)))
        cached = jnp.einsum("bhid,bhjd->bhij", q, old_keys.astype(q.dtype), preferred_element_type=jnp.float32)
        if self.relative:
            cached = cached + cached_relative_logits(q, rel_emb, pos + jnp.arange(length), slots)
        cached = jnp.where(jnp.arange(slots) < pos, cached, NEG_INF)  # the slots filled before x
        weights = jax.nn.softmax(jnp.concatenate([cached, own], axis=-1), axis=-1)  # [B, H, T, slots + T]
        weights = drop_weights(weights, *self._dropout(weights.shape, deterministic)).astype(self.dtype)
        out = (jnp.einsum("bhij,bhjd->bhid", weights[..., :slots], old_values.astype(self.dtype),
                          preferred_element_type=jnp.float32)
               + jnp.einsum("bhij,bhjd->bhid", weights[..., slots:], v.astype(self.dtype),
                            preferred_element_type=jnp.float32))  # rounded once, after the sum
        return jnp.swapaxes(out.astype(self.dtype), 1, 2), new_cache


@jax.custom_vjp
def dense(x, kernel, bias):
    """x [..., D_in] @ kernel [D_in, D_out] + bias [D_out], whose backward forms x's gradient
    against an explicitly transposed kernel (an optimisation barrier keeps XLA from folding the
    transpose back into the matmul's dimension numbers). As the feed-forward layers, it made the
    train step of `bench transformer` 7-9% faster (2-core AMD EPYC Zen 5); for the attention
    projections it bought nothing, so they keep the plain form."""
    return x @ kernel + bias


def _dense_forward(x, kernel, bias):
    return x @ kernel + bias, (x, kernel, jnp.zeros((), bias.dtype))  # a zero scalar carrying bias's dtype


def _dense_backward(saved, g):
    x, kernel, bias_like = saved
    rows, g_rows = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
    dx = g_rows @ jax.lax.optimization_barrier(kernel.T)
    dw = rows.T @ g_rows
    return dx.reshape(x.shape).astype(x.dtype), dw.astype(kernel.dtype), jnp.sum(g_rows, axis=0).astype(bias_like.dtype)


dense.defvjp(_dense_forward, _dense_backward)


class Dense(nn.Module):
    """`nn.Dense(features, dtype=dtype, param_dtype=float32)` (the same parameters, names and
    initialisers; float32 parameters cast to `dtype`, which defaults to float32 where nn.Dense's
    None follows the input) applied by `dense`."""

    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        return dense(x.astype(self.dtype), kernel.astype(self.dtype), bias.astype(self.dtype))


class TransformerLayer(nn.Module):
    """Pre-norm block: x + attention(norm(x)), then x + feed-forward(norm(x)); x [B, T, D]."""

    num_heads: int
    ff_dim: int
    max_len: int
    max_distance: int
    dropout: float = 0.0
    relative: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, layer_cache=None, pos=None, deterministic: bool = True):
        drop = lambda y: nn.Dropout(self.dropout)(y, deterministic=deterministic or self.dropout == 0)
        norm = lambda name: nn.LayerNorm(dtype=jnp.float32, name=name)
        attention = RelativeSelfAttention(self.num_heads, self.max_len, self.max_distance, self.dropout,
                                          self.relative, self.dtype, name="attention")
        h, new_cache = attention(norm("norm_attention")(x).astype(self.dtype), layer_cache, pos, deterministic)
        x = x + drop(h).astype(x.dtype)
        h = norm("norm_ff")(x).astype(self.dtype)
        h = Dense(self.ff_dim, self.dtype, name="ff_in")(h)
        h = Dense(x.shape[-1], self.dtype, name="ff_out")(nn.relu(h))
        return x + drop(h).astype(x.dtype), new_cache


class TransformerStack(nn.Module):
    """Embedded inputs x [B, T, D] (float32 residual stream) -> (normed outputs [B, T, D], cache)."""

    num_layers: int
    num_heads: int
    ff_dim: int
    max_len: int
    max_distance: int
    dropout: float = 0.0
    relative: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, cache: Cache | None = None, deterministic: bool = True):
        """With `cache` None, x is the start of a sequence (positions 0..T-1) and the returned cache
        holds it; with a cache, x continues from cache['pos']."""
        length = x.shape[1]
        pos = None if cache is None else cache["pos"]
        x = nn.Dropout(self.dropout)(x, deterministic=deterministic or self.dropout == 0)
        layers = []
        for i in range(self.num_layers):
            layer_cache = None if cache is None else cache["layers"][i]
            layer = TransformerLayer(self.num_heads, self.ff_dim, self.max_len, self.max_distance, self.dropout,
                                     self.relative, self.dtype, name=f"layer_{i}")
            x, new = layer(x, layer_cache, pos, deterministic)
            layers.append(new)
        start = jnp.zeros((), jnp.int32) if cache is None else pos
        x = nn.LayerNorm(dtype=jnp.float32, name="norm_out")(x)
        return x, {"layers": tuple(layers), "pos": start + length}


def decoder_head(module: nn.Module, x, cache, deterministic: bool, relative: bool):
    """The part of a Transformer LM after its input embedding, called inside `module`'s compact
    method (its submodules `decoder` and `logits`; `module` has num_layers, num_heads, ff_dim,
    max_len, max_distance, dropout, dtype, vocab_size): x [B, T, D] -> (logits [B, T, vocab]
    float32, cache)."""
    m = module
    stack = TransformerStack(m.num_layers, m.num_heads, m.ff_dim, m.max_len, m.max_distance, m.dropout, relative,
                             m.dtype, name="decoder")
    x, cache = stack(x, cache, deterministic)
    logits = nn.Dense(m.vocab_size, dtype=m.dtype, param_dtype=jnp.float32, name="logits")(x.astype(m.dtype))
    return logits.astype(jnp.float32), cache


class MusicTransformer(nn.Module):
    """tokens [B, T] int -> (logits [B, T, vocab] float32, cache): a language model with the
    interface of `LSTMLanguageModel` (the returned cache plays the carries' part), so the shared
    loss, evaluation and sampler take it unchanged."""

    vocab_size: int
    model_dim: int
    num_layers: int
    num_heads: int
    ff_dim: int
    max_len: int
    max_distance: int
    dropout: float = 0.0
    relative: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, tokens, cache: Cache | None = None, deterministic: bool = True):
        x = nn.Embed(self.vocab_size, self.model_dim, name="embed")(tokens) * jnp.sqrt(self.model_dim)
        return decoder_head(self, x, cache, deterministic, self.relative)

    resize_cache = staticmethod(resize_cache)  # the sampler grows the cache through it


class FeatureTransformer(nn.Module):
    """features [B, T, len(feature_sizes)] int (a multiple-viewpoint input, as `FeatureLSTMModel`'s)
    -> (logits [B, T, vocab] float32, cache): the sum of one embedding per feature, then the stack."""

    feature_sizes: tuple
    vocab_size: int
    model_dim: int
    num_layers: int
    num_heads: int
    ff_dim: int
    max_len: int
    max_distance: int
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, features, cache: Cache | None = None, deterministic: bool = True):
        if features.shape[-1] != len(self.feature_sizes):
            raise ValueError(f"features have {features.shape[-1]} columns, the model {len(self.feature_sizes)}")
        x = sum(nn.Embed(size, self.model_dim, name=f"embed_{f}")(features[..., f])
                for f, size in enumerate(self.feature_sizes)) * jnp.sqrt(self.model_dim / len(self.feature_sizes))
        return decoder_head(self, x, cache, deterministic, relative=True)

    resize_cache = staticmethod(resize_cache)
