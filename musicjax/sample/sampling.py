"""Decoding from autoregressive models in `lax.scan` over a step function `(tokens [B], cache) ->
(logits [B, V], cache)`, where the cache is any pytree (an LSTM's carries, a Transformer's KV
cache, which grows as it fills): sampling with traced temperature / top-k / top-p, and beam search."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

# For every jit that runs a decoding loop. A step reads its cache (a Transformer's KV cache holds
# max_len slots per layer) and updates one slot in place; XLA:CPU's default copy insertion cannot
# tell that the reads come first and copies each such buffer whole, several times per step. Its
# region analysis can. With it, and the attention reading the cache before the update
# (models/transformer.py), the Music Transformer's 512-token sampler at batch 1 went from ~1.7 to
# ~0.58 ms per token (2-core AMD EPYC, 2026-12-06); either change alone gained little. Other
# backends ignore the option.
DECODE_COMPILER_OPTIONS = {"xla_cpu_copy_insertion_use_region_analysis": True}


def filter_logits(logits, temperature, top_k, top_p):
    """logits [B, V] -> float32 logits [B, V] divided by `temperature`, with -inf outside the top
    `top_k` tokens and outside the smallest most-probable set whose probability (renormalised after
    top-k) reaches `top_p`; the token that crosses `top_p` is kept, so the set is never empty and
    top_p 0 keeps the argmax alone. All three may be traced: top_k <= 0 or top_k >= V is off,
    top_p >= 1 is off. Tokens tied with the last one kept are kept too."""
    logits = logits.astype(jnp.float32) / jnp.maximum(temperature, 1e-6)
    vocab = logits.shape[-1]
    # One sort serves both filters, and every choice below is a traced value: a new top_k or top_p
    # reuses the compiled program instead of recompiling it.
    ranked = -jnp.sort(-logits, axis=-1)  # [B, V], descending
    rank = jnp.arange(vocab)
    k = jnp.where(top_k > 0, jnp.minimum(top_k, vocab), vocab)
    ranked = jnp.where(rank < k, ranked, -jnp.inf)
    probs = jax.nn.softmax(ranked, axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs  # probability of the better-ranked tokens
    # rank 0 is kept outright: with top_p 0, `mass_before < top_p` would otherwise keep nothing.
    in_nucleus = (mass_before < top_p) | (rank == 0) | (top_p >= 1.0)
    num_kept = jnp.sum(in_nucleus & (rank < k), axis=-1, keepdims=True)  # [B, 1], >= 1
    threshold = jnp.take_along_axis(ranked, num_kept - 1, axis=-1)
    return jnp.where(logits < threshold, -jnp.inf, logits)


def split_segments(segments, num_steps: int):
    """`segments` ((steps, prepare), ...) or None (one) -> ((first step, steps, prepare), ...) over
    the model steps 1..num_steps - 1, checked to cover them."""
    if segments is None:
        segments = ((num_steps - 1, None),) if num_steps > 1 else ()
    segments = tuple(segments)
    if sum(steps for steps, _ in segments) != num_steps - 1 or any(steps < 1 for steps, _ in segments):
        raise ValueError(f"segments of {[steps for steps, _ in segments]} steps do not split the "
                         f"{num_steps - 1} model steps of {num_steps} tokens")
    starts = 1 + np.cumsum([0] + [steps for steps, _ in segments[:-1]])
    return tuple((int(start), steps, prepare) for start, (steps, prepare) in zip(starts, segments))


def scan_segments(step, carry, segments, num_steps: int, xs, with_cache):
    """`lax.scan(step, carry, xs(start, steps))` over the model steps 1..num_steps - 1, one scan per
    segment of `split_segments(segments, num_steps)`, each segment's `prepare` first applied to the
    cache inside the carry by `with_cache(carry, prepare)`. Returns (carry, [each scan's outputs])."""
    outputs = []
    for start, steps, prepare in split_segments(segments, num_steps):
        if prepare is not None:
            carry = with_cache(carry, prepare)
        carry, out = jax.lax.scan(step, carry, xs(start, steps))
        outputs.append(out)
    return carry, outputs


def _draw(logits, noise, temperature, top_k, top_p):
    """logits [B, V], Gumbel noise [B, V] -> tokens [B] int32: a filtered sample (the argmax of the
    filtered logits plus the noise, as `jax.random.categorical` draws), or the argmax where
    temperature is 0. The sort behind top-k and top-p runs only when one of them is on (a traced
    choice: the values stay traced)."""
    filtered = jax.lax.cond((top_k <= 0) & (top_p >= 1.0),
                            lambda l: l.astype(jnp.float32) / jnp.maximum(temperature, 1e-6),
                            lambda l: filter_logits(l, temperature, top_k, top_p), logits)
    sampled = jnp.argmax(filtered + noise, axis=-1)
    return jnp.where(temperature > 0, sampled, jnp.argmax(logits, axis=-1)).astype(jnp.int32)


def decode(step_fn, logits, cache, key, *, num_steps: int, temperature=1.0, top_k=0, top_p=1.0,
           eos: int = -1, pad: int = 0, segments=None):
    """Sample `num_steps` tokens -> [B, num_steps] int32, in `lax.scan`s.

    step_fn(tokens [B] int32, cache) -> (logits [B, V], cache), the cache any pytree. `logits`
    [B, V] are those of the first token to draw (the model has already read its primer); the
    model then runs num_steps - 1 times. temperature 0 (a traced value, like top_k and top_p) is
    greedy. After a row draws `eos`, the rest of the row is `pad` (eos -1: no end token).

    segments: None (one scan) or ((steps, prepare), ...), the num_steps - 1 model steps split into
    scans run one after another, each given prepare(cache) first (None: the cache as it is), e.g.
    a KV cache grown to the slots its steps fill (`cache_segments`). Step t draws with the Gumbel
    noise of `fold_in(key, t)` (as `jax.random.categorical` would), so the tokens do not depend on
    the segments; each scan draws its steps' noise at its start, [steps, B, V] float32 in one
    vectorised call: drawn inside the loop (a rolled threefry loop per step), with the sort always
    run, the Music Transformer's 512-token sampler took 128 ms against 107 (2-core AMD EPYC Zen 5,
    2026-12-07, in one process)."""
    noise = jax.vmap(lambda t: jax.random.gumbel(jax.random.fold_in(key, t), logits.shape))  # [T] -> [T, B, V]

    def draw(logits, noise, done):
        token = jnp.where(done, pad, _draw(logits, noise, temperature, top_k, top_p))
        return token, done | (token == eos)

    # The first token is drawn outside the scan so that each step ends with a draw, and the model
    # is not run once more on the last token for logits nobody reads.
    token, done = draw(logits, noise(jnp.zeros(1, jnp.int32))[0], jnp.zeros(logits.shape[:1], bool))

    def step(carry, noise):
        token, cache, done = carry
        logits, cache = step_fn(token, cache)
        token, done = draw(logits, noise, done)
        return (token, cache, done), token

    _, drawn = scan_segments(step, (token, cache, done), segments, num_steps,
                             lambda start, steps: noise(jnp.arange(start, start + steps)),
                             lambda carry, prepare: (carry[0], prepare(carry[1]), carry[2]))
    return jnp.concatenate([token[:, None]] + [d.T for d in drawn], axis=1)


def _length_penalty(length, alpha):
    """GNMT's ((5 + length) / 6) ** alpha, by which a summed log-probability is divided."""
    return ((5.0 + length) / 6.0) ** alpha


def _tile_beams(tree, beam_size: int):
    """Each batch-major leaf [B, ...] -> [B * beam_size, ...], row b's copies adjacent. 0-d leaves
    (a shared position, like a KV cache's write index) are left as they are."""
    return jax.tree.map(lambda x: x if x.ndim == 0 else jnp.repeat(x, beam_size, axis=0), tree)


def _gather_beams(tree, rows):
    """Each leaf [B * beam, ...] -> its rows `rows` [B * beam] (0-d leaves as they are)."""
    return jax.tree.map(lambda x: x if x.ndim == 0 else x[rows], tree)


def beam_search(step_fn, logits, cache, *, beam_size: int, num_steps: int, eos: int = -1, pad: int = 0,
                length_alpha=0.6, segments=None):
    """Beam search for `num_steps` tokens, in one `lax.scan` (or one per segment, as in `decode`).

    step_fn, logits [B, V] as for `decode`; the cache's leaves must be batch-major [B, ...] (0-d
    leaves are shared); they are tiled to [B * beam_size, ...] and re-gathered as beams are
    reordered. A beam that draws `eos` is finished: it extends only by `pad`, at log-probability 0.
    Score = summed log-probability / ((5 + length) / 6) ** length_alpha, length counting tokens
    up to and including eos (GNMT). Candidates are ranked by score; all live candidates have the
    same length, so among them that is ranking by log-probability.

    Returns (tokens [B, beam_size, num_steps] int32, log_probs [B, beam_size] (raw summed),
    scores [B, beam_size]), best score first. Rows with fewer than beam_size possible sequences
    fill the rest with log_probs -inf."""
    batch, vocab = logits.shape
    rows = jnp.arange(batch)[:, None] * beam_size  # [B, 1]: offset of each row's beams
    pad_only = jnp.where(jnp.arange(vocab) == pad, 0.0, -jnp.inf)  # [V]

    def expand(state, logits, t):
        """Extends every beam by every token and keeps the best beam_size of the B x beam x V."""
        tokens, log_probs, lengths, finished, cache = state
        step_lp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1).reshape(batch, beam_size, vocab)
        step_lp = jnp.where(finished[..., None], pad_only, step_lp)
        cand_lp = (log_probs[..., None] + step_lp).reshape(batch, beam_size * vocab)
        cand_len = jnp.where(finished, lengths, t + 1)  # [B, beam]
        cand_score = cand_lp / jnp.repeat(_length_penalty(cand_len, length_alpha), vocab, axis=1)
        _, best = jax.lax.top_k(cand_score, beam_size)  # [B, beam], sorted best first
        parent, token = best // vocab, (best % vocab).astype(jnp.int32)
        was_finished = jnp.take_along_axis(finished, parent, axis=1)
        # The whole history is re-gathered each step (cheap at [B, beam, num_steps]), which saves
        # a backtracking pass over parent pointers after the scan.
        tokens = jnp.take_along_axis(tokens, parent[..., None], axis=1).at[:, :, t].set(token)
        state = (tokens, jnp.take_along_axis(cand_lp, best, axis=1),
                 jnp.take_along_axis(cand_len, parent, axis=1), was_finished | (token == eos),
                 _gather_beams(cache, (rows + parent).reshape(-1)))
        return state, token.reshape(-1)

    # Beams 1.. start at -inf: from one start, beam_size copies of it would otherwise fill the beam
    # with the same hypothesis.
    start_lp = jnp.where(jnp.arange(beam_size) == 0, 0.0, -jnp.inf)
    state = (jnp.full((batch, beam_size, num_steps), pad, jnp.int32),
             jnp.broadcast_to(start_lp, (batch, beam_size)), jnp.zeros((batch, beam_size), jnp.int32),
             jnp.zeros((batch, beam_size), bool), _tile_beams(cache, beam_size))
    # As in `decode`, the first expansion is outside the scan, so the model never runs on the last
    # tokens for logits nobody reads.
    state, token = expand(state, jnp.repeat(logits, beam_size, axis=0), 0)

    def step(carry, t):
        state, token = carry
        logits, cache = step_fn(token, state[-1])
        return expand(state[:-1] + (cache,), logits, t), None

    (state, _), _ = scan_segments(step, (state, token), segments, num_steps,
                                  lambda start, steps: jnp.arange(start, start + steps),
                                  lambda carry, prepare: (carry[0][:-1] + (prepare(carry[0][-1]),), carry[1]))
    tokens, log_probs, lengths, _, _ = state
    return tokens, log_probs, log_probs / _length_penalty(lengths, length_alpha)


def _check_room(model, primer_length: int, num_steps: int) -> None:
    """A model with a fixed-size cache (a Transformer's `max_len` slots) must hold the primer and
    every token fed back: the primer and num_steps - 1 (the last drawn token is not fed)."""
    max_len = getattr(model, "max_len", None)
    if max_len is not None and primer_length + num_steps - 1 > max_len:
        raise ValueError(f"a primer of {primer_length} tokens and {num_steps} more need "
                         f"{primer_length + num_steps - 1} cache slots; the model has max_len {max_len}")


GROWTH_FIRST_SLOTS = 64  # a growing KV cache's slots in the first segment; doubled at each next one


def growth_segments(resize, max_len: int, primer_length: int, num_steps: int):
    """`decode`'s segments for a cache of at most max_len slots that `resize(cache, slots=n)`
    resizes (a Transformer's KV cache): 64 slots first, doubled (up to max_len) when the next
    token would not fit, so attention reads about the slots filled, not max_len; the scans compile
    one step function per size (log2 of max_len / 64 of them). Model step t (1..num_steps - 1)
    writes slot primer_length + t - 1."""
    segments, t, slots = [], 1, GROWTH_FIRST_SLOTS
    while t < num_steps:
        while slots < primer_length + t:
            slots *= 2
        size = min(slots, max_len)
        last = min(num_steps - 1, size - primer_length)  # the last step these slots hold
        segments.append((last - t + 1, functools.partial(resize, slots=size)))
        t = last + 1
    return tuple(segments)


def cache_segments(model, primer_length: int, num_steps: int):
    """`growth_segments` for a model with `resize_cache(cache, slots)` and `max_len` (the
    Transformers); None for one without (an LSTM's carries do not grow)."""
    resize = getattr(model, "resize_cache", None)
    return None if resize is None else growth_segments(resize, model.max_len, primer_length, num_steps)


def lm_step_fn(model, params):
    """The step function of a language model whose `apply({'params': p}, tokens [B, T], carries)`
    returns (logits [B, T, V], carries), like `LSTMLanguageModel`: (tokens [B], carries) ->
    (logits [B, V], carries)."""
    variables = {"params": params}

    def step_fn(tokens, carries):
        logits, carries = model.apply(variables, tokens[:, None], carries)
        return logits[:, -1], carries

    return step_fn


@functools.partial(jax.jit, static_argnames=("model", "num_steps", "eos", "pad"),
                   compiler_options=DECODE_COMPILER_OPTIONS)
def sample_lm(model, params, primer, key, *, num_steps: int, temperature=1.0, top_k=0, top_p=1.0,
              eos: int = -1, pad: int = 0):
    """Continue `primer` [B, P] (P >= 1, e.g. BOS alone) by `num_steps` sampled tokens -> [B,
    num_steps] int32 (see `decode`). temperature, top_k and top_p are traced: new values reuse the
    compiled program (keep their types: a float temperature, an int top_k, a float top_p). A
    Transformer's KV cache grows as it fills (`cache_segments`)."""
    _check_room(model, primer.shape[1], num_steps)
    logits, carries = model.apply({"params": params}, primer)
    return decode(lm_step_fn(model, params), logits[:, -1], carries, key, num_steps=num_steps,
                  temperature=temperature, top_k=top_k, top_p=top_p, eos=eos, pad=pad,
                  segments=cache_segments(model, primer.shape[1], num_steps))


@functools.partial(jax.jit, static_argnames=("model", "beam_size", "num_steps", "eos", "pad"),
                   compiler_options=DECODE_COMPILER_OPTIONS)
def beam_search_lm(model, params, primer, *, beam_size: int, num_steps: int, eos: int = -1, pad: int = 0,
                   length_alpha=0.6):
    """Beam search continuing `primer` [B, P] -> (tokens [B, beam, num_steps], log_probs [B, beam],
    scores [B, beam]), best first (see `beam_search`); length_alpha is traced. A Transformer's KV
    cache grows as it fills, as in `sample_lm`."""
    _check_room(model, primer.shape[1], num_steps)
    logits, carries = model.apply({"params": params}, primer)
    return beam_search(lm_step_fn(model, params), logits[:, -1], carries, beam_size=beam_size,
                       num_steps=num_steps, eos=eos, pad=pad, length_alpha=length_alpha,
                       segments=cache_segments(model, primer.shape[1], num_steps))
