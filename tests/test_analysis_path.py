"""One path from results to every output: each command builds the run's analysis once, and the
terminal, summary.json, `cliff --json` and the HTML report only render it."""

import json
import shutil

import pytest
import yaml

from conftest import invoke
from cliffwatch import api
from cliffwatch.analysis import run as run_analysis
from cliffwatch.config.schema import SweepConfig
from cliffwatch.core.errors import AnalysisError, RunStoreError
from cliffwatch.report.html import write_report
from cliffwatch.report.summary_json import run_summary

SWEEP = {
    "name": "path",
    "family": {"name": "gaussian"},
    "data": {"source": "gaussian", "dim": 2},
    "policy": {"samples": 30},
    "generations": 2,
    "seeds": 2,
    "chains": 3,
    "probes": ["moments", "wasserstein"],
    "cliff": {"metric": "wasserstein", "tolerance": 0.5, "adaptive_steps": 1},
    "sweep": {"policy.synthetic_fraction": [0.0, 0.5, 1.0]},
}


@pytest.fixture
def count_analyses(monkeypatch):
    """How many times the one analysis function runs."""
    calls = []
    real = run_analysis.analyze_run

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr("cliffwatch.api.analyze_run", counted)
    return calls


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("path") / "sweep"
    api.sweep(SweepConfig.model_validate(SWEEP), out, workers=1, progress=False)
    return out


def test_every_command_analyses_the_run_once(sweep_run, tmp_path, monkeypatch, capsys, count_analyses):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(SWEEP))
    code, out, _ = invoke(monkeypatch, capsys, "sweep", config, "--out", tmp_path / "s", "-q", "--workers", "1")
    assert code == 0 and "quality loss" in out and len(count_analyses) == 1  # printed and summary.json, one analysis
    for args in (["cliff", sweep_run], ["cliff", sweep_run, "--json"], ["report", sweep_run, "-o", tmp_path / "r.html"]):
        count_analyses.clear()
        code, _, _ = invoke(monkeypatch, capsys, *args)
        assert code == 0 and len(count_analyses) == 1, args
    count_analyses.clear()
    run = {k: v for k, v in SWEEP.items() if k not in ("sweep", "cliff")}
    config.write_text(yaml.safe_dump(run))
    code, out, _ = invoke(monkeypatch, capsys, "run", config, "--out", tmp_path / "run", "-q")
    assert code == 0 and "wasserstein" in out and len(count_analyses) == 1
    count_analyses.clear()
    result = api.sweep(SweepConfig.model_validate(SWEEP), tmp_path / "s", workers=1, progress=False)  # resumed: nothing to run
    api.report(result.analysis, tmp_path / "demo.html")  # what `cliffwatch demo` does
    assert len(count_analyses) == 1


def test_outputs_render_the_analysis_without_reading_the_run(sweep_run, tmp_path):
    analysis = api.analysis(sweep_run)
    written = json.loads((sweep_run / "summary.json").read_text())
    moved = tmp_path / "moved"
    shutil.move(sweep_run, moved)  # the renderers cannot reopen it
    try:
        assert run_summary(analysis) == written
        page = write_report(analysis, tmp_path / "report.html").read_text(encoding="utf-8")
        assert "What the models write" in page and page.count("<td class='text sample'>") >= 2
        assert analysis.cliffs[0].metric == "wasserstein" and f"{analysis.cliffs[0].cliff:.2f}" in page
    finally:
        shutil.move(moved, sweep_run)


def test_an_analysis_handed_over_takes_no_overrides(sweep_run):
    with pytest.raises(AnalysisError, match="pass them to cliffwatch.api.analysis"):
        api.report(api.analysis(sweep_run), tolerance=2.0)


def test_adaptive_is_recorded_in_run_json_not_in_the_config(tmp_path):
    config = SweepConfig.model_validate(SWEEP)
    api.sweep(config, tmp_path / "adaptive", workers=1, adaptive=True, progress=False)
    meta = json.loads((tmp_path / "adaptive" / "run.json").read_text())
    snapshot = yaml.safe_load((tmp_path / "adaptive" / "config.yaml").read_text())
    assert meta["adaptive"] is True and "adaptive" not in snapshot and snapshot == config.model_dump(mode="json")
    assert api.analysis(tmp_path / "adaptive").adaptive
    with pytest.raises(RunStoreError, match="holds an adaptive sweep of this config, not the whole grid"):
        api.sweep(config, tmp_path / "adaptive", workers=1, progress=False)


def test_a_whole_grid_sweep_records_that_it_is_not_adaptive(sweep_run):
    assert json.loads((sweep_run / "run.json").read_text())["adaptive"] is False
    with pytest.raises(RunStoreError, match="holds a whole-grid sweep of this config, not an adaptive search"):
        api.sweep(SweepConfig.model_validate(SWEEP), sweep_run, workers=1, adaptive=True, progress=False)


def test_a_run_written_by_0_2_0_with_adaptive_in_its_config_is_read(tmp_path):
    out = tmp_path / "old"
    api.sweep(SweepConfig.model_validate(SWEEP), out, workers=1, adaptive=True, progress=False)
    meta = json.loads((out / "run.json").read_text())
    del meta["adaptive"]
    (out / "run.json").write_text(json.dumps(meta))
    snapshot = yaml.safe_load((out / "config.yaml").read_text())
    (out / "config.yaml").write_text(yaml.safe_dump({**snapshot, "adaptive": True}, sort_keys=False))
    analysis = api.analysis(out)
    assert analysis.adaptive and "adaptive" not in analysis.snapshot and analysis.cliffs
