"""Model families: `model_family` (a config field) -> the module that builds it. A gradient-trained
family's module has `make(config) -> musicjax.train.task.Task`, run by the one loop; a family
fitted otherwise (MCMC, SVI) has `fit(config, workdir)`, `sample(workdir, num, seed)` and
`report(workdir, split)` and writes the same kind of workdir. Modules are imported on first use,
so one family's dependencies never load for another."""

from __future__ import annotations

import importlib

FAMILIES = {
    "melody_lstm": "musicjax.tasks.melody_lm",
    "music_vae": "musicjax.tasks.music_vae",
    "lyrics_hmm": "musicjax.tasks.lyrics_hmm",
    "lyrics_lstm": "musicjax.tasks.lyrics_lm",
    "pianoroll_gan": "musicjax.tasks.pianoroll_gan",
    "music_transformer": "musicjax.tasks.music_transformer",
    "chorale_frames": "musicjax.tasks.chorale_frames",
    "lyrics_seq2seq": "musicjax.tasks.lyrics_seq2seq",
}


def module(config):
    """The module of `config.model_family`."""
    family = config.get("model_family", "")
    if family not in FAMILIES:
        raise ValueError(f"model_family {family!r} is not one of {', '.join(FAMILIES)}")
    return importlib.import_module(FAMILIES[family])


def make(config):
    """The Task of a gradient-trained `config.model_family`."""
    m = module(config)
    if not hasattr(m, "make"):
        raise ValueError(f"model family {config.model_family!r} is fitted by its own fit(), not the training loop")
    return m.make(config)
