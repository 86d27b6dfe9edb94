"""The NumPyro HMM against plain references: the forward algorithm and its gradient against
brute-force enumeration of every state path, Viterbi against the brute-force argmax, EM's
likelihood never falling, and on data simulated from a known HMM a NUTS posterior that covers the
true parameters once its states are aligned to the true ones."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicjax.prob import hmm


def _random_params(seed, num_states, vocab_size):
    rng = np.random.default_rng(seed)
    return hmm.HMMParams(rng.dirichlet(np.ones(num_states)), rng.dirichlet(np.ones(num_states), num_states),
                         rng.dirichlet(np.ones(vocab_size), num_states))


def _ragged_batch(seed, vocab_size, lengths, width):
    rng = np.random.default_rng(seed)
    tokens = np.zeros((len(lengths), width), np.int32)
    for n, length in enumerate(lengths):
        tokens[n, :length] = rng.integers(0, vocab_size, length)
    return tokens, np.asarray(lengths, np.int32)


def _paths(params, seq):
    """Every state path of `seq` with its joint probability p(path, seq), in float64."""
    init, trans, emit = (np.asarray(p, np.float64) for p in params)
    for path in itertools.product(range(len(init)), repeat=len(seq)):
        p = init[path[0]] * emit[path[0], seq[0]]
        for t in range(1, len(seq)):
            p *= trans[path[t - 1], path[t]] * emit[path[t], seq[t]]
        yield path, p


def test_forward_equals_brute_force_enumeration():
    params = _random_params(0, 3, 5)
    tokens, lengths = _ragged_batch(1, 5, [1, 2, 4, 6, 5], width=7)
    got = np.asarray(hmm.log_prob(hmm.HMMParams(*map(jnp.asarray, params)), tokens, lengths))
    want = [np.log(sum(p for _, p in _paths(params, tokens[n, :lengths[n]]))) for n in range(len(lengths))]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_forward_gradient_is_the_expected_counts():
    """EM's E-step: d log p / d log-parameters = posterior expected counts, by enumeration."""
    params = _random_params(2, 3, 4)
    tokens, lengths = _ragged_batch(3, 4, [5, 3], width=5)
    logs = tuple(jnp.log(jnp.asarray(p, jnp.float32)) for p in params)
    grads = jax.grad(lambda lg: hmm.forward_log_prob(*lg, tokens, lengths).sum())(logs)
    want = [np.zeros(3), np.zeros((3, 3)), np.zeros((3, 4))]
    for n in range(len(lengths)):
        seq = tokens[n, :lengths[n]]
        paths = list(_paths(params, seq))
        total = sum(p for _, p in paths)
        for path, p in paths:
            w = p / total
            want[0][path[0]] += w
            for t in range(len(seq)):
                want[2][path[t], seq[t]] += w
                if t:
                    want[1][path[t - 1], path[t]] += w
    for g, w in zip(grads, want):
        np.testing.assert_allclose(np.asarray(g), w, atol=2e-5)


def test_viterbi_equals_brute_force_argmax():
    params = _random_params(4, 3, 6)
    tokens, lengths = _ragged_batch(5, 6, [1, 3, 6, 4, 6, 2], width=6)
    paths, scores = hmm.viterbi(hmm.HMMParams(*map(jnp.asarray, params)), tokens, lengths)
    for n in range(len(lengths)):
        best_path, best_p = max(_paths(params, tokens[n, :lengths[n]]), key=lambda item: item[1])
        assert tuple(np.asarray(paths[n, :lengths[n]]).tolist()) == best_path
        assert np.all(np.asarray(paths[n, lengths[n]:]) == -1)
        np.testing.assert_allclose(float(scores[n]), np.log(best_p), rtol=1e-5)


def test_em_log_likelihood_never_decreases():
    tokens, lengths = _ragged_batch(6, 8, [7, 9, 4, 12, 10, 6] * 5, width=12)
    _, trace, _ = hmm.em_fit(0, ((tokens, lengths),), num_states=3, vocab_size=8, num_iters=40)
    assert np.all(np.diff(trace) >= -1e-6 * np.abs(trace[:-1])), trace


def test_model_density_is_prior_plus_forward():
    """The NumPyro program scores Dirichlet priors plus the forward log-likelihood, nothing else."""
    from numpyro.infer.util import log_density
    from scipy.stats import dirichlet

    params = _random_params(7, 2, 3)
    tokens, lengths = _ragged_batch(8, 3, [3, 5], width=5)
    kw = dict(num_states=2, vocab_size=3, init_concentration=1.5, transition_concentration=2.0,
              emission_concentration=0.5)
    values = {s: jnp.asarray(p, jnp.float32) for s, p in zip(hmm.SITES, params)}
    buckets = hmm.bucket_by_length(tokens, lengths, 2)
    got, _ = log_density(hmm.hmm_model, (buckets,), kw, values)
    prior = (dirichlet.logpdf(params.init, [1.5] * 2) + sum(dirichlet.logpdf(r, [2.0] * 2) for r in params.trans)
             + sum(dirichlet.logpdf(r, [0.5] * 3) for r in params.emit))
    lik = float(hmm.log_prob(hmm.HMMParams(*values.values()), tokens, lengths).sum())
    np.testing.assert_allclose(float(got), prior + lik, rtol=1e-5)


def test_sampling_stops_at_the_stop_token_and_follows_the_chain():
    # state 0 emits 0 then moves to 1; state 1 emits 1 then moves to 2; state 2 emits the stop 2
    params = hmm.HMMParams(jnp.array([[1.0, 0, 0]] * 4), jnp.array([[[0, 1.0, 0], [0, 0, 1.0], [0, 0, 1.0]]] * 4),
                           jnp.array([np.eye(3)] * 4))
    tokens, lengths = hmm.sample_sequences(jax.random.key(0), params, max_len=6, stop=2)
    np.testing.assert_array_equal(np.asarray(lengths), [3] * 4)
    np.testing.assert_array_equal(np.asarray(tokens), [[0, 1, 2, 2, 2, 2]] * 4)


def test_state_matching_undoes_a_permutation():
    params = _random_params(9, 4, 7)
    perm = np.array([[2, 0, 3, 1]])
    stacked = hmm.HMMParams(*(np.asarray(p)[None] for p in params))
    permuted = hmm.permute_states(stacked, perm)
    np.testing.assert_allclose(permuted.trans[0], np.asarray(params.trans)[perm[0]][:, perm[0]])
    back = hmm.permute_states(permuted, hmm.state_matching(permuted.emit, params.emit))
    for a, b in zip(back, stacked):
        np.testing.assert_allclose(a, b)


@pytest.mark.slow
def test_nuts_posterior_covers_the_true_parameters():
    """Data from a known 2-state HMM; chains started at random may land on either labelling, so
    each draw's states are matched to the true emissions (Hungarian, Hellinger cost) first."""
    true = hmm.HMMParams(jnp.array([0.7, 0.3]), jnp.array([[0.85, 0.15], [0.25, 0.75]]),
                         jnp.array([[0.45, 0.3, 0.15, 0.05, 0.05], [0.05, 0.05, 0.15, 0.3, 0.45]]))
    stacked = hmm.HMMParams(*(jnp.broadcast_to(p, (300,) + p.shape) for p in true))
    tokens, lengths = hmm.sample_sequences(jax.random.key(1), stacked, max_len=12)
    draws, extra, _ = hmm.run_nuts(jax.random.key(2), ((tokens, lengths),), num_warmup=200, num_samples=300,
                                   num_chains=2, num_states=2, vocab_size=5, init_concentration=1.0,
                                   transition_concentration=1.0, emission_concentration=1.0)
    aligned, _, _ = hmm.align_draws(draws, reference=np.asarray(true.emit))
    diag = hmm.chain_diagnostics(dict(zip(hmm.SITES, aligned)))
    assert max(d["r_hat_max"] for d in diag.values()) < 1.05, diag
    assert extra["diverging"].sum() == 0
    z, inside = [], []
    for a, t in zip(aligned, true):
        a = a.reshape((-1,) + a.shape[2:])
        lo, hi = np.quantile(a, [0.05, 0.95], axis=0)
        z.append(np.abs(a.mean(0) - np.asarray(t)).ravel() / a.std(0).ravel())
        inside.append(((lo <= t) & (t <= hi)).ravel())
    z, inside = np.concatenate(z), np.concatenate(inside)
    # 16 parameters: each true value within 3 posterior sds, and most inside its 90% interval
    assert z.max() < 3.0, z
    assert inside.mean() >= 0.75, inside
