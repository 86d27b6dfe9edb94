"""Experiment configs: `path/to/experiment.py[:variant]` -> its `get_config(variant)`, completed
from its family's defaults and checked against them, with `key.sub=value` overrides (values
parsed as Python literals, else kept as strings).

A family's defaults are its reference experiment's config (`FAMILY_DEFAULTS`): a new experiment
states only what differs from them, or imports a base config (`from experiments import
melody_lstm`) — the checkout's root is importable while an experiment file loads, from any
directory. A field the family does not have is an error naming it, as is a value of the wrong
type, or one outside the choices the reference experiment lists in its `CHOICES`."""

from __future__ import annotations

import ast
import contextlib
import copy
import difflib
import importlib.util
import pathlib
import sys

import ml_collections

REPO = pathlib.Path(__file__).resolve().parents[1]  # the checkout: experiments/ lives here
EXPERIMENTS = REPO / "experiments"
# model_family -> (its reference experiment in experiments/, the variant whose config is the defaults)
FAMILY_DEFAULTS = {
    "melody_lstm": ("melody_lstm.py", "default"),
    "music_vae": ("music_vae.py", "mel_2bar"),
    "lyrics_hmm": ("lyrics_hmm.py", "zh_chars"),
    "lyrics_lstm": ("lyrics_lm.py", "de_chars"),
    "pianoroll_gan": ("pianoroll_gan.py", "default"),
    "music_transformer": ("transformer_melody.py", "default"),
    "chorale_frames": ("chorale_frames.py", "lstm_nade"),
    "lyrics_seq2seq": ("lyrics_seq2seq.py", "melody_lyrics_bahdanau"),
}
_SET_BY_LOADER = ("experiment",)  # fields load_config adds itself


class ConfigError(ValueError):
    pass


def load_config(spec: str, overrides=(), *, training: bool = True) -> ml_collections.ConfigDict:
    """The config `spec` names, completed from its family's defaults, checked, then overridden.

    `training`: the config must name a model family (`musicjax train`); False for configs of
    another kind, such as the IDyOM benchmark's, which are loaded as they are."""
    path, _, variant = spec.partition(":")
    file = _experiment_file(path)
    module = _load_module(file, path)
    config = _call_get_config(module, path, variant)
    name = f"{path}:{variant or 'default'}"
    family = config.get("model_family")
    if family is not None or training:
        if family not in FAMILY_DEFAULTS:
            raise ConfigError(_not_a_training_config(name, config, family))
        config = complete(config, family, name)
    config.experiment = name
    for item in overrides:
        apply_override(config, item)
    if family is not None:
        check_choices(config, family, name)
    return config


def _experiment_file(path: str) -> pathlib.Path:
    file = pathlib.Path(path)
    if not file.exists() and not file.is_absolute() and (REPO / file).exists():
        file = REPO / file  # `experiments/x.py` names the checkout's file from any directory
    if not file.is_file():
        raise ConfigError(f"{path}: no such experiment file")
    return file.resolve()


@contextlib.contextmanager
def _importable_roots(file: pathlib.Path):
    """While an experiment loads, its folder's parent and the checkout's root are on sys.path, so
    that `from experiments import melody_lstm` finds the base config wherever the command runs."""
    roots = [str(r) for r in dict.fromkeys((file.parent.parent, REPO)) if str(r) not in sys.path]
    sys.path[:0] = roots
    try:
        yield
    finally:
        for r in roots:
            sys.path.remove(r)


def _load_module(file: pathlib.Path, shown: str):
    module_spec = importlib.util.spec_from_file_location(f"musicjax_experiment_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    with _importable_roots(file):
        try:
            module_spec.loader.exec_module(module)
        except Exception as e:
            raise ConfigError(f"{shown}: cannot load ({type(e).__name__}: {e})") from None
    if not hasattr(module, "get_config"):
        raise ConfigError(f"{shown}: has no get_config()")
    return module


def _call_get_config(module, shown: str, variant: str) -> ml_collections.ConfigDict:
    try:
        config = module.get_config(variant) if variant else module.get_config()
    except ValueError as e:
        raise ConfigError(f"{shown}: {e}") from None
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"{shown}: get_config() returned a {type(config).__name__}, not an ml_collections.ConfigDict")
    return config


def _not_a_training_config(name: str, config, family) -> str:
    families = ", ".join(FAMILY_DEFAULTS)
    if family is None:
        hint = (f"; a benchmark config: run it with `musicjax evaluate --idyom {name}`"
                if "dataset" in config and "ppm" in config else "")
        return f"{name}: not a training config: it sets no model_family (one of {families}){hint}"
    return f"{name}: model_family {family!r} is not one of {families}"


def _reference(family: str):
    """(module, config) of the family's reference experiment, read afresh (its config is copied
    into experiments that leave fields out, and must not be shared between them)."""
    file, variant = FAMILY_DEFAULTS[family]
    module = _load_module(EXPERIMENTS / file, f"experiments/{file}")
    return module, _call_get_config(module, f"experiments/{file}", variant)


def defaults(family: str) -> ml_collections.ConfigDict:
    """The family's default config: its reference experiment's (FAMILY_DEFAULTS)."""
    if family not in FAMILY_DEFAULTS:
        raise ConfigError(f"model_family {family!r} is not one of {', '.join(FAMILY_DEFAULTS)}")
    return _reference(family)[1]


def complete(config: ml_collections.ConfigDict, family: str, name: str = "config") -> ml_collections.ConfigDict:
    """`config` with every field it leaves out taken from the family's defaults; a field the
    defaults do not have, or a value whose type differs from the default's, is a ConfigError
    naming the field."""
    base = defaults(family)
    unknown = []
    _merge(config, base, "", unknown, name)
    if unknown:
        known = _leaf_names(base)
        said = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            said.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"{name}: no config field {', '.join(said)} in the {family} family "
                          f"(its fields: experiments/{FAMILY_DEFAULTS[family][0]})")
    return config


def _merge(config, base, prefix: str, unknown: list, name: str) -> None:
    for key in list(config.keys()):
        if key not in base and not (prefix == "" and key in _SET_BY_LOADER):
            unknown.append(prefix + key)
    for key, default in base.items():
        where = prefix + key
        if key not in config:
            config[key] = copy.deepcopy(default)
            continue
        value = config[key]
        if isinstance(default, ml_collections.ConfigDict):
            if not isinstance(value, ml_collections.ConfigDict):
                raise ConfigError(f"{name}: {where} is a group of fields (such as {where}.{next(iter(default))}), "
                              f"got {value!r}")
            _merge(value, default, where + ".", unknown, name)
        else:
            checked = _checked_value(where, value, default, name)
            if checked is not value:  # ConfigDict keeps a field's first type: replace the field
                del config[key]
                config[key] = checked


def _checked_value(key: str, value, default, name: str):
    """`value` for a field whose default is `default`: an int where a float is expected becomes a
    float, a list where a tuple is expected a tuple; another type is a ConfigError."""
    if default is None or value is None:
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    if isinstance(default, bool) != isinstance(value, bool) or not isinstance(value, type(default)):
        raise ConfigError(f"{name}: {key} must be of type {type(default).__name__} (default {default!r}), "
                          f"got {type(value).__name__} {value!r}")
    return value


def _leaf_names(config, prefix: str = "") -> list[str]:
    names = []
    for key, value in config.items():
        names.append(prefix + key)
        if isinstance(value, ml_collections.ConfigDict):
            names += _leaf_names(value, prefix + key + ".")
    return names


def check_choices(config: ml_collections.ConfigDict, family: str, name: str = "config") -> None:
    """Each field the family's reference experiment lists in `CHOICES` ({'model.implementation':
    ('fused', 'flax'), ...}) holds one of its choices."""
    module, _ = _reference(family)
    for key, choices in getattr(module, "CHOICES", {}).items():
        node = config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, ml_collections.ConfigDict) else None
        if node is not None and node not in choices:
            raise ConfigError(f"{name}: {key} is {node!r}; choose from {', '.join(map(str, choices))}")


def apply_override(config: ml_collections.ConfigDict, item: str) -> None:
    key, sep, raw = item.partition("=")
    if not sep:
        raise ConfigError(f"--set {item!r}: expected key=value")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    *parents, leaf = key.split(".")
    node = config
    for p in parents:
        if p not in node or not isinstance(node[p], ml_collections.ConfigDict):
            raise ConfigError(f"--set {item!r}: no config field {key!r}")
        node = node[p]
    if leaf not in node:
        raise ConfigError(f"--set {item!r}: no config field {key!r}")
    old = node[leaf]
    if isinstance(old, ml_collections.ConfigDict):
        raise ConfigError(f"--set {item!r}: {key} is a group of fields; set one of them, such as {key}.{next(iter(old))}")
    if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(old, tuple) and isinstance(value, list):
        value = tuple(value)
    if old is not None and not isinstance(value, type(old)):
        raise ConfigError(f"--set {item!r}: {key} is a {type(old).__name__}, got {type(value).__name__}")
    node[leaf] = value
