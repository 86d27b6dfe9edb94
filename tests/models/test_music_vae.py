"""MusicVAE modules: the Gaussian KL against numerical integration, the hierarchical decoder's state
reset at bar lines, and step-function decoding against a plain Python loop over the model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from musicjax.codecs.melody import BOS
from musicjax.models.music_vae import MusicVAE, decoder_inputs, step_fn
from musicjax.tasks.music_vae import decode_from_z
from musicjax.train.losses import free_bits_kl, gaussian_kl

VOCAB, BARS, BAR = 66, 2, 16


@pytest.fixture(scope="module")
def windows():
    """2-bar windows of the validation chorale sopranos [n, 32]."""
    from musicjax.tasks.melody_data import MelodyData
    from musicjax.tasks.music_vae import WindowSpec, melody_windows

    return melody_windows(MelodyData((("bach_chorales", 0),)), WindowSpec(BARS), "valid")["tokens"].astype(np.int32)


def tiny(kind: str) -> MusicVAE:
    return MusicVAE(VOCAB, BARS, BAR, embed_dim=8, encoder_hidden=16, encoder_layers=1, z_dim=6, decoder_kind=kind,
                    decoder_hidden=24, decoder_layers=2, conductor_hidden=12, conductor_layers=2)


@pytest.fixture(scope="module")
def models(windows):
    """kind -> (model, params), initialised once (compiling an init takes seconds)."""
    out = {}
    for kind in ("flat", "hierarchical"):
        model = tiny(kind)
        out[kind] = model, jax.jit(model.init)(jax.random.key(0), jnp.asarray(windows[:2]), jax.random.key(1))["params"]
    return out


def jitted_decode(model):
    """(params, z, inputs) -> teacher-forced logits, compiled once per shape (eager apply would
    retrace the LSTM scans on every call)."""
    return jax.jit(lambda params, z, inputs: model.apply({"params": params}, z, inputs, method=MusicVAE.decode))


def test_gaussian_kl_equals_numerical_integral():
    mu = np.array([[0.0, 0.0], [1.5, -0.3], [-2.0, 0.7]])
    log_var = np.array([[0.0, 0.0], [-1.2, 0.4], [0.9, -2.5]])
    got = np.asarray(gaussian_kl(jnp.asarray(mu), jnp.asarray(log_var)))
    want = []
    for m_row, lv_row in zip(mu, log_var):
        total = 0.0
        for m, lv in zip(m_row, lv_row):
            q, p = stats.norm(m, np.exp(0.5 * lv)), stats.norm(0.0, 1.0)
            total += integrate.quad(lambda x: q.pdf(x) * (q.logpdf(x) - p.logpdf(x)), m - 12, m + 12)[0]
        want.append(total)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    assert got[0] == 0.0
    # free bits are bits: the first ln(2) * bits nats are free
    np.testing.assert_allclose(free_bits_kl(jnp.asarray([1.0, 3.0]), 2.0), [0.0, 3.0 - 2 * np.log(2)], rtol=1e-6)


def test_hierarchical_decoder_state_resets_at_bar_lines(windows, models):
    """Changing bar 1's tokens, except its last (bar 2's first input), leaves bar 2's teacher-forced
    logits unchanged for the hierarchical decoder and changes them for the flat one."""
    a = windows[:4].copy()
    b = a.copy()
    b[:, : BAR - 1] = windows[10:14, : BAR - 1]  # another chorale's opening
    assert (a[:, : BAR - 1] != b[:, : BAR - 1]).any(axis=1).all() and (a[:, BAR - 1:] == b[:, BAR - 1:]).all()
    z = jax.random.normal(jax.random.key(2), (4, 6))
    for kind in ("hierarchical", "flat"):
        model, params = models[kind]
        decode = jitted_decode(model)
        la, lb = (np.asarray(decode(params, z, decoder_inputs(jnp.asarray(t)))) for t in (a, b))
        assert np.abs(la[:, 1:BAR] - lb[:, 1:BAR]).max() > 1e-3  # bar 1 sees the change
        bar2 = np.abs(la[:, BAR:] - lb[:, BAR:]).max()
        if kind == "hierarchical":
            assert bar2 < 1e-6, bar2
        else:
            assert bar2 > 1e-3, bar2


def test_hierarchical_step_replaces_carries_at_bar_start(windows, models):
    """In the sampling step function, the carries held at a bar's first step are discarded (any
    values give the same logits); in the middle of a bar they matter."""
    model, params = models["hierarchical"]
    tokens = jnp.asarray(windows[:3])
    fn = jax.jit(step_fn(model, params))
    z = jax.random.normal(jax.random.key(3), (3, 6))
    cache = jax.jit(lambda z: model.apply({"params": params}, z, method=MusicVAE.initial_cache))(z)
    inputs = decoder_inputs(tokens)
    caches = []
    for t in range(BAR + 1):
        caches.append(cache)
        _, cache = fn(inputs[:, t], cache)
    noise = lambda c: {**c, "carries": jax.tree.map(lambda x: x + jax.random.normal(jax.random.key(4), x.shape), c["carries"])}
    for t, resets in ((BAR, True), (BAR - 1, False), (0, True)):
        clean, _ = fn(inputs[:, t], caches[t])
        noisy, _ = fn(inputs[:, t], noise(caches[t]))
        diff = float(jnp.abs(clean - noisy).max())
        assert (diff == 0.0) if resets else (diff > 1e-3), (t, diff)


@pytest.mark.parametrize("kind", ["flat", "hierarchical"])
def test_greedy_step_decoding_equals_python_loop(kind, windows, models):
    """Argmax decoding from z through the shared sampler's scan over the step function equals a
    plain loop that reruns the teacher-forced model on its own outputs and takes each argmax."""
    model, params = models[kind]
    mu, _ = jax.jit(lambda p, x: model.apply({"params": p}, x, method=MusicVAE.encode))(params, jnp.asarray(windows[:3]))
    z = mu + jax.random.normal(jax.random.key(5), mu.shape)  # away from the origin: varied outputs
    got = np.asarray(jax.jit(lambda p, z: decode_from_z(model, p, z, jax.random.key(0), temperature=0.0))(params, z))

    decode = jitted_decode(model)
    steps = BARS * BAR
    out = np.zeros((3, steps), np.int32)
    for t in range(steps):
        inputs = np.concatenate([np.full((3, 1), BOS), out[:, :-1]], axis=1)
        logits = decode(params, z, jnp.asarray(inputs))
        out[:, t] = np.argmax(np.asarray(logits[:, t]), -1)
    assert len(np.unique(out)) > 3  # not a constant sequence
    np.testing.assert_array_equal(got, out)
