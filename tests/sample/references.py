"""Plain references the decoders are checked against: a Python greedy loop, teacher-forced
scoring, numpy top-k/top-p filtering, and brute-force enumeration of a tiny Markov chain."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np


def greedy_reference(model, params, primer, num_steps: int):
    """A plain Python loop of argmax and one-token model calls -> [B, num_steps] numpy int."""
    variables = {"params": params}
    step = jax.jit(lambda tokens, carries: model.apply(variables, tokens[:, None], carries))
    logits, carries = model.apply(variables, primer)
    out = []
    for _ in range(num_steps):
        token = jnp.argmax(logits[:, -1], -1).astype(jnp.int32)
        out.append(np.asarray(token))
        logits, carries = step(token, carries)
    return np.stack(out, 1)


def sequence_log_prob(model, params, primer, tokens):
    """Teacher-forced log-probability of `tokens` [B, N] after `primer` [B, P], in one call over the
    whole sequence (not the step function the decoders use) -> [B] numpy float."""
    seq = jnp.concatenate([primer, jnp.asarray(tokens, jnp.int32)], 1)
    logits, _ = model.apply({"params": params}, seq[:, :-1])
    lp = jax.nn.log_softmax(logits[:, primer.shape[1] - 1:], -1)
    return np.asarray(jnp.take_along_axis(lp, seq[:, primer.shape[1]:, None], -1)[..., 0].sum(-1))


def filter_reference(logits, temperature: float, top_k: int, top_p: float):
    """filter_logits row by row in float64 numpy: rank the tokens, keep the first top_k, then the
    shortest prefix whose renormalised probability reaches top_p."""
    logits = np.asarray(logits, np.float64) / max(temperature, 1e-6)
    out = np.full_like(logits, -np.inf)
    for row, scaled in zip(out, logits):
        order = np.argsort(-scaled)
        if top_k > 0:
            order = order[:top_k]
        if top_p < 1:
            p = np.exp(scaled[order] - scaled[order].max())
            cum = np.cumsum(p / p.sum())
            order = order[:int(np.argmax(cum >= top_p)) + 1]  # the first index that reaches top_p
        row[order] = scaled[order]
    return out


def markov_step_fn(tokens, table):
    """The step function of a first-order Markov chain whose 'cache' is its transition logits
    table [B, V, V]: row b's next-token logits are table[b, token]."""
    return jnp.take_along_axis(table, tokens[:, None, None], axis=1)[:, 0], table


def second_order_step_fn(tokens, cache):
    """A second-order chain with a cache shaped like a Transformer's: the tokens fed so far
    (history [B, N], batch-major, so beam search must reorder it), a shared 0-d write index, and
    logits table [B, V, V, V] indexed by (token before, token); the token before the first is 0."""
    history, index, table = cache["history"], cache["index"], cache["table"]
    before = jnp.where(index > 0, history[:, jnp.maximum(index - 1, 0)], 0)
    logits = table[jnp.arange(tokens.shape[0]), before, tokens]
    return logits, {"history": history.at[:, index].set(tokens), "index": index + 1, "table": table}


def brute_force_beams(start_logits, table, num_steps: int, eos: int, pad: int, length_alpha: float):
    """Every sequence of one row's chain (start_logits [V]; table [V, V] for `markov_step_fn`, or
    [V, V, V] for `second_order_step_fn`), scored as beam search scores them: tokens after eos must
    be pad and cost nothing. -> list of (score, log_prob, tokens), best first."""
    log_softmax = lambda x: x - x.max(-1, keepdims=True) - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))
    start_lp = log_softmax(np.asarray(start_logits, np.float64))
    table_lp = log_softmax(np.asarray(table, np.float64))
    step_lp = (lambda prefix: table_lp[prefix[-1]]) if table_lp.ndim == 2 else (
        lambda prefix: table_lp[prefix[-2] if len(prefix) > 1 else 0, prefix[-1]])
    found = []
    for seq in itertools.product(range(len(start_lp)), repeat=num_steps):
        ends = [i for i, t in enumerate(seq) if t == eos]
        length = ends[0] + 1 if ends else num_steps
        if any(t != pad for t in seq[length:]):
            continue
        lp = start_lp[seq[0]] + sum(step_lp(seq[:i])[seq[i]] for i in range(1, length))
        found.append((lp / ((5 + length) / 6) ** length_alpha, lp, seq))
    return sorted(found, key=lambda f: -f[0])
