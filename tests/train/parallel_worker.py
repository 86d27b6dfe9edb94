"""Run by test_parallel.py in fresh processes (device count and jax.distributed must be set up
before JAX starts): prints the loss of one train step on a fixed batch of chorale sopranos."""

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np


def fixed_batch(rows: int = 16, length: int = 32):
    from musicjax.codecs.melody import BOS, MelodyCodec
    from musicjax.data.datasets import load_scores

    codec = MelodyCodec()
    tokens = np.zeros((rows, length + 1), np.int32)
    for i, s in enumerate(load_scores("bach_chorales", "train")[:rows]):
        t = codec.encode(s)[:length]
        tokens[i, 0] = BOS
        tokens[i, 1 : 1 + len(t)] = t
    return {"inputs": tokens[:, :-1], "targets": tokens[:, 1:], "mask": (tokens[:, 1:] > 0).astype(np.float32)}, codec


def step_loss(mesh, batch, codec):
    from musicjax.models.lstm import LSTMLanguageModel
    from musicjax.train import parallel
    from musicjax.train.loop import compile_train_step, init_state
    from musicjax.train.optim import make_optimizer, make_schedule
    from musicjax.train.step import TrainState, lm_loss_fn, make_train_step
    from musicjax.train.task import Task

    model = LSTMLanguageModel(codec.vocab_size, 16, 32, 2, 0.0)
    tx = make_optimizer("adam", make_schedule("constant", 1e-2, 10))
    task = Task(init=lambda k: TrainState.create(model.init(k, jnp.zeros((1, 4), jnp.int32))["params"], tx),
                train_step=make_train_step(lm_loss_fn(model)), batch=None, evaluate=None,
                best_metric=("nll", "min"), sample=None)
    state = init_state(task, jax.random.key(0), mesh)
    train_step = compile_train_step(task, mesh)
    losses = []
    for _ in range(2):
        state, m = train_step(state, parallel.global_batch(batch, mesh), jax.random.key(1))
        losses.append(float(m["loss"]))
    return losses


if __name__ == "__main__":
    from jax.sharding import Mesh

    from musicjax.train import parallel

    parallel.initialize_distributed()
    batch, codec = fixed_batch()
    if sys.argv[1] == "devices":
        one = step_loss(Mesh(np.asarray(jax.devices()[:1]), ("data",)), batch, codec)
        all_ = step_loss(parallel.data_mesh(), batch, codec)
        print(json.dumps({"devices": jax.device_count(), "one": one, "all": all_}))
    else:  # processes: each feeds its own rows of the global batch
        n, i = jax.process_count(), jax.process_index()
        rows = batch["inputs"].shape[0] // n
        local = {k: v[i * rows : (i + 1) * rows] for k, v in batch.items()}
        print(json.dumps({"process": i, "processes": n, "devices": jax.device_count(),
                          "loss": step_loss(parallel.data_mesh(), local, codec)}))
    sys.stdout.flush()
    os._exit(0)  # skip the distributed client's shutdown barrier on exit
