"""Experiment configs: `path/to/experiment.py[:variant]` -> its `get_config(variant)`, with
`key.sub=value` overrides (values parsed as Python literals, else kept as strings)."""

from __future__ import annotations

import ast
import importlib.util
import pathlib

import ml_collections


class ConfigError(ValueError):
    pass


def load_config(spec: str, overrides=()) -> ml_collections.ConfigDict:
    path, _, variant = spec.partition(":")
    file = pathlib.Path(path)
    if not file.exists():
        raise ConfigError(f"{path}: no such experiment file")
    module_spec = importlib.util.spec_from_file_location(f"musicjax_experiment_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:
        raise ConfigError(f"{path}: cannot load ({type(e).__name__}: {e})") from None
    if not hasattr(module, "get_config"):
        raise ConfigError(f"{path}: has no get_config()")
    try:
        config = module.get_config(variant) if variant else module.get_config()
    except ValueError as e:
        raise ConfigError(f"{path}: {e}") from None
    config.experiment = f"{path}:{variant or 'default'}"
    for item in overrides:
        apply_override(config, item)
    return config


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
        if p not in node:
            raise ConfigError(f"--set {item!r}: no config field {key!r}")
        node = node[p]
    if leaf not in node:
        raise ConfigError(f"--set {item!r}: no config field {key!r}")
    old = node[leaf]
    if isinstance(old, float) and isinstance(value, int):
        value = float(value)
    if old is not None and not isinstance(value, type(old)) and not (isinstance(old, tuple) and isinstance(value, list)):
        raise ConfigError(f"--set {item!r}: {key} is a {type(old).__name__}, got {type(value).__name__}")
    node[leaf] = value
