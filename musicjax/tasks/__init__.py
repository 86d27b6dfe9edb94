"""Model families: `model_family` (a config field) -> the module whose `make(config)` builds its
`musicjax.train.task.Task`. Modules are imported on first use, so one family's dependencies never
load for another."""

from __future__ import annotations

import importlib

FAMILIES = {
    "melody_lstm": "musicjax.tasks.melody_lm",
    "music_vae": "musicjax.tasks.music_vae",
}


def make(config):
    """The Task of `config.model_family`."""
    family = config.get("model_family", "")
    if family not in FAMILIES:
        raise ValueError(f"model_family {family!r} is not one of {', '.join(FAMILIES)}")
    return importlib.import_module(FAMILIES[family]).make(config)
