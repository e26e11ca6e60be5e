"""Crash safety of a real sweep run as a subprocess: kill -9 of the parent or of a worker, SIGINT and
SIGTERM, at seeded random points. The rerun finishes, recomputes no finished generation (every
generation write is counted), leaves no temporary file and matches an uninterrupted run bit for bit;
no worker outlives its parent and the lock is free again."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cliffwatch.execution.store import RunStore, load_results

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and fork")

SRC = Path(__file__).resolve().parents[1] / "src"
SWEEP = {
    "name": "crash",
    "family": {"name": "gaussian"},
    "data": {"source": "gaussian", "dim": 2},
    "policy": {"synthetic_fraction": 1.0, "samples": 200},
    "generations": 12,
    "seeds": 2,
    "chains": 5,
    "probe_samples": 200,
    "holdout": 300,
    "probes": ["moments", "wasserstein"],
    "sweep": {"policy.synthetic_fraction": [0.0, 0.5, 1.0]},
}
LINEAGES, GENERATIONS = 6, 13
# The CLI, with every stored generation appended to $CW_WRITE_LOG once it (and its checkpoint) is on disk.
DRIVER = """
import os, sys
from cliffwatch.execution import store
write = store.LineageStore.write_generation
def counted(self, generation, *args):
    write(self, generation, *args)
    with open(os.environ["CW_WRITE_LOG"], "a") as fh:
        fh.write(f"{self.path.name} {generation}\\n")
store.LineageStore.write_generation = counted
from cliffwatch.cli import main
sys.argv = ["cliffwatch", *sys.argv[1:]]
main()
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    config = root / "sweep.yaml"
    config.write_text(yaml.safe_dump(SWEEP))
    driver = root / "driver.py"
    driver.write_text(DRIVER)
    reference = root / "reference"
    proc = _start(driver, config, reference, root / "reference.log")
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    return root, config, driver, _table(reference)


def _start(driver: Path, config: Path, out: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "CW_WRITE_LOG": str(log)}
    return subprocess.Popen([sys.executable, str(driver), "sweep", str(config), "--out", str(out), "-q", "-w", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _table(out: Path) -> pd.DataFrame:
    df = load_results(out)
    return df.sort_values(["lineage", "chain", "generation", "metric"]).reset_index(drop=True)


def _writes(log: Path) -> Counter:
    return Counter(tuple(line.split()) for line in log.read_text().splitlines()) if log.exists() else Counter()


def _stored_count(log: Path) -> int:
    return sum(_writes(log).values())


def _kill_point(seed: int) -> int:
    """After how many stored generations to strike: a seeded point in the first half of the run
    (a point in time would depend on the machine's speed and load)."""
    return random.Random(seed).randint(1, LINEAGES * GENERATIONS // 2)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _stored(out: Path) -> dict[str, int]:
    """lineage -> last generation stored with its checkpoint (finished lineages: the last one)."""
    store = RunStore.open(out)
    return {lin.path.name: g for lin in store.lineages() if (g := lin.checkpoint_generation()) is not None}


def _assert_clean_and_identical(out: Path, reference: pd.DataFrame) -> None:
    leftovers = [p.name for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.startswith("gen-")
                 or p.name == "checkpoint.npz"]
    assert leftovers == []
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]  # no staging folder
    pd.testing.assert_frame_equal(_table(out), reference, check_exact=True)


def _resume(setup, out: Path, log: Path) -> None:
    root, config, driver, reference = setup
    stored = _stored(out)
    proc = _start(driver, config, out, log)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    recomputed = [(lin, g) for lin, g in _writes(log) if int(g) <= stored.get(lin, -1)]
    assert recomputed == []
    assert _writes(log), "the interruption came after the run had finished: nothing was resumed"
    assert sum(_writes(log).values()) == LINEAGES * GENERATIONS - sum(g + 1 for g in stored.values())
    _assert_clean_and_identical(out, reference)


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_of_the_parent_leaves_no_orphans_and_resumes_identically(setup, seed):
    root, config, driver, reference = setup
    out, log = root / f"parent-{seed}", root / f"parent-{seed}.log"
    proc = _start(driver, config, out, log)
    _wait_for(lambda: _stored_count(log) >= _kill_point(seed), timeout=120)
    workers = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _wait_for(lambda: not any(_alive(w) for w in workers), timeout=10)
    with RunStore.open(out).lock():  # released with its holder
        pass
    _resume(setup, out, root / f"parent-{seed}-rerun.log")


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_of_a_worker_is_retried_and_nothing_is_recomputed(setup, seed):
    root, config, driver, reference = setup
    out, log = root / f"worker-{seed}", root / f"worker-{seed}.log"
    proc = _start(driver, config, out, log)
    _wait_for(lambda: _stored_count(log) >= _kill_point(seed) and _children(proc.pid), timeout=120)
    victims = _children(proc.pid)
    assert victims, "the run finished before a worker could be killed"
    os.kill(victims[0], signal.SIGKILL)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert "Traceback" not in proc.stderr.read()
    writes = _writes(log)
    assert max(writes.values()) == 1  # the retry resumed from the checkpoint
    assert sum(writes.values()) >= LINEAGES * GENERATIONS - 1  # (one may have been killed before it was counted)
    _assert_clean_and_identical(out, reference)


@pytest.mark.parametrize("signum, group, code", [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 143)])
def test_sigint_and_sigterm_stop_all_work_and_the_same_command_resumes(setup, signum, group, code):
    root, config, driver, reference = setup
    out, log = root / f"signal-{signum}", root / f"signal-{signum}.log"
    proc = _start(driver, config, out, log)
    _wait_for(lambda: _stored_count(log) >= _kill_point(signum) and _children(proc.pid), timeout=120)
    workers = _children(proc.pid)
    # Ctrl-C reaches the whole process group; `kill PID` only the parent
    os.killpg(proc.pid, signum) if group else os.kill(proc.pid, signum)
    assert proc.wait(timeout=30) == code
    assert proc.stderr.read().strip().splitlines()[-1] == "interrupted; rerun the same command to resume"
    _wait_for(lambda: not any(_alive(w) for w in workers), timeout=10)
    written = sum(_writes(log).values())
    time.sleep(0.5)
    assert sum(_writes(log).values()) == written  # no work goes on after the exit
    _resume(setup, out, root / f"signal-{signum}-rerun.log")
