"""Pieces of pure, jitted training steps `(state, batch, key) -> (state, metrics)`; not a framework.

A state is any pytree dataclass with `step` and `bad_steps` (int32 scalars) and whatever else a
family needs (one or two optimizer states, frozen reference parameters). `commit` is the one
non-finite guard: an update whose loss, gradient or result is not finite is not applied (the old
state is kept, `bad_steps` counts it, a good step resets it), and once `max_bad_steps` bad steps
came in a row the state no longer changes at all, so the loop can stop at that exact step however
rarely it looks. `make_train_step(loss_fn)` builds the usual one-loss, one-optimizer step from
them; a GAN or an RL task composes its own step from `optimizer_update` and `commit`."""

from __future__ import annotations

from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    """The state of a one-optimizer family."""

    step: jax.Array  # int32 scalar: optimizer updates applied or skipped
    params: Any
    opt_state: Any
    bad_steps: jax.Array  # int32 scalar: non-finite steps in a row
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

    @classmethod
    def create(cls, params, tx: optax.GradientTransformation) -> "TrainState":
        return cls(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                   bad_steps=jnp.zeros((), jnp.int32), tx=tx)


def optimizer_update(tx: optax.GradientTransformation, grads, opt_state, params):
    """One optax update -> (new params, new optimizer state, finite, gradient norm); `finite` is
    False when the gradient or the update has a non-finite entry (the caller ANDs in its loss)."""
    grad_norm = optax.tree.norm(grads)
    updates, new_opt = tx.update(grads, opt_state, params)
    finite = jnp.isfinite(grad_norm) & jnp.isfinite(optax.tree.norm(updates))
    return optax.apply_updates(params, updates), new_opt, finite, grad_norm


def commit(old, new, finite, max_bad_steps: int | None = None):
    """`new` (its step not yet advanced) where `finite`, else `old`'s values with the bad step
    counted; step + 1 either way. Once `old.bad_steps >= max_bad_steps`, `old` unchanged."""
    keep = lambda n, o: jax.tree_util.tree_map(lambda a, b: jnp.where(finite, a, b), n, o)
    chosen = keep(new, old)
    advanced = chosen.replace(step=old.step + 1, bad_steps=jnp.where(finite, 0, old.bad_steps + 1))
    if max_bad_steps is None:
        return advanced
    halted = old.bad_steps >= max_bad_steps
    return jax.tree_util.tree_map(lambda o, a: jnp.where(halted, o, a), old, advanced)


def make_train_step(loss_fn: Callable, schedule: Callable | None = None,
                    max_bad_steps: int | None = None) -> Callable:
    """`loss_fn(params, batch, key, step) -> (loss, aux metrics dict)` -> a train step over a
    `TrainState` (not yet jitted). The step folds the step number into `key`, so each step's
    randomness differs and a resumed run draws what an uninterrupted one would. With `schedule`,
    the metrics carry the step's learning rate."""

    def train_step(state: TrainState, batch, key):
        key = jax.random.fold_in(key, state.step)
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch, key, state.step)
        params, opt_state, finite, grad_norm = optimizer_update(state.tx, grads, state.opt_state, state.params)
        finite = finite & jnp.isfinite(loss)
        new_state = commit(state, state.replace(params=params, opt_state=opt_state), finite, max_bad_steps)
        metrics = {"loss": loss, "grad_norm": grad_norm, "finite": finite.astype(jnp.float32), **aux}
        if schedule is not None:
            metrics["learning_rate"] = schedule(state.step)
        return new_state, metrics

    return train_step


def lm_loss_fn(model) -> Callable:
    """Loss of a language model `model.apply(params, inputs, deterministic=..., rngs=...)` on a
    batch {'inputs','targets','mask'} [batch, time]."""
    from musicjax.train.losses import token_cross_entropy

    def loss_fn(params, batch, key, step):
        logits, _ = model.apply({"params": params}, batch["inputs"], deterministic=False, rngs={"dropout": key})
        mean, total, count, correct = token_cross_entropy(logits, batch["targets"], batch["mask"])
        return mean, {"tokens": count, "correct": correct}

    return loss_fn


def lm_eval_step(model) -> Callable:
    """(params, batch) -> summed NLL, token count and correct predictions (no dropout)."""
    from musicjax.train.losses import token_cross_entropy

    def eval_step(params, batch):
        logits, _ = model.apply({"params": params}, batch["inputs"], deterministic=True)
        _, total, count, correct = token_cross_entropy(logits, batch["targets"], batch["mask"])
        return {"nll_sum": total, "tokens": count, "correct": correct}

    return eval_step
