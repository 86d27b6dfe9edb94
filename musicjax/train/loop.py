"""The one training loop: initialise or resume a task's state from the workdir, run its jitted
step over sharded batches, evaluate, checkpoint, log. It knows no model family and no metric name:
it logs whatever a step and an evaluation return. Everything a run writes is in its workdir
(config.json, metrics.jsonl, tb/, checkpoints/); the same command on the same workdir continues
from the latest checkpoint, exactly."""

from __future__ import annotations

import json
import math
import os
import pathlib
import statistics
import sys
import time

import jax

from musicjax.data.files import atomic_write_text
from musicjax.train import parallel
from musicjax.train.checkpoint import Checkpoints
from musicjax.train.task import Task


class TrainingDiverged(RuntimeError):
    pass


class SpikeGuard:
    """Stops a run whose guarded metrics jump above `factor` times the median of their last
    `window` read values (read at the run's first step and at every log line; only while that
    median is positive). The default 10x is far above any healthy rise (a KL weight warming up)
    and far below a blow-up (lr 1e6 took a melody LSTM's loss from 4.2 to 2.4e6)."""

    def __init__(self, names, factor: float, window: int, min_seen: int = 1):
        self.names, self.factor, self.window, self.min_seen = tuple(names), factor, window, min_seen
        self.seen: dict[str, list[float]] = {n: [] for n in self.names}

    def check(self, step: int, metrics: dict) -> None:
        if self.factor <= 0:
            return
        for name in self.names:
            if name not in metrics:
                continue
            history, value = self.seen[name], float(metrics[name])
            if len(history) >= self.min_seen:
                median = statistics.median(history[-self.window:])
                if median > 0 and value > self.factor * median:
                    raise TrainingDiverged(f"{name} {value:.4g} at step {step} is over {self.factor:g}x its recent "
                                           f"median {median:.4g} (train.loss_spike_factor); the last checkpoint is "
                                           "kept as it was")
            history.append(value)


class ConfigChanged(ValueError):
    """The workdir was trained with another config (resuming would silently change the run)."""


def init_state(task: Task, key, mesh):
    """The task's state initialised inside jit, replicated over the mesh (shapes from eval_shape)."""
    abstract = jax.eval_shape(task.init, key)
    shardings = jax.tree_util.tree_map(lambda _: parallel.replicated(mesh), abstract)
    return jax.jit(task.init, out_shardings=shardings)(key)


def compile_train_step(task: Task, mesh):
    """The task's step jitted once: state replicated and donated, the batch split over 'data'."""
    rep, data = parallel.replicated(mesh), parallel.batch_sharded(mesh)
    return jax.jit(task.train_step, in_shardings=(rep, data, rep), out_shardings=(rep, rep), donate_argnums=0)


def _json_value(v):
    """A float for JSON; a non-finite value becomes null (bare NaN is not JSON)."""
    v = float(v)
    return v if math.isfinite(v) else None


def inside(workdir: pathlib.Path, name: str) -> pathlib.Path:
    """workdir/name, refused if it is a symbolic link or resolves outside the workdir: nothing a
    run writes may follow a link out of it."""
    path = workdir / name
    if path.is_symlink() or not path.resolve().is_relative_to(workdir.resolve()):
        raise ValueError(f"{path}: is a symbolic link or leads outside the workdir; refusing to write there")
    return path


class RunLog:
    """metrics.jsonl, TensorBoard scalars and a console progress bar."""

    def __init__(self, workdir: pathlib.Path, total: int, start: int, quiet: bool):
        from tensorboardX import SummaryWriter
        from tqdm import tqdm

        fd = os.open(inside(workdir, "metrics.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        self.jsonl = os.fdopen(fd, "a", encoding="utf-8")
        self.tb = SummaryWriter(str(inside(workdir, "tb")))
        self.bar = tqdm(total=total, initial=start, desc="train", unit="step", file=sys.stderr, disable=quiet,
                        dynamic_ncols=True)

    def write(self, step: int, metrics: dict) -> None:
        row = {"step": step, **{k: _json_value(v) for k, v in metrics.items()}}
        self.jsonl.write(json.dumps(row) + "\n")
        self.jsonl.flush()
        for k, v in metrics.items():
            if math.isfinite(float(v)):
                self.tb.add_scalar(k, float(v), step)
        if "loss" in metrics:
            self.bar.set_postfix(loss=f"{float(metrics['loss']):.3f}")

    def close(self) -> None:
        self.bar.close()
        self.tb.close()
        self.jsonl.close()


def read_config(workdir):
    """The config a training workdir was run with (its config.json, as `_check_config` wrote it);
    FileNotFoundError naming the workdir if it has none."""
    import ml_collections

    path = pathlib.Path(workdir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{workdir}: not a training workdir (no config.json)")
    return ml_collections.ConfigDict(json.loads(path.read_text()))


def _check_config(workdir: pathlib.Path, config, allow_change: bool) -> None:
    """Write config.json; refuse a different config over an existing run unless allowed."""
    path = inside(workdir, "config.json")
    new = json.loads(config.to_json_best_effort(sort_keys=True))
    if path.exists() and not allow_change:
        old = json.loads(path.read_text())
        diff = sorted(_differences(old, new))
        if diff:
            raise ConfigChanged(f"{workdir} was trained with another config ({'; '.join(diff[:6])}); "
                                "use a new workdir, or allow the change explicitly")
    atomic_write_text(path, json.dumps(new, indent=1, sort_keys=True))


def _differences(old, new, prefix: str = ""):
    keys = set(old) | set(new) if isinstance(old, dict) and isinstance(new, dict) else None
    if keys is None:
        if old != new:
            yield f"{prefix}: {old!r} -> {new!r}"
        return
    for k in keys:
        if k == "experiment":
            continue
        yield from _differences(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else k)


def _best_name(task: Task) -> tuple[str, str]:
    name, direction = task.best_metric
    return f"valid_{name}", direction


def train(task: Task, config, workdir, quiet: bool = False, stop_at: int | None = None,
          allow_config_change: bool = False) -> dict:
    """Train `task` per `config` (its generic fields: seed, train.num_steps, train.batch_size,
    train.max_bad_steps, log_every, eval_every, checkpoint_every) in `workdir`, resuming from its
    latest checkpoint. `stop_at` ends the run early at that step (a checkpoint is written), as an
    interruption would."""
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _check_config(workdir, config, allow_config_change)
    mesh = parallel.data_mesh()
    t = config.train
    if t.batch_size % len(jax.devices()):
        raise ValueError(f"batch size {t.batch_size} does not split over {len(jax.devices())} devices")
    key = jax.random.key(config.seed)
    state = init_state(task, jax.random.fold_in(key, 0), mesh)
    run_key = jax.random.fold_in(key, 1)

    ckpts = Checkpoints(inside(workdir, "checkpoints"), best_metric=_best_name(task))
    restored = ckpts.restore(state, run_key)
    if restored is not None:
        state, run_key, info = restored
        print(f"resumed from step {int(state.step)} (data position {info['data_position']})", file=sys.stderr)
    start = int(state.step)

    train_step = compile_train_step(task, mesh)
    end = min(t.num_steps, stop_at) if stop_at is not None else t.num_steps
    pidx, pcount = jax.process_index(), jax.process_count()
    log = RunLog(workdir, t.num_steps, start, quiet or pidx != 0)
    last_metrics, last_eval, t0, since = {}, {}, time.time(), 0
    guard = SpikeGuard(task.guard_metrics, t.get("loss_spike_factor", 10.0), t.get("loss_spike_window", 20))

    def check_diverged():
        # the guard freezes the state at the step of the last bad update, so one look suffices
        if int(state.bad_steps) >= t.max_bad_steps:
            at = int(state.step)
            raise TrainingDiverged(f"{t.max_bad_steps} steps in a row had a non-finite loss or gradient "
                                   f"(last at step {at}); parameters kept from step {at - t.max_bad_steps}")

    try:
        for step in range(start, end):
            batch = parallel.global_batch(task.batch(step, pidx, pcount), mesh)
            state, metrics = train_step(state, batch, run_key)
            log.bar.update(1)
            done, since = step + 1, since + 1
            at_log = done % config.log_every == 0 or done == end
            at_eval = done % config.eval_every == 0 or done == t.num_steps
            at_save = done % config.checkpoint_every == 0 or done == end or at_eval
            if at_log or at_eval or at_save or done == start + 1:  # the first step: the guard's reference
                check_diverged()
                m = {k: float(v) for k, v in jax.device_get(metrics).items()}
                guard.check(done, m)
            if at_log:
                elapsed = max(time.time() - t0, 1e-9)
                last_metrics = {**m, "steps_per_s": since / elapsed,
                                **{f"{k}_per_s": m[k] * since / elapsed for k in task.rate_metrics if k in m}}
                log.write(done, last_metrics)
                t0, since = time.time(), 0
            if at_eval:
                last_eval = {f"valid_{k}": float(v) for k, v in task.evaluate(state, "valid").items()}
                log.write(done, last_eval)
            if at_save:
                ckpts.save(state, run_key, {"data_position": done, "experiment": config.get("experiment", "")},
                           last_eval if at_eval else None)
    finally:
        log.close()
        ckpts.close()
    return {"step": int(state.step), "trained_steps": max(end - start, 0), **last_metrics, **last_eval}


def restore_state(task: Task, config, workdir, which: str = "best"):
    """(state, step) of a finished or running workdir: the best checkpoint by the task's best
    metric, else the latest."""
    mesh = parallel.data_mesh()
    key = jax.random.key(config.seed)
    state = init_state(task, key, mesh)
    ckpts = Checkpoints(pathlib.Path(workdir) / "checkpoints", best_metric=_best_name(task))
    try:
        best = ckpts.best() if which == "best" else None
        got = ckpts.restore(state, key, best["step"] if best else None)
    finally:
        ckpts.close()
    if got is None:
        raise FileNotFoundError(f"{workdir}: no checkpoint to restore")
    return got[0], int(got[0].step)
