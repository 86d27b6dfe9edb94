"""Losses shared by the model families, written once: token cross-entropy, the Gaussian KL with
free bits, and the annealed KL weight."""

from __future__ import annotations

import jax.numpy as jnp
import optax


def token_cross_entropy(logits, targets, mask):
    """Mean next-token cross-entropy (nats) over positions where mask is 1, and its parts.

    logits [batch, time, vocab]; targets, mask [batch, time]. Returns (mean, sum, count, correct)."""
    losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), targets)
    mask = mask.astype(jnp.float32)
    total = jnp.sum(losses * mask)
    count = jnp.sum(mask)
    correct = jnp.sum((jnp.argmax(logits, -1) == targets) * mask)
    return total / jnp.maximum(count, 1.0), total, count, correct


def gaussian_kl(mu, log_var):
    """KL(N(mu, exp(log_var)) || N(0, I)) in nats, summed over the last axis: [..., z] -> [...]."""
    return 0.5 * jnp.sum(jnp.exp(log_var) + mu**2 - 1.0 - log_var, axis=-1)


def free_bits_kl(kl, free_bits: float):
    """MusicVAE's free bits: the KL cost only above `free_bits` bits per example (kl in nats [...])."""
    return jnp.maximum(kl - free_bits * jnp.log(2.0), 0.0)


def kl_weight(step, beta_max: float, beta_rate: float):
    """Magenta's annealed KL weight: beta_max * (1 - beta_rate ** step) (0 at step 0, -> beta_max)."""
    return beta_max * (1.0 - jnp.power(beta_rate, jnp.asarray(step, jnp.float32)))
