import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicjax.codecs.melody import EOS, PAD
from musicjax.sample.sampling import beam_search, beam_search_lm, sample_lm
from tests.sample.references import brute_force_beams, markov_step_fn, second_order_step_fn, sequence_log_prob


# Jitted once per beam size and length, as a caller would: eagerly, every call re-traces the scan.
markov_beam_search = jax.jit(functools.partial(beam_search, markov_step_fn),
                             static_argnames=("beam_size", "num_steps", "eos", "pad"))


def markov_chains(seed: int, batch: int, vocab: int):
    """Start logits [B, V] and transition logits [B, V, V] of `batch` random chains, peaked enough
    (scale 2) that greedy decoding often misses the most probable sequence."""
    k_start, k_table = jax.random.split(jax.random.key(seed))
    return 2.0 * jax.random.normal(k_start, (batch, vocab)), 2.0 * jax.random.normal(k_table, (batch, vocab, vocab))


@pytest.mark.parametrize("eos, length_alpha", [(-1, 0.0), (2, 0.0), (2, 0.6)])
def test_wide_beam_equals_brute_force(eos, length_alpha):
    # With beam V ** (steps - 1) nothing is pruned before the last step, so the beams are exactly the
    # best beam_size of all V ** steps sequences.
    vocab, steps, batch = 3, 3, 32
    start, table = markov_chains(0, batch, vocab)
    tokens, log_probs, scores = markov_beam_search(start, table, beam_size=vocab ** (steps - 1), num_steps=steps,
                                                   eos=eos, pad=0, length_alpha=length_alpha)
    assert tokens.shape == (batch, 9, steps) and log_probs.shape == scores.shape == (batch, 9)
    greedy, _, _ = markov_beam_search(start, table, beam_size=1, num_steps=steps, eos=eos, pad=0,
                                      length_alpha=length_alpha)
    best = [brute_force_beams(start[b], table[b], steps, eos, 0, length_alpha)[0][2] for b in range(batch)]
    assert any(tuple(np.asarray(greedy[b, 0]).tolist()) != best[b] for b in range(batch))  # a test greedy fails
    for b in range(batch):
        want = brute_force_beams(start[b], table[b], steps, eos, 0, length_alpha)[:9]
        assert [tuple(t) for t in np.asarray(tokens[b]).tolist()] == [w[2] for w in want]
        np.testing.assert_allclose(np.asarray(log_probs[b]), [w[1] for w in want], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(scores[b]), [w[0] for w in want], rtol=1e-5, atol=1e-6)


def test_beam_search_reorders_a_kv_style_cache():
    # The next token depends on the token before the last, read back from a batch-major history in
    # the cache: unless the history is gathered with its beams, the beams read another's past.
    vocab, steps, batch = 3, 4, 8
    k_start, k_table = jax.random.split(jax.random.key(3))
    start = 2.0 * jax.random.normal(k_start, (batch, vocab))
    table = 2.0 * jax.random.normal(k_table, (batch, vocab, vocab, vocab))
    cache = {"history": jnp.zeros((batch, steps), jnp.int32), "index": jnp.zeros((), jnp.int32), "table": table}
    search = jax.jit(functools.partial(beam_search, second_order_step_fn), static_argnames=("beam_size", "num_steps"))
    tokens, log_probs, _ = search(start, cache, beam_size=vocab ** (steps - 1), num_steps=steps, length_alpha=0.0)
    for b in range(batch):
        want = brute_force_beams(start[b], table[b], steps, -1, 0, 0.0)[:vocab ** (steps - 1)]
        assert [tuple(t) for t in np.asarray(tokens[b]).tolist()] == [w[2] for w in want]
        np.testing.assert_allclose(np.asarray(log_probs[b]), [w[1] for w in want], rtol=1e-5, atol=1e-6)


def test_narrow_beam_reports_true_log_probs_below_the_optimum():
    # Beam 3 over vocab 3 prunes from step 1 on and may miss the optimum, but every beam it returns is a
    # real sequence with its real log-probability, so none can beat the optimum.
    vocab, steps, batch = 3, 4, 16
    start, table = markov_chains(1, batch, vocab)
    tokens, log_probs, _ = markov_beam_search(start, table, beam_size=3, num_steps=steps, length_alpha=0.0)
    found_best = []
    for b in range(batch):
        every = {seq: lp for _, lp, seq in brute_force_beams(start[b], table[b], steps, -1, 0, 0.0)}
        beams = [tuple(t) for t in np.asarray(tokens[b]).tolist()]
        np.testing.assert_allclose(np.asarray(log_probs[b]), [every[s] for s in beams], rtol=1e-5, atol=1e-6)
        assert log_probs[b, 0] <= max(every.values()) + 1e-5
        found_best.append(np.isclose(log_probs[b, 0], max(every.values()), rtol=1e-5, atol=1e-6))
    assert any(found_best)


def test_beam_size_one_is_greedy(melody_lm):
    m = melody_lm
    for eos in (-1, EOS):
        greedy = sample_lm(m.model, m.params, m.primers, jax.random.key(0), num_steps=16, temperature=0.0,
                           eos=eos, pad=PAD)
        tokens, _, _ = beam_search_lm(m.model, m.params, m.primers, beam_size=1, num_steps=16, eos=eos, pad=PAD)
        np.testing.assert_array_equal(np.asarray(tokens[:, 0]), np.asarray(greedy))


def test_beam_beats_greedy_and_reports_true_log_probs(melody_lm):
    m = melody_lm
    batch, beam, steps = m.primers.shape[0], 4, 16
    greedy = sample_lm(m.model, m.params, m.primers, jax.random.key(0), num_steps=steps, temperature=0.0)
    tokens, log_probs, scores = beam_search_lm(m.model, m.params, m.primers, beam_size=beam, num_steps=steps,
                                               length_alpha=0.0)
    greedy_lp = sequence_log_prob(m.model, m.params, m.primers, greedy)
    # The reported log-probabilities are those of the returned sequences, rescored in one
    # teacher-forced pass, and with length_alpha 0 the scores are the log-probabilities.
    rescored = sequence_log_prob(m.model, m.params, jnp.repeat(m.primers, beam, 0), tokens.reshape(batch * beam, steps))
    np.testing.assert_allclose(np.asarray(log_probs).reshape(-1), rescored, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(scores), np.asarray(log_probs))
    assert (np.diff(np.asarray(scores), axis=1) <= 0).all()
    for b in range(batch):  # beam_size distinct hypotheses, not copies of one
        assert len({tuple(t) for t in np.asarray(tokens[b]).tolist()}) == beam
    # Not a theorem (beam search may prune the greedy prefix), but a property of any working beam
    # search on a peaked model like this one, and here it is strictly better on some primers.
    assert (np.asarray(log_probs[:, 0]) >= greedy_lp - 1e-4).all()
    assert (np.asarray(log_probs[:, 0]) > greedy_lp + 1e-3).any()


def test_finished_beams_are_padded_and_keep_their_log_prob():
    vocab, steps, batch, beam, eos, pad = 5, 6, 8, 4, 2, 0
    start, table = markov_chains(2, batch, vocab)
    table = table.at[:, :, eos].add(1.0)  # most beams end early
    tokens, log_probs, scores = markov_beam_search(start, table, beam_size=beam, num_steps=steps,
                                                   eos=eos, pad=pad, length_alpha=0.6)
    tokens, log_probs, scores = np.asarray(tokens), np.asarray(log_probs), np.asarray(scores)
    is_eos = tokens == eos
    length = np.where(is_eos.any(-1), is_eos.argmax(-1) + 1, steps)
    assert (length < steps).any()
    assert (tokens[np.arange(steps) >= length[..., None]] == pad).all()
    np.testing.assert_allclose(scores, log_probs / ((5 + length) / 6) ** 0.6, rtol=1e-6)
    assert (np.diff(scores, axis=1) <= 0).all()
    # The log-probability of a finished beam counts its tokens up to eos and nothing after.
    start_lp, table_lp = np.asarray(jax.nn.log_softmax(start)), np.asarray(jax.nn.log_softmax(table))
    for b in range(batch):
        for k in range(beam):
            seq = tokens[b, k, :length[b, k]]
            lp = start_lp[b, seq[0]] + sum(table_lp[b, x, y] for x, y in zip(seq[:-1], seq[1:]))
            np.testing.assert_allclose(log_probs[b, k], lp, rtol=1e-5, atol=1e-6)
