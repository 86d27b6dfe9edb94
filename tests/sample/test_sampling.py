import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicjax.sample.sampling import decode, filter_logits, sample_lm
from tests.sample.references import filter_reference, greedy_reference, markov_step_fn

markov_decode = jax.jit(functools.partial(decode, markov_step_fn), static_argnames=("num_steps", "eos", "pad"))

FILTERS = [  # (temperature, top_k, top_p)
    (1.0, 0, 1.0), (0.7, 5, 1.0), (1.3, 0, 0.9), (1.0, 8, 0.5), (0.5, 0, 0.0), (2.0, 1, 1.0),
    (1.0, 100, 1.0), (1.0, 100, 0.3), (0.9, 3, 0.999), (1e-3, 0, 0.95),
]


def test_filter_logits_equals_numpy_reference():
    logits = 3.0 * jax.random.normal(jax.random.key(0), (16, 40))
    # One jitted function for every setting: the values are traced, so this compiles once.
    filtered = jax.jit(filter_logits)
    for temperature, top_k, top_p in FILTERS:
        got = np.asarray(filtered(logits, temperature, top_k, top_p))
        want = filter_reference(logits, temperature, top_k, top_p)
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=f"{temperature, top_k, top_p}")
        np.testing.assert_allclose(got[np.isfinite(got)], want[np.isfinite(want)], rtol=1e-6)
    assert filtered._cache_size() == 1


def test_filter_logits_edge_cases():
    logits = jax.random.normal(jax.random.key(1), (8, 12))
    kept = lambda top_k, top_p: np.isfinite(np.asarray(jax.jit(filter_logits)(logits, 1.0, top_k, top_p)))
    argmax = np.asarray(jnp.argmax(logits, -1))
    assert (kept(0, 0.0).sum(-1) == 1).all() and kept(0, 0.0)[np.arange(8), argmax].all()  # the argmax alone
    assert kept(50, 1.0).all() and kept(-1, 1.0).all()  # top_k > V and top_k < 0 are off
    assert (kept(4, 1.0).sum(-1) == 4).all() and (kept(4, 0.0).sum(-1) == 1).all()


def test_new_sampling_values_reuse_one_compiled_sampler(melody_lm):
    m = melody_lm
    run = lambda t, k, p: np.asarray(sample_lm(m.model, m.params, m.primers, jax.random.key(3), num_steps=13,
                                               temperature=t, top_k=k, top_p=p))
    before = sample_lm._cache_size()
    greedy = run(0.0, 0, 1.0)
    outputs = {(t, k, p): run(t, k, p) for t, k, p in FILTERS}
    assert sample_lm._cache_size() == before + 1
    # The traced values do reach the sampler: top_k 1 and top_p 0 are greedy at any temperature,
    # plain sampling is not.
    np.testing.assert_array_equal(outputs[(2.0, 1, 1.0)], greedy)
    np.testing.assert_array_equal(outputs[(0.5, 0, 0.0)], greedy)
    assert (outputs[(1.0, 0, 1.0)] != greedy).any()


def test_temperature_zero_is_greedy(melody_lm):
    m = melody_lm
    assert m.losses[1] < m.losses[0] - 0.5  # the fixture's model did learn something
    got = sample_lm(m.model, m.params, m.primers, jax.random.key(0), num_steps=12, temperature=0.0)
    np.testing.assert_array_equal(np.asarray(got), greedy_reference(m.model, m.params, m.primers, 12))


@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_decode_pads_after_eos(temperature):
    eos, pad, steps = 2, 0, 10
    start = jax.random.normal(jax.random.key(4), (64, 5))
    table = jax.random.normal(jax.random.key(5), (64, 5, 5)).at[:, :, eos].add(0.3)
    run = lambda eos: np.asarray(markov_decode(start, table, jax.random.key(6), num_steps=steps,
                                        temperature=temperature, eos=eos, pad=pad))
    tokens, free = run(eos), run(-1)
    assert tokens.shape == (64, steps) and tokens.dtype == np.int32
    first_eos = np.where((tokens == eos).any(1), (tokens == eos).argmax(1), steps)
    after = np.arange(steps) > first_eos[:, None]
    assert (tokens[after] == pad).all()
    # Up to and including eos the rows are those drawn without an eos, so only the padding differs;
    # and that padding does something: without eos, tokens after an eos are not all pad.
    np.testing.assert_array_equal(np.where(after, pad, free), tokens)
    assert after.any() and (free[after] != pad).any()


@pytest.mark.parametrize("top_k", [0, 3])
def test_decode_draws_follow_the_filtered_distribution(top_k):
    """Each step's token is a draw from softmax(filtered logits): the first token's frequencies over
    many rows, and the second's after the commonest first, lie within 4 standard errors of it (top_k
    0: the branch that skips the sort; 3: the filtered one)."""
    rows, vocab = 20000, 6
    start = jnp.broadcast_to(jnp.array([0.5, -1.0, 1.2, 0.0, -0.3, 0.8]), (rows, vocab))
    table = jnp.broadcast_to(jax.random.normal(jax.random.key(7), (vocab, vocab)), (rows, vocab, vocab))
    tokens = np.asarray(markov_decode(start, table, jax.random.key(8), num_steps=2, temperature=0.8, top_k=top_k))

    def expected(logits):
        p = np.exp(np.asarray(filter_reference(np.asarray(logits)[None], 0.8, top_k, 1.0))[0])
        return p / p.sum()

    def check(drawn, logits):
        p, n = expected(logits), len(drawn)
        freq = np.bincount(drawn, minlength=vocab) / n
        np.testing.assert_array_less(np.abs(freq - p), 4 * np.sqrt(p * (1 - p) / n) + 1e-9)
        assert (freq[p == 0] == 0).all()

    check(tokens[:, 0], start[0])
    first = np.bincount(tokens[:, 0]).argmax()
    check(tokens[tokens[:, 0] == first, 1], table[0, first])
