"""The Music Transformer (Huang et al. 2018): a pre-norm, decoder-only Transformer whose self-attention
adds a learned relative-position term, computed in the memory-efficient "skewing" form, with a KV
cache for decoding inside the shared `lax.scan` sampler.

Relative attention. Each layer and head has embeddings E [max_distance, head_dim] of the relative
distances (row r is distance max_distance - 1 - r: the last row is distance 0, the key at the
query's own position). The logit of query i and key j <= i is (q_i . k_j + q_i . E[row(i - j)]) /
sqrt(head_dim), a distance beyond max_distance - 1 clipped to it (Shaw et al. 2018): set
max_distance to the training length, so that sampling or scoring longer sequences never reads an
embedding no gradient reached. Training computes the second term as Q E_L^T [L, L] (E_L: the rows of
distances L - 1 .. 0) and "skews" it (pad one column, reshape, drop a row) so that each entry lands
at its key: O(L . D) extra memory, where gathering an embedding per (i, j) pair would take
O(L^2 . D). A cached step has one query per row and gathers its row of Q E^T directly.

Training attention (`causal_attention`) works heads first, [H, B, L, Dh], so that the relative
term is one matmul per head over all B . L rows, and carries its own backward pass (the softmax
gradient from the saved weights and rowsum(dO * O), every product in a form XLA:CPU's matmul kernels
take without transposing an L x L operand); its queries go in blocks, each against the keys up to
its own last row (the skew works on such a rectangle too). Measured on `bench transformer`'s train
step, interleaved in one process (2-core AMD EPYC Zen 5, 2026-12-07): autodiff of the plain
function 0.54 s, the written-out backward 0.44 s, query blocks of 64 a further 3-7%, the
feed-forward `Dense` another 7-9% (0.38-0.40 s); with dropout 0.1 on the weights, 0.775 -> 0.51 s
in all (the mask drawn 16 bits a weight, `keep_mask`).
Gradients equal autodiff of the plain reference to 1e-4 in the tests, one block or several.

The cache is a tuple of per-layer (keys, values) [B, heads, max_len, head_dim] and `pos`, a 0-d
int32 shared by every row (how many positions are filled): the sampler and beam search keep 0-d
leaves as they are and reorder the rest by row."""

from __future__ import annotations

from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Cache = dict  # {"layers": tuple[(keys, values)], "pos": int32 scalar}
NEG_INF = -1e9  # masked logits: finite, so a fully masked row softmaxes to uniform instead of NaN


def skew(rel_logits):
    """rel_logits [..., R, C] for the last R of C positions (queries C - R .. C - 1; R = C for a
    whole sequence), column c the query's logit for relative distance C - 1 - c -> [..., R, C] with
    entry (r, j) the logit for distance (C - R + r) - j (entries j > C - R + r are garbage; mask them).

    Pad one zero column on the left ([..., R, C + 1]), flatten the two axes, drop the first R
    entries and read the next R . C as [R, C]: row r shifts left by R - 1 - r, which moves each
    distance to its key. For R = C this is the paper's pad, reshape to [C + 1, C], drop a row."""
    *lead, rows, cols = rel_logits.shape
    padded = jnp.pad(rel_logits, [(0, 0)] * len(lead) + [(0, 0), (1, 0)])
    if rows == cols:  # the same entries, read as whole rows (cheaper for XLA than a flat slice)
        return padded.reshape(*lead, rows + 1, cols)[..., 1:, :]
    return padded.reshape(*lead, rows * (cols + 1))[..., rows:].reshape(*lead, rows, cols)


def _rows(distance, max_distance: int):
    """Relative distances (>= 0; any shape) -> their rows of E, clipped at max_distance - 1."""
    return max_distance - 1 - jnp.clip(distance, 0, max_distance - 1)


def distance_rows(rel_emb, length: int):
    """rel_emb [H, max_distance, Dh] -> [H, length, Dh]: the embeddings of distances length - 1 .. 0
    (clipped), column c of a skewed product holding distance length - 1 - c."""
    return rel_emb[:, _rows(length - 1 - jnp.arange(length), rel_emb.shape[1])]


def relative_logits_naive(q, rel_emb):
    """The O(L^2 . D) reference: q [H, B, L, Dh], rel_emb [H, max_distance, Dh] -> [H, B, L, L] with
    entry (i, j) = q_i . E[row(i - j)] for j <= i, 0 above the diagonal."""
    length = q.shape[2]
    i, j = jnp.arange(length)[:, None], jnp.arange(length)[None, :]
    per_pair = rel_emb[:, _rows(i - j, rel_emb.shape[1])]  # [H, L, L, Dh]: one embedding per (query, key)
    out = jnp.einsum("hbid,hijd->hbij", q, per_pair)
    return jnp.where(j <= i, out, 0.0)


def _unskewed(q, by_distance):
    """q [H, B, L, Dh] . by_distance [H, C, Dh] -> [H, B, L, C] float32: one matmul per head over all
    B . L rows (heads first, so no operand is broadcast or transposed)."""
    h, b, length, d = q.shape
    out = jnp.einsum("hnd,hcd->hnc", q.reshape(h, b * length, d), by_distance.astype(q.dtype),
                     preferred_element_type=jnp.float32)
    return out.reshape(h, b, length, -1)


def relative_logits(q, rel_emb):
    """Skewed form of `relative_logits_naive`: q [H, B, L, Dh], rel_emb [H, max_distance, Dh] ->
    [H, B, L, L] float32, entries above the diagonal unspecified."""
    return skew(_unskewed(q, distance_rows(rel_emb, q.shape[2])))


def unskew(g):
    """The transpose of `skew`: g [..., R, C] (zero at the garbage entries) -> [..., R, C], entry
    (r, c) the entry of g's row r at distance C - 1 - c."""
    *lead, rows, cols = g.shape
    if rows == cols:  # a zero row on top, as `skew` reads whole rows
        padded = jnp.pad(g, [(0, 0)] * len(lead) + [(1, 0), (0, 0)])
    else:
        padded = jnp.pad(g.reshape(*lead, rows * cols), [(0, 0)] * len(lead) + [(rows, 0)])
    return padded.reshape(*lead, rows, cols + 1)[..., 1:]


QUERY_BLOCK = 64  # training attention's query rows per block (see `causal_attention`)


def _spans(length: int, block: int):
    """Query blocks [(start, end)] covering 0..length - 1, about `block` rows each."""
    n = max(1, -(-length // block))
    edges = [round(i * length / n) for i in range(n + 1)]
    return list(zip(edges[:-1], edges[1:]))


def _block_weights(q, k, by_distance, start: int, end: int):
    """Causal softmax weights [H, B, end - start, end] float32 of queries start..end - 1 over keys
    0..end - 1 (q, k [H, B, L, Dh]; exactly 0 where a key follows its query)."""
    qb = q[:, :, start:end]
    logits = jnp.einsum("hbid,hbjd->hbij", qb, k[:, :, :end], preferred_element_type=jnp.float32)
    if by_distance is not None:  # distances end - 1 .. 0 are the last `end` rows
        logits = logits + skew(_unskewed(qb, by_distance[:, by_distance.shape[1] - end:]))
    causal = jnp.tril(jnp.ones((end - start, end), bool), k=start)
    return jax.nn.softmax(jnp.where(causal, logits, NEG_INF), axis=-1)


def keep_mask(key, keep: float, shape):
    """Dropout's kept positions: (bool array of `shape`, the probability each is kept, which is
    `keep` rounded to a multiple of 2^-16). Sixteen random bits a position, two from each 32-bit
    draw: `jax.random.bernoulli` draws a float32 (a word) for each, and on the [H, B, L, L]
    attention weights the draws were most of what dropout cost a train step."""
    threshold = min(round(keep * 65536), 65535)
    half = -(-shape[-1] // 2)
    words = jax.random.bits(key, (*shape[:-1], half), jnp.uint32)
    bits = jax.lax.bitcast_convert_type(words, jnp.uint16).reshape(*shape[:-1], 2 * half)[..., :shape[-1]]
    return bits < threshold, threshold / 65536


def _dropped(weights, kept, keep: float):
    """weights with dropout applied: 0 where not kept, weights / keep where kept."""
    return weights if kept is None else jnp.where(kept, weights / keep, 0.0)


def _attention_forward(q, k, v, by_distance, kept, keep, block):
    outs, weights = [], []
    for start, end in _spans(q.shape[2], block):
        w = _block_weights(q, k, by_distance, start, end)
        used = _dropped(w, None if kept is None else kept[:, :, start:end, :end], keep)
        outs.append(jnp.einsum("hbij,hbjd->hbid", used.astype(v.dtype), v[:, :, :end],
                               preferred_element_type=jnp.float32))
        weights.append(w)
    out = jnp.concatenate(outs, axis=2)
    return out.astype(q.dtype), (q, k, v, by_distance, kept, tuple(weights), out)


@partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def causal_attention(q, k, v, by_distance, kept=None, keep: float = 1.0, block: int = QUERY_BLOCK):
    """Causal self-attention with the relative term, heads first: q (already scaled), k, v
    [H, B, L, Dh], by_distance [H, L, Dh] (`distance_rows`) or None for no relative term; with
    dropout on the weights, kept [H, B, L, L] bool and keep the probability of keeping (`keep_mask`)
    -> [H, B, L, Dh].

    The queries go in blocks of about `block` rows, each against the keys up to its last row only:
    the key blocks after a query block, all masked, are never computed or stored (at L = 256 in
    blocks of 64, 10/16 of the L x L work and memory). The gradient is written out (flash attention's backward,
    on whole blocks): the softmax gradient as P * (dP - rowsum(dO * O)), and every product in a
    form XLA:CPU's matmul kernels take without transposing an L x L operand: dK and dV as
    (Q^T dS)^T and (dO^T P)^T, the relative embeddings' gradient as one matmul per head over all
    B . rows. See the module docstring for what each step saved."""
    return _attention_forward(q, k, v, by_distance, kept, keep, block)[0]


def _swap(x):
    return jnp.swapaxes(x, -1, -2)


def _attention_backward(keep, block, saved, d_out):
    q, k, v, by_distance, kept, weights, out = saved
    f32, dt = jnp.float32, q.dtype
    h, b, length, d = q.shape
    row = jnp.sum(d_out.astype(f32) * out, axis=-1, keepdims=True)  # = sum_j P_ij dP_ij
    add = lambda total, part: part if total is None else total.at[..., :part.shape[-2], :].add(part)
    dq, dk, dv, d_rows = [], None, None, None
    # The last block reads every key: it starts the sums, and the blocks before add into their front.
    for (start, end), w in reversed(list(zip(_spans(length, block), weights))):
        rows = end - start
        qb, d_ob = q[:, :, start:end], d_out[:, :, start:end]
        kept_b = None if kept is None else kept[:, :, start:end, :end]
        d_w = _dropped(jnp.einsum("hbid,hbjd->hbij", d_ob, v[:, :, :end], preferred_element_type=f32), kept_b, keep)
        d_logits = (w * (d_w - row[:, :, start:end])).astype(dt)  # 0 where masked, as P is
        dqb = jnp.einsum("hbij,hbjd->hbid", d_logits, k[:, :, :end], preferred_element_type=f32)
        if by_distance is not None:
            first = by_distance.shape[1] - end  # the block's distances end - 1 .. 0
            d_rel = unskew(d_logits).reshape(h, b * rows, end)  # [H, B . rows, end]
            dqb = dqb + jnp.einsum("hnc,hcd->hnd", d_rel, by_distance[:, first:].astype(dt),
                                   preferred_element_type=f32).reshape(h, b, rows, d)
            q_t = _swap(qb.reshape(h, b * rows, d))  # [H, Dh, B . rows]
            part = _swap(jnp.einsum("hdn,hnc->hdc", q_t, d_rel, preferred_element_type=f32))  # [H, end, Dh]
            d_rows = part if d_rows is None else d_rows.at[:, first:].add(part)
        dq.insert(0, dqb)
        dk = add(dk, _swap(jnp.einsum("hbdi,hbij->hbdj", _swap(qb), d_logits, preferred_element_type=f32)))
        used = _dropped(w, kept_b, keep).astype(dt)
        dv = add(dv, _swap(jnp.einsum("hbdi,hbij->hbdj", _swap(d_ob), used, preferred_element_type=f32)))
    dq = jnp.concatenate(dq, axis=2)
    d_rows = None if d_rows is None else d_rows.astype(by_distance.dtype)
    return dq.astype(dt), dk.astype(k.dtype), dv.astype(v.dtype), d_rows, None


causal_attention.defvjp(_attention_forward, _attention_backward)


def cached_relative_logits(q, rel_emb, query_pos, num_keys: int):
    """q [B, H, T, Dh] at absolute positions query_pos [T] -> [B, H, T, num_keys] float32: the
    relative term for every cache slot j < num_keys (slots after a query's position unspecified)."""
    all_distances = jnp.einsum("bhtd,hrd->bhtr", q, rel_emb, preferred_element_type=jnp.float32)
    index = _rows(query_pos[:, None] - jnp.arange(num_keys)[None, :], rel_emb.shape[1])  # [T, num_keys]
    return jnp.take_along_axis(all_distances, jnp.broadcast_to(index, q.shape[:2] + index.shape), axis=-1)


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
        max_len). With `layer_cache` (keys, values) [B, H, max_len, Dh] and `pos` (0-d, the first
        position of x): x is appended there and attends to every filled slot."""
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
        [B, H, max_len, Dh] -> (out [B, T, H, Dh], the updated cache)."""
        length = q.shape[2]
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
            cached = cached + cached_relative_logits(q, rel_emb, pos + jnp.arange(length), self.max_len)
        cached = jnp.where(jnp.arange(self.max_len) < pos, cached, NEG_INF)  # the slots filled before x
        weights = jax.nn.softmax(jnp.concatenate([cached, own], axis=-1), axis=-1)  # [B, H, T, max_len + T]
        weights = _dropped(weights, *self._dropout(weights.shape, deterministic)).astype(self.dtype)
        out = (jnp.einsum("bhij,bhjd->bhid", weights[..., :self.max_len], old_values.astype(self.dtype),
                          preferred_element_type=jnp.float32)
               + jnp.einsum("bhij,bhjd->bhid", weights[..., self.max_len:], v.astype(self.dtype),
                            preferred_element_type=jnp.float32))  # rounded once, after the sum
        return jnp.swapaxes(out.astype(self.dtype), 1, 2), new_cache


@jax.custom_vjp
def dense(x, kernel, bias):
    """x [..., D_in] @ kernel [D_in, D_out] + bias [D_out], whose backward forms x's gradient
    against an explicitly transposed kernel (an optimisation barrier keeps XLA from folding the
    transpose back into the matmul's dimension numbers): the feed-forward block's train step
    ran 7-9% faster so in `bench transformer` (2-core AMD EPYC Zen 5; the same with the attention
    projections bought nothing, so they keep the plain form)."""
    return x @ kernel + bias


def _dense_forward(x, kernel, bias):
    return x @ kernel + bias, (x, kernel)


def _dense_backward(saved, g):
    x, kernel = saved
    rows, g_rows = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
    dx = g_rows @ jax.lax.optimization_barrier(kernel.T)
    return dx.reshape(x.shape), rows.T @ g_rows, jnp.sum(g_rows, axis=0).astype(g.dtype)


dense.defvjp(_dense_forward, _dense_backward)


class Dense(nn.Module):
    """`nn.Dense` (the same parameters, names, initialisers and dtype handling) applied by `dense`."""

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
