"""Frame models against plain references: the NADE is a normalised distribution over every frame
(brute force over 2^K), its parallel logits equal a key-by-key loop, its sampler draws from it, and
the LSTM and Transformer bodies continue a sequence from their state exactly."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicjax.models.polyphonic import FrameModel, NADEHead
from musicjax.train.losses import frame_nll

K = 5


@pytest.fixture(scope="module")
def nade():
    head = NADEHead(K, 6)
    params = head.init(jax.random.key(0), jnp.zeros((1, 3)), jnp.zeros((1, K)))["params"]
    # Larger weights than the init's, so that keys really depend on each other.
    params = jax.tree.map(lambda x: x * 60.0 if x.ndim == 2 and x.shape[0] == K else x, params)
    return head, params


def _loop_logits(head, params, context, frame):
    """Key by key, as the NADE is defined."""
    b = np.asarray(head.apply({"params": params}, context, method=lambda m, c: m.visible_bias(c)))
    a = np.asarray(head.apply({"params": params}, context, method=lambda m, c: m.hidden_bias(c)))
    w, v = np.asarray(params["w"]), np.asarray(params["v"])
    out = []
    for k in range(K):
        h = 1 / (1 + np.exp(-(a + frame[:k] @ w[:k])))
        out.append(b[k] + h @ v[k])
    return np.array(out)


def test_nade_parallel_logits_equal_the_key_by_key_loop(nade):
    head, params = nade
    context = jax.random.normal(jax.random.key(1), (3,))
    frame = np.array([1, 0, 1, 1, 0], np.float32)
    fast = np.asarray(head.apply({"params": params}, context[None], jnp.asarray(frame)[None]))[0]
    np.testing.assert_allclose(fast, _loop_logits(head, params, np.asarray(context), frame), rtol=1e-5, atol=1e-5)


def test_nade_probabilities_of_all_frames_sum_to_one(nade):
    head, params = nade
    frames = jnp.array(list(itertools.product([0.0, 1.0], repeat=K)))  # [2^K, K]
    context = jnp.broadcast_to(jax.random.normal(jax.random.key(2), (3,)), (len(frames), 3))
    logits = head.apply({"params": params}, context, frames)
    _, nll, _ = jax.vmap(lambda l, f: frame_nll(l[None, None], f[None, None], jnp.ones((1, 1))))(logits, frames)
    probs = np.exp(-np.asarray(nll))
    assert abs(probs.sum() - 1.0) < 1e-5
    assert probs.max() > 2.0 / 2 ** K  # far from uniform


def test_nade_sampler_draws_from_its_distribution(nade):
    head, params = nade
    context = jax.random.normal(jax.random.key(3), (3,))
    n = 20000
    draws = head.apply({"params": params}, jnp.broadcast_to(context, (n, 3)), jax.random.key(4), method=head.sample)
    codes = np.asarray(draws) @ (2 ** np.arange(K)[::-1])
    empirical = np.bincount(codes.astype(int), minlength=2 ** K) / n
    frames = jnp.array(list(itertools.product([0.0, 1.0], repeat=K)))
    logits = head.apply({"params": params}, jnp.broadcast_to(context, (len(frames), 3)), frames)
    exact = np.exp(-np.asarray(optax_free_nll(logits, frames)))
    assert np.abs(empirical - exact).max() < 0.015


def optax_free_nll(logits, frames):
    """Per-frame NLL [N] by the formula, for the sampler test."""
    p = jax.nn.log_sigmoid(logits) * frames + jax.nn.log_sigmoid(-logits) * (1 - frames)
    return -p.sum(-1)


@pytest.mark.parametrize("body", ["lstm", "transformer"])
def test_bodies_continue_from_their_state(body):
    model = FrameModel(num_keys=12, body=body, head="nade", hidden=16, num_layers=2, num_heads=2, ff_dim=24,
                       max_len=16, max_distance=8, nade_hidden=8)
    frames = (jax.random.uniform(jax.random.key(5), (2, 10, 12)) < 0.3).astype(jnp.float32)
    previous = jnp.concatenate([jnp.zeros((2, 1, 12)), frames[:, :-1]], axis=1)
    params = model.init(jax.random.key(6), previous, frames)["params"]
    full, _ = model.apply({"params": params}, previous, frames)
    logits, state = model.apply({"params": params}, previous[:, :4], frames[:, :4])
    np.testing.assert_allclose(logits, full[:, :4], atol=1e-5)
    step = jax.jit(lambda prev, frame, state: model.apply({"params": params}, prev, frame, state))
    for t in range(4, 10):
        logits, state = step(previous[:, t:t + 1], frames[:, t:t + 1], state)
        np.testing.assert_allclose(logits[:, 0], full[:, t], atol=1e-5, err_msg=f"frame {t}")


def test_sigmoid_head_ignores_the_frame():
    model = FrameModel(num_keys=12, body="lstm", head="sigmoid", hidden=16)
    x = (jax.random.uniform(jax.random.key(7), (1, 6, 12)) < 0.5).astype(jnp.float32)
    params = model.init(jax.random.key(8), x, x)["params"]
    a, _ = model.apply({"params": params}, x, x)
    b, _ = model.apply({"params": params}, x, 1.0 - x)
    np.testing.assert_array_equal(a, b)


def test_tonic_input_is_c_by_default_and_reaches_every_frame():
    model = FrameModel(num_keys=12, body="lstm", head="nade", hidden=16, nade_hidden=8, tonic_input=True)
    x = (jax.random.uniform(jax.random.key(9), (3, 6, 12)) < 0.4).astype(jnp.float32)
    params = model.init(jax.random.key(10), x, x)["params"]
    assert params["lstm"]["wx_0"].shape[0] == 12 + 12  # the keys, then the tonic's one-hot
    c, _ = model.apply({"params": params}, x, x)
    c0, _ = model.apply({"params": params}, x, x, tonic=jnp.zeros(3, jnp.int32))
    np.testing.assert_array_equal(c, c0)
    moved, _ = model.apply({"params": params}, x, x, tonic=jnp.array([0, 7, 7]))
    np.testing.assert_array_equal(moved[0], c[0])
    assert np.all(np.abs(moved[1:] - c[1:]).max(axis=-1) > 0)  # every frame of a G window differs
