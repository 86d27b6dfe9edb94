"""The equal mixture of models: its probabilities are the members' mean, it is a normalised
distribution, and it never scores worse than its members' mean NLL (Jensen)."""

import numpy as np
import pytest

from musicjax.evaluate.ensemble import mixture_log_probs, report


def test_mixture_is_the_mean_of_the_members_probabilities():
    a, b = np.log([0.5, 0.1, 0.9]), np.log([0.3, 0.3, 0.1])
    np.testing.assert_allclose(np.exp(mixture_log_probs([a, b])), [0.4, 0.2, 0.5])
    np.testing.assert_allclose(mixture_log_probs([a]), a)
    np.testing.assert_allclose(mixture_log_probs([a, a, a]), a)


def test_mixture_of_distributions_is_a_distribution_and_beats_the_members_mean_nll():
    rng = np.random.default_rng(0)
    # Three members' distributions over 6 outcomes; the mixture's log-probability of every outcome.
    members = [np.log(rng.dirichlet(np.ones(6))) for _ in range(3)]
    assert np.isclose(np.exp(mixture_log_probs(members)).sum(), 1.0)
    outcomes = rng.integers(0, 6, 200)
    scored = [m[outcomes] for m in members]
    r = report(scored, ["a", "b", "c"])
    assert r["units"] == 200 and len(r["members"]) == 3
    assert r["mixture_nll_per_unit"] <= np.mean([m["nll_per_unit"] for m in r["members"]]) + 1e-12


def test_members_must_score_the_same_units():
    with pytest.raises(ValueError, match="different numbers of units"):
        mixture_log_probs([np.zeros(3), np.zeros(4)])
    with pytest.raises(ValueError, match="at least one"):
        mixture_log_probs([])


def test_a_transposition_ensemble_mixes_every_run_in_every_key():
    rng = np.random.default_rng(1)
    runs = [np.log(rng.uniform(0.05, 1.0, (3, 40))) for _ in range(2)]  # [shifts, units] each
    r = report(runs, ["a", "b"], shifts=(-1, 0, 1))
    assert r["shifts"] == [-1, 0, 1] and r["units"] == 40
    for run, member in zip(runs, r["members"]):
        assert np.isclose(member["nll_per_unit"], -run[1].mean())  # shift 0: the split as it stands
        assert np.isclose(member["transposed_mixture_nll_per_unit"], -mixture_log_probs(list(run)).mean())
    assert np.isclose(r["mixture_nll_per_unit"], -mixture_log_probs([*runs[0], *runs[1]]).mean())
    assert "transposed_mixture_nll_per_unit" not in report([runs[0][1]], ["a"])["members"][0]
    with pytest.raises(ValueError, match="do not hold 0"):
        report(runs, ["a", "b"], shifts=(1, 2, 3))
