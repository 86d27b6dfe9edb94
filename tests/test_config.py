"""Experiment configs as a newcomer writes them: a short file that states only what differs from
its family's defaults, or one that imports a base config, each loaded from any directory; fields
the family does not have, values of the wrong type and values outside a field's choices are errors
that name the field."""

import pathlib
import textwrap

import pytest

from musicjax import config as cfg
from musicjax.config import ConfigError, load_config

REPO = pathlib.Path(__file__).resolve().parents[1]


def _write(folder: pathlib.Path, name: str, body: str) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


SHORT = """
    import ml_collections


    def get_config(variant="default"):
        c = ml_collections.ConfigDict()
        c.model_family = "melody_lstm"
        c.data = ml_collections.ConfigDict({"sources": (("bach_chorales", 0),)})
        c.model = ml_collections.ConfigDict({"hidden": 32, "embed_dim": 16})
        c.train = ml_collections.ConfigDict({"num_steps": 2, "batch_size": 4, "seq_len": 32, "learning_rate": 1})
        c.log_every = c.eval_every = c.checkpoint_every = 2
        c.eval_length = 64
        return c
"""


def test_a_short_experiment_takes_the_rest_from_its_family_defaults_and_trains(tmp_path, monkeypatch):
    from musicjax import tasks
    from musicjax.train.loop import train

    path = _write(tmp_path / "mine" / "experiments", "short.py", SHORT)
    monkeypatch.chdir(tmp_path)  # not the checkout
    c = load_config(str(path))
    base = cfg.defaults("melody_lstm")
    assert c.model.hidden == 32 and c.train.num_steps == 2 and c.data.sources == (("bach_chorales", 0),)
    assert c.data.steps_per_quarter == base.data.steps_per_quarter == 4  # the AttributeError a newcomer met
    assert c.train.learning_rate == 1.0 and isinstance(c.train.learning_rate, float)  # an int where a float goes
    assert c.sample.top_p == base.sample.top_p and c.train.schedule == base.train.schedule
    result = train(tasks.make(c), c, tmp_path / "run", quiet=True)
    assert result["step"] == 2


def test_an_experiment_imports_a_base_config_from_any_directory(tmp_path, monkeypatch):
    body = """
        from experiments import melody_lstm, pianoroll_gan


        def get_config(variant="default"):
            c = melody_lstm.get_config("tiny")
            c.train.num_steps = 7
            return c
    """
    inside = _write(tmp_path / "project" / "experiments", "on_tiny.py", body)
    for where in (tmp_path, REPO):
        monkeypatch.chdir(where)
        c = load_config(str(inside))
        assert c.train.num_steps == 7 and c.model.hidden == 32  # tiny's, with one change
    # a file anywhere else (no experiments/ beside it) still finds the checkout's experiments
    loose = _write(tmp_path / "loose", "on_tiny.py", body)
    assert load_config(str(loose)).train.num_steps == 7
    # and the checkout's own experiments are found from any directory by their usual name
    monkeypatch.chdir(tmp_path)
    assert load_config("experiments/melody_lstm.py:tiny").train.num_steps == 12


def test_unknown_fields_wrong_types_and_bad_choices_name_the_field(tmp_path):
    typo = _write(tmp_path, "typo.py", SHORT.replace('"learning_rate": 1', '"lerning_rate": 1'))
    said = r"no config field 'train.lerning_rate' \(did you mean 'train.learning_rate'\?\)"
    with pytest.raises(ConfigError, match=said):
        load_config(str(typo))
    wrong = _write(tmp_path, "wrong.py", SHORT.replace('"hidden": 32', '"hidden": "big"'))
    with pytest.raises(ConfigError, match=r"model.hidden must be of type int \(default 256\), got str 'big'"):
        load_config(str(wrong))
    with pytest.raises(ConfigError, match=r"model.implementation is 'cuda'; choose from fused, flax"):
        load_config("experiments/melody_lstm.py:tiny", ["model.implementation=cuda"])
    with pytest.raises(ConfigError, match=r"train.optimizer is 'adamm'; choose from adam, adamw"):
        load_config("experiments/melody_lstm.py:tiny", ["train.optimizer=adamm"])
    with pytest.raises(ConfigError, match=r"train is a group of fields"):
        load_config("experiments/melody_lstm.py:tiny", ["train=3"])


def test_a_config_without_a_model_family_is_not_a_training_config():
    with pytest.raises(ConfigError, match=r"not a training config: it sets no model_family.*evaluate --idyom"):
        load_config("experiments/idyom.py:kinder")
    assert load_config("experiments/idyom.py:kinder", training=False).dataset == "kinder"


def test_every_variant_of_every_experiment_matches_its_family():
    """The reference experiments' own variants only change fields the family has."""
    from musicjax.tasks import FAMILIES
    from musicjax.tasks.melody_lm import IMPLEMENTATIONS
    from musicjax.train.optim import OPTIMIZERS, SCHEDULES

    assert set(cfg.FAMILY_DEFAULTS) == set(FAMILIES)
    variants = {"melody_lstm.py": ("tiny", "demo", "default", "large", "performance", "performance_tiny"),
                "music_vae.py": ("mel_2bar", "mel_16bar_flat", "mel_16bar_hier", "tiny"),
                "lyrics_hmm.py": ("zh_chars", "zh_pinyin", "de_words", "en_words", "tiny"),
                "lyrics_lm.py": ("de_chars", "chorale_de", "zh_chars", "en_chars", "en_words", "tiny"),
                "pianoroll_gan.py": ("default", "wgan_gp", "hinge", "essen", "tiny", "tiny,hinge"),
                "transformer_melody.py": ("tiny", "default", "absolute", "large", "performance", "performance_tiny"),
                "chorale_frames.py": ("lstm_sigmoid", "lstm_sigmoid_keys", "lstm_sigmoid_distilled", "lstm_nade",
                                      "lstm_nade150", "lstm_nade_keys", "transformer_nade", "transformer_nade_keys",
                                      "transformer_sigmoid", "tiny"),
                "lyrics_seq2seq.py": ("melody_lyrics_bahdanau", "melody_lyrics_luong", "melody_lyrics_blind",
                                      "melody_lyrics_ss", "tang_next_line", "tang_blind", "tiny", "tiny_luong",
                                      "tiny_blind", "tiny_lines")}
    for file, names in variants.items():
        for v in names:
            c = load_config(f"experiments/{file}:{v}")
            assert c.model_family in FAMILIES
    from experiments import melody_lstm, pianoroll_gan

    assert set(melody_lstm.CHOICES["model.implementation"]) == set(IMPLEMENTATIONS)
    assert melody_lstm.CHOICES["train.optimizer"] == OPTIMIZERS
    assert melody_lstm.CHOICES["train.schedule"] == SCHEDULES
    from musicjax.tasks import pianoroll_gan as gan_task

    assert pianoroll_gan.CHOICES["train.schedule"] == SCHEDULES
    assert pianoroll_gan.CHOICES["model.output"] == gan_task.OUTPUTS
    assert pianoroll_gan.CHOICES["eval.binarize"] == pianoroll_gan.CHOICES["sample.binarize"] == gan_task.BINARIZE
