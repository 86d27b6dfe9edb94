import jax
import jax.numpy as jnp
import numpy as np

from musicjax.models.lstm import LSTMLanguageModel, LSTMStack, lstm_reference


def test_scanned_stack_equals_unrolled_reference():
    stack = LSTMStack(hidden=16, num_layers=3)
    x = jax.random.normal(jax.random.key(1), (4, 11, 7))
    params = stack.init(jax.random.key(0), x)["params"]
    y, carries = stack.apply({"params": params}, x)
    ref = jax.jit(lstm_reference, static_argnums=2)([params[f"cell_{i}"] for i in range(3)], x, 16)
    np.testing.assert_allclose(np.asarray(y), np.asarray(ref), atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.asarray(carries[-1][1]), np.asarray(ref[:, -1]), atol=1e-5, rtol=0)


def test_carries_continue_a_sequence_exactly():
    model = LSTMLanguageModel(vocab_size=30, embed_dim=8, hidden=16, num_layers=2)
    tokens = jax.random.randint(jax.random.key(2), (3, 12), 0, 30)
    params = model.init(jax.random.key(0), tokens)["params"]
    whole, _ = model.apply({"params": params}, tokens)
    first, c = model.apply({"params": params}, tokens[:, :5])
    rest, _ = model.apply({"params": params}, tokens[:, 5:], c)
    np.testing.assert_allclose(np.asarray(jnp.concatenate([first, rest], 1)), np.asarray(whole), atol=1e-5, rtol=0)
    zero = model.zero_carries(3)
    again, _ = model.apply({"params": params}, tokens, zero)
    np.testing.assert_allclose(np.asarray(again), np.asarray(whole), atol=1e-6, rtol=0)


def test_dropout_only_in_training():
    model = LSTMLanguageModel(vocab_size=30, embed_dim=8, hidden=16, num_layers=2, dropout=0.5)
    tokens = jnp.ones((2, 6), jnp.int32)
    params = model.init(jax.random.key(0), tokens)["params"]
    a, _ = model.apply({"params": params}, tokens)
    b, _ = model.apply({"params": params}, tokens)
    c, _ = model.apply({"params": params}, tokens, deterministic=False, rngs={"dropout": jax.random.key(3)})
    assert np.array_equal(np.asarray(a), np.asarray(b)) and not np.allclose(np.asarray(a), np.asarray(c))
