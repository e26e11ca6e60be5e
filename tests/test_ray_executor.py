"""The Ray executor (skipped without the ray extra): results bit-identical to the local executors, a
killed Ray worker retried from its lineage's checkpoint with no generation recomputed, an unreachable
cluster refused within seconds in one line."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import Counter
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


# Every generation a process stores is appended to $CW_WRITE_LOG as "pid lineage generation", as
# tests/test_crash_safety.py counts them. Ray starts its workers with the driver's environment, so this
# module, first on their PYTHONPATH, runs in each of them when it starts.
COUNTING_SITECUSTOMIZE = """
import os
if os.environ.get("CW_WRITE_LOG"):
    from cliffwatch.execution import store
    write = store.LineageStore.write_generation
    def counted(self, generation, *args):
        write(self, generation, *args)
        with open(os.environ["CW_WRITE_LOG"], "a") as fh:
            fh.write(f"{os.getpid()} {self.path.name} {generation}\\n")
    store.LineageStore.write_generation = counted
"""
LINEAGES, GENERATIONS = 6, SWEEP["generations"] + 1
STRIKE = 3  # a Ray worker is killed once it has stored this many generations of its lineage


def _writes(log: Path) -> list[tuple[int, str, int]]:
    """(pid, lineage, generation) of every stored generation logged so far (whole lines only)."""
    lines = log.read_text().split("\n")[:-1] if log.exists() else []
    return [(int(pid), lineage, int(g)) for pid, lineage, g in (line.split() for line in lines)]


def _running(log: Path) -> list[tuple[int, str]]:
    """(pid, lineage) of each worker that has stored STRIKE generations of the lineage it runs now."""
    writes = _writes(log)
    current = {pid: lineage for pid, lineage, _ in writes}  # each worker's latest lineage
    stored = Counter((pid, lineage) for pid, lineage, _ in writes)
    return [(pid, lineage) for pid, lineage in current.items() if STRIKE <= stored[pid, lineage] < GENERATIONS]


def test_ray_results_are_bit_identical_to_local_processes_and_survive_a_killed_worker(tmp_path, reference, monkeypatch):
    """A Ray worker is killed after it stored STRIKE generations of its lineage: Ray retries the task,
    which resumes from the checkpoint; no stored generation is computed twice."""
    out, log, hook = tmp_path / "r", tmp_path / "writes.log", tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(COUNTING_SITECUSTOMIZE)
    monkeypatch.setenv("CW_WRITE_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), *filter(None, [os.environ.get("PYTHONPATH")])]))
    killed = []

    def kill_one():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for pid, lineage in _running(log)[:1]:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, lineage, command))
            time.sleep(0.005)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    result = api.sweep(SweepConfig.model_validate(SWEEP), out, workers=2, executor="ray", progress=False)
    killer.join(timeout=1)
    assert killed, "no Ray worker had stored enough of its lineage to be killed"
    assert result.outcome.failed == {}
    writes = _writes(log)
    per_generation = Counter((lineage, g) for _, lineage, g in writes)
    assert max(per_generation.values()) == 1  # nothing stored was recomputed
    assert len(per_generation) >= LINEAGES * GENERATIONS - 1  # (one may have been killed before it was counted)
    victim, lineage, command = killed[0]
    assert command.startswith(b"ray::")  # a Ray worker (its process title names the task)
    before = sorted(g for pid, lin, g in writes if lin == lineage and pid == victim)
    after = sorted(g for pid, lin, g in writes if lin == lineage and pid != victim)
    assert len(before) >= STRIKE and after and after[0] > before[-1]  # the retry resumed after the kill
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
