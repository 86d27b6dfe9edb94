"""An LSTM language model whose input at each step is several categorical features (a multiple-
viewpoint input: previous pitch, interval, the note's duration, its place in the bar, ...).

Each feature has its own table of input gates ([size, 4*hidden], an embedding already multiplied
by layer 0's input weights), and a step's gates are the sum of one row per feature: the same
function as concatenating per-feature embeddings and projecting, without the [batch*time, E] matmul."""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from musicjax.models.fused_lstm import lstm_head
from musicjax.models.lstm import zero_carries


class FeatureLSTMModel(nn.Module):
    """features [batch, time, len(feature_sizes)] int (feature f in [0, feature_sizes[f])) ->
    logits [batch, time, vocab_size], final carries."""

    feature_sizes: Sequence[int]
    vocab_size: int
    hidden: int
    num_layers: int
    dropout: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, features, carries=None, deterministic: bool = True):
        if features.shape[-1] != len(self.feature_sizes):
            raise ValueError(f"features have {features.shape[-1]} columns, the model {len(self.feature_sizes)}")
        gates0 = 0.0
        for f, size in enumerate(self.feature_sizes):
            scale = (1.0 / len(self.feature_sizes)) ** 0.5  # the summed gates start at unit scale
            table = self.param(f"gates_{f}", nn.initializers.normal(scale), (size, 4 * self.hidden))
            gates0 = gates0 + jnp.take(table, features[..., f], axis=0)
        return lstm_head(self, gates0, carries, deterministic)

    def zero_carries(self, batch: int):
        return zero_carries(batch, self.hidden, self.num_layers)
