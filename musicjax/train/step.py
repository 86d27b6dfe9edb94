"""Pure, jitted training and evaluation steps: `(state, batch, key) -> (state, metrics)`.

A step whose loss, gradient or update is not finite is not applied: the state keeps its parameters and
optimizer state, counts the bad step in `bad_steps` (reset by the next good one), and the loop
stops after a configurable number in a row."""

from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: optimizer updates applied or skipped
    params: Any
    opt_state: Any
    bad_steps: jax.Array  # int32 scalar: non-finite steps in a row
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

    @classmethod
    def create(cls, params, tx: optax.GradientTransformation) -> "TrainState":
        return cls(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                   bad_steps=jnp.zeros((), jnp.int32), tx=tx)


def token_cross_entropy(logits, targets, mask):
    """Mean next-token cross-entropy (nats) over positions where mask is 1, and its parts.

    logits [batch, time, vocab]; targets, mask [batch, time]. Returns (mean, sum, count, correct)."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
    mask = mask.astype(jnp.float32)
    total = jnp.sum(losses * mask)
    count = jnp.sum(mask)
    correct = jnp.sum((jnp.argmax(logits, -1) == targets) * mask)
    return total / jnp.maximum(count, 1.0), total, count, correct


def make_train_step(loss_fn: Callable) -> Callable:
    """`loss_fn(params, batch, key) -> (loss, aux metrics dict)` -> a train step (not yet jitted).

    The step folds the step number into `key`, so each step's dropout differs and a resumed run
    draws the same randomness as an uninterrupted one."""

    def train_step(state: TrainState, batch, key):
        key = jax.random.fold_in(key, state.step)
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch, key)
        grad_norm = optax.tree.norm(grads)
        updates, new_opt = state.tx.update(grads, state.opt_state, state.params)
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & jnp.isfinite(optax.tree.norm(updates))
        new_params = optax.apply_updates(state.params, updates)
        keep = lambda new, old: jax.tree_util.tree_map(lambda n, o: jnp.where(finite, n, o), new, old)
        new_state = state.replace(
            step=state.step + 1,
            params=keep(new_params, state.params),
            opt_state=keep(new_opt, state.opt_state),
            bad_steps=jnp.where(finite, 0, state.bad_steps + 1),
        )
        metrics = {"loss": loss, "grad_norm": grad_norm, "finite": finite.astype(jnp.float32), **aux}
        return new_state, metrics

    return train_step


def lm_loss_fn(model) -> Callable:
    """Loss of a language model `model.apply(params, inputs, deterministic=..., rngs=...)` on a
    batch {'inputs','targets','mask'} [batch, time]."""

    def loss_fn(params, batch, key):
        logits, _ = model.apply({"params": params}, batch["inputs"], deterministic=False, rngs={"dropout": key})
        mean, total, count, correct = token_cross_entropy(logits, batch["targets"], batch["mask"])
        return mean, {"tokens": count, "correct": correct}

    return loss_fn


def lm_eval_step(model) -> Callable:
    """(params, batch) -> summed NLL, token count and correct predictions (no dropout)."""

    def eval_step(params, batch):
        logits, _ = model.apply({"params": params}, batch["inputs"], deterministic=True)
        _, total, count, correct = token_cross_entropy(logits, batch["targets"], batch["mask"])
        return {"nll_sum": total, "tokens": count, "correct": correct}

    return eval_step
