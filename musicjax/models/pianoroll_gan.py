"""A MuseGAN-style piano-roll GAN (Dong et al. 2018): a generator z -> [tracks, bars, steps, pitches]
made of a shared temporal network and per-track bar networks, a critic of the same shape read
backwards with chroma and onset streams, and the small key classifier whose embedding the Fréchet
distance is measured in.

Every MuseGAN layer but one is a (transposed) 3-D convolution whose kernel equals its stride along
one axis (pitch by octaves, time by beats, bars): a patch map. Such a layer is exactly a Dense on
the channels followed by a reshape (`expand`) or a reshape followed by a Dense (`contract`), so it
is written here as one matmul. Each track's private layers are one batched matmul with the track
axis leading ([tracks, rows, c] x [tracks, c, d]). A roll is [batch, tracks, bars, steps, pitches]:
track-major with pitch the minor axis (MuseGAN puts the 4 tracks last, which leaves every
full-resolution tensor a minor dimension of 4 and made its transposes the cost of a CPU step);
hidden tensors are channels-last."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def _merge_axis(y, axis: int):
    """[..., A, ..., f, c] with the new factor f just before channels -> f merged into `axis`
    (position a*f + j): what a transposed convolution with kernel = stride = f does."""
    y = jnp.moveaxis(y, -2, axis + 1)
    shape = y.shape[:axis] + (y.shape[axis] * y.shape[axis + 1],) + y.shape[axis + 2:]
    return y.reshape(shape)


def _split_axis(x, axis: int, factor: int):
    """[..., A, ..., c] -> [..., A/f, ..., f*c]: the patches a convolution with kernel = stride = f
    along `axis` reads, its f positions moved into the channels."""
    a = x.shape[axis]
    if a % factor:
        raise ValueError(f"axis {axis} of length {a} does not split into patches of {factor}")
    x = x.reshape(x.shape[:axis] + (a // factor, factor) + x.shape[axis + 1:])
    x = jnp.moveaxis(x, axis + 1, -2)
    return x.reshape(x.shape[:-2] + (x.shape[-2] * x.shape[-1],))


class TrackDense(nn.Module):
    """A Dense per track: x [tracks, ..., c] -> [tracks, ..., features] (one batched matmul), or,
    with `broadcast`, one shared input x [..., c] -> [tracks, ..., features] (one matmul)."""

    features: int
    tracks: int
    broadcast: bool = False
    dtype: jnp.dtype = jnp.float32
    bias_init: float = 0.0

    @nn.compact
    def __call__(self, x):
        c = x.shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(batch_axis=(0,)), (self.tracks, c, self.features))
        bias = self.param("bias", nn.initializers.constant(self.bias_init), (self.tracks, self.features))
        x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
        if self.broadcast:
            lead = x.shape[:-1]
            y = x.reshape(-1, c) @ kernel.transpose(1, 0, 2).reshape(c, -1)
            y = y.reshape(lead + (self.tracks, self.features))
            y = jnp.moveaxis(y, -2, 0)
        else:
            lead = x.shape[1:-1]
            y = jnp.einsum("kmc,kcd->kmd", x.reshape(self.tracks, -1, c), kernel).reshape((self.tracks,) + lead +
                                                                                        (self.features,))
        return y.astype(jnp.float32) + bias.reshape((self.tracks,) + (1,) * len(lead) + (self.features,))


def expand(dense: nn.Module, x, axis: int, factor: int):
    """Transposed convolution, kernel = stride = `factor` along `axis`, as a Dense to
    factor x features channels and a reshape. `dense` outputs factor * features."""
    y = dense(x)
    y = y.reshape(y.shape[:-1] + (factor, y.shape[-1] // factor))
    return _merge_axis(y, axis)


def contract(dense: nn.Module, x, axis: int, factor: int):
    """Convolution, kernel = stride = `factor` along `axis`, as a reshape and a Dense."""
    return dense(_split_axis(x, axis, factor))


class Generator(nn.Module):
    """z [batch, z_dim] -> logits [batch, tracks, bars, steps, pitches] (a sigmoid gives each
    pixel's probability of sounding); with `voices`, [batch, tracks, bars, steps, pitches + 1]: each
    track is one voice, and a softmax over its pitches and a rest (the last logit) gives what it
    sings at each step (`roll_probabilities`).

    Shared temporal network: z -> one vector per bar (a transposed conv over bars), then per beat,
    then per octave: one hidden vector per (bar, beat, octave) cell. Private (per-track) bar
    networks: a per-track layer on every cell, then MuseGAN's two orders — pitch-then-time (octave
    -> 12 pitches, then beat -> steps) and time-then-pitch — whose last layers give one logit per
    pixel each; the two are summed (MuseGAN concatenates 16-channel maps at full resolution and
    maps them to one: here nothing but the logits is ever at full resolution, which is what makes
    a step cheap on a CPU, where those maps' memory traffic dominated). A voice's rest logit comes
    from the time-then-pitch branch at step resolution, all octaves read at once. LayerNorm (per position)
    where MuseGAN has BatchNorm: no batch statistics in the state, and a sample does not depend on
    the others in its batch."""

    bars: int = 4
    steps_per_bar: int = 16
    pitches: int = 48
    tracks: int = 4
    shared: Sequence[int] = (256, 128, 64)  # channels per bar, per beat, per beat-octave cell
    private: Sequence[int] = (32, 16)  # per-track cell layer; each branch's middle layer
    beats_per_bar: int = 4
    dtype: jnp.dtype = jnp.float32
    output_bias: float = -3.5  # initial logit of every pixel: about the 3% of pixels that sound in a chorale
    voices: bool = False  # one voice per track: pitch logits and a rest logit per step, for a softmax

    @nn.compact
    def __call__(self, z):
        beats, octaves = self.beats_per_bar, self.pitches // 12
        steps_per_beat = self.steps_per_bar // beats
        d = lambda f, name: nn.Dense(f, dtype=self.dtype, name=name)
        act = lambda h, name: nn.relu(nn.LayerNorm(name=name)(h))
        c0, c1, c2 = self.shared
        p1, p2 = self.private
        n = z.shape[0]
        h = act(d(self.bars * c0, "bars")(z).reshape(n, self.bars, c0), "bars_norm")  # [n, bars, c0]
        h = h[:, :, None, None, :]  # [n, bars, 1, 1, c0]
        h = act(expand(d(beats * c1, "beats"), h, 2, beats), "beats_norm")  # [n, bars, beats, 1, c1]
        h = act(expand(d(octaves * c2, "octaves"), h, 3, octaves), "octaves_norm")  # [n, bars, beats, oct, c2]
        tdense = lambda f, name, broadcast=False, bias=0.0: TrackDense(f, self.tracks, broadcast, self.dtype, bias,
                                                                       name=name)
        # below: [tracks, n, bars, time, pitch, c]
        h = act(tdense(p1, "cells", True)(h), "cells_norm")  # [k, n, bars, beats, oct, p1]
        pt = act(expand(tdense(12 * p2, "pt_pitch"), h, 4, 12), "pt_pitch_norm")  # [k, n, bars, beats, pitches, p2]
        # a sparse start: an initial roll of p = 0.5 everywhere is a critic's easiest call
        pt = expand(tdense(steps_per_beat, "pt_time", bias=self.output_bias / 2), pt, 3, steps_per_beat)
        tp = act(expand(tdense(steps_per_beat * p2, "tp_time"), h, 3, steps_per_beat), "tp_time_norm")
        logits = (pt + expand(tdense(12, "tp_pitch", bias=self.output_bias / 2), tp, 4, 12))[..., 0]
        if self.voices:  # [k, n, bars, steps, oct, p2] -> a rest logit per step
            rest = tdense(1, "rest")(tp.reshape(tp.shape[:4] + (-1,)))  # [k, n, bars, steps, 1]
            logits = jnp.concatenate([logits, rest], -1)
        return jnp.moveaxis(logits, 0, 1)  # [n, k, bars, steps, pitches (+ 1)]


def roll_probabilities(logits, voices: bool = False):
    """Generator logits -> each pixel's probability of sounding [..., pitches]: a sigmoid per
    pixel, or with `voices` (logits [..., pitches + 1], the last a rest) a softmax per step, the
    rest left out (so a step's pitches sum to at most 1)."""
    if voices:
        return jax.nn.softmax(logits.astype(jnp.float32), -1)[..., :-1]
    return jax.nn.sigmoid(logits.astype(jnp.float32))


def binary_roll(probs, key=None, voices: bool = False):
    """probs [..., pitches] -> 0/1 of the same shape and dtype. Per pixel: a threshold at 0.5, or
    Bernoulli draws given `key`. With `voices` (a step's pitches sum to at most 1, the rest is the
    remainder): the most probable of the pitches and the rest, or one categorical draw given `key`
    — at most one pitch a step either way."""
    if not voices:
        hard = (jax.random.uniform(key, probs.shape) < probs) if key is not None else probs > 0.5
        return hard.astype(probs.dtype)
    full = jnp.concatenate([probs, jnp.maximum(1.0 - probs.sum(-1, keepdims=True), 0.0)], -1)
    if key is None:
        choice = jnp.argmax(full, -1)
    else:
        choice = jax.random.categorical(key, jnp.log(jnp.maximum(full, 1e-30)), -1)
    return jax.nn.one_hot(choice, full.shape[-1], dtype=probs.dtype)[..., :-1]


def chroma_per_beat(x, beats: int):
    """[n, tracks, bars, steps, pitches] -> [n, tracks, bars, beats, 12]: how much of each pitch
    class sounds in each beat (classes counted from the roll's lowest pitch)."""
    n, k, b, t, p = x.shape
    return x.reshape(n, k, b, beats, t // beats, p // 12, 12).sum((4, 5))


def onset_offset(x):
    """[n, tracks, bars, steps, pitches] -> [n, tracks, bars, steps]: the change of what sounds
    from the step before, summed over pitches (MuseGAN's onset/offset stream)."""
    n, k, b, t, p = x.shape
    flat = x.reshape(n, k, b * t, p)
    prev = jnp.pad(flat[:, :, :-1], ((0, 0), (0, 0), (1, 0), (0, 0)))
    return (flat - prev).sum(-1).reshape(n, k, b, t)


class Discriminator(nn.Module):
    """x [batch, tracks, bars, steps, pitches] in [0, 1] -> one logit (or critic value) per
    segment. Private per-track networks (pitch-then-time and time-then-pitch, read as in the
    generator but contracting), a shared network over beats and octaves, a chroma stream and an
    onset/offset stream; the streams meet in a convolution over pairs of adjacent bars. No
    normalisation: a gradient penalty assumes none across the batch."""

    bars: int = 4
    steps_per_bar: int = 16
    pitches: int = 48
    tracks: int = 4
    private: Sequence[int] = (16, 32, 64)  # each branch's two layers, then the merged per-track layer
    shared: Sequence[int] = (128, 256)  # over beats, then octaves
    streams: Sequence[int] = (32, 64)  # chroma and onset streams: per beat, then per bar
    merged: int = 512  # the layer over adjacent bars
    beats_per_bar: int = 4
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        beats = self.beats_per_bar
        steps_per_beat = self.steps_per_bar // beats
        act = nn.leaky_relu
        d = lambda f, name: nn.Dense(f, dtype=self.dtype, name=name)
        tdense = lambda f, name: TrackDense(f, self.tracks, False, self.dtype, name=name)
        q1, q2, q3 = self.private
        n = x.shape[0]
        xt = jnp.moveaxis(x, 1, 0)[..., None]  # [tracks, n, bars, steps, pitches, 1]
        pt = act(contract(tdense(q1, "pt_pitch"), xt, 4, 12))  # [k, n, bars, steps, oct, q1]
        pt = act(contract(tdense(q2, "pt_time"), pt, 3, steps_per_beat))  # [k, n, bars, beats, oct, q2]
        tp = act(contract(tdense(q1, "tp_time"), xt, 3, steps_per_beat))  # [k, n, bars, beats, pitches, q1]
        tp = act(contract(tdense(q2, "tp_pitch"), tp, 4, 12))  # [k, n, bars, beats, oct, q2]
        h = act(tdense(q3, "merge")(jnp.concatenate([pt, tp], -1)))  # [k, n, bars, beats, oct, q3]
        h = jnp.moveaxis(h, 0, -2)
        h = h.reshape(h.shape[:-2] + (-1,))  # [n, bars, beats, oct, k*q3]
        s1, s2 = self.shared
        h = act(contract(d(s1, "shared_beats"), h, 2, beats))  # [n, bars, 1, oct, s1]
        h = act(contract(d(s2, "shared_octaves"), h, 3, h.shape[3]))  # [n, bars, 1, 1, s2]
        h = h.reshape(n, self.bars, s2)
        c1, c2 = self.streams
        chroma = jnp.moveaxis(chroma_per_beat(x, beats), 1, 3)  # [n, bars, beats, k, 12]
        c = act(d(c1, "chroma_beat")(chroma.reshape(n, self.bars, beats, -1)))
        c = act(d(c2, "chroma_bar")(c.reshape(n, self.bars, -1)))  # [n, bars, c2]
        o = jnp.moveaxis(onset_offset(x), 1, -1).reshape(n, self.bars, beats, -1)  # [n, bars, beats, spb * k]
        o = act(d(c1, "onset_beat")(o))
        o = act(d(c2, "onset_bar")(o.reshape(n, self.bars, -1)))  # [n, bars, c2]
        h = jnp.concatenate([h, c, o], -1)
        if self.bars > 1:  # MuseGAN's (2, 1, 1) convolution over bars, stride 1
            h = jnp.concatenate([h[:, :-1], h[:, 1:]], -1)
        h = act(d(self.merged, "bar_pairs")(h))
        return d(1, "out")(h.reshape(n, -1))[:, 0].astype(jnp.float32)


class SegmentClassifier(nn.Module):
    """The key of a segment: x [batch, tracks, bars, steps, pitches] -> (logits [batch, classes],
    embedding [batch, embed]). Octave patches then beats, tracks mixed, then bars pooled into a
    segment vector; `embedding` (the layer before the logits) is what the Fréchet distance reads."""

    classes: int = 24
    embed: int = 32
    channels: Sequence[int] = (32, 64, 128)

    @nn.compact
    def __call__(self, x):
        n, tracks, bars, steps, pitches = x.shape
        c1, c2, c3 = self.channels
        h = jnp.moveaxis(x.reshape(n, tracks, bars, steps, pitches // 12, 12), 1, 4)
        h = h.reshape(n, bars, steps, pitches // 12, tracks * 12)  # octave patches, all tracks
        h = nn.relu(nn.Dense(c1, name="octave")(h))  # [n, bars, steps, oct, c1]
        h = nn.relu(contract(nn.Dense(c2, name="beat"), h, 2, 4))  # [n, bars, steps/4, oct, c2]
        h = h.reshape(n, bars, -1)
        h = nn.relu(nn.Dense(c3, name="bar")(h))  # [n, bars, c3]
        h = jnp.concatenate([h.mean(1), h.max(1)], -1)
        emb = nn.relu(nn.Dense(self.embed, name="embedding")(h))
        return nn.Dense(self.classes, name="logits")(emb), emb


def straight_through(probs, key=None, voices: bool = False):
    """Binary values forward (`binary_roll`: thresholded, or drawn given `key`), the
    probabilities' gradient backward (BinaryMuseGAN's binary neurons)."""
    return probs + jax.lax.stop_gradient(binary_roll(probs, key, voices) - probs)
