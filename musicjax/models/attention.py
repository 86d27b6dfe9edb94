"""Causal self-attention with a learned relative-position term (Shaw et al. 2018; the Music
Transformer's memory-efficient "skewing" form, Huang et al. 2018), as pure functions of arrays; the
modules in `models/transformer.py` hold the parameters and call these.

Relative attention. Each layer and head has embeddings E [max_distance, head_dim] of the relative
distances (row r is distance max_distance - 1 - r: the last row is distance 0, the key at the
query's own position). The logit of query i and key j <= i is (q_i . k_j + q_i . E[row(i - j)]) /
sqrt(head_dim), a distance beyond max_distance - 1 clipped to it: set max_distance to the training
length, so that sampling or scoring longer sequences never reads an embedding no gradient reached.
Training computes the second term as Q E_L^T (E_L: the rows of distances L - 1 .. 0) and "skews" it
(pad one column, reshape, drop a row) so that each entry lands at its key: O(L . D) extra memory,
where gathering an embedding per (i, j) pair would take O(L^2 . D). A cached step has one query per
row and gathers its row of Q E^T directly (`cached_relative_logits`).

Training attention (`causal_attention`) works heads first, [H, B, L, Dh], so that the relative
term is one matmul per head over all B . L rows, and carries its own backward pass (the softmax
gradient from the saved weights and rowsum(dO * O), every product in a form XLA:CPU's matmul kernels
take without transposing an L x L operand); its queries go in blocks, each against the keys up to
its own last row (the skew works on such a rectangle too). Measured on `bench transformer`'s train
step, interleaved in one process (2-core AMD EPYC Zen 5, 2026-12-07): autodiff of the plain
function 0.54 s, the written-out backward 0.44 s, query blocks of 64 a further 3-7%, the
feed-forward `Dense` (models/transformer.py) another 7-9% (0.38-0.40 s); with dropout 0.1 on the
weights, 0.775 -> 0.51 s in all (the mask drawn 16 bits a weight, `keep_mask`). Gradients equal
autodiff of the plain reference to 1e-4 in the tests, one block or several."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

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
    `keep` rounded to a multiple of 2^-16, at most 1 - 2^-16). Sixteen random bits a position, two
    from each 32-bit draw: `jax.random.bernoulli` draws a float32 (a word) for each, and on the
    [H, B, L, L] attention weights the draws were most of what dropout cost a train step."""
    threshold = min(round(keep * 65536), 65535)
    half = -(-shape[-1] // 2)
    words = jax.random.bits(key, (*shape[:-1], half), jnp.uint32)
    bits = jax.lax.bitcast_convert_type(words, jnp.uint16).reshape(*shape[:-1], 2 * half)[..., :shape[-1]]
    return bits < threshold, threshold / 65536


def drop_weights(weights, kept, keep: float):
    """weights with dropout applied: 0 where not kept, weights / keep where kept."""
    return weights if kept is None else jnp.where(kept, weights / keep, 0.0)


def _attention_forward(q, k, v, by_distance, kept, keep, block):
    if by_distance is not None and by_distance.shape[1] != q.shape[2]:
        raise ValueError(f"by_distance has {by_distance.shape[1]} rows for {q.shape[2]} positions "
                         "(distance_rows(rel_emb, length) gives one per position)")
    outs, weights = [], []
    for start, end in _spans(q.shape[2], block):
        w = _block_weights(q, k, by_distance, start, end)
        used = drop_weights(w, None if kept is None else kept[:, :, start:end, :end], keep)
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
    blocks of 64, only 10/16 of the L x L work and memory is done; a dropout mask is still drawn
    whole). The gradient is written out (flash attention's backward, on whole blocks): the softmax
    gradient as P * (dP - rowsum(dO * O)), and every product in a form XLA:CPU's matmul kernels take
    without transposing an L x L operand: dK and dV as (Q^T dS)^T and (dO^T P)^T, the relative
    embeddings' gradient as one matmul per head over all B . rows. See the module docstring for
    what each step saved."""
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
        d_w = drop_weights(jnp.einsum("hbid,hbjd->hbij", d_ob, v[:, :, :end], preferred_element_type=f32), kept_b, keep)
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
        used = drop_weights(w, kept_b, keep).astype(dt)
        # In dt: XLA:CPU's fallback matmul (taken when the cotangent is a constant, so its transpose
        # is folded) has no bfloat16 x bfloat16 -> float32 kernel.
        dv = add(dv, _swap(jnp.einsum("hbdi,hbij->hbdj", _swap(d_ob), used, preferred_element_type=dt)).astype(f32))
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
