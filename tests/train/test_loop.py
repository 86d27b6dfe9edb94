import json
import math

import pytest

from musicjax.config import ConfigError, load_config
from musicjax.demo import run_demo
from musicjax import tasks
from musicjax.train.loop import TrainingDiverged, train


def test_divergence_stops_with_a_clear_message(tmp_path):
    config = load_config("experiments/melody_lstm.py:tiny")
    config.train.learning_rate = float("nan")
    with pytest.raises(TrainingDiverged, match="5 steps in a row had a non-finite"):
        train(tasks.make(config), config, tmp_path, quiet=True)


def test_config_overrides_are_checked():
    c = load_config("experiments/melody_lstm.py:tiny", ["train.num_steps=3", "train.learning_rate=1", "seed=4"])
    assert (c.train.num_steps, c.train.learning_rate, c.seed) == (3, 1.0, 4)
    for bad in (["train.nope=1"], ["train.num_steps=abc"], ["train.num_steps"]):
        with pytest.raises(ConfigError):
            load_config("experiments/melody_lstm.py:tiny", bad)
    with pytest.raises(ConfigError, match="unknown variant"):
        load_config("experiments/melody_lstm.py:huge")


def test_quick_demo_writes_music_and_a_results_table(tmp_path, capsys):
    summary = run_demo(tmp_path, quick=True)
    out = capsys.readouterr().out
    assert "| lstm |" in out and "| bigram |" in out and "in_key" in out
    assert set(summary["test"]["models"]) == {"lstm", "unigram", "bigram"}
    for i in range(1, 5):
        for ext in (".mid", ".wav", ".png"):
            assert (tmp_path / f"sample_{i:02d}{ext}").stat().st_size > 0
    assert (tmp_path / "demo_summary.json").exists()


def test_a_finite_blow_up_stops_the_run_and_is_never_saved_as_best(tmp_path):
    config = load_config("experiments/melody_lstm.py:tiny", ["train.learning_rate=1e6", "train.schedule='constant'"])
    with pytest.raises(TrainingDiverged, match="recent median"):
        train(tasks.make(config), config, tmp_path, quiet=True)
    lines = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]  # strict JSON
    assert all(v is None or math.isfinite(v) for row in lines for v in row.values())
    assert not list((tmp_path / "checkpoints").glob("[0-9]*"))  # nothing after the blow-up was kept


def test_writes_never_follow_a_link_out_of_the_workdir(tmp_path):
    config = load_config("experiments/melody_lstm.py:tiny")
    outside = tmp_path / "outside.txt"
    outside.write_text("mine")
    wd = tmp_path / "run"
    wd.mkdir()
    (wd / "metrics.jsonl").symlink_to(outside)
    with pytest.raises(ValueError, match="symbolic link"):
        train(tasks.make(config), config, wd, quiet=True)
    assert outside.read_text() == "mine"
