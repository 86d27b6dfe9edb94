"""The Music Transformer on melody tokens: the melody LM task (same data, windows, loss, evaluation
and sampler as the melody LSTM, so the two compare directly) around `models.transformer`."""

from __future__ import annotations

import jax.numpy as jnp

from musicjax.models.transformer import MusicTransformer
from musicjax.tasks import melody_lm
from musicjax.train.task import Task


def model_from_config(config, vocab_size: int) -> MusicTransformer:
    m = config.model
    longest = max(config.train.seq_len, config.eval_length, config.sample.steps + 1)
    if m.max_len < longest:
        raise ValueError(f"model.max_len {m.max_len} is shorter than the longest sequence the config asks for "
                         f"({longest}: train.seq_len, eval_length or sample.steps + 1)")
    dtype = jnp.bfloat16 if config.train.precision == "bfloat16" else jnp.float32
    return MusicTransformer(vocab_size, m.model_dim, m.num_layers, m.num_heads, m.ff_dim, m.max_len,
                            m.max_distance or config.train.seq_len, m.dropout, m.relative, dtype)


def make(config) -> Task:
    data = melody_lm.data_from_config(config)
    return melody_lm.melody_lm_task(config, data, model_from_config(config, data.codec.vocab_size),
                                    name="transformer")
