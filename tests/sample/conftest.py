"""A small melody LSTM LM trained for a few seconds on chorale sopranos, so that decoding runs over a
peaked, context-dependent distribution rather than random init, and its held-out primers."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from musicjax.codecs.melody import BOS, EOS, MelodyCodec
from musicjax.models.lstm import LSTMLanguageModel

WINDOW = 32  # tokens per training window (8 quarters at 4 steps per quarter)


@dataclasses.dataclass(frozen=True)
class TrainedLM:
    model: LSTMLanguageModel
    params: dict
    primers: jax.Array  # [6, 9] int32: BOS and the first 8 tokens of held-out sopranos
    losses: tuple[float, float]  # cross-entropy before and after training


@pytest.fixture(scope="session")
def melody_lm(chorales) -> TrainedLM:
    codec = MelodyCodec()
    sopranos = [np.concatenate([[BOS], codec.encode(s), [EOS]]) for s in chorales[:70]]
    windows = np.stack([seq[i:i + WINDOW + 1] for seq in sopranos
                        for i in range(0, len(seq) - WINDOW, 4 * WINDOW)])
    windows = jnp.asarray(windows, jnp.int32)
    model = LSTMLanguageModel(codec.vocab_size, 16, 32, 1)
    params = model.init(jax.random.key(0), windows[:1, :-1])["params"]
    # 80 steps, not fewer: after 30 the model is still a context-free HOLD predictor, for which
    # greedy decoding is already optimal and beam search has nothing to find.
    opt = optax.adam(3e-2)

    def loss_fn(params):
        logits, _ = model.apply({"params": params}, windows[:, :-1])
        return optax.softmax_cross_entropy_with_integer_labels(logits, windows[:, 1:]).mean()

    @jax.jit
    def train_step(params, opt_state):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = opt.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss

    opt_state = opt.init(params)
    first = None
    for _ in range(80):
        params, opt_state, loss = train_step(params, opt_state)
        first = float(loss) if first is None else first
    held_out = [np.concatenate([[BOS], codec.encode(s)[:8]]) for s in chorales[-6:]]
    return TrainedLM(model, params, jnp.asarray(np.stack(held_out), jnp.int32), (first, float(loss_fn(params))))
