"""The piano-roll GAN's pieces against plain references: patch layers equal the (transposed) 3-D
convolutions they stand for, a per-track Dense equals a loop of Denses, the adversarial losses and
the gradient penalty take their textbook values, straight-through binarisation passes the
probabilities' gradient, and a voice (one pitch or a rest a step) is a softmax whose binary rolls
hold at most one pitch a step: its argmax, or draws at the softmax's frequencies."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicjax.models.pianoroll_gan import (Discriminator, Generator, SegmentClassifier, TrackDense, binary_roll,
                                           chroma_per_beat, contract, expand, onset_offset, roll_probabilities,
                                           straight_through)
from musicjax.train.losses import gan_discriminator_loss, gan_generator_loss, gradient_penalty


@pytest.mark.parametrize("axis,factor", [(1, 4), (2, 4), (3, 12)])
def test_contract_equals_a_strided_convolution(axis, factor):
    """[n, bars, steps, pitches, c]: kernel = stride = factor along one spatial axis."""
    x = jax.random.normal(jax.random.key(0), (2, 4, 16, 48, 3))
    kernel = [1, 1, 1]
    kernel[axis - 1] = factor
    conv = nn.Conv(5, tuple(kernel), strides=tuple(kernel), padding="VALID")
    params = conv.init(jax.random.key(1), x)["params"]
    # the Dense reads the patch as (position within the patch, channel), as _split_axis lays it out
    w = params["kernel"].reshape(factor, 3, 5).reshape(factor * 3, 5)
    dense = nn.Dense(5)
    got = contract(lambda h: dense.apply({"params": {"kernel": w, "bias": params["bias"]}}, h), x, axis, factor)
    np.testing.assert_allclose(got, conv.apply({"params": params}, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis,factor", [(1, 4), (2, 4), (3, 12)])
def test_expand_equals_a_transposed_convolution(axis, factor):
    x = jax.random.normal(jax.random.key(0), (2, 1, 4, 4, 6))
    kernel = [1, 1, 1]
    kernel[axis - 1] = factor
    conv = nn.ConvTranspose(3, tuple(kernel), strides=tuple(kernel), padding="VALID", transpose_kernel=False)
    params = conv.init(jax.random.key(1), x)["params"]
    ref = conv.apply({"params": params}, x)
    # output position a*f + j takes tap j (as PyTorch's ConvTranspose3d); flax's ConvTranspose without
    # transpose_kernel correlates the dilated input, so its taps run in reverse
    w = params["kernel"].reshape(factor, 6, 3)[::-1].transpose(1, 0, 2).reshape(6, factor * 3)
    b = jnp.tile(params["bias"], factor)
    dense = nn.Dense(factor * 3)
    got = expand(lambda h: dense.apply({"params": {"kernel": w, "bias": b}}, h), x, axis, factor)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_track_dense_is_a_dense_per_track():
    x = jax.random.normal(jax.random.key(0), (3, 2, 5, 7))
    layer = TrackDense(4, 3)
    params = layer.init(jax.random.key(1), x)["params"]
    got = layer.apply({"params": params}, x)
    for k in range(3):
        np.testing.assert_allclose(got[k], x[k] @ params["kernel"][k] + params["bias"][k], rtol=1e-5, atol=1e-5)
    shared = x[0]
    wide = TrackDense(4, 3, broadcast=True)
    params = wide.init(jax.random.key(2), shared)["params"]
    got = wide.apply({"params": params}, shared)
    for k in range(3):
        np.testing.assert_allclose(got[k], shared @ params["kernel"][k] + params["bias"][k], rtol=1e-5, atol=1e-5)


def test_shapes_of_generator_critic_and_classifier():
    g, d = Generator(private=(8, 4), shared=(16, 8, 8)), Discriminator(private=(4, 4, 4), shared=(8, 8),
                                                                      streams=(4, 4), merged=8)
    c = SegmentClassifier(24, 8, (4, 4, 4))

    @jax.jit
    def shapes(z):  # one compilation, not one per operation
        gp = g.init(jax.random.key(0), z)["params"]
        x = jax.nn.sigmoid(g.apply({"params": gp}, z))
        dp = d.init(jax.random.key(1), x)["params"]
        return x, d.apply({"params": dp}, x), c.apply(c.init(jax.random.key(2), x), x)

    x, critic, (logits, emb) = jax.eval_shape(shapes, jnp.ones((3, 10)))
    assert x.shape == (3, 4, 4, 16, 48)  # [batch, tracks, bars, steps, pitches]
    assert critic.shape == (3,) and logits.shape == (3, 24) and emb.shape == (3, 8)


def test_samples_do_not_depend_on_the_rest_of_the_batch():
    g = Generator(private=(8, 4), shared=(16, 8, 8))
    z = jax.random.normal(jax.random.key(0), (4, 10))
    params = jax.jit(g.init)(jax.random.key(1), z)["params"]
    apply = jax.jit(g.apply)
    np.testing.assert_allclose(apply({"params": params}, z)[:1], apply({"params": params}, z[:1]), atol=1e-5)


def test_chroma_and_onset_streams():
    x = np.zeros((1, 1, 1, 16, 48), np.float32)
    x[0, 0, 0, 0:8, 0] = 1  # C2 for two beats
    x[0, 0, 0, 4:8, 12] = 1  # C3 in beat 1
    x[0, 0, 0, 8:16, 7] = 1  # G2 for two beats
    c = np.asarray(chroma_per_beat(jnp.asarray(x), 4))[0, 0, 0]
    np.testing.assert_array_equal(c[:, 0], [4, 8, 0, 0])
    np.testing.assert_array_equal(c[:, 7], [0, 0, 4, 4])
    o = np.asarray(onset_offset(jnp.asarray(x)))[0, 0, 0]
    assert o[0] == 1 and o[4] == 1 and o[8] == 1 - 2 and o[1] == 0  # G on, both Cs off at step 8


def test_adversarial_losses_take_their_textbook_values():
    real, fake = jnp.array([2.0, -1.0]), jnp.array([0.5, -3.0])
    sp = jax.nn.softplus
    assert gan_discriminator_loss("bce", real, fake) == pytest.approx(
        float(jnp.mean(sp(-real)) + jnp.mean(sp(fake))))
    assert gan_generator_loss("bce", fake) == pytest.approx(float(jnp.mean(-jnp.log(jax.nn.sigmoid(fake)))), rel=1e-6)
    assert gan_discriminator_loss("hinge", real, fake) == pytest.approx((0 + 2) / 2 + (1.5 + 0) / 2)
    assert gan_generator_loss("hinge", fake) == pytest.approx(1.25)
    assert gan_discriminator_loss("wgan_gp", real, fake) == pytest.approx(-1.25 - 0.5)
    assert gan_generator_loss("wgan_gp", fake) == pytest.approx(1.25)
    with pytest.raises(ValueError, match="unknown GAN loss"):
        gan_generator_loss("lsgan", fake)


def test_gradient_penalty_of_a_linear_critic():
    """critic(x) = <w, x>: its gradient is w everywhere, so the penalty is (|w| - 1)^2."""
    w = jnp.arange(12.0).reshape(3, 4) / 10
    critic = lambda x: jnp.sum(x * w, axis=(1, 2))
    real, fake = jnp.ones((5, 3, 4)), jnp.zeros((5, 3, 4))
    penalty, norm = gradient_penalty(critic, real, fake, jax.random.key(0))
    assert float(norm) == pytest.approx(float(jnp.linalg.norm(w)), rel=1e-5)
    assert float(penalty) == pytest.approx(float((jnp.linalg.norm(w) - 1) ** 2), rel=1e-4)


def test_straight_through_is_binary_forward_and_identity_backward():
    p = jnp.array([0.2, 0.6, 0.9])
    np.testing.assert_array_equal(straight_through(p), [0.0, 1.0, 1.0])
    assert set(np.asarray(straight_through(p, jax.random.key(0))).tolist()) <= {0.0, 1.0}
    grad = jax.grad(lambda q: jnp.sum(straight_through(q) * jnp.array([1.0, 2.0, 3.0])))(p)
    np.testing.assert_allclose(grad, [1.0, 2.0, 3.0])


def test_a_voice_is_a_softmax_over_its_pitches_and_a_rest():
    g = Generator(private=(8, 4), shared=(16, 8, 8), voices=True)
    z = jax.random.normal(jax.random.key(0), (3, 10))
    params = jax.jit(g.init)(jax.random.key(1), z)["params"]
    logits = jax.jit(g.apply)({"params": params}, z)
    assert logits.shape == (3, 4, 4, 16, 49)  # 48 pitches and a rest
    probs = roll_probabilities(logits, voices=True)
    assert probs.shape == (3, 4, 4, 16, 48)
    full = np.exp(np.asarray(logits, np.float64) - np.asarray(logits, np.float64).max(-1, keepdims=True))
    full /= full.sum(-1, keepdims=True)
    np.testing.assert_allclose(probs, full[..., :48], rtol=1e-5, atol=1e-7)
    hard = np.asarray(binary_roll(probs, voices=True))
    assert set(np.unique(hard)) <= {0.0, 1.0} and hard.sum(-1).max() <= 1
    choice = np.where(hard.any(-1), hard.argmax(-1), 48)
    np.testing.assert_array_equal(choice, full.argmax(-1))  # the most probable of pitches and rest


def test_voice_draws_follow_the_softmax():
    p = jnp.array([0.5, 0.0, 0.2, 0.1])  # the rest is 0.2
    draws = np.asarray(binary_roll(jnp.tile(p, (20000, 1)), voices=True, key=jax.random.key(3)))
    assert draws.sum(-1).max() == 1 and draws.shape == (20000, 4)
    freq = np.append(draws.mean(0), 1 - draws.sum(-1).mean())
    np.testing.assert_allclose(freq, [0.5, 0.0, 0.2, 0.1, 0.2], atol=0.015)  # 5 sigma at n = 20000
    rest_only = np.asarray(binary_roll(jnp.zeros((2, 4)), voices=True, key=jax.random.key(4)))
    assert not rest_only.any()
    grad = jax.grad(lambda q: jnp.sum(straight_through(q, voices=True) * jnp.arange(4.0)))(p)
    np.testing.assert_allclose(grad, np.arange(4.0))
    np.testing.assert_array_equal(straight_through(p, voices=True), [1.0, 0.0, 0.0, 0.0])
