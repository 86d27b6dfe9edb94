"""LSTM encoder-decoder with attention: a bidirectional LSTM encoder over categorical source
features and an LSTM decoder with additive (Bahdanau et al. 2015) or multiplicative (Luong et al.
2015, 'general') attention, or none at all (the "blind" twin: a language model of the target of the
same size, which never sees the source).

Shapes: source [B, S, K] int32 (K categorical features per source position), source_len [B];
decoder inputs / targets [B, T] int32; logits [B, T, V]; attention weights [B, T, S].

Three ways through the decoder, which tests hold equal: `__call__` teacher forced (Luong and blind
run the LSTM over all steps at once on the shared fused layer, attention after it; Bahdanau's
attention reads the previous state, so it is a scan of the step); `scheduled` (a scan of the step
that feeds back the model's own samples); `decode_step` one token at a time for the shared
sampler. Decoder LSTM: one layer with `FusedLSTM`'s parameter layout, run by `lstm_layer` /
`lstm_step`; the token part of its input gates is hoisted as a [V, 4H] table (embedding @ W)."""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from musicjax.models.fused_lstm import FusedBidirectionalLSTM, _lstm_bias_init, lstm_layer, lstm_step

ATTENTIONS = ("bahdanau", "luong", "none")
FORGET_BIAS = 1.0
_MASKED = -1e9  # a score that softmax turns into 0 yet keeps finite (no NaN from an all-masked row)


def masked_softmax(scores, mask):
    """scores [..., S], mask [..., S] (1 = a real source position) -> weights summing to 1 over
    the real positions, exactly 0 elsewhere."""
    scores = jnp.where(mask > 0, scores, _MASKED)
    w = jax.nn.softmax(scores.astype(jnp.float32), axis=-1)
    return jnp.where(mask > 0, w, 0.0)


class Seq2Seq(nn.Module):
    """Encoder (source feature embeddings concatenated, `encoder_layers` bidirectional LSTM
    layers) -> decoder (target embedding, one LSTM layer of `hidden` units, attention, readout
    tanh(Dense([h_t, context])) -> Dense(V)).

    bahdanau: score(s, t) = v . tanh(W_q h_{t-1} + W_k enc_s); the context enters the LSTM input
      of step t and the readout. luong: h_t from the LSTM first, score = h_t . W_a enc_s, the
      context enters the readout only (no input feeding). none: no encoder, no context; the
      initial state is zero.
    The decoder's initial state is tanh(Dense([h_fwd_final, h_bwd_final])) of the last encoder
    layer (zeros for none).

    Step cache (batch-major leaves, as the shared beam search wants): {'h', 'c' [B, H],
    'enc' [B, S, 2E], 'keys' [B, S, A] (bahdanau: W_k enc; luong: W_a^T applied to enc, [B, S, H]),
    'mask' [B, S]}; for none only 'h', 'c'."""

    source_vocab_sizes: Sequence[int]
    source_embed_dims: Sequence[int]
    target_vocab_size: int
    target_embed_dim: int = 64
    encoder_hidden: int = 128
    encoder_layers: int = 1
    hidden: int = 256
    attention: str = "bahdanau"
    attention_dim: int = 128
    dtype: Any = jnp.float32

    def setup(self):
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}, got {self.attention!r}")
        if len(self.source_vocab_sizes) != len(self.source_embed_dims):
            raise ValueError("one source embedding size per source feature")
        h4 = 4 * self.hidden
        if self.attention != "none":
            self.source_embeds = [nn.Embed(v, d, name=f"source_embed_{k}")
                                  for k, (v, d) in enumerate(zip(self.source_vocab_sizes, self.source_embed_dims))]
            self.encoder = [FusedBidirectionalLSTM(self.encoder_hidden, self.dtype, FORGET_BIAS, name=f"encoder_{l}")
                            for l in range(self.encoder_layers)]
            self.bridge = nn.Dense(2 * self.hidden, name="bridge")
        context = 2 * self.encoder_hidden
        self.embedding = self.param("embedding", nn.initializers.normal(1.0),
                                    (self.target_vocab_size, self.target_embed_dim))
        # The decoder LSTM in FusedLSTM's layout: wx split into its token and context rows.
        self.wx_token = self.param("wx_token", nn.initializers.lecun_normal(), (self.target_embed_dim, h4))
        if self.attention == "bahdanau":
            self.wx_context = self.param("wx_context", nn.initializers.lecun_normal(), (context, h4))
            self.query = nn.Dense(self.attention_dim, use_bias=False, name="query")
            self.key = nn.Dense(self.attention_dim, name="key")
            self.score_v = self.param("score_v", nn.initializers.lecun_normal(), (self.attention_dim, 1))
        elif self.attention == "luong":
            self.key = nn.Dense(self.hidden, use_bias=False, name="key")  # W_a applied to enc
        self.wh = self.param("wh", nn.initializers.orthogonal(), (self.hidden, h4))
        self.b = self.param("b", _lstm_bias_init(FORGET_BIAS), (h4,))
        self.readout = nn.Dense(self.hidden, name="readout")
        self.logits = nn.Dense(self.target_vocab_size, name="logits")

    # ---- encoder ------------------------------------------------------------------------------

    def encode(self, source, source_len):
        """source [B, S, K], source_len [B] -> the step cache before step 0 (see the class)."""
        batch, steps = source.shape[:2]
        if self.attention == "none":
            zeros = jnp.zeros((batch, self.hidden), jnp.float32)
            return {"h": zeros, "c": zeros}
        x = jnp.concatenate([e(source[..., k]) for k, e in enumerate(self.source_embeds)], -1)
        for layer in self.encoder:
            x, ((h_f, _), (h_b, _)) = layer(x, lengths=source_len)
        mask = (jnp.arange(steps)[None, :] < source_len[:, None]).astype(jnp.float32)
        h0, c0 = jnp.split(jnp.tanh(self.bridge(jnp.concatenate([h_f, h_b], -1))), 2, axis=-1)
        return {"h": h0, "c": c0, "enc": x, "keys": self.key(x), "mask": mask}

    # ---- decoder pieces -----------------------------------------------------------------------

    def _token_gates(self, tokens):
        """tokens [...] -> their rows of the [V, 4H] table embedding @ wx_token."""
        table = jnp.dot(self.embedding, self.wx_token, preferred_element_type=jnp.float32)
        return jnp.take(table, tokens, axis=0)

    def _attend(self, query, cache):
        """query [B, H] (bahdanau: h_{t-1}; luong: h_t) -> (context [B, 2E], weights [B, S])."""
        if self.attention == "bahdanau":
            e = jnp.tanh(self.query(query)[:, None, :] + cache["keys"]) @ self.score_v  # [B, S, 1]
            w = masked_softmax(e[..., 0], cache["mask"])
        else:
            w = masked_softmax(jnp.einsum("bh,bsh->bs", query, cache["keys"]), cache["mask"])
        return jnp.einsum("bs,bse->be", w, cache["enc"]), w

    def _readout(self, h, context):
        x = h if context is None else jnp.concatenate([h, context], -1)
        return self.logits(jnp.tanh(self.readout(x))).astype(jnp.float32)

    def _lstm_params(self):
        return {"wh": self.wh, "b": self.b}

    def _step_gates(self, token_gates, cache):
        """One step from the token's input gates [B, 4H] -> (logits [B, V], cache, weights [B, S])."""
        carry = (cache["h"], cache["c"])
        if self.attention == "bahdanau":
            context, w = self._attend(cache["h"], cache)
            xg = token_gates + jnp.dot(context, self.wx_context, preferred_element_type=jnp.float32)
            h, c = lstm_step(self._lstm_params(), xg, carry, self.dtype)
        else:
            h, c = lstm_step(self._lstm_params(), token_gates, carry, self.dtype)
            context, w = self._attend(h, cache) if self.attention == "luong" else (None, None)
        if w is None:
            w = jnp.zeros((h.shape[0], 0), jnp.float32)
        return self._readout(h, context), {**cache, "h": h, "c": c}, w

    # ---- the three ways through the decoder ---------------------------------------------------

    def decode_step(self, tokens, cache):
        """tokens [B] int32 (the previous token; BOS first), cache -> (logits [B, V], cache,
        attention weights [B, S] (S = 0 for none))."""
        return self._step_gates(self._token_gates(tokens), cache)

    def teacher_forced(self, cache, inputs):
        """cache from `encode`, inputs [B, T] (BOS, then the targets shifted) -> (logits [B, T, V],
        attention weights [B, T, S])."""
        gates = self._token_gates(inputs)  # [B, T, 4H]
        if self.attention == "bahdanau":
            def body(module, cache, g):
                logits, cache, w = module._step_gates(g, cache)
                return cache, (logits, w)

            scan = nn.scan(body, variable_broadcast="params", split_rngs={"params": False}, in_axes=1, out_axes=1)
            _, (logits, w) = scan(self, cache, gates)
            return logits, w
        hs, _ = lstm_layer(jnp.swapaxes(gates, 0, 1), None, self.wh, self.b, cache["h"], cache["c"], self.dtype)
        hs = jnp.swapaxes(hs, 0, 1)  # [B, T, H]
        if self.attention == "none":
            return self._readout(hs, None), jnp.zeros(hs.shape[:2] + (0,), jnp.float32)
        scores = jnp.einsum("bth,bsh->bts", hs, cache["keys"])
        w = masked_softmax(scores, cache["mask"][:, None, :])
        context = jnp.einsum("bts,bse->bte", w, cache["enc"])
        return self._readout(hs, context), w

    def scheduled(self, cache, inputs, p_teacher, key):
        """Scheduled sampling (Bengio et al. 2015), step by step: input t >= 1 is the given token
        inputs[:, t] with probability p_teacher, else a token drawn from the model's own logits of
        step t - 1 (no gradient through the draw). -> (logits [B, T, V], the inputs used [B, T])."""
        batch, steps = inputs.shape
        k_coin, k_draw = jax.random.split(key)
        use_given = jax.random.bernoulli(k_coin, p_teacher, (batch, steps)).at[:, 0].set(True)

        def body(module, carry, xs):
            cache, prev_logits = carry
            given, keep, t = xs
            drawn = jax.random.categorical(jax.random.fold_in(k_draw, t), jax.lax.stop_gradient(prev_logits))
            token = jnp.where(keep, given, drawn.astype(given.dtype))
            logits, cache, _ = module.decode_step(token, cache)
            return (cache, logits), (logits, token)

        scan = nn.scan(body, variable_broadcast="params", split_rngs={"params": False}, in_axes=((1, 1, 0),),
                       out_axes=1)
        first = jnp.zeros((batch, self.target_vocab_size), jnp.float32)
        _, (logits, used) = scan(self, (cache, first), (inputs, use_given, jnp.arange(steps)))
        return logits, used

    def __call__(self, source, source_len, inputs):
        """Teacher forced: -> (logits [B, T, V], attention weights [B, T, S])."""
        return self.teacher_forced(self.encode(source, source_len), inputs)


def step_fn(model: Seq2Seq, params):
    """The shared sampler's `(tokens [B], cache) -> (logits [B, V], cache)` for `model`."""

    def fn(tokens, cache):
        logits, cache, _ = model.apply({"params": params}, tokens, cache, method=Seq2Seq.decode_step)
        return logits, cache

    return fn
