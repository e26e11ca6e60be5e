"""Hostile inputs to the surfaces a verdict comes from: audit policies, monitor histories, the files
of a run directory and sweep grid values. Each ends in a verdict or a typed one-line error (exit 2
in the CLI): no other exception, no hang, nothing half-written, and a reading command leaves the run
directory as it found it."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cliffwatch import api
from cliffwatch.config.load import parse
from cliffwatch.config.schema import SweepConfig
from cliffwatch.core.errors import MAX_MESSAGE, CliffwatchError
from cliffwatch.execution import plan
from cliffwatch.execution.store import RunStore
from cliffwatch.guard.monitor import Roles, load_history, monitor
from cliffwatch.guard.policy import Policy, load_policy

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, -1, 0.0, 1e308, -1e308, 5e-324, "0.5", "50", "off", "on", "yes", "N/A", "", "1e3"]),
                    st.text(max_size=20))
JSONISH = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                       max_leaves=20)


def _one_line(err: Exception) -> None:
    message = str(err)
    assert "\n" not in message and 0 < len(message) <= MAX_MESSAGE, message


def _no_temporaries(root: Path) -> None:
    assert [p for p in root.rglob("*") if p.name.endswith(".tmp")] == []


# ---- policies -----------------------------------------------------------------------------------

@FUZZ
@given(fields=st.dictionaries(st.sampled_from([*Policy.model_fields, "nonsense"]), JSONISH, max_size=4),
       toml=st.booleans())
def test_hostile_policies_load_or_fail_in_one_line(tmp_path, fields, toml):
    if toml:  # JSON scalars and arrays are TOML values; null and objects make it invalid TOML
        text = "\n".join(f"{k} = {json.dumps(v)}" for k, v in fields.items())
        path = tmp_path / "p.toml"
    else:
        text = yaml.safe_dump(fields)
        path = tmp_path / "p.yaml"
    path.write_text(text)
    try:
        policy = load_policy(path)
    except CliffwatchError as err:
        _one_line(err)
        return
    for name in ("min_human_fraction", "max_family_share", "min_verified_share", "max_unprovenanced_share"):
        value = getattr(policy, name)
        assert value is None or (type(value) is float and 0 <= value <= 1)  # never a bool read as 1
    for name in ("max_depth", "min_generator_families"):
        assert getattr(policy, name) is None or type(getattr(policy, name)) is int


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".yaml", ".toml"]))
def test_random_bytes_as_a_policy(tmp_path, data, suffix):
    path = tmp_path / f"p{suffix}"
    path.write_bytes(data)
    try:
        load_policy(path)
    except CliffwatchError as err:
        _one_line(err)


# ---- monitor histories ----------------------------------------------------------------------------

ROWS = st.lists(st.dictionaries(st.sampled_from(["generation", "heldout_ppl", "distinct_1", "metric", "value", "mmlu"]),
                                SCALARS, max_size=4), max_size=6)


def _monitor(path: Path) -> None:
    try:
        frame = load_history(path)
        result = monitor(frame, Roles.parse(list(frame.columns), quality=None))
    except CliffwatchError as err:
        _one_line(err)
        return
    assert all(isinstance(g, int) for g in result.generations)  # never a truncated 1.5 or a True
    json.dumps(result.to_dict(), allow_nan=False)


@FUZZ
@given(raw=st.one_of(ROWS, JSONISH, st.dictionaries(st.sampled_from(["heldout_ppl", "generation", "x"]),
                                                     st.lists(SCALARS, max_size=5), max_size=3)))
def test_hostile_json_histories(tmp_path, raw):
    path = tmp_path / "h.json"
    path.write_text(json.dumps(raw))
    _monitor(path)


@FUZZ
@given(rows=st.lists(st.lists(st.one_of(SCALARS.map(str), st.sampled_from(["", "nan", "inf", "1.5", "true"])),
                              min_size=2, max_size=2), max_size=6),
       header=st.sampled_from([["generation", "heldout_ppl"], ["generation", "metric"], ["gen", "heldout_ppl"]]))
@example(rows=[["18446744073709551616", "None"]], header=["generation", "heldout_ppl"])  # past int64
@example(rows=[["0", "1" + "0" * 400]], header=["generation", "heldout_ppl"])  # past a float
def test_hostile_csv_histories(tmp_path, rows, header):
    import csv

    path = tmp_path / "h.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    _monitor(path)


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".json"]))
def test_random_bytes_as_a_history(tmp_path, data, suffix):
    path = tmp_path / f"h{suffix}"
    path.write_bytes(data)
    _monitor(path)


# ---- run-directory files --------------------------------------------------------------------------

SWEEP = {"name": "hostile", "family": {"name": "gaussian"}, "data": {"source": "gaussian", "dim": 1},
         "policy": {"samples": 30}, "generations": 2, "seeds": 1, "chains": 2, "probe_samples": 50,
         "holdout": 50, "probes": ["moments"], "cliff": {"metric": "mean_error"}, "sweep": {"policy.synthetic_fraction": [0.0, 1.0]}}
FILES = ["run.json", "config.yaml", "lineage.json", "checksums.json", "results.parquet", "samples.jsonl"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "run"
    api.sweep(SweepConfig.model_validate(SWEEP), out, workers=1, executor="inline", progress=False)
    return out


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@FUZZ
@given(name=st.sampled_from(FILES), content=st.one_of(st.binary(max_size=200), JSONISH.map(lambda v: json.dumps(v).encode())),
       truncate=st.booleans())
def test_hostile_run_files_are_named_by_every_reader(tmp_path, finished_run, name, content, truncate):
    out = tmp_path / "run"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(finished_run, out)
    lineage = RunStore.open(out).lineages()[0].path
    victim = out / name if name in ("run.json", "config.yaml") else lineage / name
    original = victim.read_bytes() if victim.exists() else b""  # a vector run keeps no samples
    victim.write_bytes(original[: len(content)] if truncate else content)
    before = _digest(out)
    for read in (lambda: api.analyze(out), lambda: api.summary(out), lambda: load_history(out, lineage.name),
                 lambda: RunStore.open(out).lineage(lineage.name).samples()):
        try:
            read()
        except CliffwatchError as err:
            _one_line(err)
    assert _digest(out) == before  # reading repairs nothing behind the user's back
    _no_temporaries(out)


# ---- grid values ----------------------------------------------------------------------------------

GRID_PATHS = ["policy.synthetic_fraction", "manifests", "probe_samples", "policy.temperature", "policy.samples",
              "generations", "chains", "data.mean", "policy.human"]


@FUZZ
@given(path=st.sampled_from(GRID_PATHS), values=st.lists(SCALARS, min_size=1, max_size=4))
def test_hostile_grid_values_load_as_distinct_lineages_or_fail_in_one_line(path, values):
    sweep = {"policy.synthetic_fraction": [0.0, 1.0], path: values}
    try:
        config = parse(SweepConfig, {**SWEEP, "sweep": sweep}, "c.yaml")
    except CliffwatchError as err:
        _one_line(err)
        return
    lineages = plan.sweep_lineages(config)
    assert len({lineage.id for lineage in lineages}) == len(lineages)  # a grid point is a lineage
    for value in values:
        assert not isinstance(value, (bool, str)) or path in ("manifests", "policy.human")
