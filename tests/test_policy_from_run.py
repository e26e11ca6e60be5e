"""From the cliff to the gate, as a user walks it (docs/guard.md): measure a sweep, write the audit
policy it supports, gate a training mix with it; and the mapping from the run's per-generation
synthetic share to the audit's effective human fraction, checked against the audit of the loop's
own manifests."""

import json

import numpy as np
import pytest
import yaml

from conftest import invoke
from cliffwatch import api
from cliffwatch.execution.store import RunStore
from cliffwatch.guard.from_run import effective_human_fraction, gate
from cliffwatch.guard.policy import load_policy

SWEEP = {
    "name": "gp",
    "family": {"name": "gaussian"},
    "data": {"source": "gaussian", "dim": 2},
    "policy": {"synthetic_fraction": 1.0, "samples": 40},
    "generations": 3,
    "seeds": 12,  # the safe mix also bounds the risk that one run crosses τ: 0 of 11 runs bounds it by 25%
    "chains": 4,
    "probes": ["wasserstein"],
    "manifests": True,
    "sweep": {"policy.synthetic_fraction": [0, 0.25, 0.5, 0.75, 1]},
    "cliff": {"tolerance": 0.8},
}


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    folder = tmp_path_factory.mktemp("policy")
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    api.sweep(path, folder / "run", workers=2, progress=False)
    return folder


def manifest_of(run, fraction: float, generation: int):
    store = RunStore.open(run)
    for lineage in store.lineages():
        meta = lineage.meta()
        if meta["labels"]["synthetic_fraction"] == fraction and meta["seed"] == 0:
            return lineage.path / f"manifest-{generation:06d}.parquet"
    raise AssertionError(f"no lineage at s = {fraction}")


def test_measure_write_the_policy_and_gate_a_mix(measured, monkeypatch, capsys):
    run, policy = measured / "run", measured / "policy.yaml"
    code, stdout, _ = invoke(monkeypatch, capsys, "policy", run, "--out", policy)
    assert code == 0 and "min_human_fraction 0.75" in stdout
    rules = load_policy(policy)  # a valid policy file
    # s* = 0.25: the largest safe fraction (the cliff's interval starts above it); replace mode: 1 - s*
    assert rules.min_human_fraction == 0.75 and rules.max_depth == 3 and rules.dedup == "exact"
    text = policy.read_text()
    assert "s* = 0.25" in text and "effective human fraction of 0.75" in text
    # a training mix at the safe share passes the gate, one past it fails
    code, _, _ = invoke(monkeypatch, capsys, "audit", manifest_of(run, 0.25, 3), "--policy", policy)
    assert code == 0
    code, stdout, _ = invoke(monkeypatch, capsys, "audit", manifest_of(run, 0.5, 3), "--policy", policy)
    assert code == 1 and "FAIL" in stdout


def test_the_policy_through_python(measured):
    derived = api.policy(measured / "run")
    assert derived.policy.min_human_fraction == 0.75
    (mix,) = derived.mixes
    assert mix.safe_fraction == 0.25 and mix.cliff_low > 0.25 and mix.fraction == 0.25
    assert json.loads(json.dumps(derived.to_dict()))["policy"]["max_depth"] == 3


def test_printed_without_out(measured, monkeypatch, capsys):
    code, stdout, _ = invoke(monkeypatch, capsys, "policy", measured / "run")
    assert code == 0 and stdout.startswith("# Audit policy written by `cliffwatch policy")
    assert yaml.safe_load(stdout) == {"min_human_fraction": 0.75, "max_depth": 3, "dedup": "exact"}


def test_format_json_is_the_json_flag_and_a_bad_format_is_one_line(measured, monkeypatch, capsys):
    _, by_flag, _ = invoke(monkeypatch, capsys, "policy", measured / "run", "--json")
    code, by_format, _ = invoke(monkeypatch, capsys, "policy", measured / "run", "--format", "json")
    assert code == 0 and json.loads(by_format) == json.loads(by_flag)
    code, markdown, _ = invoke(monkeypatch, capsys, "policy", measured / "run", "--format", "markdown")
    assert code == 0 and yaml.safe_load(markdown)["min_human_fraction"] == 0.75
    code, _, stderr = invoke(monkeypatch, capsys, "policy", measured / "run", "--format", "yaml")
    assert code == 2 and "--format" in stderr and len(stderr.strip().splitlines()) == 1


def test_a_stricter_tolerance_gives_an_all_human_policy_and_says_why(measured):
    derived = api.policy(measured / "run", tolerance=0.05)
    assert derived.policy.min_human_fraction == 1.0
    assert "s* = 0: no synthetic share was shown to stay within tau" in derived.yaml()


def test_cliff_gate_exit_codes(measured, monkeypatch, capsys):
    run = measured / "run"
    code, stdout, _ = invoke(monkeypatch, capsys, "cliff", run, "--fail-if-unsafe", "0.25")
    assert code == 0 and "gate: pass: s = 0.25 is a safe mix" in stdout
    code, stdout, _ = invoke(monkeypatch, capsys, "cliff", run, "--fail-if-unsafe", "0.3")
    assert code == 1 and "gate: FAIL: s = 0.3 is not a safe mix" in stdout
    code, stdout, stderr = invoke(monkeypatch, capsys, "cliff", run, "--json", "--fail-if-cliff-below", "0.9")
    assert code == 1 and "gate: FAIL: the cliff of wasserstein starts at s =" in stderr
    json.loads(stdout)  # stdout stays pure JSON
    code, _, _ = invoke(monkeypatch, capsys, "cliff", run, "--fail-if-cliff-below", "0.1", "--fail-if-unsafe", "0")
    assert code == 0


def test_an_undetermined_cliff_fails_the_gate():
    class Undetermined:
        metric, group, tolerance, generation = "m", {}, 0.1, 3
        safe_fraction, cliff_low = 0.2, float("nan")

    assert not gate([Undetermined()], cliff_below=0.1).passed


@pytest.mark.parametrize("mode, human", [("replace", "fixed"), ("replace", "fresh"), ("accumulate", "fixed"),
                                         ("accumulate", "fresh")])
@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_the_mapping_equals_the_audit_of_the_loops_manifests(tmp_path, mode, human, fraction):
    """Gaussian items never repeat, so the audit's effective human fraction (after exact dedup) is
    exactly the mapping's value at every generation."""
    cfg = {**{k: v for k, v in SWEEP.items() if k not in ("sweep", "cliff")}, "seeds": 1, "chains": 2,
           "policy": {"synthetic_fraction": fraction, "samples": 30, "mode": mode, "human": human}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "p.yaml").write_text("dedup: exact\n")
    run = api.run(tmp_path / "c.yaml", tmp_path / "run", progress=False).run_dir
    (lineage,) = RunStore.open(run).lineages()
    for g in range(4):
        audited = api.audit(lineage.path / f"manifest-{g:06d}.parquet", tmp_path / "p.yaml")
        assert audited.effective_human_fraction == pytest.approx(
            effective_human_fraction(fraction, 30, mode, human, g), abs=1e-12), g


def test_the_mapping_for_accumulate_subsample_is_the_expected_share(tmp_path):
    """A uniform subsample of the pool: its human share averages the pool's (hypergeometric); over 40
    chains the mean lies within 4 standard errors."""
    chains, m, g, s = 40, 30, 3, 0.5
    cfg = {**{k: v for k, v in SWEEP.items() if k not in ("sweep", "cliff")}, "seeds": 1, "chains": chains,
           "generations": g, "policy": {"synthetic_fraction": s, "samples": m, "mode": "accumulate-subsample",
                                        "human": "fixed"}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "p.yaml").write_text("dedup: exact\n")
    run = api.run(tmp_path / "c.yaml", tmp_path / "run", progress=False).run_dir
    (lineage,) = RunStore.open(run).lineages()
    audited = api.audit(lineage.path / f"manifest-{g:06d}.parquet", tmp_path / "p.yaml")
    expected = effective_human_fraction(s, m, "accumulate-subsample", "fixed", g)
    pool = m + g * round(s * m)
    se = np.sqrt(expected * (1 - expected) * (pool - m) / (pool - 1) / m / chains)
    assert abs(audited.effective_human_fraction - expected) < 4 * se


def test_mapping_values():
    assert effective_human_fraction(0.2, 100, "replace", "fixed", 5) == 0.8
    assert effective_human_fraction(0.2, 100, "accumulate", "fresh", 1) == 0.9  # (100 + 80) / 200
    assert effective_human_fraction(0.2, 100, "accumulate", "fixed", 5) == 0.5  # 100 / (100 + 5 x 20)
    assert effective_human_fraction(1.0, 100, "replace", "fresh", 0) == 1.0
