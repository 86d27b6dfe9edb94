"""The Music Transformer against plain references: its feed-forward `Dense` is `nn.Dense` with
autodiff's gradients, attention is causal, cached decoding equals full recomputation token by token
(float32 and bfloat16), the shared sampler and beam search run on its cache (grown as it fills:
the same tokens as over the whole cache), and one compilation per shape. The attention functions themselves: test_attention.py."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicjax.models.lstm import LSTMLanguageModel
from musicjax.models.transformer import Dense, MusicTransformer, dense, resize_cache
from musicjax.sample.sampling import beam_search, beam_search_lm, cache_segments, decode, lm_step_fn, sample_lm


def small_model(dtype=jnp.float32, relative=True, max_len=24, max_distance=12):
    """max_distance below the lengths used here, so clipped distances are exercised too."""
    return MusicTransformer(vocab_size=19, model_dim=32, num_layers=2, num_heads=4, ff_dim=48, max_len=max_len,
                            max_distance=max_distance, dropout=0.1, relative=relative, dtype=dtype)


@pytest.fixture(scope="module")
def model_and_params():
    model = small_model()
    params = model.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))["params"]
    # Relative embeddings start small; make them matter so that a wrong index cannot hide.
    params = jax.tree_util.tree_map_with_path(
        lambda p, x: x * 8.0 if "relative_embedding" in jax.tree_util.keystr(p) else x, params)
    return model, params


def test_dense_is_nn_dense_with_the_gradients_of_autodiff():
    x = jax.random.normal(jax.random.key(0), (3, 5, 16))
    ours, flax_dense = Dense(24), nn.Dense(24)
    params = ours.init(jax.random.key(1), x)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), params, flax_dense.init(jax.random.key(1), x)))
    p = params["params"]
    np.testing.assert_allclose(ours.apply(params, x), flax_dense.apply(params, x), rtol=1e-6, atol=1e-6)
    bias = jax.random.normal(jax.random.key(2), p["bias"].shape)  # a non-zero bias
    g = jax.random.normal(jax.random.key(3), (3, 5, 24))
    _, fast = jax.vjp(dense, x, p["kernel"], bias)
    _, plain = jax.vjp(lambda x, w, b: x @ w + b, x, p["kernel"], bias)
    for name, a, b in zip(("x", "kernel", "bias"), fast(g), plain(g)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=name)


def test_longer_than_max_len_is_a_clear_error():
    model = small_model(max_len=8)
    with pytest.raises(ValueError, match="longer than the model's max_len 8"):
        model.init(jax.random.key(0), jnp.zeros((1, 9), jnp.int32))


def test_attention_is_causal(model_and_params):
    model, params = model_and_params
    tokens = jax.random.randint(jax.random.key(1), (2, 16), 0, 19)
    changed = tokens.at[:, 10:].set((tokens[:, 10:] + 5) % 19)
    a, _ = model.apply({"params": params}, tokens)
    b, _ = model.apply({"params": params}, changed)
    np.testing.assert_allclose(a[:, :10], b[:, :10], rtol=1e-5, atol=1e-5)
    assert not np.allclose(a[:, 10:], b[:, 10:], atol=1e-3)


def test_relative_positions_change_the_output(model_and_params):
    model, params = model_and_params
    tokens = jax.random.randint(jax.random.key(2), (2, 12), 0, 19)
    with_rel, _ = model.apply({"params": params}, tokens)
    zeroed = jax.tree_util.tree_map_with_path(
        lambda p, x: x * 0.0 if "relative_embedding" in jax.tree_util.keystr(p) else x, params)
    without, _ = model.apply({"params": zeroed}, tokens)
    assert float(jnp.abs(with_rel - without).max()) > 1e-2


@pytest.mark.parametrize("dtype,tol", [(jnp.float32, 2e-5), (jnp.bfloat16, 0.03)])
def test_cached_decoding_equals_full_recomputation(dtype, tol):
    model = small_model(dtype)
    params = model.init(jax.random.key(3), jnp.zeros((1, 4), jnp.int32))["params"]
    tokens = jax.random.randint(jax.random.key(4), (3, 20), 0, 19)
    full, _ = model.apply({"params": params}, tokens)
    primer = 5
    logits, cache = model.apply({"params": params}, tokens[:, :primer])
    np.testing.assert_allclose(logits, full[:, :primer], atol=tol, rtol=tol)
    step = jax.jit(lambda t, c: model.apply({"params": params}, t, c))
    for t in range(primer, tokens.shape[1]):
        logits, cache = step(tokens[:, t:t + 1], cache)
        np.testing.assert_allclose(logits[:, 0], full[:, t], atol=tol, rtol=tol, err_msg=f"position {t}")
    assert int(cache["pos"]) == tokens.shape[1]
    assert step._cache_size() == 1  # every step reuses one program: the position is traced


def test_chunks_appended_to_the_cache_equal_full_recomputation(model_and_params):
    """Several positions at once after a cache (a primer continued in pieces): each attends to the
    filled slots and causally within its chunk; distances past max_distance clip as in training."""
    model, params = model_and_params
    tokens = jax.random.randint(jax.random.key(7), (2, 22), 0, 19)
    full, _ = model.apply({"params": params}, tokens)
    logits, cache = model.apply({"params": params}, tokens[:, :3])
    pieces = [logits]
    for start, stop in ((3, 10), (10, 11), (11, 22)):
        logits, cache = model.apply({"params": params}, tokens[:, start:stop], cache)
        pieces.append(logits)
    np.testing.assert_allclose(jnp.concatenate(pieces, axis=1), full, atol=2e-5, rtol=2e-5)
    assert int(cache["pos"]) == 22


def test_sampling_past_the_cache_is_a_clear_error(model_and_params):
    """max_len 24: a primer of 4 and 21 tokens need 24 slots (the last token is not fed back); 22 need 25."""
    model, params = model_and_params
    primer = jnp.ones((1, 4), jnp.int32)
    assert sample_lm(model, params, primer, jax.random.key(0), num_steps=21).shape == (1, 21)
    with pytest.raises(ValueError, match="max_len 24"):
        sample_lm(model, params, primer, jax.random.key(0), num_steps=22)
    with pytest.raises(ValueError, match="max_len 24"):
        beam_search_lm(model, params, primer, beam_size=2, num_steps=22)


def test_absolute_baseline_without_relative_term_still_decodes():
    model = small_model(relative=False)
    params = model.init(jax.random.key(5), jnp.zeros((1, 4), jnp.int32))["params"]
    assert not any("relative_embedding" in jax.tree_util.keystr(p)
                   for p, _ in jax.tree_util.tree_flatten_with_path(params)[0])
    tokens = jax.random.randint(jax.random.key(6), (2, 9), 0, 19)
    full, _ = model.apply({"params": params}, tokens)
    _, cache = model.apply({"params": params}, tokens[:, :4])
    logits, _ = model.apply({"params": params}, tokens[:, 4:5], cache)
    np.testing.assert_allclose(logits[:, 0], full[:, 4], atol=2e-5)


def test_shared_sampler_and_beam_search_run_on_the_kv_cache(model_and_params):
    model, params = model_and_params
    primer = jnp.zeros((2, 3), jnp.int32)
    kwargs = dict(num_steps=12, eos=18, pad=0)
    a = sample_lm(model, params, primer, jax.random.key(7), temperature=1.0, top_k=0, top_p=1.0, **kwargs)
    b = sample_lm(model, params, primer, jax.random.key(7), temperature=0.7, top_k=5, top_p=0.9, **kwargs)
    assert a.shape == b.shape == (2, 12)
    assert sample_lm._cache_size() >= 1
    size = sample_lm._cache_size()
    sample_lm(model, params, primer, jax.random.key(8), temperature=0.3, top_k=2, top_p=0.5, **kwargs)
    assert sample_lm._cache_size() == size  # new sampling settings, no new compilation

    # Greedy decoding through the sampler equals argmax over full recomputation of the sequence.
    greedy = sample_lm(model, params, primer, jax.random.key(0), temperature=0.0, top_k=0, top_p=1.0,
                       num_steps=6, eos=-1, pad=0)
    seq = primer
    for _ in range(6):
        logits, _ = model.apply({"params": params}, seq)
        seq = jnp.concatenate([seq, jnp.argmax(logits[:, -1], -1)[:, None].astype(jnp.int32)], axis=1)
    np.testing.assert_array_equal(greedy, seq[:, 3:])

    tokens, log_probs, _ = beam_search_lm(model, params, primer, beam_size=3, num_steps=6, eos=-1, pad=0,
                                          length_alpha=0.0)
    # Beam 1 of a beam of 3 is at least as probable as greedy, and its log-probability is that of
    # the full model on the sequence.
    full, _ = model.apply({"params": params}, jnp.concatenate([primer, tokens[:, 0]], axis=1))
    lp = jax.nn.log_softmax(full[:, 2:-1], -1)
    scored = jnp.take_along_axis(lp, tokens[:, 0][..., None], -1)[..., 0].sum(-1)
    np.testing.assert_allclose(log_probs[:, 0], scored, atol=1e-4)
    greedy_lp = jnp.take_along_axis(jax.nn.log_softmax(model.apply({"params": params}, seq)[0][:, 2:-1], -1),
                                    seq[:, 3:, None], -1)[..., 0].sum(-1)
    assert np.all(np.asarray(log_probs[:, 0]) >= np.asarray(greedy_lp) - 1e-5)


def test_dropout_is_active_only_in_training(model_and_params):
    model, params = model_and_params
    tokens = jnp.ones((2, 8), jnp.int32)
    a, _ = model.apply({"params": params}, tokens, deterministic=False, rngs={"dropout": jax.random.key(1)})
    b, _ = model.apply({"params": params}, tokens, deterministic=False, rngs={"dropout": jax.random.key(2)})
    c, _ = model.apply({"params": params}, tokens)
    d, _ = model.apply({"params": params}, tokens)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(c, d)


def test_growing_cache_samples_as_the_full_cache_does():
    """sample_lm grows the KV cache (64 slots, 128, then max_len 150 here); the same draw through
    one scan over all max_len slots gives the same tokens, and each resized step the same logits."""
    model = small_model(max_len=150, max_distance=40)
    params = model.init(jax.random.key(9), jnp.zeros((1, 4), jnp.int32))["params"]
    primer = jax.random.randint(jax.random.key(10), (2, 5), 0, 19)
    steps = 146  # 5 + 146 - 1 = 150 slots: the last segment fills the cache exactly
    segments = cache_segments(model, primer.shape[1], steps)
    assert [n for n, _ in segments] == [59, 64, 22]
    assert [int(prepare(model.apply({"params": params}, primer)[1])["layers"][0][0].shape[2])
            for _, prepare in segments] == [64, 128, 150]

    @functools.partial(jax.jit, static_argnames="grow")
    def sample(key, temperature, grow):
        logits, cache = model.apply({"params": params}, primer)
        return decode(lm_step_fn(model, params), logits[:, -1], cache, key, num_steps=steps, temperature=temperature,
                      segments=segments if grow else ((steps - 1, None),))

    for temperature in (1.0, 0.0):
        grown, whole = (np.asarray(sample(jax.random.key(11), temperature, grow)) for grow in (True, False))
        np.testing.assert_array_equal(grown, whole)
        np.testing.assert_array_equal(grown, np.asarray(sample_lm(model, params, primer, jax.random.key(11),
                                                                  num_steps=steps, temperature=temperature)))
    assert len(set(grown[0].tolist())) > 3  # sampled, not stuck on one token

    # Beam search grows it too, with the same beams and log-probabilities.
    logits, cache = model.apply({"params": params}, primer)
    beams = [beam_search(lm_step_fn(model, params), logits[:, -1], cache, beam_size=2, num_steps=steps,
                         segments=grow) for grow in (segments, None)]
    np.testing.assert_array_equal(beams[0][0], beams[1][0])
    np.testing.assert_allclose(beams[0][1], beams[1][1], rtol=1e-5)
    lm = beam_search_lm(model, params, primer, beam_size=2, num_steps=steps)
    np.testing.assert_array_equal(lm[0], beams[0][0])

    # One step at position 70 through 128 slots or 150: the same logits.
    tokens = jax.random.randint(jax.random.key(12), (2, 71), 0, 19)
    _, cache = model.apply({"params": params}, tokens[:, :70])
    small, large = (model.apply({"params": params}, tokens[:, 70:], resize_cache(cache, slots))[0]
                    for slots in (128, 150))
    np.testing.assert_allclose(small, large, atol=1e-5, rtol=1e-5)
    full, _ = model.apply({"params": params}, tokens)
    np.testing.assert_allclose(small[:, 0], full[:, 70], atol=2e-5, rtol=2e-5)


def test_cache_segments_cover_every_step_in_doubling_caches():
    for primer_length, num_steps, max_len in ((1, 512, 513), (1, 2, 513), (70, 200, 300), (1, 64, 64), (3, 1, 24)):
        model = small_model(max_len=max_len)
        segments = cache_segments(model, primer_length, num_steps)
        sizes = [prepare.keywords["slots"] for _, prepare in segments]
        assert sum(n for n, _ in segments) == num_steps - 1
        # Each segment's last step writes slot primer_length + t - 1 < its size; the next size
        # doubles the last (or is max_len); none exceeds max_len.
        t = 0
        for (n, _), size in zip(segments, sizes):
            t += n
            assert primer_length + t <= size <= max_len
        assert all(b in (2 * a, max_len) for a, b in zip(sizes, sizes[1:]))
    assert [p.keywords["slots"] for _, p in cache_segments(small_model(max_len=513), 1, 512)] == [64, 128, 256, 512]
    assert cache_segments(small_model(max_len=300), 70, 200)[0][1].keywords["slots"] == 128  # the primer fits first
    assert cache_segments(LSTMLanguageModel(19, 8, 8, 1), 3, 10) is None  # carries do not grow
