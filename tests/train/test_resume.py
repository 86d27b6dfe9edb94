import json

import jax
import numpy as np

from musicjax.config import load_config
from musicjax import tasks
from musicjax.train.loop import restore_state, train


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def test_stop_and_resume_equals_uninterrupted_run_bitwise(tmp_path):
    config = load_config("experiments/melody_lstm.py:tiny")
    task = tasks.make(config)
    whole = train(task, config, tmp_path / "whole", quiet=True)
    train(task, config, tmp_path / "split", quiet=True, stop_at=5)  # an interruption at step 5
    resumed = train(task, config, tmp_path / "split", quiet=True)
    assert whole["step"] == resumed["step"] == config.train.num_steps
    for k in ("loss", "grad_norm", "valid_nll_per_token"):
        assert whole[k] == resumed[k], k
    a, _ = restore_state(task, config, tmp_path / "whole", which="latest")
    b, _ = restore_state(task, config, tmp_path / "split", which="latest")
    assert all(np.array_equal(x, y) for x, y in zip(_leaves(a), _leaves(b)))
    # the best checkpoint is chosen from metrics committed inside the checkpoints: the same step
    assert restore_state(task, config, tmp_path / "whole")[1] == restore_state(task, config, tmp_path / "split")[1]
    lines = [json.loads(l) for l in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["step"] == config.log_every and "tokens_per_s" in lines[0]
    assert (tmp_path / "whole" / "config.json").exists() and list((tmp_path / "whole" / "tb").iterdir())
