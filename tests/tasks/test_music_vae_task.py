"""The MusicVAE task on the real chorale sopranos: bar-aligned windows that decode to the melody's
notes, the silence filter, pure batches, a jitted step that lowers the loss without recompiling,
evaluation, prior samples and interpolation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.music_vae import get_config
from musicjax.codecs.melody import BOS, HOLD, NUM_SPECIAL, REST
from musicjax.data.score import melody_line
from musicjax.tasks import music_vae
from musicjax.tasks.melody_data import MelodyData
from musicjax.tasks.music_vae import WindowSpec, bar_windows, melody_windows


@pytest.fixture(scope="module")
def task():
    return music_vae.make(get_config("tiny"))


@pytest.fixture(scope="module")
def trained(task):
    """(initial state, state after 16 jitted steps, the jitted step)."""
    init = jax.jit(task.init)(jax.random.key(0))
    state = jax.tree.map(jnp.copy, init)
    step = jax.jit(task.train_step, donate_argnums=0)
    for i in range(16):
        state, metrics = step(state, task.batch(i), jax.random.key(1))
    return init, state, step, metrics


def test_windows_are_bar_aligned_and_decode_to_the_melody(chorales):
    data, spec = MelodyData((("bach_chorales", 0),)), WindowSpec(2)
    w = melody_windows(data, spec, "valid")
    assert w["tokens"].shape[1] == 32 and len(w["tokens"]) > 100
    by_id = {s.meta.source_id: s for s in chorales}
    downbeat = np.array([by_id[w["ids"][p]].first_downbeat_q * 4 for p in w["piece"]])
    assert ((w["start"] - downbeat) % 16 == 0).all() and (w["start"] >= downbeat).all()  # model bar lines
    assert (downbeat > 0).mean() > 0.5  # most chorales open with a pickup, which no window starts on
    assert all(by_id[i].meta.meter in ("4/4", "2/4") for i in w["ids"])
    assert w["skipped"]["meter"] > 0  # the 3/4 chorales
    codec = data.codec
    checked = 0
    for tokens, piece, start in zip(w["tokens"], w["piece"], w["start"]):
        line = codec.quantize(melody_line(by_id[w["ids"][piece]], 0))
        a, b = start / 4, (start + 32) / 4  # quarters
        inside = (line.start_q >= a) & (line.start_q < b)
        got = codec.decode(tokens)
        np.testing.assert_array_equal(got.pitch, line.pitch[inside])
        np.testing.assert_allclose(got.start_q, line.start_q[inside] - a)
        np.testing.assert_allclose(got.end_q, np.minimum(line.end_q[inside], b) - a)
        # the silence filter, checked from the notes: no step-free stretch of a bar, >= 2 onsets
        covered = np.zeros(32, bool)
        for s, e in zip(line.start_q, line.end_q):
            covered[max(int(round(s * 4)) - start, 0):max(min(int(round(e * 4)) - start, 32), 0)] = True
        runs = np.diff(np.flatnonzero(np.concatenate([[True], covered, [True]]))) - 1
        assert runs.max() < 16 and inside.sum() >= 2
        checked += 1
    assert checked == len(w["tokens"])


def test_bar_windows_skip_a_silent_bar():
    note, bar = NUM_SPECIAL + 30, 16
    held = [note] + [HOLD] * 15
    silent = [REST] + [HOLD] * 15
    tokens = np.array(held + silent + held + [note, HOLD] * 8 + held, np.int32)  # 5 bars, bar 1 silent
    windows, starts = bar_windows(tokens, WindowSpec(2, bar, gap_steps=16, min_notes=2))
    np.testing.assert_array_equal(starts, [32, 48])
    np.testing.assert_array_equal(windows[0], tokens[32:64])
    # one onset held for two bars: not silent, but too few notes
    assert len(bar_windows(np.array([note] + [HOLD] * 31), WindowSpec(2, bar, 16, 2))[0]) == 0
    assert len(bar_windows(np.array([note] + [HOLD] * 31), WindowSpec(2, bar, 16, 1))[0]) == 1


def test_batches_are_a_pure_function_of_step(task):
    a, b = task.batch(3), music_vae.make(get_config("tiny")).batch(3)  # a second task: a resumed run
    np.testing.assert_array_equal(a["tokens"], b["tokens"])
    assert a["tokens"].shape == (8, 32) and a["tokens"].dtype == np.int32
    assert not np.array_equal(a["tokens"], task.batch(4)["tokens"])
    assert (a["tokens"] >= 3).all() and (a["tokens"] < 66).all()  # no BOS/EOS/PAD inside a window
    halves = [task.batch(3, i, 2)["tokens"] for i in (0, 1)]
    np.testing.assert_array_equal(np.concatenate(halves), a["tokens"])
    # transposition keeps rhythm: the same windows' non-note tokens appear in the same places
    train = task.extra["windows"]("train")["tokens"].astype(np.int32)
    rhythm = lambda x: np.where(x >= NUM_SPECIAL, -1, x)
    known = {rhythm(t).tobytes() for t in train}
    assert all(rhythm(t).tobytes() in known for t in a["tokens"])


def test_jitted_step_lowers_the_loss_and_compiles_once(task, trained):
    init, state, step, metrics = trained
    assert step._cache_size() == 1
    assert int(state.step) == 16 and float(metrics["finite"]) == 1.0
    before, after = task.evaluate(init, "valid"), task.evaluate(state, "valid")
    assert after["neg_elbo"] < 0.6 * before["neg_elbo"], (before, after)
    assert after["nll"] < before["nll"]
    assert 0.0 < metrics["p_teacher"] < 0.2 and metrics["beta"] > 0.15  # schedules reached the loss
    name, direction = task.best_metric
    assert name in after and direction == "min"
    for k in ("accuracy", "sampled_accuracy"):
        assert 0.0 <= after[k] <= 1.0
    assert after["windows"] == 32 and after["kl_bits"] >= 0.0


def test_report_sample_and_interpolate(task, trained, chorales):
    _, state, _, _ = trained
    report = task.full_report(state, "test")
    assert report["windows"] == len(task.extra["windows"]("test")["tokens"])
    for side in ("prior_samples", "test"):
        assert {"pitch_range", "in_key", "pitch_4gram_repetition"} <= set(report["music_stats"][side])
    use = report["decoder_use_of_z"]
    assert use["windows"] == report["windows"]
    assert use["sampled_accuracy_own_z"] == pytest.approx(report["sampled_accuracy"])  # both argmax from mu

    samples = task.sample(state, 4, seed=7, temperature=1.0)  # 4 rows as the report's: compiled once
    again = task.sample(state, 4, seed=7, temperature=1.0, primer=None, steps=None)
    assert len(samples) == 4 and all(s.duration_q <= 8.0 for s in samples)
    assert all(np.array_equal(a.pitch, b.pitch) for a, b in zip(samples, again))

    a, b = [c for c in chorales if c.meta.meter == "4/4"][:2]
    path = task.extra["interpolate"](state, a, b, 4, "slerp")
    assert len(path) == 4
    # the first is the argmax reconstruction of a's first window from its posterior mean
    model, codec = task.extra["model"], task.extra["data"].codec
    window = music_vae.fit_window(codec.encode(a, 0), 32)[None]
    reconstruct = jax.jit(lambda p, x: music_vae.decode_from_z(
        model, p, model.apply({"params": p}, x, method=model.encode)[0], jax.random.key(0), temperature=0.0))
    recon = reconstruct(state.params, jnp.asarray(window))
    expected = codec.decode(np.asarray(recon)[0])
    np.testing.assert_array_equal(path[0].pitch, expected.pitch)
    np.testing.assert_allclose(path[0].start_q, expected.start_q)
    same = task.extra["interpolate"](state, a, a, 4, "lerp")
    assert all(np.array_equal(s.pitch, same[0].pitch) for s in same)


def test_decoder_use_of_z_against_a_hand_reference(task, trained):
    """5 windows (shuffled with rng(0), the batch padded to 16): the NLL from the own and the
    previous shuffled window's mean match model.apply; a decoder whose z path is zeroed reads 0
    nats from z."""
    _, state, _, _ = trained
    model = task.extra["model"]
    tokens = task.extra["windows"]("test")["tokens"][:5].astype(np.int32)
    use = task.extra["decoder_use_of_z"](state, tokens)
    assert use["windows"] == 5

    def nll(params, x, z):
        logits = model.apply({"params": params}, z, music_vae.decoder_inputs(x), method=model.decode)
        logp = jax.nn.log_softmax(logits)
        return -float(jnp.take_along_axis(logp, x[..., None], axis=-1).sum()) / len(x)

    mu = model.apply({"params": state.params}, tokens, method=model.encode)[0]
    np.testing.assert_allclose(use["nll_own_z"], nll(state.params, tokens, mu), rtol=1e-5)
    order = np.random.default_rng(0).permutation(5)
    previous = order[np.array([4, 0, 1, 2, 3])]  # shuffled row i reads shuffled row i - 1's mean
    np.testing.assert_allclose(use["nll_other_z"], nll(state.params, tokens[order], mu[previous]), rtol=1e-5)
    assert use["nats_from_z"] != 0.0

    core = state.params["decoder"]["core"]
    deaf = {**state.params, "decoder": {**state.params["decoder"], "core": {
        **core, "w_cond": jax.tree.map(jnp.zeros_like, core["w_cond"]),
        "initial_state": jax.tree.map(jnp.zeros_like, core["initial_state"])}}}
    ignored = task.extra["decoder_use_of_z"](state.replace(params=deaf), tokens)
    assert ignored["nats_from_z"] == 0.0
    assert ignored["sampled_accuracy_own_z"] == ignored["sampled_accuracy_other_z"]
    assert ignored["accuracy_own_z"] == ignored["accuracy_other_z"]


def test_scheduled_sampling_pieces():
    np.testing.assert_allclose(music_vae.teacher_forcing_probability(0, 1000.0), 1000 / 1001, rtol=1e-6)
    np.testing.assert_allclose(music_vae.teacher_forcing_probability(5000, 1000.0), 1000 / (1000 + np.exp(5)),
                               rtol=1e-5)
    assert float(music_vae.teacher_forcing_probability(10**6, 0.0)) == 1.0
    tokens = jnp.asarray(np.random.default_rng(0).integers(3, 66, (4, 32)), jnp.int32)
    predicted = (tokens + 1) % 66
    peaked = jax.nn.one_hot(predicted, 66) * 1e4  # sampling these logits draws `predicted`
    key = jax.random.key(0)
    teacher = music_vae.scheduled_inputs(tokens, peaked, 1.0, key)
    sampled = music_vae.scheduled_inputs(tokens, peaked, 0.0, key)
    np.testing.assert_array_equal(teacher[:, 1:], tokens[:, :-1])
    np.testing.assert_array_equal(sampled[:, 1:], predicted[:, :-1])
    assert (teacher[:, 0] == BOS).all() and (sampled[:, 0] == BOS).all()
    half = music_vae.scheduled_inputs(tokens, peaked, 0.5, key)
    share = float(jnp.mean(half[:, 1:] == predicted[:, :-1]))
    assert 0.3 < share < 0.7


def test_pitch_ngram_repetition_and_slerp():
    from musicjax.data.score import make_score

    motif = [60, 62, 64, 65]
    s = make_score(motif * 3, np.arange(12.0), np.arange(12.0) + 1)  # 9 4-grams, 5 repeat earlier ones
    assert music_vae.pitch_ngram_repetition(s) == pytest.approx(5 / 9)
    assert np.isnan(music_vae.pitch_ngram_repetition(make_score([60, 62], [0, 1], [1, 2])))
    a, b = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    np.testing.assert_allclose(music_vae.slerp(a, b, 0.0), a, atol=1e-12)
    np.testing.assert_allclose(music_vae.slerp(a, b, 1.0), b, atol=1e-12)
    mid = music_vae.slerp(a, 2 * np.array([0.0, 1.0]) / 2, 0.5)
    np.testing.assert_allclose(np.linalg.norm(mid), 1.0)


def test_hierarchical_variant_trains():
    config = get_config("tiny")
    config.model.decoder = "hierarchical"
    task = music_vae.make(config)
    state = jax.jit(task.init)(jax.random.key(0))
    assert "conductor_state" in state.params["decoder"]
    step = jax.jit(task.train_step, donate_argnums=0)
    losses = []
    for i in range(10):
        state, metrics = step(state, task.batch(i), jax.random.key(1))
        losses.append(float(metrics["loss"]))
    assert step._cache_size() == 1
    assert np.mean(losses[-3:]) < 0.7 * losses[0], losses
