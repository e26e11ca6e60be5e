"""A run where some lineages fail is loud: one line per failed lineage, a summary, exit 1 and no
analysis of the rest; from Python, LineagesFailed. What finished stays stored, the same command
retries only the failed lineages, and every analysis of the run directory names what is missing.

The failing input is real: a score filter whose threshold no sample can meet stops every lineage that
draws synthetic data (generation 1, after generation 0 is stored), while the all-human lineages
(synthetic fraction 0) never consult it and finish."""

from __future__ import annotations

import pytest
import yaml

from conftest import invoke
from cliffwatch import api
from cliffwatch.config.schema import SweepConfig
from cliffwatch.core.errors import IncompleteRunError, LineageError, LineagesFailed
from cliffwatch.execution import plan, store
from cliffwatch.execution.store import RunStore

REJECT_ALL = [{"name": "self_score", "threshold": -1e6}]  # NLL per item of a 2-d Gaussian is never this low
SWEEP = {"name": "partial", "family": {"name": "gaussian"}, "data": {"source": "gaussian", "dim": 2},
         "policy": {"samples": 50, "filters": REJECT_ALL}, "generations": 3, "seeds": 2, "chains": 2,
         "probes": ["moments", "wasserstein"], "cliff": {"metric": "wasserstein", "tolerance": 0.5},
         "sweep": {"policy.synthetic_fraction": [0.0, 0.5, 1.0]}}
SUMMARY = "error: 4 of 6 lineages failed; rerun the same command to retry them"


def _lineages(fraction=None) -> list[str]:
    return [lin.id for lin in plan.sweep_lineages(SweepConfig.model_validate(SWEEP))
            if fraction is None or (lin.config.policy.synthetic_fraction > 0) == fraction]


@pytest.fixture
def writes(monkeypatch) -> list[tuple[str, int]]:
    """(lineage, generation) of every generation stored in this process (the inline executor)."""
    log, write = [], store.LineageStore.write_generation

    def counted(self, generation, *args):
        write(self, generation, *args)
        log.append((self.path.name, generation))

    monkeypatch.setattr(store.LineageStore, "write_generation", counted)
    return log


def test_a_sweep_with_failed_lineages_exits_1_names_each_one_and_prints_no_cliff(tmp_path, monkeypatch, capsys, writes):
    config, out = tmp_path / "s.yaml", tmp_path / "run"
    config.write_text(yaml.safe_dump(SWEEP))
    code, stdout, err = invoke(monkeypatch, capsys, "sweep", config, "--out", out, "-q", "-w", "1")
    assert code == 1 and stdout == ""  # no cliff table, no cost line: they would describe 2 of 6 lineages
    lines = err.strip().splitlines()
    assert lines[-1] == SUMMARY and len(lines) == 5
    failing = {lin.id: lin for lin in plan.sweep_lineages(SweepConfig.model_validate(SWEEP))
               if lin.config.policy.synthetic_fraction > 0}
    for lineage_id, lineage in failing.items():
        s = lineage.config.policy.synthetic_fraction
        expected = (f"error: lineage {lineage_id} (synthetic_fraction {s}, seed {lineage.seed}) failed: filter "
                    f"'self_score' rejected all {round(s * 50)} synthetic samples at generation 1")
        assert sum(line.startswith(expected) for line in lines) == 1, (expected, lines)

    stored = {lin.path.name: lin for lin in RunStore.open(out).lineages()}
    assert all(stored[i].finished for i in _lineages(False))  # what finished is kept
    assert all(stored[i].checkpoint_generation() == 0 for i in _lineages(True))  # and what the failed ones finished
    assert sorted(writes) == sorted([(i, g) for i in _lineages(False) for g in range(4)] + [(i, 0) for i in _lineages(True)])

    writes.clear()  # the same command again: only the failed lineages are retried, from their checkpoint
    code, stdout, err = invoke(monkeypatch, capsys, "sweep", config, "--out", out, "-q", "-w", "1")
    assert code == 1 and stdout == "" and err.strip().splitlines()[-1] == SUMMARY
    assert writes == []  # no finished generation was recomputed (they fail again at generation 1)

    first = next(iter(failing))  # in the order the sweep plans them
    named = (f"4 of 6 lineages have not finished, so an analysis would leave them out: lineages/{first} "
             f"(synthetic_fraction {failing[first].config.policy.synthetic_fraction}, seed {failing[first].seed}): "
             "stopped after generation 0 (and 3 more); rerun the command that wrote it (same config and --out)")
    for args in (["cliff", out], ["cliff", out, "--json"], ["report", out]):
        code, stdout, err = invoke(monkeypatch, capsys, *args)
        assert code == 2 and stdout == "" and len(err.strip().splitlines()) == 1 and named in err, (args, err)
    assert not (out / "report.html").exists() and not (out / "summary.json").exists()


def test_from_python_a_failed_lineage_raises_with_the_outcome_and_analysis_refuses(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(LineagesFailed) as info:
        api.sweep(SweepConfig.model_validate(SWEEP), out, workers=1, progress=False)
    failure = info.value
    assert isinstance(failure, LineageError) and failure.total == 6
    assert sorted(failure.failed) == sorted(_lineages(True)) and sorted(failure.outcome.finished) == sorted(_lineages(False))
    assert all("rejected all" in reason for reason in failure.failed.values())
    assert str(failure).startswith("4 of 6 lineages failed; rerun the same command to retry them; first: lineage ")
    assert len(failure.lines()) == 4 and "\n" not in str(failure)
    for analysis in (api.analyze, api.summary, api.report):
        with pytest.raises(IncompleteRunError, match=r"4 of 6 lineages have not finished"):
            analysis(out)
    assert len(api.results(out)["lineage"].unique()) == 6  # the raw table holds what is stored, failures' generation 0 too


def test_an_adaptive_sweep_with_failed_lineages_names_them_too(tmp_path):
    out = tmp_path / "adaptive"
    with pytest.raises(LineagesFailed) as info:
        api.sweep(SweepConfig.model_validate(SWEEP), out, workers=1, adaptive=True, progress=False)
    assert all("synthetic_fraction 1.0" in line for line in info.value.lines())
    with pytest.raises(IncompleteRunError, match=r"2 of 4 lineages have not finished.*synthetic_fraction 1.0, seed 0"):
        api.analyze(out)


def test_a_compare_with_a_failing_route_exits_1_and_prints_no_comparison(tmp_path, monkeypatch, capsys):
    experiment = {k: v for k, v in SWEEP.items() if k not in ("sweep", "policy")}
    compare = {**experiment, "name": "failing-route", "policy": {"synthetic_fraction": 1.0, "samples": 50},
               "routes": {"none": {}, "rejecting": {"policy.filters": REJECT_ALL}}}
    config, out = tmp_path / "c.yaml", tmp_path / "run"
    config.write_text(yaml.safe_dump(compare))
    code, stdout, err = invoke(monkeypatch, capsys, "compare", config, "--out", out, "-q", "-w", "1")
    assert code == 1 and stdout == ""
    lines = err.strip().splitlines()
    assert lines[-1] == "error: 2 of 6 lineages failed; rerun the same command to retry them"
    assert len(lines) == 3 and all("route rejecting, seed " in line and "rejected all" in line for line in lines[:2])
    with pytest.raises(IncompleteRunError, match=r"2 of 6 lineages have not finished.*route rejecting"):
        api.compare_results(out)
