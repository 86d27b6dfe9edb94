"""The training loop of a language-model task: initialise or resume from the workdir, run the
jitted step over sharded batches, evaluate, checkpoint, log. Everything a run writes is in its
workdir (config.json, metrics.jsonl, tb/, checkpoints/); the same command on the same workdir
continues from the latest checkpoint."""

from __future__ import annotations

import json
import pathlib
import sys
import time

import jax

from musicjax.data.files import atomic_write_text
from musicjax.evaluate.lm import lm_scores, summarize
from musicjax.train import parallel
from musicjax.train.checkpoint import Checkpoints
from musicjax.train.optim import make_optimizer, make_schedule
from musicjax.train.step import TrainState, lm_eval_step, lm_loss_fn, make_train_step


class TrainingDiverged(RuntimeError):
    pass


def optimizer_from_config(t):
    schedule = make_schedule(t.schedule, t.learning_rate, t.num_steps, warmup_steps=t.warmup_steps,
                             decay_rate=t.decay_rate, decay_steps=t.decay_steps, staircase=t.staircase,
                             end_fraction=t.end_fraction)
    tx = make_optimizer(t.optimizer, schedule, clip_norm=t.clip_norm, weight_decay=t.weight_decay,
                        momentum=t.momentum, accumulate_steps=t.accumulate_steps)
    return tx, schedule


def init_state(model, example, tx, key, mesh) -> TrainState:
    """Parameters initialised inside jit, replicated over the mesh (shapes from eval_shape first)."""
    init = lambda k: TrainState.create(model.init(k, example)["params"], tx)
    abstract = jax.eval_shape(init, key)
    shardings = jax.tree_util.tree_map(lambda _: parallel.replicated(mesh), abstract)
    return jax.jit(init, out_shardings=shardings)(key)


def compile_steps(model, mesh):
    rep, data = parallel.replicated(mesh), parallel.batch_sharded(mesh)
    train_step = jax.jit(make_train_step(lm_loss_fn(model)), in_shardings=(rep, data, rep),
                         out_shardings=(rep, rep), donate_argnums=0)
    eval_step = jax.jit(lm_eval_step(model), in_shardings=(rep, data), out_shardings=rep)
    return train_step, eval_step


class RunLog:
    """metrics.jsonl, TensorBoard scalars and a console progress bar."""

    def __init__(self, workdir: pathlib.Path, total: int, start: int, quiet: bool):
        from tensorboardX import SummaryWriter
        from tqdm import tqdm

        self.jsonl = open(workdir / "metrics.jsonl", "a", encoding="utf-8")
        self.tb = SummaryWriter(str(workdir / "tb"))
        self.bar = tqdm(total=total, initial=start, desc="train", unit="step", file=sys.stderr, disable=quiet,
                        dynamic_ncols=True)

    def write(self, step: int, metrics: dict) -> None:
        row = {"step": step, **{k: float(v) for k, v in metrics.items()}}
        self.jsonl.write(json.dumps(row) + "\n")
        self.jsonl.flush()
        for k, v in metrics.items():
            self.tb.add_scalar(k, float(v), step)
        if "loss" in metrics:
            self.bar.set_postfix(loss=f"{float(metrics['loss']):.3f}")

    def close(self) -> None:
        self.bar.close()
        self.tb.close()
        self.jsonl.close()


def evaluate_split(task, eval_step, params, split: str, config, mesh) -> dict:
    windows, notes = task.eval_set(split, config.eval_length)
    n_dev = len(mesh.devices.flat)
    batch = max(n_dev, config.eval_batch_size // n_dev * n_dev)
    sharded_eval = lambda p, b: eval_step(p, parallel.global_batch(b, mesh))
    totals = lm_scores(sharded_eval, params, windows, batch)
    return summarize(totals["nll_sum"], totals["tokens"], notes, totals["correct"])


def train(task, config, workdir, quiet: bool = False, stop_at: int | None = None) -> dict:
    """Train `task` per `config` in `workdir`, resuming from its latest checkpoint. `stop_at`
    ends the run early at that step (a checkpoint is written), as an interruption would."""
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(workdir / "config.json", config.to_json_best_effort(indent=1, sort_keys=True))
    mesh = parallel.data_mesh()
    t = config.train
    if t.batch_size % len(jax.devices()):
        raise ValueError(f"batch size {t.batch_size} does not split over {len(jax.devices())} devices")
    tx, schedule = optimizer_from_config(t)
    key = jax.random.key(config.seed)
    state = init_state(task.model, task.example_input(), tx, jax.random.fold_in(key, 0), mesh)
    run_key = jax.random.fold_in(key, 1)

    ckpts = Checkpoints(workdir / "checkpoints")
    restored = ckpts.restore(state, run_key)
    if restored is not None:
        state, run_key, info = restored
        print(f"resumed from step {int(state.step)} (data position {info['data_position']})", file=sys.stderr)
    start = int(state.step)

    train_step, eval_step = compile_steps(task.model, mesh)
    batches = task.train_batches(t.batch_size, config.seed, jax.process_index(), jax.process_count())
    end = min(t.num_steps, stop_at) if stop_at is not None else t.num_steps
    log = RunLog(workdir, t.num_steps, start, quiet or jax.process_index() != 0)
    last_metrics, t0, last_eval, since = {}, time.time(), {}, 0
    try:
        for step in range(start, end):
            batch = parallel.global_batch(batches[step], mesh)
            state, metrics = train_step(state, batch, run_key)
            log.bar.update(1)
            done, since = step + 1, since + 1
            if int(state.bad_steps) >= t.max_bad_steps:
                raise TrainingDiverged(f"{t.max_bad_steps} steps in a row had a non-finite loss or gradient "
                                       f"(last at step {done}); parameters kept from step {done - t.max_bad_steps}")
            if done % config.log_every == 0 or done == end:
                m = jax.device_get(metrics)
                elapsed = time.time() - t0
                # tokens of the last step times the steps since the last line: batches are full windows
                last_metrics = {"loss": m["loss"], "grad_norm": m["grad_norm"], "learning_rate": schedule(step),
                                "tokens_per_s": float(m["tokens"]) * since / max(elapsed, 1e-9), "finite": m["finite"]}
                log.write(done, last_metrics)
                t0, since = time.time(), 0
            at_eval = done % config.eval_every == 0 or done == t.num_steps
            if at_eval:
                last_eval = {f"valid_{k}": v for k, v in evaluate_split(task, eval_step, state.params, "valid",
                                                                      config, mesh).items()}
                log.write(done, {"valid_nll": last_eval["valid_nll_per_token"],
                                 "valid_bits_per_note": last_eval["valid_bits_per_note"],
                                 "valid_accuracy": last_eval["valid_accuracy"]})
            if done % config.checkpoint_every == 0 or done == end or at_eval:
                metrics_for_best = {"valid_nll": last_eval["valid_nll_per_token"]} if at_eval else None
                ckpts.save(state, run_key, {"data_position": done, "experiment": config.get("experiment", "")},
                           metrics_for_best)
    finally:
        log.close()
        ckpts.close()
    return {"step": int(state.step), **{k: float(v) for k, v in last_metrics.items()},
            **{k: float(v) for k, v in last_eval.items()}}


def restore_params(task, config, workdir, which: str = "best"):
    """Parameters of a finished or running workdir: the best checkpoint by validation NLL, else
    the latest."""
    mesh = parallel.data_mesh()
    tx, _ = optimizer_from_config(config.train)
    key = jax.random.key(config.seed)
    state = init_state(task.model, task.example_input(), tx, key, mesh)
    ckpts = Checkpoints(pathlib.Path(workdir) / "checkpoints")
    best = ckpts.best() if which == "best" else None
    got = ckpts.restore(state, key, best["step"] if best else None)
    ckpts.close()
    if got is None:
        raise FileNotFoundError(f"{workdir}: no checkpoint to restore")
    return got[0].params, int(got[0].step)
