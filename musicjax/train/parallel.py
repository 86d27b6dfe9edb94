"""Data parallelism with `jax.jit` and shardings: one mesh axis 'data' over every device of every
process, the batch split along it, parameters replicated. The same code runs on one CPU, eight
simulated CPU devices, a GPU, or several hosts after `initialize_distributed()`."""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def initialize_distributed() -> None:
    """Join a multi-process run when the environment names one: MUSICJAX_COORDINATOR
    (host:port), MUSICJAX_NUM_PROCESSES, MUSICJAX_PROCESS_ID. A no-op otherwise."""
    address = os.environ.get("MUSICJAX_COORDINATOR")
    if not address:
        return
    jax.distributed.initialize(coordinator_address=address,
                               num_processes=int(os.environ["MUSICJAX_NUM_PROCESSES"]),
                               process_id=int(os.environ["MUSICJAX_PROCESS_ID"]))


def data_mesh() -> Mesh:
    return Mesh(np.asarray(jax.devices()), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P("data"))


def global_batch(local: dict, mesh: Mesh) -> dict:
    """This process's rows of a batch -> global arrays sharded over 'data' (rows of all processes
    in process order)."""
    sharding = batch_sharded(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in local.items()}
