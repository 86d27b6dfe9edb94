"""kill -9 at chosen moments of a training run, then the same command again: the result equals an
uninterrupted run's, and the best checkpoint (what `evaluate` and `sample` use) is the same step."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from musicjax import tasks
from musicjax.config import load_config
from musicjax.train.loop import restore_state

REPO = pathlib.Path(__file__).resolve().parents[2]
EXPERIMENT = "experiments/melody_lstm.py:tiny"


def _command(workdir):
    return [sys.executable, "-m", "musicjax.cli", "train", EXPERIMENT, "--workdir", str(workdir)]


def _lines(workdir):
    path = workdir / "metrics.jsonl"
    return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


MOMENTS = {  # name -> condition on the workdir at which the run is killed
    "between the evaluation and its checkpoint": lambda w: any("valid_nll_per_token" in r for r in _lines(w)),
    "right after the step-6 checkpoint is committed": lambda w: (w / "checkpoints" / "6").is_dir(),
}


def _run_and_kill(workdir, condition, timeout=300):
    proc = subprocess.Popen(_command(workdir), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while proc.poll() is None and not condition(workdir):
        if time.time() - t0 > timeout:
            proc.kill()
            pytest.fail("the run never reached the kill moment")
        time.sleep(0.005)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return proc.returncode


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, chorales):
    workdir = tmp_path_factory.mktemp("whole")
    subprocess.run(_command(workdir), cwd=REPO, check=True, capture_output=True, timeout=600)
    return workdir


@pytest.mark.slow
@pytest.mark.parametrize("moment", list(MOMENTS))
def test_kill_then_rerun_equals_the_uninterrupted_run(moment, uninterrupted, tmp_path):
    workdir = tmp_path / "run"
    rc = _run_and_kill(workdir, MOMENTS[moment])
    assert rc == -signal.SIGKILL, "the run ended before the kill moment"
    rerun = subprocess.run(_command(workdir), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    config = load_config(EXPERIMENT)
    task = tasks.make(config)
    for which in ("latest", "best"):
        a, step_a = restore_state(task, config, uninterrupted, which)
        b, step_b = restore_state(task, config, workdir, which)
        assert step_a == step_b, which
        assert all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))
    assert not list((workdir / "checkpoints").glob("*tmp*"))  # no half-written checkpoint left behind
