"""The chorale frame benchmark's data and task: pieces moved to C and sampled at quarter-note
starts, a piece-level split that keeps a melody in one split, every frame of a split scored once,
training lowers the NLL, and samples come back as Scores."""

import json

import numpy as np
import pytest

from musicjax.data.score import Metadata, Part, make_score
from musicjax.data.augment import shift_pitches, tonic_pitch_class
from musicjax.tasks import chorale_frames as cf
from musicjax.tasks import chorale_frames_data as cfd
from musicjax.train.loop import restore_state

SPEC = cfd.FrameSpec()


def test_frames_sample_notes_sounding_at_each_quarter_start():
    # C4 for a quarter, D4 a dotted quarter from beat 1, a passing E4 eighth at 2.5 (no frame
    # starts inside it), G4 from 3 to 4.
    score = make_score([60, 62, 64, 67], np.array([0.0, 1.0, 2.5, 3.0]), np.array([1.0, 2.5, 3.0, 4.0]),
                       parts=(Part(),), meta=Metadata(key="C major"))
    frames = cfd.piece_frames(score, SPEC)
    on = [sorted(np.flatnonzero(f) + SPEC.min_pitch) for f in frames]
    assert on == [[60], [62], [62], [67]]


def test_pieces_move_their_notated_tonic_to_c_by_the_smaller_shift(chorales):
    checked = 0
    for score in chorales[:30]:
        tonic = tonic_pitch_class(score.meta.key)
        if tonic is None:
            continue
        shift = cfd.shift_to_c(score)
        assert (tonic + shift) % 12 == 0 and -6 <= shift <= 5, score.meta.key
        frames, unmoved = cfd.piece_frames(score, SPEC), SPEC.codec.sampled(score)
        np.testing.assert_array_equal(np.roll(unmoved, shift, axis=1), frames)  # the same notes, moved
        checked += 1
    assert checked >= 20
    g_major = make_score([67], [0.0], [1.0], parts=(Part(),), meta=Metadata(key="G major"))
    f_sharp_minor = make_score([66], [0.0], [1.0], parts=(Part(),), meta=Metadata(key="f# minor"))
    assert cfd.shift_to_c(g_major) == 5 and cfd.shift_to_c(f_sharp_minor) == -6


def test_split_keeps_a_melody_in_one_split_and_counts_every_frame(chorales):
    from musicjax.data.corpora import melody_fingerprint, split_of

    fingerprint = {s.meta.source_id: melody_fingerprint(s) for s in chorales}
    for by in ("melody", "piece"):
        pieces = cfd.split_pieces(cfd.FrameSpec(split_by=by))
        ids = [set(i for i, _ in pieces[s]) for s in ("train", "valid", "test")]
        assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
        n = sum(len(pieces[s]) for s in ("train", "valid", "test"))
        assert n == len(chorales) and 0.5 < len(pieces["train"]) / n < 0.7 and len(pieces["test"]) > 40
        split = {i: s for s, group in zip(("train", "valid", "test"), ids) for i in group}
        if by == "melody":  # pieces of one melody share a split, and some melodies have several pieces
            tunes = {}
            for i, f in fingerprint.items():
                tunes.setdefault(f, set()).add(split[i])
            assert all(len(v) == 1 for v in tunes.values()) and len(tunes) < len(fingerprint)
        else:
            assert all(split[i] == split_of(i, (0.6, 0.8)) for i in split)
    with pytest.raises(ValueError, match="split_by"):
        cfd.FrameSpec(split_by="tune")


def test_transposed_training_windows_are_the_same_notes_moved_on_the_keyboard():
    pieces = cfd.split_pieces(SPEC)["train"]
    plain = cfd.training_batch(pieces, 3, 0, 16, 32, SPEC.num_keys)
    moved = cfd.training_batch(pieces, 3, 0, 16, 32, SPEC.num_keys, max_transpose=5)
    np.testing.assert_array_equal(plain["mask"], moved["mask"])  # the same pieces and windows
    shifts = set()
    for a, b in zip(plain["frames"], moved["frames"]):
        matches = [s for s in range(-5, 6) if np.array_equal(shift_pitches(a, s), b)]
        assert matches and a.sum() == b.sum()
        shifts.add(matches[0])
    assert len(shifts) > 3  # shifts drawn, not one
    tonics = [next(s for s in range(-5, 6) if np.array_equal(shift_pitches(a, s), b)) % 12
              for a, b in zip(plain["frames"], moved["frames"]) if a.any()]
    assert list(moved["tonic"][plain["frames"].any((1, 2))]) == tonics  # each window says where C went
    assert not plain["tonic"].any()
    for a, b, c in zip(plain["previous"], moved["previous"], moved["frames"]):
        assert np.array_equal(b[1:], c[:-1])  # inputs are still the frames before
    assert np.array_equal(shift_pitches(np.eye(4)[:1], -1), [[0, 0, 0, 0]])


def test_training_windows_carry_their_targets_moved_with_them():
    pieces = cfd.split_pieces(SPEC)["train"]
    plain = cfd.training_batch(pieces, 5, 0, 16, 32, SPEC.num_keys, max_transpose=6)
    # The frames as targets: each window's targets must be its own frames, moved by its own shift.
    with_targets = cfd.training_batch(pieces, 5, 0, 16, 32, SPEC.num_keys, max_transpose=6,
                                     targets=[f.astype(np.float32) for _, f in pieces])
    for k in plain:
        np.testing.assert_array_equal(plain[k], with_targets[k])  # the same windows and shifts
    np.testing.assert_array_equal(with_targets["soft"], with_targets["frames"])
    assert with_targets["soft"].dtype == np.float32 and "soft" not in plain


def test_answers_moved_back_line_up_with_the_unmoved_keys():
    rng = np.random.default_rng(0)
    values = rng.random((5, 88)).astype(np.float32)
    for shift in (-3, 0, 4):
        back = cfd.moved_back(shift_pitches(values, shift), shift)
        lost = np.isnan(back)
        assert lost.sum() == 5 * abs(shift)  # the keys pushed off the keyboard, on one side
        np.testing.assert_array_equal(back[~lost], values[~lost])


@pytest.fixture(scope="module")
def trained(train_run):
    config, task, workdir = train_run("experiments/chorale_frames.py:tiny",
                                      ["train.num_steps=10", "train.learning_rate=1e-2"], "frames")
    state, _ = restore_state(task, config, workdir, "latest")
    return config, task, workdir, state


def test_training_lowers_the_frame_nll(trained):
    config, task, workdir, state = trained
    losses = [json.loads(l)["loss"] for l in (workdir / "metrics.jsonl").read_text().splitlines() if '"loss"' in l]
    assert losses[-1] < losses[0] - 10.0  # from ~61 nats (every key a coin) towards the marginals


def test_evaluation_scores_every_frame_once(trained):
    config, task, workdir, state = trained
    result = task.evaluate(state, "valid")
    assert result["frames"] == sum(len(f) for _, f in task.extra["pieces"]("valid"))
    report = task.report(state, "valid")
    assert report["models"]["key_marginals"]["frames"] == result["frames"]
    assert {r["nll_per_frame"] for r in report["published"]} >= {8.45, 5.19}


@pytest.fixture(scope="module")
def trained_in_every_key(train_run):
    config, task, workdir = train_run("experiments/chorale_frames.py:tiny",
                                      ["train.num_steps=10", "seed=1", "model.tonic_input=True",
                                       "data.max_transpose=6"], "frames_keys")
    state, _ = restore_state(task, config, workdir, "latest")
    return config, task, workdir, state


def test_transposed_scoring_is_the_model_on_the_moved_frames_told_their_tonic(trained_in_every_key):
    import jax.numpy as jnp
    from musicjax.train.losses import frame_log_prob

    config, task, workdir, state = trained_in_every_key
    score = task.extra["unit_log_probs"]
    source, first = task.extra["pieces"]("valid")[0]
    moved = shift_pitches(first, 2)  # reference: the first piece moved by hand, scored alone
    previous = np.concatenate([np.zeros_like(moved[:1]), moved[:-1]]).astype(np.float32)
    logits, _ = task.extra["model"].apply({"params": state.params}, previous[None], moved[None].astype(np.float32),
                                          tonic=jnp.array([2]))
    want = np.asarray(frame_log_prob(logits, jnp.asarray(moved[None], jnp.float32)))[0]
    got = score(state, "valid", transpose=2)
    np.testing.assert_allclose(got[:len(first)], want, rtol=1e-5, atol=1e-5)
    plain = score(state, "valid")
    np.testing.assert_array_equal(score(state, "valid", transpose=0), plain)
    assert len(got) == len(plain) and not np.allclose(got, plain)
    with pytest.raises(ValueError, match="leave the 88-key keyboard"):
        score(state, "valid", transpose=60)


def test_an_ensemble_of_two_runs_scores_their_mixture_from_the_cli(trained, trained_in_every_key, capsys):
    from musicjax.cli import main

    config, task, workdir, state = trained
    other = trained_in_every_key[2]
    lp = task.extra["unit_log_probs"](state, "valid")
    assert len(lp) == task.evaluate(state, "valid")["frames"] and np.all(lp < 0)
    assert np.isclose(-lp.mean(), task.evaluate(state, "valid")["nll_per_frame"])
    capsys.readouterr()
    assert main(["evaluate", "--workdir", str(workdir), "--ensemble", str(other), "--split", "valid",
                 "--checkpoint", "latest"]) == 0
    out = json.loads((workdir / "ensemble_valid.json").read_text())
    assert out == json.loads(capsys.readouterr().out)
    members = [m["nll_per_unit"] for m in out["members"]]
    assert np.isclose(members[0], -lp.mean()) and members[0] != members[1]
    assert out["units"] == len(lp) and out["mixture_nll_per_unit"] < np.mean(members)
    # One run mixed over the keys -1..1: its own NLL unchanged, the mixture's from the three keys.
    assert main(["evaluate", "--workdir", str(other), "--transpose", "1", "--split", "valid",
                 "--checkpoint", "latest"]) == 0
    moved = json.loads((other / "ensemble_valid.json").read_text())
    assert moved["shifts"] == [-1, 0, 1] and np.isclose(moved["members"][0]["nll_per_unit"], members[1])
    assert np.isclose(moved["members"][0]["transposed_mixture_nll_per_unit"], moved["mixture_nll_per_unit"])
    assert main(["evaluate", "--workdir", str(other), "--transpose", "-1", "--split", "valid"]) == 1


@pytest.fixture(scope="module")
def sigmoid_teacher(train_run):
    config, task, workdir = train_run("experiments/chorale_frames.py:tiny",
                                      ["train.num_steps=10", "train.learning_rate=1e-2", "model.head='sigmoid'",
                                       "model.tonic_input=True", "data.max_transpose=6"], "frames_sigmoid")
    state, _ = restore_state(task, config, workdir, "best")
    return config, task, workdir, state


def test_teacher_marginals_average_the_key_probabilities_over_the_shifts(sigmoid_teacher, trained):
    from scipy.special import expit

    config, task, workdir, state = sigmoid_teacher
    logits = task.extra["key_logits"]
    pieces = task.extra["pieces"]("valid")
    # Each key's probability at shift 0 is the model's: its frames' log-probabilities match the scorer's.
    plain = [expit(l.astype(np.float64)) for l in logits(state, "valid")]
    logp = np.concatenate([(f * np.log(p) + (1 - f) * np.log1p(-p)).sum(-1) for p, (_, f) in zip(plain, pieces)])
    np.testing.assert_allclose(logp, task.extra["unit_log_probs"](state, "valid"), rtol=1e-4, atol=1e-3)
    # A moved answer is the model on the moved piece, told its tonic, with its keys moved back.
    import jax.numpy as jnp

    source, first = pieces[0]
    moved_piece = shift_pitches(first, 2).astype(np.float32)
    previous = np.concatenate([np.zeros_like(moved_piece[:1]), moved_piece[:-1]])
    direct, _ = task.extra["model"].apply({"params": state.params}, previous[None], moved_piece[None],
                                          tonic=jnp.array([2]))
    np.testing.assert_allclose(logits(state, "valid", 2)[0], cfd.moved_back(np.asarray(direct)[0], 2),
                               rtol=1e-5, atol=1e-5)
    moved = [logits(state, "valid", s) for s in (-1, 0, 1)]
    want = [np.nanmean(expit(np.stack(ls)), 0) for ls in zip(*moved)]
    got = cf.teacher_marginals([workdir], task.extra["spec"], "valid", 1)
    assert len(got) == len(pieces) and all(g.shape == f.shape for g, (_, f) in zip(got, pieces))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[0], plain[0])  # the moved answers differ: the mean is not the plain one
    nade_workdir = trained[2]
    with pytest.raises(ValueError, match=f"{nade_workdir}: per-key answers need the sigmoid head"):
        cf.teacher_marginals([nade_workdir], task.extra["spec"], "valid", 0)
    with pytest.raises(ValueError, match="no config.json"):
        cf.teacher_marginals([workdir / "nothing"], task.extra["spec"], "valid", 0)
    with pytest.raises(ValueError, match=f"{workdir}: trained on other data"):
        cf.teacher_marginals([workdir], cfd.FrameSpec(split_by="piece"), "valid", 0)


def test_logits_averaged_over_keys_score_one_factorised_distribution(sigmoid_teacher):
    config, task, workdir, state = sigmoid_teacher
    averaged = task.extra["averaged_logits_nll"]
    one = averaged(state, "valid", 0)
    assert np.isclose(one["nll_per_frame"], task.evaluate(state, "valid")["nll_per_frame"], rtol=1e-5)
    pieces = task.extra["pieces"]("valid")
    mean = [np.nanmean(np.stack(ls).astype(np.float64), 0)
            for ls in zip(*[task.extra["key_logits"](state, "valid", s) for s in (-2, -1, 0, 1, 2)])]
    want = -sum(float(np.sum(f * -np.logaddexp(0, -m) + (1 - f) * -np.logaddexp(0, m)))
                for m, (_, f) in zip(mean, pieces))
    got = averaged(state, "valid", 2)
    assert np.isclose(got["nll_per_frame"], want / got["frames"], rtol=1e-6)
    assert got["nll_per_frame"] != one["nll_per_frame"]
    report = task.report(state, "valid")["models"]
    assert np.isclose(report["lstm_sigmoid_logits_averaged_over_keys"]["nll_per_frame"],
                      averaged(state, "valid", 6)["nll_per_frame"])


def test_a_student_trains_towards_its_teacher(sigmoid_teacher, train_run):
    teacher = str(sigmoid_teacher[2])
    config, task, workdir = train_run("experiments/chorale_frames.py:tiny",
                                      ["train.num_steps=6", "model.head='sigmoid'", "model.tonic_input=True",
                                       "data.max_transpose=6", f"distill.teachers=('{teacher}',)",
                                       "distill.transpose=1", "distill.weight=1.0"], "frames_student")
    lines = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines() if '"loss"' in l]
    # The loss is the cross-entropy against the teacher's probabilities, the frames' NLL logged beside it.
    assert lines and all(np.isfinite(l["loss"]) and np.isfinite(l["nll"]) and l["loss"] != l["nll"] for l in lines)
    batch = task.batch(0)
    soft = batch["soft"][batch["mask"] > 0]
    assert batch["soft"].shape == batch["frames"].shape and 0.0 <= soft.min() and soft.max() <= 1.0
    assert len(np.unique(soft)) > 100  # probabilities, not the 0/1 frames
    # They are the teacher's answers over the shifts -1..1, on the windows the batch drew.
    targets = cf.teacher_marginals([teacher], task.extra["spec"], "train", 1)
    want = cfd.training_batch(task.extra["pieces"]("train"), 0, config.seed, config.train.batch_size,
                             config.train.seq_len, config.data.num_keys, config.data.max_transpose, targets)
    np.testing.assert_array_equal(batch["soft"], want["soft"])
    with pytest.raises(ValueError, match="distill.weight"):
        cf.make(_with(config, "distill.weight", 1.5))
    with pytest.raises(ValueError, match="names no workdir"):
        cf.make(_with(config, "distill.teachers", "()"))
    with pytest.raises(ValueError, match="distill.transpose must be 0 or more"):
        cf.make(_with(config, "distill.transpose", -1))


def test_the_soft_target_loss_is_least_where_each_probability_meets_its_target():
    import jax
    import jax.numpy as jnp
    from musicjax.train.losses import frame_nll

    target = jnp.asarray(np.random.default_rng(1).uniform(0.05, 0.95, (2, 3, 88)), jnp.float32)
    mask = jnp.ones((2, 3))
    grad = jax.grad(lambda l: frame_nll(l, target, mask)[0])
    at_target = jnp.log(target) - jnp.log1p(-target)
    np.testing.assert_allclose(grad(at_target), 0.0, atol=1e-6)
    assert float(frame_nll(at_target, target, mask)[0]) < float(frame_nll(at_target + 0.3, target, mask)[0])
    t = np.asarray(target, np.float64)
    entropy = -(t * np.log(t) + (1 - t) * np.log1p(-t)).sum(-1).mean()  # the least cross-entropy
    np.testing.assert_allclose(float(frame_nll(at_target, target, mask)[0]), entropy, rtol=1e-5)
    hard = (t > 0.5).astype(np.float32)  # 0/1 targets: the frames' NLL as before
    want = -(hard * np.log(t) + (1 - hard) * np.log1p(-t)).sum(-1).mean()
    np.testing.assert_allclose(float(frame_nll(at_target, jnp.asarray(hard), mask)[0]), want, rtol=1e-5)


def _with(config, key, value):
    from musicjax.config import apply_override

    changed = config.copy_and_resolve_references()
    apply_override(changed, f"{key}={value}")
    return changed


def test_samples_are_scores_of_the_asked_length(trained, chorales):
    config, task, workdir, state = trained
    scores = task.sample(state, 2, seed=0, steps=12)
    assert len(scores) == 2 and all(s.end_q.max() <= 12 for s in scores if s.num_notes)
    primed = task.sample(state, 1, seed=0, steps=4, primer=chorales[0])[0]
    first = cfd.piece_frames(chorales[0], SPEC)
    again = SPEC.codec.sampled(primed)
    assert len(again) >= len(first)
    np.testing.assert_array_equal(again[:len(first)], first)


def test_the_transformer_frame_sampler_grows_its_cache_and_draws_as_the_full_one():
    """generate() grows a Transformer body's KV cache (64 slots, then 128 here); a plain loop over
    the whole max_len cache, frame t drawn with fold_in(key, t), draws the same frames."""
    import jax
    import jax.numpy as jnp

    from musicjax.config import load_config

    config = load_config("experiments/chorale_frames.py:tiny", ["model.body='transformer'", "model.max_len=150"])
    task = cf.make(config)
    model, generate = task.extra["model"], task.extra["generate"]
    params = jax.jit(task.init)(jax.random.key(0)).params
    prefix = jnp.zeros((1, model.num_keys), jnp.float32)
    key, steps = jax.random.key(3), 100
    frames = np.asarray(generate(params, prefix, key, 1.0, 2, steps))

    variables = {"params": params}
    context, state = model.apply(variables, jnp.broadcast_to(prefix, (2, 1, model.num_keys)), method=model.context)
    assert state["layers"][0][0].shape[2] == 150  # the reference reads every slot

    @jax.jit
    def step(last, state, t):
        frame = model.apply(variables, last, jax.random.fold_in(key, t), 1.0, method=model.sample_frame)
        context, state = model.apply(variables, frame[:, None], state, method=model.context)
        return context[:, -1], state, frame

    last, want = context[:, -1], []
    for t in range(steps):
        last, state, frame = step(last, state, t)
        want.append(np.asarray(frame))
    assert frames.shape == (2, steps, model.num_keys) and frames.sum() > 0
    np.testing.assert_array_equal(frames, np.stack(want, 1))
