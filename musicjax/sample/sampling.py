"""Sampling from autoregressive language models in one jitted `lax.scan`: temperature, top-k and
top-p (nucleus) filtering, with an explicit key folded with each step."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def filter_logits(logits, temperature: float, top_k: int = 0, top_p: float = 1.0):
    """logits [batch, vocab] -> logits scaled by 1/temperature with all but the top-k tokens, and
    all outside the smallest set whose probability reaches top_p, set to -inf."""
    logits = logits / jnp.maximum(temperature, 1e-6)
    if top_k and top_k > 0:
        kth = jax.lax.top_k(logits, top_k)[0][:, -1:]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    if top_p < 1.0:
        order = jnp.argsort(-logits, axis=-1)
        sorted_logits = jnp.take_along_axis(logits, order, -1)
        cum = jnp.cumsum(jax.nn.softmax(sorted_logits, -1), -1)
        drop_sorted = (cum - jax.nn.softmax(sorted_logits, -1)) >= top_p  # keep the token that crosses p
        drop = jnp.zeros_like(drop_sorted).at[jnp.arange(logits.shape[0])[:, None], order].set(drop_sorted)
        logits = jnp.where(drop, -jnp.inf, logits)
    return logits


@functools.partial(jax.jit, static_argnames=("model", "num_steps", "top_k", "top_p", "eos", "pad"))
def sample_lm(model, params, primer, key, *, num_steps: int, temperature=1.0, top_k: int = 0, top_p=1.0,
              eos: int = -1, pad: int = 0):
    """Continue `primer` [batch, P] (P >= 1, e.g. BOS alone) by `num_steps` tokens -> [batch,
    num_steps] int32. After a row samples `eos`, the rest of that row is `pad`. temperature 0 is
    greedy decoding. `model.apply(vars, tokens [B,T], carries)` -> (logits, carries)."""
    variables = {"params": params}
    logits, carries = model.apply(variables, primer)
    batch = primer.shape[0]

    def step(state, t):
        last_logits, carries, done = state
        k = jax.random.fold_in(key, t)
        greedy = jnp.argmax(last_logits, -1)
        drawn = jax.random.categorical(k, filter_logits(last_logits, temperature, top_k, top_p), axis=-1)
        token = jnp.where(temperature > 0, drawn, greedy).astype(jnp.int32)
        token = jnp.where(done, pad, token)
        new_done = done | (token == eos)
        logits, carries = model.apply(variables, token[:, None], carries)
        return (logits[:, -1], carries, new_done), token

    init = (logits[:, -1], carries, jnp.zeros((batch,), bool))
    _, tokens = jax.lax.scan(step, init, jnp.arange(num_steps))
    return tokens.T
