"""The run store: atomic creation, a lock against two writers, readable results."""

import multiprocessing as mp

import pytest

from cliffwatch.core.errors import RunLockedError, RunStoreError
from cliffwatch.execution.store import RunStore, load_results


def test_create_is_atomic_and_refuses_existing(tmp_path):
    store = RunStore.create(tmp_path / "r", {"a": 1}, "run", [])
    assert store.config() == {"a": 1} and (tmp_path / "r" / "run.json").exists()
    with pytest.raises(RunStoreError):
        RunStore.create(tmp_path / "r", {"a": 1}, "run", [])
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no staging directory left


def test_open_rejects_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(RunStoreError, match="not a cliffwatch run"):
        RunStore.open(tmp_path)
    with pytest.raises(RunStoreError, match="no such run directory"):
        RunStore.open(tmp_path / "nope")


def _try_lock(path, queue):
    try:
        with RunStore.open(path).lock():
            queue.put("locked")
    except RunLockedError as err:
        queue.put(str(err))


def test_a_second_process_cannot_write_a_locked_run(tmp_path):
    store = RunStore.create(tmp_path / "r", {}, "run", [])
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    with store.lock():
        proc = ctx.Process(target=_try_lock, args=(tmp_path / "r", queue))
        proc.start()
        proc.join()
        assert "locked by pid" in queue.get()
    proc = ctx.Process(target=_try_lock, args=(tmp_path / "r", queue))
    proc.start()
    proc.join()
    assert queue.get() == "locked"


def test_results_of_an_empty_run_are_an_error(tmp_path):
    RunStore.create(tmp_path / "r", {}, "run", [])
    with pytest.raises(RunStoreError, match="no finished generations"):
        load_results(tmp_path / "r")
