"""MusicVAE (Roberts et al. 2018): a bidirectional LSTM encoder to a Gaussian latent z, and a flat or
hierarchical (conductor + bar decoder) LSTM decoder from z, all on the fused custom-backward LSTM.

Shapes: tokens [B, T] int32 (melody ids, T = bars * bar_steps), z [B, Z], logits [B, T, vocab].
Decoder inputs are the tokens shifted right by one with BOS first (`decoder_inputs`)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from musicjax.codecs.melody import BOS
from musicjax.models.fused_lstm import FusedBidirectionalLSTM, FusedLSTM

# TF's LSTMBlockCell (Magenta's cell) adds 1 to the forget gate's bias.
FORGET_BIAS = 1.0


def decoder_inputs(tokens):
    """tokens [B, T] -> [B, T]: BOS, then tokens[:, :-1] (teacher forcing: step t reads token t-1)."""
    return jnp.concatenate([jnp.full_like(tokens[:, :1], BOS), tokens[:, :-1]], axis=1)


def reparameterize(mu, log_var, key):
    """z = mu + sigma * eps, eps ~ N(0, I) drawn from `key`: [B, Z]."""
    return mu + jnp.exp(0.5 * log_var) * jax.random.normal(key, mu.shape, mu.dtype)


class Encoder(nn.Module):
    """tokens [B, T] -> (mu, log_var) [B, z_dim]: embedding, `num_layers` bidirectional LSTM layers
    (each reads the previous one's [B, T, 2H] outputs), then the last layer's final hidden states of
    both directions, concatenated, through one Dense each to mu and log sigma^2."""

    vocab_size: int
    embed_dim: int
    hidden: int
    num_layers: int
    z_dim: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, tokens):
        x = nn.Embed(self.vocab_size, self.embed_dim, name="embed")(tokens)
        for layer in range(self.num_layers):
            x, ((h_f, _), (h_b, _)) = FusedBidirectionalLSTM(self.hidden, self.dtype, FORGET_BIAS,
                                                             name=f"bilstm_{layer}")(x)
        final = jnp.concatenate([h_f, h_b], axis=-1)
        mu = nn.Dense(self.z_dim, name="mu")(final)
        log_var = nn.Dense(self.z_dim, name="log_var")(final)
        return mu, log_var


def split_carries(flat, num_layers: int):
    """[N, 2 * L * H] -> per layer (h, c) [N, H]: the layout of an LSTM stack's initial state
    computed from a latent (tanh(Dense(z)))."""
    parts = jnp.split(flat, 2 * num_layers, axis=-1)
    return tuple((parts[2 * l], parts[2 * l + 1]) for l in range(num_layers))


class _LSTMDecoderCore(nn.Module):
    """An autoregressive LSTM stack conditioned on a vector c [N, C] (z, or a conductor embedding):
    its initial state is tanh(Dense(c)) split over the layers' (h, c), and every step reads
    [embedding of the previous token, c]. Layer 0's input gates are hoisted: a [vocab, 4H] table
    (embedding @ W_token, exact, as in FusedLSTMLanguageModel) gathered per token plus c @ W_cond,
    computed once per sequence rather than per step."""

    vocab_size: int
    embed_dim: int
    hidden: int
    num_layers: int
    dtype: Any = jnp.float32

    def setup(self):
        gates = 4 * self.hidden
        self.embedding = self.param("embedding", nn.initializers.normal(1.0), (self.vocab_size, self.embed_dim))
        self.w_token = self.param("w_token", nn.initializers.lecun_normal(), (self.embed_dim, gates))
        self.w_cond = nn.Dense(gates, use_bias=False)
        self.initial_state = nn.Dense(2 * self.hidden * self.num_layers)
        self.lstms = [FusedLSTM(self.hidden, self.dtype, forget_bias=FORGET_BIAS) for _ in range(self.num_layers)]
        self.logits = nn.Dense(self.vocab_size)

    def initial_carries(self, cond):
        """cond [N, C] -> per layer (h, c) [N, H]: tanh(Dense(cond)), split."""
        return split_carries(jnp.tanh(self.initial_state(cond)), self.num_layers)

    def __call__(self, inputs, cond, carries):
        """inputs [N, S] previous tokens, cond [N, C], carries per layer -> (logits [N, S, vocab],
        final carries)."""
        table = jnp.dot(self.embedding, self.w_token, preferred_element_type=jnp.float32)  # [vocab, 4H]
        x = jnp.take(table, inputs, axis=0) + self.w_cond(cond)[:, None, :]
        final = []
        for layer, lstm in enumerate(self.lstms):
            x, carry = lstm(x, initial=carries[layer], gates_in=layer == 0)
            final.append(carry)
        return self.logits(x).astype(jnp.float32), tuple(final)


class FlatDecoder(nn.Module):
    """Magenta's flat LSTM decoder: one LSTM stack over all T steps, initial state tanh(Dense(z)),
    each step's input [embedding of the previous token, z].

    Sampling cache (batch-major): {'carries': per layer (h, c) [B, H], 'z': [B, Z], 'pos': [B]}."""

    vocab_size: int
    embed_dim: int
    hidden: int
    num_layers: int
    dtype: Any = jnp.float32

    def setup(self):
        self.core = _LSTMDecoderCore(self.vocab_size, self.embed_dim, self.hidden, self.num_layers, self.dtype)

    def __call__(self, z, inputs):
        """z [B, Z], inputs [B, T] (previous tokens) -> logits [B, T, vocab], teacher forced."""
        return self.core(inputs, z, self.core.initial_carries(z))[0]

    def initial_cache(self, z):
        return {"carries": self.core.initial_carries(z), "z": z, "pos": jnp.zeros(z.shape[:1], jnp.int32)}

    def step(self, tokens, cache):
        """tokens [B] (the previous token) -> (logits [B, vocab], cache)."""
        logits, carries = self.core(tokens[:, None], cache["z"], cache["carries"])
        return logits[:, 0], {**cache, "carries": carries, "pos": cache["pos"] + 1}


class HierarchicalDecoder(nn.Module):
    """Magenta's hierarchical decoder: a conductor LSTM stack (input zeros, initial state
    tanh(Dense(z))) emits one embedding per bar, c_u [B, U, Hc]; a bar decoder LSTM stack, its
    state re-initialised at every bar from tanh(Dense(c_u)), reads [previous token, c_u]. The
    previous token of a bar's first step is the last token of the bar before (BOS for bar 0), so
    only the token input crosses a bar line, never the bar decoder's state. As the state resets,
    teacher forcing runs all bars in parallel as one [B*U, bar_steps] batch.

    Sampling cache (batch-major): {'carries': per layer (h, c) [B, H], 'conductor': [B, U, Hc],
    'pos': [B] int32, the step about to be predicted}; at a bar's first step the carries are
    replaced (`jnp.where` on pos) by the ones from that bar's embedding."""

    vocab_size: int
    embed_dim: int
    hidden: int
    num_layers: int
    num_bars: int
    bar_steps: int
    conductor_hidden: int
    conductor_layers: int
    dtype: Any = jnp.float32

    def setup(self):
        self.conductor_state = nn.Dense(2 * self.conductor_hidden * self.conductor_layers)
        self.conductor = [FusedLSTM(self.conductor_hidden, self.dtype, forget_bias=FORGET_BIAS)
                          for _ in range(self.conductor_layers)]
        self.core = _LSTMDecoderCore(self.vocab_size, self.embed_dim, self.hidden, self.num_layers, self.dtype)

    def bar_embeddings(self, z):
        """z [B, Z] -> conductor outputs [B, U, Hc], one per bar."""
        carries = split_carries(jnp.tanh(self.conductor_state(z)), self.conductor_layers)
        # Layer 0 reads zeros: its input gates are its bias alone (gates_in with a zero projection).
        x = jnp.zeros((z.shape[0], self.num_bars, 4 * self.conductor_hidden), jnp.float32)
        for layer, lstm in enumerate(self.conductor):
            x, _ = lstm(x, initial=carries[layer], gates_in=layer == 0)
        return x

    def __call__(self, z, inputs):
        """z [B, Z], inputs [B, U * bar_steps] (previous tokens) -> logits [B, T, vocab]."""
        batch, steps = inputs.shape
        if steps != self.num_bars * self.bar_steps:
            raise ValueError(f"hierarchical decoder wants {self.num_bars} x {self.bar_steps} steps, got {steps}")
        cond = self.bar_embeddings(z).reshape(batch * self.num_bars, -1)
        bars = inputs.reshape(batch * self.num_bars, self.bar_steps)
        logits, _ = self.core(bars, cond, self.core.initial_carries(cond))
        return logits.reshape(batch, steps, -1)

    def initial_cache(self, z):
        cond = self.bar_embeddings(z)
        # carries of bar 0 are set by the reset at pos 0; zeros here only give them their shape
        shape = self.core.initial_carries(cond[:, 0])
        return {"carries": jax.tree.map(jnp.zeros_like, shape), "conductor": cond,
                "pos": jnp.zeros(z.shape[:1], jnp.int32)}

    def step(self, tokens, cache):
        """tokens [B] (the previous token) -> (logits [B, vocab], cache)."""
        pos = cache["pos"]
        bar = jnp.minimum(pos // self.bar_steps, self.num_bars - 1)
        cond = jnp.take_along_axis(cache["conductor"], bar[:, None, None], axis=1)[:, 0]  # [B, Hc]
        reset = (pos % self.bar_steps == 0)[:, None]
        carries = jax.tree.map(lambda fresh, old: jnp.where(reset, fresh, old),
                               self.core.initial_carries(cond), cache["carries"])
        logits, carries = self.core(tokens[:, None], cond, carries)
        return logits[:, 0], {**cache, "carries": carries, "pos": pos + 1}


class MusicVAE(nn.Module):
    """Encoder + decoder ('flat' or 'hierarchical'). `__call__(tokens, key)` -> (logits [B, T,
    vocab], mu, log_var, z), teacher forced on `decoder_inputs(tokens)` (or on `inputs` if given,
    e.g. scheduled sampling's mixed inputs) from z = mu + sigma * eps drawn with `key`.
    Methods for `apply(..., method=...)`: encode, decode, initial_cache, decode_step."""

    vocab_size: int
    num_bars: int
    bar_steps: int = 16
    embed_dim: int = 64
    encoder_hidden: int = 256
    encoder_layers: int = 1
    z_dim: int = 128
    decoder_kind: str = "flat"  # flat | hierarchical
    decoder_hidden: int = 256
    decoder_layers: int = 2
    conductor_hidden: int = 256
    conductor_layers: int = 2
    dtype: Any = jnp.float32

    def setup(self):
        self.encoder = Encoder(self.vocab_size, self.embed_dim, self.encoder_hidden, self.encoder_layers, self.z_dim,
                               self.dtype)
        if self.decoder_kind == "flat":
            self.decoder = FlatDecoder(self.vocab_size, self.embed_dim, self.decoder_hidden, self.decoder_layers,
                                   self.dtype)
        elif self.decoder_kind == "hierarchical":
            self.decoder = HierarchicalDecoder(self.vocab_size, self.embed_dim, self.decoder_hidden, self.decoder_layers,
                                           self.num_bars, self.bar_steps, self.conductor_hidden,
                                           self.conductor_layers, self.dtype)
        else:
            raise ValueError(f"decoder must be 'flat' or 'hierarchical', got {self.decoder_kind!r}")

    @property
    def num_steps(self) -> int:
        return self.num_bars * self.bar_steps

    def __call__(self, tokens, key, inputs=None):
        mu, log_var = self.encoder(tokens)
        z = reparameterize(mu, log_var, key)
        logits = self.decoder(z, decoder_inputs(tokens) if inputs is None else inputs)
        return logits, mu, log_var, z

    def encode(self, tokens):
        """tokens [B, T] -> (mu, log_var) [B, Z]."""
        return self.encoder(tokens)

    def decode(self, z, inputs):
        """z [B, Z], inputs [B, T] (previous tokens; BOS first) -> logits [B, T, vocab]."""
        return self.decoder(z, inputs)

    def initial_cache(self, z):
        """The sampling cache before step 0 (feed BOS first)."""
        return self.decoder.initial_cache(z)

    def decode_step(self, tokens, cache):
        """tokens [B] int32 (the previous token), cache -> (logits [B, vocab], cache)."""
        return self.decoder.step(tokens, cache)


def step_fn(model: MusicVAE, params):
    """The shared sampler's `(tokens [B], cache) -> (logits [B, vocab], cache)` for `model`."""

    def fn(tokens, cache):
        return model.apply({"params": params}, tokens, cache, method=MusicVAE.decode_step)

    return fn
