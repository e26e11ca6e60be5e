"""The Ray executor (skipped without the ray extra): results bit-identical to the local executors, a
killed Ray worker retried, an unreachable cluster refused within seconds in one line."""

from __future__ import annotations

import os
import random
import signal
import socket
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ray")

from conftest import invoke  # noqa: E402
from cliffwatch import api  # noqa: E402
from cliffwatch.config.schema import SweepConfig  # noqa: E402
from cliffwatch.core.errors import ExecutorError  # noqa: E402
from cliffwatch.execution.store import load_results  # noqa: E402

SWEEP = {"name": "ray", "family": {"name": "gaussian"}, "data": {"source": "gaussian", "dim": 2},
         "policy": {"samples": 100}, "generations": 8, "seeds": 2, "chains": 3, "probe_samples": 200,
         "holdout": 200, "probes": ["moments", "wasserstein"], "sweep": {"policy.synthetic_fraction": [0.0, 0.5, 1.0]}}


def _table(out: Path) -> pd.DataFrame:
    return load_results(out).sort_values(["lineage", "chain", "generation", "metric"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ray") / "local"
    api.sweep(SweepConfig.model_validate(SWEEP), out, workers=2, executor="processes", progress=False)
    return _table(out)


def _ray_tasks() -> list[int]:
    """Pids of Ray workers running a lineage (Ray titles them after the task's function)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::_task"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def test_ray_results_are_bit_identical_to_local_processes_and_survive_a_killed_worker(tmp_path, reference):
    out = tmp_path / "r"
    killed = []

    def kill_one():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            tasks = _ray_tasks()
            if tasks:
                time.sleep(random.Random(7).uniform(0.0, 0.5))
                tasks = _ray_tasks()
                if tasks:
                    os.kill(tasks[0], signal.SIGKILL)
                    killed.append(tasks[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    result = api.sweep(SweepConfig.model_validate(SWEEP), out, workers=2, executor="ray", progress=False)
    killer.join(timeout=1)
    assert killed, "no Ray worker was running a lineage to kill"
    assert result.outcome.failed == {}
    pd.testing.assert_frame_equal(_table(out), reference, check_exact=True)
    assert not (out / ".ray").exists()  # the local Ray's temporary folder goes with it
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name == "checkpoint.npz"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_cluster_fails_within_seconds_in_one_line(tmp_path, monkeypatch, capsys):
    config = tmp_path / "s.yaml"
    import yaml

    config.write_text(yaml.safe_dump(SWEEP))
    address = f"127.0.0.1:{_free_port()}"
    start = time.monotonic()
    code, _, err = invoke(monkeypatch, capsys, "sweep", config, "--out", tmp_path / "r", "-q",
                          "--executor", "ray", "--address", address)
    assert time.monotonic() - start < 15
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"--address {address}: no Ray cluster reachable" in err


def test_address_needs_a_cluster_executor(tmp_path):
    with pytest.raises(ExecutorError, match="--address: executor 'processes' runs on this machine"):
        api.sweep(SweepConfig.model_validate(SWEEP), tmp_path / "r", executor="processes", address="h:1",
                  progress=False)
