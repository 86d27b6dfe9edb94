import pytest

from musicjax.config import ConfigError, load_config
from musicjax.demo import run_demo
from musicjax.tasks.melody_lm import MelodyLMTask
from musicjax.train.loop import TrainingDiverged, train


def test_divergence_stops_with_a_clear_message(tmp_path):
    config = load_config("experiments/melody_lstm.py:tiny")
    config.train.learning_rate = float("nan")
    with pytest.raises(TrainingDiverged, match="5 steps in a row had a non-finite"):
        train(MelodyLMTask.from_config(config), config, tmp_path, quiet=True)


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
