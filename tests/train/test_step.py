import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from musicjax.codecs.melody import BOS, MelodyCodec
from musicjax.models.lstm import LSTMLanguageModel
from musicjax.train.optim import OPTIMIZERS, SCHEDULES, make_optimizer, make_schedule
from musicjax.train.step import TrainState, lm_loss_fn, make_train_step


@pytest.fixture(scope="module")
def soprano_batch(chorales):
    """8 chorale sopranos as melody tokens, 64 steps each: inputs start with BOS."""
    codec = MelodyCodec()
    seqs = [codec.encode(s)[:63] for s in chorales[:8]]
    tokens = np.zeros((8, 64), np.int32)
    mask = np.zeros((8, 64), np.float32)
    for i, t in enumerate(seqs):
        tokens[i, 0] = BOS
        tokens[i, 1 : 1 + len(t)] = t
        mask[i, : len(t)] = 1
    return {"inputs": jnp.asarray(tokens[:, :-1]), "targets": jnp.asarray(tokens[:, 1:]), "mask": jnp.asarray(mask[:, :-1])}, codec


def _state(codec, tx, dropout=0.1):
    model = LSTMLanguageModel(codec.vocab_size, 16, 32, 2, dropout)
    params = model.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))["params"]
    return model, TrainState.create(params, tx)


def test_jitted_step_lowers_the_loss_on_real_melodies_without_recompiling(soprano_batch):
    batch, codec = soprano_batch
    model, state = _state(codec, make_optimizer("adam", make_schedule("constant", 1e-2, 100)))
    step = jax.jit(make_train_step(lm_loss_fn(model)), donate_argnums=0)
    losses = []
    for i in range(30):
        state, m = step(state, batch, jax.random.key(7))
        losses.append(float(m["loss"]))
    assert losses[-1] < 0.6 * losses[0], losses
    assert step._cache_size() == 1  # one compilation for all 30 calls
    assert int(state.step) == 30


def test_non_finite_step_is_not_applied(soprano_batch):
    batch, codec = soprano_batch
    model, state = _state(codec, make_optimizer("sgd", make_schedule("constant", 1e-2, 10)))
    step = jax.jit(make_train_step(lm_loss_fn(model)))
    bad = dict(batch, mask=batch["mask"] * jnp.nan)
    new, m = step(state, bad, jax.random.key(0))
    assert float(m["finite"]) == 0 and int(new.bad_steps) == 1
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(new.params),
                                                    jax.tree_util.tree_leaves(state.params)))
    new, m = step(new, batch, jax.random.key(0))
    assert float(m["finite"]) == 1 and int(new.bad_steps) == 0


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_trains(name, soprano_batch):
    batch, codec = soprano_batch
    lr = {"adam": 1e-2, "adamw": 1e-2, "adagrad": 0.1, "sgd": 0.5}[name]
    model, state = _state(codec, make_optimizer(name, make_schedule("constant", lr, 10), clip_norm=1.0), dropout=0.0)
    step = jax.jit(make_train_step(lm_loss_fn(model)))
    first = None
    for _ in range(10):
        state, m = step(state, batch, jax.random.key(0))
        first = first if first is not None else float(m["loss"])
    assert float(m["loss"]) < first


def test_schedules():
    for name in SCHEDULES:
        s = make_schedule(name, 1.0, 100, warmup_steps=10, decay_steps=10, decay_rate=0.5)
        assert float(s(0)) <= 1.0 and float(s(100)) <= 1.0
    assert float(make_schedule("warmup_cosine", 1.0, 100, warmup_steps=10)(5)) == pytest.approx(0.5)
    assert float(make_schedule("exponential", 1.0, 100, decay_steps=10, staircase=True)(15)) == pytest.approx(0.5)
    assert float(make_schedule("exponential", 1.0, 100, decay_steps=10)(15)) == pytest.approx(0.5 ** 1.5)
    assert float(make_schedule("warmup_linear", 1.0, 110, warmup_steps=10)(60)) == pytest.approx(0.5)


def test_gradient_accumulation_equals_one_big_batch():
    params = {"w": jnp.array([1.0, -2.0])}
    loss = lambda p, x: jnp.mean((x @ p["w"]) ** 2)
    xs = jnp.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [2.0, 1.0]])
    big = optax.sgd(0.1)
    acc = make_optimizer("sgd", make_schedule("constant", 0.1, 1), momentum=0.0, accumulate_steps=2)
    g = jax.grad(loss)(params, xs)
    p_big = optax.apply_updates(params, big.update(g, big.init(params))[0])
    s = acc.init(params)
    p = params
    for half in (xs[:2], xs[2:]):
        u, s = acc.update(jax.grad(loss)(p, half), s, p)
        p = optax.apply_updates(p, u)
    np.testing.assert_allclose(np.asarray(p["w"]), np.asarray(p_big["w"]), rtol=1e-6)
