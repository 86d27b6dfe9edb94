"""Losses shared by the model families, written once: token cross-entropy, the multi-hot frame
NLL, the Gaussian KL with free bits, the annealed KL weight and the adversarial losses."""

from __future__ import annotations

import jax
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


def frame_log_prob(logits, frames):
    """Log-probability (nats) of each multi-hot frame under per-key Bernoulli logits, summed over the
    keys: logits, frames [..., keys] -> [...]."""
    return -optax.sigmoid_binary_cross_entropy(logits.astype(jnp.float32), frames.astype(jnp.float32)).sum(-1)


def frame_nll(logits, frames, mask):
    """Negative log-likelihood (nats) of multi-hot frames under per-key Bernoulli logits, summed over
    the keys of a frame and averaged over frames where mask is 1 (the JSB Chorales score). Frames
    with values in [0, 1] (soft targets, e.g. in distillation) give the cross-entropy against them,
    least where each key's probability equals its target.

    logits, frames [batch, time, keys]; mask [batch, time]. Returns (mean, sum, count)."""
    mask = mask.astype(jnp.float32)
    total = -jnp.sum(frame_log_prob(logits, frames) * mask)
    count = jnp.sum(mask)
    return total / jnp.maximum(count, 1.0), total, count


def gaussian_kl(mu, log_var):
    """KL(N(mu, exp(log_var)) || N(0, I)) in nats, summed over the last axis: [..., z] -> [...]."""
    return 0.5 * jnp.sum(jnp.exp(log_var) + mu**2 - 1.0 - log_var, axis=-1)


def free_bits_kl(kl, free_bits: float):
    """MusicVAE's free bits: the KL cost only above `free_bits` bits per example (kl in nats [...])."""
    return jnp.maximum(kl - free_bits * jnp.log(2.0), 0.0)


def kl_weight(step, beta_max: float, beta_rate: float):
    """Magenta's annealed KL weight: beta_max * (1 - beta_rate ** step) (0 at step 0, -> beta_max)."""
    return beta_max * (1.0 - jnp.power(beta_rate, jnp.asarray(step, jnp.float32)))


# ---- adversarial losses (a critic's logits or values, one per example) ------------------------

GAN_LOSSES = ("bce", "wgan_gp", "hinge")


def _check_gan_loss(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise ValueError(f"unknown GAN loss {kind!r}; choose from {', '.join(GAN_LOSSES)}")


def gan_discriminator_loss(kind: str, real, fake):
    """The critic's loss on its outputs for real and generated examples [batch] (mean).

    bce: -log D(real) - log(1 - D(fake)) with D = sigmoid(logits) (Goodfellow et al. 2014);
    wgan_gp: E[critic(fake)] - E[critic(real)] (the penalty is added apart: `gradient_penalty`);
    hinge: E[relu(1 - real)] + E[relu(1 + fake)] (Lim & Ye 2017; Miyato et al. 2018)."""
    _check_gan_loss(kind)
    real, fake = real.astype(jnp.float32), fake.astype(jnp.float32)
    if kind == "bce":
        return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
    if kind == "hinge":
        return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))
    return jnp.mean(fake) - jnp.mean(real)


def gan_generator_loss(kind: str, fake):
    """The generator's loss on the critic's outputs for its examples [batch] (mean).

    bce: the non-saturating -log D(fake) (its gradient stays large while the critic wins);
    wgan_gp and hinge: -E[critic(fake)]."""
    _check_gan_loss(kind)
    fake = fake.astype(jnp.float32)
    if kind == "bce":
        return jnp.mean(jax.nn.softplus(-fake))
    return -jnp.mean(fake)


def gradient_penalty(critic, real, fake, key):
    """WGAN-GP's penalty (Gulrajani et al. 2017): E[(||grad critic(x_hat)||_2 - 1)^2] at x_hat
    drawn uniformly on the segments between real and fake examples [batch, ...]; `critic` maps
    [batch, ...] -> [batch]. Returns (penalty, mean gradient norm)."""
    eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
    x_hat = eps * real + (1.0 - eps) * fake
    grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)
    norms = jnp.sqrt(jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=-1) + 1e-12)
    return jnp.mean((norms - 1.0) ** 2), jnp.mean(norms)
