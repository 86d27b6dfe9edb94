"""The lyrics HMM family end to end on the real lyrics corpus (`tiny`: 120 chorale verse lines):
fit writes its workdir, a rerun redoes nothing, sample and report read it back, a changed config is
refused."""

import json

import numpy as np
import pytest

from experiments import lyrics_hmm as experiment
from musicjax.tasks import lyrics_data, lyrics_hmm

pytestmark = pytest.mark.slow  # one tiny fit: EM, SVI and NUTS each compile (about a minute)

EXPECTED = ("config.json", "vocab.json", "oov.json", "ml.npz", "posterior.npz", "svi.npz", "diagnostics.json",
            "states.json", "states.md", "samples.txt", "eval_valid.json", "fit.json")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    config = experiment.get_config("tiny")
    workdir = tmp_path_factory.mktemp("lyrics_hmm")
    return config, workdir, lyrics_hmm.fit(config, workdir)


def test_fit_writes_the_workdir(fitted):
    config, workdir, result = fitted
    for name in EXPECTED:
        assert (workdir / name).exists(), name
    with np.load(workdir / "posterior.npz") as z:
        k, v = config.model.num_states, config.data.vocab_size
        assert z["emit"].shape == (config.mcmc.num_chains, config.mcmc.num_samples, k, v)
        np.testing.assert_allclose(z["emit"].sum(-1), 1.0, rtol=1e-4)
        np.testing.assert_allclose(z["trans"].sum(-1), 1.0, rtol=1e-4)
    diag = json.loads((workdir / "diagnostics.json").read_text())
    assert set(diag["per_site"]) == {"init", "trans", "emit", "potential_energy"}
    assert diag["ess_min_per_second"] > 0 and np.isfinite(diag["r_hat_max_all"])
    assert result["data"]["train_lines"] == config.data.max_lines
    # EM never ends below its start, and every model's validation perplexity is finite
    assert all(np.isfinite(p) and p > 1 for p in result["valid_perplexity"].values())
    assert (workdir / "samples.txt").read_text().count("\n") == config.sample.num_lines


def test_rerun_reuses_every_stage(fitted):
    config, workdir, _ = fitted
    before = {n: (workdir / n).stat().st_mtime_ns for n in ("ml.npz", "posterior.npz", "svi.npz")}
    again = lyrics_hmm.fit(config, workdir)
    assert {n: (workdir / n).stat().st_mtime_ns for n in before} == before
    assert again["nuts"]["r_hat_max_all"] == json.loads((workdir / "diagnostics.json").read_text())["r_hat_max_all"]


def test_a_changed_config_is_refused(fitted):
    from musicjax.train.loop import ConfigChanged

    config, workdir, _ = fitted
    changed = experiment.get_config("tiny")
    changed.model.num_states = 4
    with pytest.raises(ConfigChanged):
        lyrics_hmm.fit(changed, workdir)


def test_sample_is_seeded_and_uses_real_words(fitted):
    config, workdir, _ = fitted
    lines = lyrics_hmm.sample(workdir, 6, seed=3)
    assert lines == lyrics_hmm.sample(workdir, 6, seed=3) and len(lines) == 6
    assert not any("<unk>" in l or "<eos>" in l for l in lines)
    train_words = {t for l in lyrics_data.split_lines(config.data, "train") for t in l}
    assert {t for l in lines for t in lyrics_data.line_tokens(l, "words", True)} <= train_words


def test_report_table(fitted):
    _, workdir, _ = fitted
    rep = lyrics_hmm.report(workdir, "test")
    models = [r["model"] for r in rep["rows"]]
    assert any("NUTS posterior predictive" in m for m in models) and any("EM" in m for m in models)
    assert any(m.startswith("PPM*") for m in models)
    for r in rep["rows"]:
        assert np.isclose(r["perplexity"], 2 ** r["bits_per_token"])
        assert f"{r['perplexity']:.2f}" in rep["markdown"]
    assert rep["tokens"] > rep["lines"] > 0
