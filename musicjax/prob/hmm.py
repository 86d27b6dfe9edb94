"""A hidden Markov model over token sequences as a NumPyro program (Dirichlet priors on the initial,
transition and emission probabilities) with its inference: NUTS, SVI, EM, Viterbi and sampling.

The hidden states are summed out by a hand-written forward algorithm in `lax.scan`, not by
NumPyro's enumeration: enumeration needs `funsor` (not installed here) and traces the model per
enumerated site, where one scan compiles once (NumPyro's `hmm.py` example scans by hand for
compile time too); and the plain function is reused as is by EM (its gradient is the expected
counts), by held-out evaluation and by the brute-force tests.

Shapes: K states, V emitted symbols, N sequences padded to length T; `lengths` [N] counts the
real tokens of each row (at least 1). Parameters are probabilities `init` [K], `trans` [K, K]
(row = from-state) and `emit` [K, V]; functions named `*log*` take their logarithms."""

from __future__ import annotations

import functools
import math
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin, summary

SITES = ("init", "trans", "emit")
# Floor on a probability before its log: float32's smallest normal number. It keeps log(0) (an
# unreachable state, an underflowed Dirichlet draw) finite so gradients stay finite; a change of
# at most 1e-38 relative to the largest term is far below float32 resolution.
_TINY = float(np.finfo(np.float32).tiny)


class HMMParams(NamedTuple):
    init: jax.Array  # [..., K]
    trans: jax.Array  # [..., K, K], rows sum to 1
    emit: jax.Array  # [..., K, V], rows sum to 1


def safe_log(p):
    return jnp.log(jnp.maximum(p, _TINY))


# ---- exact inference ---------------------------------------------------------------------------


def forward_log_prob(log_init, log_trans, log_emit, tokens, lengths):
    """log p(tokens[n, :lengths[n]]) for each row [N], states summed out (forward algorithm).

    The recursion runs in log space over a scan of T steps; each step is one [N, K] @ [K, K]
    matmul on exp(alpha - max alpha), which is stable and cheaper than a [N, K, K] logsumexp.
    The emission log-probabilities of all positions are gathered once, outside the scan. The
    arguments may be unnormalised log potentials: the gradient with respect to them is then the
    expected number of times each initial state, transition and emission is used (EM's E-step)."""
    tokens = jnp.asarray(tokens)
    lengths = jnp.asarray(lengths)
    emit_tnk = jnp.swapaxes(jnp.take(log_emit.T, tokens, axis=0), 0, 1)  # [T, N, K]
    live = jnp.arange(tokens.shape[1])[:, None] < lengths[None, :]  # [T, N]
    trans = jnp.exp(log_trans)

    def step(alpha, inputs):
        e_t, live_t = inputs
        m = jnp.max(alpha, axis=-1, keepdims=True)
        new = jnp.log(jnp.maximum(jnp.exp(alpha - m) @ trans, _TINY)) + m + e_t
        return jnp.where(live_t[:, None], new, alpha), None

    alpha0 = log_init[None, :] + emit_tnk[0]
    alpha, _ = jax.lax.scan(step, alpha0, (emit_tnk[1:], live[1:]))
    return jax.scipy.special.logsumexp(alpha, axis=-1)


@jax.jit
def log_prob(params: HMMParams, tokens, lengths):
    """Per-row log-likelihood [N] under probabilities `params`."""
    return forward_log_prob(safe_log(params.init), safe_log(params.trans), safe_log(params.emit), tokens, lengths)


@jax.jit
def viterbi(params: HMMParams, tokens, lengths):
    """The most likely state path of each row: (paths [N, T] int32, -1 past a row's length;
    its joint log-probability with the tokens [N])."""
    log_init, log_trans, log_emit = safe_log(params.init), safe_log(params.trans), safe_log(params.emit)
    tokens = jnp.asarray(tokens)
    lengths = jnp.asarray(lengths)
    num_states = log_init.shape[-1]
    emit_tnk = jnp.swapaxes(jnp.take(log_emit.T, tokens, axis=0), 0, 1)
    live = jnp.arange(tokens.shape[1])[:, None] < lengths[None, :]
    stay = jnp.arange(num_states, dtype=jnp.int32)

    def step(delta, inputs):
        e_t, live_t = inputs
        scores = delta[:, :, None] + log_trans[None]  # [N, from, to]
        best_from = jnp.argmax(scores, axis=1).astype(jnp.int32)
        new = jnp.max(scores, axis=1) + e_t
        # Past the end a row keeps its scores and points each state at itself, so backtracking
        # from the final argmax passes unchanged through the padding.
        return jnp.where(live_t[:, None], new, delta), jnp.where(live_t[:, None], best_from, stay[None])

    delta, back = jax.lax.scan(step, log_init[None, :] + emit_tnk[0], (emit_tnk[1:], live[1:]))
    last = jnp.argmax(delta, axis=-1).astype(jnp.int32)

    def backtrack(state, back_t):
        prev = jnp.take_along_axis(back_t, state[:, None], axis=1)[:, 0]
        return prev, prev

    _, earlier = jax.lax.scan(backtrack, last, back, reverse=True)
    paths = jnp.concatenate([earlier, last[None]], axis=0).T  # [N, T]
    paths = jnp.where(live.T, paths, -1)
    return paths, jnp.max(delta, axis=-1)


@functools.partial(jax.jit, static_argnames=("max_len", "stop"))
def sample_sequences(key, params: HMMParams, max_len: int, stop: int | None = None):
    """One sequence per row of `params` (each row its own parameter draw, shapes [S, ...]):
    (tokens [S, max_len], lengths [S]). A row ends after its first `stop` token if one is given."""
    k_init, k_rest = jax.random.split(key)
    z0 = jax.random.categorical(k_init, safe_log(params.init))
    rows = jnp.arange(params.init.shape[0])

    def step(z, t):
        k_emit, k_next = jax.random.split(jax.random.fold_in(k_rest, t))
        x = jax.random.categorical(k_emit, safe_log(params.emit[rows, z]))
        z_next = jax.random.categorical(k_next, safe_log(params.trans[rows, z]))
        return z_next, x

    _, tokens = jax.lax.scan(step, z0, jnp.arange(max_len))
    tokens = tokens.T.astype(jnp.int32)
    if stop is None:
        return tokens, jnp.full(tokens.shape[0], max_len, jnp.int32)
    is_stop = tokens == stop
    lengths = jnp.where(is_stop.any(axis=1), jnp.argmax(is_stop, axis=1) + 1, max_len).astype(jnp.int32)
    return jnp.where(jnp.arange(max_len)[None] < lengths[:, None], tokens, stop), lengths


@jax.jit
def draws_log_prob(draws: HMMParams, tokens, lengths):
    """log p(row | draw) for every parameter draw and row [S, N] (draws stacked on axis 0)."""
    return jax.lax.map(lambda p: log_prob(HMMParams(*p), tokens, lengths), tuple(draws))


def predictive_log_prob(draws: HMMParams, tokens, lengths):
    """The posterior predictive of each row [N]: log of p(row | theta) averaged over the draws.
    Each row is predicted from the training posterior alone (rows do not update it)."""
    lp = draws_log_prob(draws, tokens, lengths)
    return jax.scipy.special.logsumexp(lp, axis=0) - jnp.log(lp.shape[0])


# ---- the probabilistic program -----------------------------------------------------------------


def bucket_by_length(tokens, lengths, num_buckets: int):
    """Rows sorted by length and cut into `num_buckets` groups of about equal count, each padded
    only to its own longest row: ((tokens [N_b, T_b], lengths [N_b]), ...). The forward pass costs
    rows x padded length, so short lines stop paying for the longest one."""
    tokens, lengths = np.asarray(tokens), np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    out = []
    for rows in np.array_split(order, max(1, min(num_buckets, len(order)))):
        if len(rows):
            width = int(lengths[rows].max())
            out.append((tokens[rows, :width], lengths[rows]))
    return tuple(out)


def buckets_log_prob(params: HMMParams, buckets) -> jax.Array:
    """Total log-likelihood of every row of every bucket."""
    return sum(log_prob(params, t, l).sum() for t, l in buckets)


def _device_buckets(buckets):
    return tuple((jnp.asarray(t), jnp.asarray(l)) for t, l in buckets)


def hmm_model(buckets, *, num_states: int, vocab_size: int, init_concentration: float,
              transition_concentration: float, emission_concentration: float, batch_fraction: float | None = None):
    """Dirichlet priors (symmetric, the given concentrations) on init, each row of trans and each
    row of emit; the rows of every bucket (tokens [N_b, T_b], lengths [N_b]) independent given
    them, with their states summed out. `batch_fraction` (SVI only) scores that fraction of each
    bucket's rows, drawn at random and scaled to the whole."""
    init = numpyro.sample("init", dist.Dirichlet(jnp.full(num_states, init_concentration)))
    with numpyro.plate("states", num_states):
        trans = numpyro.sample("trans", dist.Dirichlet(jnp.full(num_states, transition_concentration)))
        emit = numpyro.sample("emit", dist.Dirichlet(jnp.full(vocab_size, emission_concentration)))
    params = HMMParams(init, trans, emit)
    for b, (tokens, lengths) in enumerate(buckets):
        size = None if batch_fraction is None else max(1, round(batch_fraction * tokens.shape[0]))
        with numpyro.plate(f"sequences_{b}", tokens.shape[0], subsample_size=size) as rows:
            numpyro.factor(f"log_prob_{b}", log_prob(params, tokens[rows], lengths[rows]))


def run_nuts(key, buckets, *, num_warmup: int, num_samples: int, num_chains: int,
             target_accept: float = 0.8, max_tree_depth: int = 10, init_params=None, block: int = 50,
             inverse_mass=None, **model_kwargs):
    """NUTS on `hmm_model`, chains one after another. Returns (draws as HMMParams of
    [chains, samples, ...] arrays, extra fields {diverging, num_steps, potential_energy}
    [chains, samples], seconds {compile, warmup, sampling}). `init_params` {site: [chains, ...]}
    and `inverse_mass` {site: diagonal} are in the unconstrained space; the diagonal mass matrix
    is adapted from there during warm-up.

    NumPyro's NUTS kernel is driven here by one jitted `lax.scan` of `block` iterations, reused for
    every block of warm-up and sampling of every chain: `MCMC.run` compiles its loop afresh for
    warm-up and for sampling and, with sequential chains, for each chain (a closure in a static
    argument), and compiling cost more than sampling on this CPU. Chains run in turn rather than
    vectorised, which would step them in lockstep to the longest trajectory among them."""
    from numpyro.infer import NUTS

    if num_warmup % block or num_samples % block:
        block = math.gcd(num_warmup, num_samples) or 1
    # sizes and concentrations are bound (static); the data stay jit arguments rather than
    # constants XLA would try to fold
    model = functools.partial(hmm_model, **model_kwargs)
    inverse_mass = None if inverse_mass is None else {(k,): jnp.ravel(jnp.asarray(v)) for k, v in inverse_mass.items()}
    kernel = NUTS(model, target_accept_prob=target_accept, max_tree_depth=max_tree_depth,
                  inverse_mass_matrix=inverse_mass)
    buckets = _device_buckets(buckets)
    args = (buckets,)

    @jax.jit
    def advance(state, buckets):
        def body(st, _):
            st = kernel.sample(st, (buckets,), {})
            return st, (st.z, st.diverging, st.num_steps, st.potential_energy)
        return jax.lax.scan(body, state, None, length=block)

    chains, seconds = [], {"compile": 0.0, "warmup": 0.0, "sampling": 0.0}
    for c in range(num_chains):
        start = time.perf_counter()
        init = None if init_params is None else {k: v[c] for k, v in init_params.items()}
        state = kernel.init(jax.random.fold_in(key, c), num_warmup, init, args, {})
        if c == 0:
            advance = advance.lower(state, buckets).compile()
            postprocess = jax.jit(jax.vmap(kernel.postprocess_fn(args, {})))
        seconds["compile" if c == 0 else "warmup"] += time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(num_warmup // block):
            state, _ = advance(state, buckets)
        jax.block_until_ready(state)
        seconds["warmup"] += time.perf_counter() - start
        start = time.perf_counter()
        collected = []
        for _ in range(num_samples // block):
            state, out = advance(state, buckets)
            collected.append(out)
        z, diverging, num_steps, energy = jax.tree.map(lambda *xs: np.concatenate(xs), *collected)
        constrained = jax.block_until_ready(postprocess(z))
        seconds["sampling"] += time.perf_counter() - start
        chains.append((constrained, diverging, num_steps, energy))
    draws = HMMParams(*(np.stack([np.asarray(ch[0][s]) for ch in chains]) for s in SITES))
    extra = {name: np.stack([np.asarray(ch[i + 1]) for ch in chains])
             for i, name in enumerate(("diverging", "num_steps", "potential_energy"))}
    return draws, extra, seconds


def run_svi(key, buckets, *, num_steps: int, learning_rate: float, num_draws: int,
            batch_fraction: float = 0.0, init_values: HMMParams | None = None, **model_kwargs):
    """SVI with a mean-field normal guide on the unconstrained parameters (`AutoNormal`), Adam.
    `batch_fraction` in (0, 1) scores that share of the sequences a step (the scalable setting).
    The guide's means start at `init_values` (probabilities, e.g. the EM fit) if given, else at
    NumPyro's random uniform start.
    Returns (draws from the guide as HMMParams of [num_draws, ...], {site: (loc, scale)} of the
    guide in the unconstrained space, ELBO loss per step, seconds)."""
    import optax
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.infer import init_to_uniform, init_to_value
    from numpyro.infer.autoguide import AutoNormal

    fraction = batch_fraction if 0 < batch_fraction < 1 else None
    model = functools.partial(hmm_model, batch_fraction=fraction, **model_kwargs)
    start = init_to_uniform if init_values is None else init_to_value(
        values={s: jnp.asarray(p, jnp.float32) for s, p in zip(SITES, init_values)})
    guide = AutoNormal(model, init_loc_fn=start)
    svi = SVI(model, guide, optax.adam(learning_rate), Trace_ELBO())
    k_fit, k_draw = jax.random.split(key)
    buckets = _device_buckets(buckets)
    start = time.perf_counter()
    result = svi.run(k_fit, num_steps, buckets, progress_bar=False)
    jax.block_until_ready(result.params)
    seconds = time.perf_counter() - start
    draw = jax.jit(lambda k, params: guide.sample_posterior(k, params, buckets, sample_shape=(num_draws,)))
    samples = draw(k_draw, result.params)
    guide_params = {s: (np.asarray(result.params[f"{s}_auto_loc"]), np.asarray(result.params[f"{s}_auto_scale"]))
                    for s in SITES}
    return HMMParams(*(np.asarray(samples[s]) for s in SITES)), guide_params, np.asarray(result.losses), seconds


# ---- maximum likelihood ------------------------------------------------------------------------


@jax.jit
def _em_step(params: HMMParams, buckets):
    """One EM iteration: the expected counts are the gradient of the total log-likelihood with
    respect to the log-parameters (a forward pass and its reverse-mode twin are forward-backward)."""
    logs = tuple(safe_log(p) for p in params)
    total, counts = jax.value_and_grad(
        lambda lg: sum(forward_log_prob(*lg, t, l).sum() for t, l in buckets))(logs)
    init_c, trans_c, emit_c = counts
    new = HMMParams(init_c / init_c.sum(), trans_c / jnp.maximum(trans_c.sum(-1, keepdims=True), _TINY),
                    emit_c / jnp.maximum(emit_c.sum(-1, keepdims=True), _TINY))
    return new, total


def random_params(seed: int, num_states: int, vocab_size: int, concentration: float = 1.0) -> HMMParams:
    """Dirichlet(concentration) draws of every distribution (numpy: no sampler to compile)."""
    rng = np.random.default_rng(seed)
    a = lambda n, *shape: rng.dirichlet(np.full(n, concentration), shape).astype(np.float32)
    return HMMParams(a(num_states), a(num_states, num_states), a(vocab_size, num_states))


def em_fit(seed: int, buckets, *, num_states: int, vocab_size: int, num_iters: int = 200,
           tol: float = 1e-6, restarts: int = 1):
    """Maximum likelihood by Baum-Welch EM from `restarts` random starts (Dirichlet(1) draws);
    each runs until the relative gain per iteration falls below `tol`. Returns (params of the
    start with the best training log-likelihood, its log-likelihood trace, all starts' finals)."""
    buckets = _device_buckets(buckets)
    best, best_trace, finals = None, None, []
    for r in range(restarts):
        params = HMMParams(*map(jnp.asarray, random_params(seed * 1000 + r, num_states, vocab_size)))
        trace = []
        for _ in range(num_iters):
            new, total = _em_step(params, buckets)  # `total` is the log-lik of `params`
            trace.append(float(total))
            if len(trace) > 1 and trace[-1] - trace[-2] <= tol * abs(trace[-2]):
                break
            params = new
        else:
            trace.append(float(buckets_log_prob(params, buckets)))
        finals.append(trace[-1])
        if best is None or trace[-1] > best_trace[-1]:
            best, best_trace = HMMParams(*(np.asarray(p) for p in params)), trace
    return best, best_trace, finals


# ---- label switching ---------------------------------------------------------------------------


def state_matching(emit, reference):
    """For each draw, the permutation of its states that best matches `reference` [K, V]:
    perms [S, K] with draw state perms[s, j] playing reference state j, chosen by the Hungarian
    algorithm on the squared Hellinger distance between emission distributions."""
    from scipy.optimize import linear_sum_assignment

    emit = np.asarray(emit, np.float64)
    overlap = np.einsum("jv,skv->sjk", np.sqrt(np.asarray(reference, np.float64)), np.sqrt(np.clip(emit, 0, None)))
    return np.stack([linear_sum_assignment(1.0 - o)[1] for o in overlap]).astype(np.int32)


def permute_states(draws: HMMParams, perms) -> HMMParams:
    """Relabel each draw's states: new state j is old state perms[s, j]. Draws [S, ...]."""
    perms = np.asarray(perms)
    rows = np.arange(len(perms))[:, None]
    init = np.asarray(draws.init)[rows, perms]
    trans = np.take_along_axis(np.asarray(draws.trans)[rows, perms],
                               np.broadcast_to(perms[:, None, :], perms.shape + perms.shape[1:]), axis=2)
    return HMMParams(init, trans, np.asarray(draws.emit)[rows, perms])


def align_draws(draws: HMMParams, reference=None, rounds: int = 3):
    """Undo label switching in draws [chains, samples, ...]: every draw is permuted to match a
    reference emission matrix — given, else the mean of chain 0, refined as the mean of all the
    aligned draws for `rounds` rounds (Stephens-style relabelling with a Hellinger cost).
    Returns (aligned draws, perms [chains, samples, K], the final reference)."""
    lead = draws.init.shape[:2]
    flat = HMMParams(*(np.asarray(p).reshape((-1,) + np.shape(p)[2:]) for p in draws))
    fixed = reference is not None
    ref = np.asarray(reference) if fixed else np.asarray(draws.emit)[0].mean(axis=0)
    for _ in range(1 if fixed else rounds):
        perms = state_matching(flat.emit, ref)
        aligned = permute_states(flat, perms)
        if not fixed:
            ref = aligned.emit.mean(axis=0)
    return (HMMParams(*(p.reshape(lead + p.shape[1:]) for p in aligned)), perms.reshape(lead + perms.shape[1:]), ref)


# ---- diagnostics -------------------------------------------------------------------------------


def chain_diagnostics(grouped: dict) -> dict:
    """Per site of `grouped` ({name: [chains, samples, ...]}): the largest split r-hat, how many
    entries exceed 1.01, the smallest and median effective sample size (numpyro.diagnostics)."""
    out = {}
    for name, value in grouped.items():
        value = np.asarray(value, np.float64)
        rhat = np.atleast_1d(split_gelman_rubin(value)) if value.shape[0] > 1 else np.array([np.nan])
        ess = np.atleast_1d(effective_sample_size(value))
        out[name] = {"entries": int(np.prod(value.shape[2:])), "r_hat_max": float(np.nanmax(rhat)),
                     "r_hat_over_1_01": int(np.sum(rhat > 1.01)),
                     "ess_min": float(np.min(ess)), "ess_median": float(np.median(ess))}
    return out


def parameter_summary(grouped: dict, prob: float = 0.9) -> dict:
    """numpyro.diagnostics.summary of each site, as nested lists (JSON-ready)."""
    return {name: {k: np.asarray(v).tolist() for k, v in stats.items()}
            for name, stats in summary({k: np.asarray(v) for k, v in grouped.items()}, prob=prob).items()}
