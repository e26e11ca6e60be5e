"""A run directory verifies itself: damage is named before analysis and repaired on resume; a full
disk or a read-only folder stops the run in one line with nothing corrupted, and the same command
resumes once the cause is gone; --overwrite respects the lock; workers are bounded; a worker that
keeps dying is reported in one line."""

from __future__ import annotations

import errno
import os
import signal
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import invoke
from cliffwatch import api
from cliffwatch.config.schema import ExperimentConfig, SweepConfig
from cliffwatch.core.errors import CliffwatchWarning, LineagesFailed, RunLockedError, RunStoreError, StoreWriteError
from cliffwatch.execution import plan
from cliffwatch.execution.store import LineageStore, RunStore, load_results
from cliffwatch.execution.worker import run_lineage
from cliffwatch.loop.engine import LineageRunner

SWEEP = {"name": "integrity", "family": {"name": "gaussian"}, "data": {"source": "gaussian", "dim": 2},
         "policy": {"samples": 60}, "generations": 4, "seeds": 2, "chains": 3, "probe_samples": 100,
         "holdout": 100, "probes": ["moments", "wasserstein"], "sweep": {"policy.synthetic_fraction": [0.0, 1.0]}}


def _sweep(out: Path, **kw):
    return api.sweep(SweepConfig.model_validate(SWEEP), out, workers=1, executor="inline", progress=False, **kw)


def _table(out: Path) -> pd.DataFrame:
    return load_results(out).sort_values(["lineage", "chain", "generation", "metric"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("integrity") / "reference"
    _sweep(out)
    return _table(out)


def _partial(out: Path, stop_after: int = 3) -> Path:
    """A sweep whose first lineage stopped after ``stop_after`` generations (the others never started)."""
    cfg = SweepConfig.model_validate(SWEEP)
    lineages = plan.sweep_lineages(cfg)
    store = RunStore.create(out, cfg.model_dump(mode="json"), "sweep", plan.run_metrics(lineages))
    events = run_lineage(lineages[0], str(store.lineage(lineages[0].id).path))
    for _ in range(stop_after):
        next(events)
    events.close()
    return store.lineage(lineages[0].id).path


def _no_temporaries(out: Path) -> None:
    assert [p.name for p in out.parent.rglob(".*") if p.name.endswith(".tmp") or p.name.startswith(f".{out.name}.")] == []


def test_a_finished_run_is_small(tmp_path, reference):
    out = tmp_path / "run"
    _sweep(out)
    for lineage in RunStore.open(out).lineages():
        # no checkpoint once finished, and training-data manifests only with `manifests: true`
        # (tests/test_guard_loop_manifest.py)
        kept = sorted(p.name for p in lineage.path.iterdir())
        assert kept == ["checksums.json", "lineage.json", "results.parquet", "samples.jsonl"]
        assert lineage.problems() == []


@pytest.mark.parametrize("damage, expected", [
    (lambda p: p.unlink(), "results.parquet: missing"),
    (lambda p: p.write_bytes(p.read_bytes()[:-40]), "results.parquet: damaged (checksum"),
    (lambda p: p.write_bytes(b"garbage"), "results.parquet: damaged"),
])
def test_damage_is_named_before_analysis_and_repaired_by_the_same_command(tmp_path, reference, damage, expected):
    out = tmp_path / "run"
    _sweep(out)
    victim = RunStore.open(out).lineages()[1]
    damage(victim.path / "results.parquet")
    with pytest.raises(RunStoreError) as info:
        api.analyze(out)
    assert f"lineages/{victim.path.name}/{expected}" in str(info.value)
    assert "rerun the same command" in str(info.value)
    result = _sweep(out)
    assert expected in result.outcome.repaired[victim.path.name]
    pd.testing.assert_frame_equal(_table(out), reference, check_exact=True)


@pytest.mark.parametrize("damage, expected", [
    (lambda d: (d / "gen-000001.parquet").unlink(), "gen-000001.parquet: missing"),
    (lambda d: (d / "gen-000000.parquet").write_bytes(b"PAR1 not parquet"), "gen-000000.parquet: damaged"),
    (lambda d: (d / "checkpoint.npz").write_bytes(b"PK\x03\x04 truncated"), "checkpoint.npz: unreadable"),
    (lambda d: (d / "lineage.json").write_text("{"), "lineage.json: unreadable"),
])
def test_an_unfinished_lineage_is_verified_on_resume(tmp_path, reference, damage, expected):
    out = tmp_path / "run"
    damage(_partial(out))
    with pytest.raises(RunStoreError, match=expected):
        load_results(out)
    result = _sweep(out)  # resume: the damaged lineage is recomputed, nothing is analysed short
    assert any(expected in why for why in result.outcome.repaired.values())
    pd.testing.assert_frame_equal(_table(out), reference, check_exact=True)


@pytest.mark.parametrize("damage", ["run.json", "config.yaml", "lock-folder", "lineage.json"])
def test_a_corrupt_run_directory_is_one_line_with_exit_2(tmp_path, monkeypatch, capsys, damage):
    out = tmp_path / "run"
    _sweep(out)
    if damage == "lock-folder":
        (out / ".lock").unlink()
        (out / ".lock").mkdir()
    elif damage == "lineage.json":
        (RunStore.open(out).lineages()[0].path / "lineage.json").write_bytes(b"\xff\xfe garbage")
    else:
        (out / damage).write_bytes(b"\x00garbage: [")
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump(SWEEP))
    for args in (["cliff", out], ["report", out], ["sweep", config, "--out", out, "-q", "-w", "1"]):
        code, _, err = invoke(monkeypatch, capsys, *args)
        if (damage == "lineage.json" and args[0] == "sweep") or (damage == "lock-folder" and args[0] != "sweep"):
            assert code == 0, err  # the lineage is recomputed; reading needs no lock
            continue
        assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), (args, err)


def _fail_writes(monkeypatch, error: int, after: int) -> None:
    """os.replace (the step that makes every stored file appear) fails with ``error`` after ``after`` calls."""
    calls = {"n": 0}
    real = os.replace

    def replace(src, dst, *a, **kw):
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(error, os.strerror(error))
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("after", [0, 7, 19])
def test_a_full_disk_stops_the_run_in_one_line_and_the_same_command_resumes(tmp_path, monkeypatch, capsys,
                                                                             reference, after):
    out = tmp_path / "run"
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump(SWEEP))
    with monkeypatch.context() as patch:
        _fail_writes(patch, errno.ENOSPC, after)
        code, _, err = invoke(monkeypatch, capsys, "sweep", config, "--out", out, "-q", "-w", "1")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "cannot write (No space left on device); free some space and rerun the same command" in err
    _no_temporaries(out)
    code, _, err = invoke(monkeypatch, capsys, "sweep", config, "--out", out, "-q", "-w", "1")
    assert code == 0, err
    pd.testing.assert_frame_equal(_table(out), reference, check_exact=True)


def test_a_read_only_output_folder_and_run_directory(tmp_path, monkeypatch, capsys, reference):
    # root ignores permission bits, so the refusal the file system would give is simulated
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump(SWEEP))

    def read_only(*a, **kw):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    with monkeypatch.context() as patch:
        patch.setattr(tempfile, "mkdtemp", read_only)
        code, _, err = invoke(monkeypatch, capsys, "sweep", config, "--out", tmp_path / "ro" / "run", "-q", "-w", "1")
    assert code == 2 and "cannot create the run directory (Read-only file system)" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "ro" / "run").exists()

    out = tmp_path / "run"
    _partial(out)
    with monkeypatch.context() as patch:
        patch.setattr(tempfile, "mkstemp", read_only)
        code, _, err = invoke(monkeypatch, capsys, "sweep", config, "--out", out, "-q", "-w", "1")
    assert code == 2 and "Read-only file system" in err and len(err.strip().splitlines()) == 1
    code, _, err = invoke(monkeypatch, capsys, "sweep", config, "--out", out, "-q", "-w", "1")
    assert code == 0, err
    pd.testing.assert_frame_equal(_table(out), reference, check_exact=True)


def test_overwrite_takes_the_lock_first(tmp_path):
    out = tmp_path / "run"
    _sweep(out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with RunStore.open(out).lock():  # another writer
        with pytest.raises(RunLockedError, match="locked by pid"):
            _sweep(out, overwrite=True)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    _sweep(out, overwrite=True)  # once it is free


def test_workers_are_capped_at_the_lineages_and_the_cores_with_a_warning(tmp_path):
    with pytest.warns(CliffwatchWarning, match=r"--workers 64 capped at \d+: there are"):
        api.sweep(SweepConfig.model_validate(SWEEP), tmp_path / "run", workers=64, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CliffwatchWarning)  # the default (one per core) does not warn
        api.sweep(SweepConfig.model_validate(SWEEP), tmp_path / "again", progress=False)


def test_a_worker_that_keeps_dying_is_reported_in_one_line_and_holds_no_lock(tmp_path, monkeypatch):
    """Seed 1's worker kills itself at generation 2 on every attempt; seed 0 records its open files.
    Once the cause is gone, the same call finishes seed 1 from its checkpoint and recomputes nothing."""
    fds = tmp_path / "fds.txt"
    original = LineageRunner._probe

    def probe(self, generation, *a):
        if generation == 2 and self.lineage.seed == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        if generation == 0 and self.lineage.seed == 0:
            fds.write_text("\n".join(os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                                     if os.path.exists(f"/proc/self/fd/{fd}")))
        return original(self, generation, *a)

    cfg = ExperimentConfig.model_validate({k: v for k, v in SWEEP.items() if k != "sweep"})
    with monkeypatch.context() as patch:
        patch.setattr(LineageRunner, "_probe", probe)
        with pytest.raises(LineagesFailed) as info:
            api.run(cfg, tmp_path / "run", workers=2, executor="processes", progress=False)
    outcome = info.value.outcome
    (lineage, reason), = outcome.failed.items()
    assert lineage.endswith("-s1")
    assert reason == "its worker process died (killed by SIGKILL) 2 times; rerun the same command to resume it"
    assert info.value.lines() == [f"lineage {lineage} (seed 1) failed: {reason}"]
    assert len(outcome.finished) == 1
    assert not [f for f in fds.read_text().splitlines() if f.endswith("/.lock")]  # the lock stays with the parent
    stored = RunStore.open(tmp_path / "run").lineage(lineage)
    assert stored.checkpoint_generation() == 1 and stored.problems() == []  # what it finished is kept
    assert np.isfinite(load_results(tmp_path / "run")["value"]).all()

    written, write = [], LineageStore.write_generation

    def counted(self, generation, *args):
        write(self, generation, *args)
        written.append((self.path.name, generation))

    monkeypatch.setattr(LineageStore, "write_generation", counted)
    result = api.run(cfg, tmp_path / "run", workers=1, progress=False)  # inline: the writes are counted here
    assert result.outcome.failed == {} and written == [(lineage, g) for g in range(2, SWEEP["generations"] + 1)]
    assert (tmp_path / "run" / "summary.json").exists()  # written only now that every lineage has finished


@pytest.mark.parametrize("damage, expected", [
    (lambda d: (d / "checksums.json").unlink(), "checksums.json: missing"),
    (lambda d: (d / "checksums.json").write_text("[1, 2]"), "checksums.json: malformed"),
    (lambda d: (d / "checksums.json").write_text('{"results.parquet": 3}'), "checksums.json: malformed"),
    (lambda d: (d / "checksums.json").write_text('{"results.parquet": {"rows": true, "sha256": "x"}}'), "checksums.json: malformed"),
    (lambda d: (d / "checksums.json").write_text("null"), "checksums.json: malformed"),
])
def test_checksums_missing_or_malformed_is_named_everywhere_and_recomputed(tmp_path, monkeypatch, capsys, reference,
                                                                           damage, expected):
    """Deleting checksums.json no longer turns the check off, and a wrong-shape one is one line in
    cliff, report and monitor; the command that wrote the run recomputes the lineage."""
    out = tmp_path / "run"
    _sweep(out)
    victim = RunStore.open(out).lineages()[0]
    damage(victim.path)
    for args in (["cliff", out], ["report", out], ["monitor", out, "--lineage", victim.path.name]):
        code, _, err = invoke(monkeypatch, capsys, *args)
        assert code == 2 and len(err.strip().splitlines()) == 1, (args, err)
        assert f"lineages/{victim.path.name}/{expected}" in err and "rerun the same command" in err
    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump(SWEEP))
    code, _, err = invoke(monkeypatch, capsys, "sweep", config, "--out", out, "-q", "-w", "1", "-e", "inline")
    assert code == 0 and f"lineage {victim.path.name} was recomputed" in err and expected in err
    pd.testing.assert_frame_equal(_table(out), reference, check_exact=True)


@pytest.mark.parametrize("with_checksums", [True, False])
def test_a_results_file_from_another_lineage_is_caught(tmp_path, reference, with_checksums):
    """The lineage id is inside every results file: copying another lineage's results in (with its
    checksums, or after deleting them) is named, never analysed as this lineage's."""
    out = tmp_path / "run"
    _sweep(out)
    source, victim = RunStore.open(out).lineages()[:2]
    (victim.path / "results.parquet").write_bytes((source.path / "results.parquet").read_bytes())
    checksums = victim.path / "checksums.json"
    if with_checksums:
        checksums.write_bytes((source.path / "checksums.json").read_bytes())
    else:
        checksums.unlink()
    with pytest.raises(RunStoreError) as info:
        api.analyze(out)
    expected = f"holds the results of lineage '{source.path.name}'" if with_checksums else "checksums.json: missing"
    assert expected in str(info.value)
    result = _sweep(out)
    assert victim.path.name in result.outcome.repaired
    pd.testing.assert_frame_equal(_table(out), reference, check_exact=True)


@pytest.mark.parametrize("damage, expected", [
    (lambda run, lin: (lin / "samples.jsonl").write_text("{not json\n"), "samples.jsonl: unreadable"),
    (lambda run, lin: (lin / "samples.jsonl").write_text("[1]\n"), "samples.jsonl: damaged"),
    (lambda run, lin: (run / "run.json").write_text(
        '{"kind": "sweep", "metrics": [{"name": "wasserstein"}]}'), "run.json: damaged (malformed metric"),
    (lambda run, lin: (run / "run.json").write_text('{"kind": "sweep", "metrics": 7}'), "run.json: damaged"),
    (lambda run, lin: (lin / "lineage.json").write_text('{"seed": "zero"}'), "lineage.json: damaged"),
])
def test_damaged_side_files_are_one_line(tmp_path, monkeypatch, capsys, damage, expected):
    out = tmp_path / "run"
    _sweep(out)
    damage(out, RunStore.open(out).lineages()[0].path)
    code, _, err = invoke(monkeypatch, capsys, "report", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err


@pytest.mark.parametrize("mode, filters", [("accumulate", []), ("accumulate-subsample", []),
                                           ("accumulate", [{"name": "dedup", "against_train": True}])])
def test_a_growing_pool_is_checkpointed_in_parts_and_resumes_identically(tmp_path, monkeypatch, mode, filters):
    """An accumulating pool is stored as one part per generation (written once), not rewritten
    whole: the checkpoint lists the parts and holds none of the pool. A run stopped after
    generation 3 resumes to the uninterrupted run's results (manifests included); a needed part
    that goes missing is named, and the lineage recomputed to the same numbers."""
    config = {**SWEEP, "policy": {"samples": 60, "synthetic_fraction": 1.0, "mode": mode, "filters": filters},
              "generations": 6, "seeds": 1, "manifests": True}
    config.pop("sweep")
    if filters:  # text: dedup reads what the generators were fitted on
        config.update(family={"name": "ngram", "order": 2}, probes=["text_fidelity"], chains=1,
                      data={"source": "corpus", "corpus": "pydocs", "max_sentences": 2000})
    cfg = ExperimentConfig.model_validate(config)
    api.run(cfg, tmp_path / "whole", workers=1, progress=False)

    write = LineageStore.write_generation

    def stop_after_3(self, generation, *args):
        write(self, generation, *args)
        if generation == 3:
            raise StoreWriteError("stopped here by the test")

    with monkeypatch.context() as patch:
        patch.setattr(LineageStore, "write_generation", stop_after_3)
        with pytest.raises(RunStoreError):
            api.run(cfg, tmp_path / "run", workers=1, progress=False)
    lineage, = RunStore.open(tmp_path / "run").lineages()
    assert lineage.checkpoint_generation() == 3
    assert sorted(p.name for p in lineage.path.glob("pool-*.npz")) == [f"pool-{g:06d}.npz" for g in (1, 2, 3)]
    # the sample previews ride in the results files' metadata: no file of their own, still readable
    whole, = RunStore.open(tmp_path / "whole").lineages()
    assert not list(lineage.path.glob("samples-*.json"))
    assert lineage.samples() == [d for d in whole.samples() if d["generation"] <= 3]
    assert filters or [d["generation"] for d in whole.samples()] == list(range(7))  # the vector probes draw samples
    with np.load(lineage.path / "checkpoint.npz") as ckpt:  # it lists the parts and holds none of the pool
        assert list(ckpt["pool_parts"]) == [1, 2, 3] and not [k for k in ckpt.files if k.startswith(("pool.", "train."))]
    with np.load(lineage.path / "pool-000003.npz") as part:  # only what generation 3 added
        assert {k.split(".")[-2] if k.startswith("provenance") else k.split(".")[1] for k in part.files} == {"000003"}
    api.run(cfg, tmp_path / "run", workers=1, progress=False)
    pd.testing.assert_frame_equal(_table(tmp_path / "run"), _table(tmp_path / "whole"))
    for g in range(1, 7):
        name = f"manifest-{g:06d}.parquet"
        assert pd.read_parquet(lineage.path / name).equals(pd.read_parquet(tmp_path / "whole" / "lineages" / lineage.path.name / name))
    assert not list(lineage.path.glob("pool-*.npz")) and not (lineage.path / "checkpoint.npz").exists()

    # a needed part that is missing: named, and the lineage recomputed from generation 0
    with monkeypatch.context() as patch:
        patch.setattr(LineageStore, "write_generation", stop_after_3)
        with pytest.raises(RunStoreError):
            api.run(cfg, tmp_path / "again", workers=1, progress=False)
    damaged, = RunStore.open(tmp_path / "again").lineages()
    (damaged.path / "pool-000002.npz").unlink()
    assert damaged.problems() == [f"{damaged.name}/pool-000002.npz: missing"]
    result = api.run(cfg, tmp_path / "again", workers=1, progress=False)
    assert list(result.outcome.repaired.values()) == [f"{damaged.name}/pool-000002.npz: missing"]
    pd.testing.assert_frame_equal(_table(tmp_path / "again"), _table(tmp_path / "whole"))

    # and one that is truncated
    with monkeypatch.context() as patch:
        patch.setattr(LineageStore, "write_generation", stop_after_3)
        with pytest.raises(RunStoreError):
            api.run(cfg, tmp_path / "third", workers=1, progress=False)
    damaged, = RunStore.open(tmp_path / "third").lineages()
    part = damaged.path / "pool-000001.npz"
    part.write_bytes(part.read_bytes()[:40])
    assert damaged.problems() == [f"{damaged.name}/pool-000001.npz: unreadable (BadZipFile)"]
    api.run(cfg, tmp_path / "third", workers=1, progress=False)
    pd.testing.assert_frame_equal(_table(tmp_path / "third"), _table(tmp_path / "whole"))
