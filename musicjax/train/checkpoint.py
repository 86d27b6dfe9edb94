"""Orbax checkpoints of a run: the latest few for resuming and the best by a validation metric.

A checkpoint holds the train state (step, params, optimizer state, bad-step count), the run's
PRNG key and, as JSON, the data position and the metrics at that step. The data position is the
step: batches are a pure function of their index (musicjax/train/data.py)."""

from __future__ import annotations

import json
import pathlib

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp

from musicjax.data.files import atomic_write_text


class Checkpoints:
    def __init__(self, directory, keep_latest: int = 2, best_metric: str = "valid_nll"):
        self.directory = pathlib.Path(directory).absolute()
        self.best_metric = best_metric
        policy = pp.AnyPreservationPolicy([
            pp.LatestN(keep_latest),
            pp.BestN(get_metric_fn=lambda m: m[best_metric], reverse=True, n=1,
                     keep_checkpoints_without_metrics=False),
        ])
        self.manager = ocp.CheckpointManager(self.directory, options=ocp.CheckpointManagerOptions(
            preservation_policy=policy, enable_async_checkpointing=False, create=True))

    def save(self, state, key, info: dict, metrics: dict | None = None) -> None:
        """Save at `state.step`; `metrics` (with the best metric) makes it a candidate for best."""
        step = int(state.step)
        tree = {"state": _state_tree(state), "key": jax.random.key_data(key)}
        self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(tree),
                                                        info=ocp.args.JsonSave(info)),
                          metrics=metrics if metrics and self.best_metric in metrics else None, force=True)
        self.manager.wait_until_finished()
        if metrics and self.best_metric in metrics:
            best = self.best()
            if best is None or metrics[self.best_metric] < best["metric"]:
                atomic_write_text(self.directory / "best.json",
                                  json.dumps({"step": step, "metric": float(metrics[self.best_metric])}))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def best(self) -> dict | None:
        path = self.directory / "best.json"
        return json.loads(path.read_text()) if path.exists() else None

    def restore(self, state, key, step: int | None = None):
        """(state, key, info) restored at `step` (default: latest), shaped and sharded like the
        given `state` and `key`; None when there is no checkpoint."""
        step = self.latest_step() if step is None else step
        if step is None:
            return None
        target = {"state": _state_tree(state), "key": jax.random.key_data(key)}
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, target)
        got = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                                 info=ocp.args.JsonRestore()))
        tree = got["state"]
        restored = state.replace(**tree["state"])
        return restored, jax.random.wrap_key_data(np.asarray(tree["key"])), dict(got["info"])

    def close(self) -> None:
        self.manager.close()


def _state_tree(state) -> dict:
    return {"step": state.step, "params": state.params, "opt_state": state.opt_state, "bad_steps": state.bad_steps}
