"""The Music Transformer family on the one training loop: the melody LM task around it trains
(loss falls), evaluates beside the n-gram baselines under its own row name, samples through the
shared sampler with its KV cache, and refuses a sample longer than its cache."""

import json

import numpy as np
import pytest

from musicjax.cli import main
from musicjax.config import load_config
from musicjax.tasks import make
from musicjax.train.loop import restore_state


@pytest.fixture(scope="module")
def trained(train_run):
    return train_run("experiments/transformer_melody.py:tiny", ["train.num_steps=16", "train.learning_rate=3e-3"],
                     "transformer")


def test_training_lowers_the_loss(trained):
    config, task, workdir = trained
    lines = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
    losses = [l["loss"] for l in lines if "loss" in l]
    assert len(losses) >= 4 and losses[-1] < losses[0] - 0.3


def test_report_names_the_transformer_row_beside_the_baselines(trained, capsys):
    config, task, workdir = trained
    assert main(["evaluate", "--workdir", str(workdir), "--split", "valid"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["models"]) == {"transformer", "unigram", "bigram"}
    row = result["models"]["transformer"]
    assert 0 < row["nll_per_token"] < np.log(task.extra["data"].codec.vocab_size)
    assert main(["evaluate", "--workdir", str(workdir), "--split", "valid", "--checkpoint", "latest"]) == 0
    latest = json.loads(capsys.readouterr().out)
    assert (latest["checkpoint"], latest["checkpoint_step"]) == ("latest", config.train.num_steps)


def test_samples_decode_and_too_long_is_refused(trained):
    config, task, workdir = trained
    state, _ = restore_state(task, config, workdir, "latest")
    scores = task.sample(state, 2, seed=1, steps=40)
    assert len(scores) == 2 and all(s.num_notes > 0 for s in scores)
    with pytest.raises(ValueError, match="exceed the model's max_len 64"):
        task.sample(state, 1, seed=1, steps=64)


def test_config_longer_than_the_cache_is_a_clear_error():
    config = load_config("experiments/transformer_melody.py:tiny", ["model.max_len=16"])
    with pytest.raises(ValueError, match="model.max_len 16 is shorter"):
        make(config)
