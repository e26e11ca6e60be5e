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


from hypothesis import given, settings, strategies as st  # noqa: E402
import numpy as np  # noqa: E402

from cliffwatch.execution.store import LineageStore  # noqa: E402
from cliffwatch.loop.engine import RESULT_SCHEMA  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(0, 6), min_size=1, max_size=6), lost=st.sets(st.integers(1, 6), max_size=3))
def test_pool_parts_load_as_written_and_a_lost_one_is_named(tmp_path_factory, sizes, lost):
    """Generation g adds sizes[g - 1] items (none at g = 0); the checkpoint after the last one
    loads every part it needs, each exactly as written, and problems() names each part that went
    missing and nothing else."""
    store = LineageStore(tmp_path_factory.mktemp("lineage"))
    store.write_meta({"seed": 0})
    written = {}
    for g in range(len(sizes) + 1):
        part = {} if g == 0 else {f"pool.{g:06d}.array": np.full((2, sizes[g - 1], 3), float(g))}
        written.update(part)
        store.write_generation(g, RESULT_SCHEMA.empty_table(), {"model.mean": np.array([g])}, part)
    state = store.load_checkpoint()
    assert int(state["generation"]) == len(sizes) and list(state["pool_parts"]) == list(range(1, len(sizes) + 1))
    assert all(np.array_equal(state[k], v) for k, v in written.items())
    assert store.problems() == []
    gone = sorted(g for g in lost if g <= len(sizes))
    for g in gone:
        (store.path / f"pool-{g:06d}.npz").unlink()
    assert store.problems() == [f"{store.name}/pool-{g:06d}.npz: missing" for g in gone]
