"""Orbax checkpoints of a run: the latest few for resuming and the best by a validation metric.

A checkpoint holds the whole train state pytree (whatever a family's state holds: one or two
optimizer states, frozen reference parameters), the run's PRNG key and, as JSON, the data
position and the evaluation metrics at that step. The data position is the step: batches are a
pure function of their index. Which checkpoint is best is read from the metrics committed inside
the checkpoints themselves, never from a separate pointer file, so a run killed between writing a
checkpoint and anything after it cannot leave a stale "best"."""

from __future__ import annotations

import pathlib

import flax.serialization
import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp


class Checkpoints:
    """`best_metric` is (name, "min" | "max"): the key of the metrics dict passed to `save`."""

    def __init__(self, directory, keep_latest: int = 2, best_metric: tuple[str, str] = ("valid_nll", "min")):
        self.directory = pathlib.Path(directory).absolute()
        self.name, direction = best_metric
        if direction not in ("min", "max"):
            raise ValueError(f"best metric direction must be 'min' or 'max', got {direction!r}")
        self.reverse = direction == "min"  # BestN keeps the last of the sorted list
        policy = pp.AnyPreservationPolicy([
            pp.LatestN(keep_latest),
            pp.BestN(get_metric_fn=self._metric, reverse=self.reverse, n=1, keep_checkpoints_without_metrics=False),
        ])
        self.manager = ocp.CheckpointManager(self.directory, options=ocp.CheckpointManagerOptions(
            preservation_policy=policy, enable_async_checkpointing=False, create=True))

    def _metric(self, metrics: dict) -> float:
        value = metrics[self.name]
        return float("inf") if self.reverse and not np.isfinite(value) else (
            float("-inf") if not np.isfinite(value) else float(value))

    def save(self, state, key, info: dict, metrics: dict | None = None) -> None:
        """Save at `state.step`; `metrics` holding the best metric make it a candidate for best."""
        candidate = metrics if metrics and self.name in metrics else None
        tree = {"state": flax.serialization.to_state_dict(state), "key": jax.random.key_data(key)}
        self.manager.save(int(state.step), args=ocp.args.Composite(
            state=ocp.args.StandardSave(tree),
            info=ocp.args.JsonSave({**info, "metrics": {k: float(v) for k, v in (candidate or {}).items()}})),
            metrics=candidate, force=True)
        self.manager.wait_until_finished()

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def info(self, step: int) -> dict:
        got = self.manager.restore(step, args=ocp.args.Composite(info=ocp.args.JsonRestore()))
        return dict(got["info"])

    def best(self) -> dict | None:
        """{'step', 'metric'} of the best retained checkpoint (the same choice as the retention
        policy: BestN's order), or None when no checkpoint carries the metric."""
        rows = []
        for step in self.manager.all_steps():
            metrics = self.info(step).get("metrics") or {}
            if self.name in metrics:
                rows.append((step, metrics))
        if not rows:
            return None
        step, metrics = sorted(rows, key=lambda r: self._metric(r[1]), reverse=self.reverse)[-1]
        return {"step": int(step), "metric": float(metrics[self.name])}

    def restore(self, state, key, step: int | None = None):
        """(state, key, info) restored at `step` (default: latest), shaped and sharded like the
        given `state` and `key`; None when there is no checkpoint."""
        step = self.latest_step() if step is None else step
        if step is None:
            return None
        target = {"state": flax.serialization.to_state_dict(state), "key": jax.random.key_data(key)}
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, target)
        got = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                                                 info=ocp.args.JsonRestore()))
        tree = got["state"]
        restored = flax.serialization.from_state_dict(state, tree["state"])
        return restored, jax.random.wrap_key_data(np.asarray(tree["key"])), dict(got["info"])

    def close(self) -> None:
        self.manager.close()
