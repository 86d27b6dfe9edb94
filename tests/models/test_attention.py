"""Relative attention against plain references: the skew (whole sequences and query blocks) puts
each distance at its key, skewed relative logits equal the O(L^2 . D) gather, the training
attention's written-out backward equals autodiff of the plain function (one block or several,
with and without the relative term and dropout), and the dropout mask keeps what it says."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicjax.models.attention import (NEG_INF, causal_attention, distance_rows, keep_mask, relative_logits,
                                       relative_logits_naive, skew)


@pytest.mark.parametrize("rows", [5, 2, 1])  # the whole sequence, or its last rows (a query block)
def test_skew_moves_each_distance_to_its_key(rows):
    length = 5
    # column c of row i holds the distance L - 1 - c, tagged with the row
    rel = jnp.array([[100 * i + (length - 1 - c) for c in range(length)] for i in range(length)], jnp.float32)
    out = np.asarray(skew(rel[length - rows:]))  # queries length - rows .. length - 1
    for r in range(rows):
        i = length - rows + r
        for j in range(i + 1):
            assert out[r, j] == 100 * i + (i - j)


@pytest.mark.parametrize("length,max_distance", [(1, 1), (7, 7), (7, 12), (9, 4)])
def test_skewed_relative_logits_equal_the_naive_gather(length, max_distance):
    kq, ke = jax.random.split(jax.random.key(length * 31 + max_distance))
    q = jax.random.normal(kq, (3, 2, length, 8))  # [heads, batch, length, head_dim]
    emb = jax.random.normal(ke, (3, max_distance, 8))
    fast = np.asarray(relative_logits(q, emb))
    naive = np.asarray(relative_logits_naive(q, emb))
    below = np.tril(np.ones((length, length), bool))
    np.testing.assert_allclose(fast[..., below], naive[..., below], rtol=1e-5, atol=1e-5)


def plain_attention(q, k, v, rel_emb, kept, keep):
    """The reference `causal_attention` is checked against, differentiated by autodiff: the naive
    relative gather, a causal softmax, dropout's multipliers, the weighted sum."""
    length = q.shape[2]
    logits = jnp.einsum("hbid,hbjd->hbij", q, k)
    if rel_emb is not None:
        logits = logits + relative_logits_naive(q, rel_emb)
    weights = jax.nn.softmax(jnp.where(jnp.tril(jnp.ones((length, length), bool)), logits, NEG_INF), axis=-1)
    return jnp.einsum("hbij,hbjd->hbid", weights if kept is None else weights * kept / keep, v)


@pytest.mark.parametrize("block", [128, 3])  # one block; 2-3 blocks of uneven sizes
@pytest.mark.parametrize("relative,dropout,length,max_distance",
                         [(True, False, 9, 4), (True, True, 7, 12), (False, False, 6, 6), (False, True, 8, 8),
                          (True, False, 1, 1)])
def test_attention_gradients_equal_autodiff_of_the_plain_reference(relative, dropout, length, max_distance, block):
    keys = jax.random.split(jax.random.key(length + 10 * max_distance), 6)
    q, k, v = (jax.random.normal(keys[i], (3, 2, length, 8)) for i in range(3))  # [heads, batch, length, dim]
    emb = jax.random.normal(keys[3], (3, max_distance, 8)) if relative else None
    kept, keep = keep_mask(keys[4], 0.8, (3, 2, length, length)) if dropout else (None, 1.0)
    fast = lambda q, k, v, emb: causal_attention(q, k, v, None if emb is None else distance_rows(emb, length),
                                                 kept, keep, block)
    plain = lambda q, k, v, emb: plain_attention(q, k, v, emb, kept, keep)
    cotangent = jax.random.normal(keys[5], q.shape)
    out_fast, vjp_fast = jax.vjp(fast, q, k, v, emb)
    out_plain, vjp_plain = jax.vjp(plain, q, k, v, emb)
    np.testing.assert_allclose(out_fast, out_plain, rtol=1e-5, atol=1e-5)
    grads_fast, grads_plain = vjp_fast(cotangent), vjp_plain(cotangent)
    for name, a, b in zip(("q", "k", "v", "relative embedding"), grads_fast, grads_plain):
        if b is None:
            assert a is None
            continue
        if length > 1:  # (one position: the softmax over one key has no gradient to q or k)
            assert float(jnp.abs(b).max()) > 0.1, name  # a gradient that could be wrong
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("keep,width", [(0.9, 256), (0.5, 7), (0.75, 1)])
def test_keep_mask_keeps_each_position_with_its_stated_probability(keep, width):
    shape = (64, 32, width)
    kept, p = keep_mask(jax.random.key(3), keep, shape)
    assert kept.shape == shape and kept.dtype == jnp.bool_ and abs(p - keep) < 2 ** -16
    n = kept.size
    assert abs(float(kept.mean()) - p) < 4 * np.sqrt(p * (1 - p) / n)  # within 4 standard errors
    # the two halves of each 32-bit draw are not the same bits: neighbours agree as often as chance
    pairs = np.asarray(kept).reshape(-1)[: n - n % 2].reshape(-1, 2)
    agree = float((pairs[:, 0] == pairs[:, 1]).mean())
    assert abs(agree - (p * p + (1 - p) ** 2)) < 0.02


def test_distances_beyond_max_distance_share_the_last_embedding():
    q = jax.random.normal(jax.random.key(9), (1, 1, 8, 4))
    emb = jax.random.normal(jax.random.key(10), (1, 3, 4))
    out = np.asarray(relative_logits(q, emb))[0, 0]
    far = np.asarray(q[0, 0] @ emb[0, 0])  # row 0: distance 2, the clipped one
    for i in range(8):
        for j in range(i - 1):  # distance >= 2
            assert np.isclose(out[i, j], far[i], atol=1e-5)


def test_bfloat16_gradients_follow_float32_over_default_blocks():
    """130 positions: three blocks of the default size. The cotangent is a constant of the jitted
    function (so XLA folds its transpose: a matmul form with no bfloat16 -> float32 kernel on CPU)."""
    keys = jax.random.split(jax.random.key(0), 5)
    q, k, v = (jax.random.normal(keys[i], (2, 2, 130, 8)) for i in range(3))
    emb = jax.random.normal(keys[3], (2, 40, 8))
    cotangent = jax.random.normal(keys[4], q.shape)

    def grads(dtype):
        args = tuple(x.astype(dtype) for x in (q, k, v, emb))
        fn = lambda q, k, v, emb: causal_attention(q, k, v, distance_rows(emb, 130))
        return jax.jit(lambda *a: jax.vjp(fn, *a)[1](cotangent.astype(dtype)))(*args)

    for name, low, full in zip(("q", "k", "v", "relative embedding"), grads(jnp.bfloat16), grads(jnp.float32)):
        assert low.dtype == jnp.bfloat16, name
        scale = float(jnp.abs(full).max())
        assert float(jnp.abs(low.astype(jnp.float32) - full).max()) < 0.05 * scale, name


def test_relative_rows_must_match_the_positions():
    q = jnp.zeros((1, 1, 6, 4))
    with pytest.raises(ValueError, match="by_distance has 9 rows for 6 positions"):
        causal_attention(q, q, q, jnp.zeros((1, 9, 4)))
