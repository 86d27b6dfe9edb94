import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

WORKER = pathlib.Path(__file__).with_name("parallel_worker.py")
REPO = pathlib.Path(__file__).resolve().parents[2]


def _env(**extra):
    """The test's environment with `extra`; XLA_FLAGS keeps only the suite's optimisation level
    (conftest) besides what `extra` sets."""
    keep = [f for f in os.environ.get("XLA_FLAGS", "").split() if "optimization_level" in f]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env["XLA_FLAGS"] = " ".join(keep + extra.pop("XLA_FLAGS", "").split())
    env.update(extra)
    return env


@pytest.fixture(scope="module", autouse=True)
def _built(chorales):  # the workers read the built corpus
    return chorales


def test_eight_devices_give_the_one_device_loss():
    r = subprocess.run([sys.executable, str(WORKER), "devices"], capture_output=True, text=True, timeout=600,
                       env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=8"))
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["devices"] == 8
    assert out["one"] == pytest.approx(out["all"], rel=1e-6, abs=1e-6)


@pytest.mark.slow
def test_two_processes_see_the_same_global_loss():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [subprocess.Popen([sys.executable, str(WORKER), "processes"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env=_env(MUSICJAX_COORDINATOR=f"127.0.0.1:{port}", MUSICJAX_NUM_PROCESSES="2",
                                       MUSICJAX_PROCESS_ID=str(i))) for i in range(2)]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-2000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert {o["process"] for o in outs} == {0, 1} and all(o["devices"] == 2 for o in outs)
    assert outs[0]["loss"] == outs[1]["loss"]
    single = subprocess.run([sys.executable, str(WORKER), "devices"], capture_output=True, text=True, timeout=600,
                            env=_env())
    assert single.returncode == 0, single.stderr[-2000:]
    assert outs[0]["loss"] == pytest.approx(json.loads(single.stdout.strip().splitlines()[-1])["one"], rel=1e-6)
