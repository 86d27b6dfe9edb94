"""Optax optimizers and learning-rate schedules chosen by name from plain values (a config's
fields become these arguments at the boundary; nothing here reads a config object)."""

from __future__ import annotations

import optax

SCHEDULES = ("constant", "exponential", "cosine", "warmup_cosine", "warmup_linear")
OPTIMIZERS = ("adam", "adamw", "adagrad", "sgd")


def make_schedule(name: str, learning_rate: float, total_steps: int, *, warmup_steps: int = 0,
                  decay_rate: float = 0.5, decay_steps: int = 1000, staircase: bool = False,
                  end_fraction: float = 0.0) -> optax.Schedule:
    """Learning rate as a function of the step.

    exponential: lr * decay_rate ** (step / decay_steps) (floored exponent if `staircase`);
    cosine: from lr to lr*end_fraction over total_steps; warmup_*: linear from 0 over warmup_steps,
    then cosine or linear decay to lr*end_fraction at total_steps."""
    if name == "constant":
        return optax.constant_schedule(learning_rate)
    if name == "exponential":
        return optax.exponential_decay(learning_rate, decay_steps, decay_rate, staircase=staircase)
    if name == "cosine":
        return optax.cosine_decay_schedule(learning_rate, max(total_steps, 1), alpha=end_fraction)
    if name == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(0.0, learning_rate, warmup_steps, max(total_steps, warmup_steps + 1),
                                                  end_value=learning_rate * end_fraction)
    if name == "warmup_linear":
        return optax.join_schedules([
            optax.linear_schedule(0.0, learning_rate, max(warmup_steps, 1)),
            optax.linear_schedule(learning_rate, learning_rate * end_fraction, max(total_steps - warmup_steps, 1)),
        ], [warmup_steps])
    raise ValueError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULES)}")


def make_optimizer(name: str, schedule: optax.Schedule, *, clip_norm: float = 0.0, weight_decay: float = 0.0,
                   momentum: float = 0.9, nesterov: bool = False, accumulate_steps: int = 1,
                   b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> optax.GradientTransformation:
    """The optimizer, after global-norm clipping (if clip_norm > 0), applied every
    `accumulate_steps` micro-batches on their mean gradient (optax.MultiSteps) when > 1."""
    if name == "adam":
        opt = optax.adam(schedule, b1=b1, b2=b2, eps=eps)
    elif name == "adamw":
        opt = optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    elif name == "adagrad":
        opt = optax.adagrad(schedule, eps=eps)
    elif name == "sgd":
        opt = optax.sgd(schedule, momentum=momentum or None, nesterov=nesterov)
    else:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    if clip_norm > 0:
        opt = optax.chain(optax.clip_by_global_norm(clip_norm), opt)
    if accumulate_steps > 1:
        opt = optax.MultiSteps(opt, every_k_schedule=accumulate_steps)
    return opt


def optimizer_from_config(t) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """(optimizer, schedule) from an experiment's `train` fields (the boundary where the config's
    names become plain arguments)."""
    schedule = make_schedule(t.schedule, t.learning_rate, t.num_steps, warmup_steps=t.warmup_steps,
                             decay_rate=t.decay_rate, decay_steps=t.decay_steps, staircase=t.staircase,
                             end_fraction=t.end_fraction)
    tx = make_optimizer(t.optimizer, schedule, clip_norm=t.clip_norm, weight_decay=t.weight_decay,
                        momentum=t.momentum, accumulate_steps=t.accumulate_steps,
                        b1=t.get("b1", 0.9), b2=t.get("b2", 0.999))
    return tx, schedule
