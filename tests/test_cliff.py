"""Sweeps, cliff location with CIs, knee fit, adaptive bisection, the cost planner, and their bad input."""


import numpy as np
import pytest

from cliffwatch.report.prose import cliff_sentence, cost_sentence
from cliffwatch.analysis.cliff import analyze, crossing, hinge_fit
from cliffwatch.analysis.quality_loss import loss_table
from cliffwatch.analysis.cost import plan
from cliffwatch.loop.mixing import mix_cost
from cliffwatch.config.schema import CostSpec, ExperimentConfig, SweepConfig
from cliffwatch.core.errors import ConfigError, LineagesFailed
from conftest import invoke
from cliffwatch.execution.store import RunStore, load_results
from cliffwatch import api

FRACTIONS = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
SWEEP = {
    "name": "gauss-sweep",
    "family": {"name": "gaussian"},
    "data": {"source": "gaussian", "dim": 2},
    "policy": {"human": "fresh", "samples": 40},
    "generations": 6,
    "seeds": 4,
    "chains": 8,
    "probes": ["moments", "wasserstein"],
    "cliff": {"metric": "wasserstein", "tolerance": 0.5, "adaptive_steps": 3},
    "sweep": {"policy.synthetic_fraction": FRACTIONS},
}


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "grid"
    api.sweep(SweepConfig.model_validate(SWEEP), out, workers=2, progress=False).outcome
    return out


def test_crossing_interpolates_between_grid_points():
    s = np.array([0.0, 0.5, 1.0])
    assert crossing(s, np.array([0.0, 0.1, 0.3]), 0.2) == pytest.approx(0.75)
    assert crossing(s, np.array([0.0, 0.3, 0.9]), 0.15) == pytest.approx(0.25)
    assert np.isnan(crossing(s, np.array([0.0, 0.05, 0.1]), 0.2))
    rows = crossing(s, np.array([[0.0, 0.1, 0.3], [0.0, 0.3, 0.9]]), 0.2)
    assert rows == pytest.approx([0.75, 1 / 3])


def test_hinge_fit_recovers_a_known_knee():
    s = np.linspace(0, 1, 21)
    curve = 0.05 * s + 2.0 * np.maximum(0, s - 0.65)
    knee, left, right = hinge_fit(s, curve)
    assert knee[0] == pytest.approx(0.65, abs=0.01)
    assert left[0] == pytest.approx(0.05, abs=1e-6) and right[0] == pytest.approx(2.05, abs=1e-6)


def test_grid_sweep_locates_the_cliff_with_a_ci(grid_run):
    df = load_results(grid_run)
    assert sorted(df["synthetic_fraction"].unique()) == FRACTIONS
    losses = loss_table(df, "wasserstein")
    assert np.allclose(losses.loc[losses["synthetic_fraction"] == 0, "loss"], 0.0)  # paired with itself
    (cliff,) = analyze(df, "wasserstein", tolerance=0.5)
    assert cliff.replicates == 4 and cliff.replicate_ids == [(s, 8) for s in range(4)]  # seeds; chains averaged
    assert cliff.found and 0 < cliff.cliff < 1
    assert cliff.cliff_low <= cliff.cliff <= cliff.cliff_high
    # the loss at s = 1 is clearly above tau, and the all-synthetic loss exceeds the mid-grid one
    assert cliff.loss_low[-1] > 0.5 and cliff.loss[-1] > cliff.loss[2]
    assert "quality holds up to s =" in cliff_sentence(cliff)


def test_adaptive_search_agrees_with_the_grid_with_fewer_runs(grid_run, tmp_path):
    (grid,) = analyze(load_results(grid_run), "wasserstein", tolerance=0.5)
    cliffs = api.sweep(SweepConfig.model_validate(SWEEP), tmp_path / "adaptive", workers=2, adaptive=True, progress=False).cliffs
    (adaptive,) = cliffs
    assert len(adaptive.fractions) == 2 + 3 < len(FRACTIONS) + 1
    assert grid.cliff_low <= adaptive.cliff <= grid.cliff_high


def test_resumed_sweep_recomputes_nothing(grid_run):
    finished = {p.path.name: (p.path / "results.parquet").stat().st_mtime_ns for p in RunStore.open(grid_run).lineages()}
    outcome = api.sweep(SweepConfig.model_validate(SWEEP), grid_run, workers=2, progress=False).outcome
    assert sorted(outcome.finished) == sorted(finished)
    assert finished == {p.path.name: (p.path / "results.parquet").stat().st_mtime_ns for p in RunStore.open(grid_run).lineages()}


def test_workers_do_not_change_results(grid_run, tmp_path):
    small = {**SWEEP, "sweep": {"policy.synthetic_fraction": [0.0, 1.0]}}
    api.sweep(SweepConfig.model_validate(small), tmp_path / "one", workers=1, progress=False).outcome
    a = load_results(tmp_path / "one").sort_values(["lineage", "chain", "generation", "metric"])
    b = load_results(grid_run)
    b = b[b["synthetic_fraction"].isin([0.0, 1.0])].sort_values(["lineage", "chain", "generation", "metric"])
    assert np.array_equal(a["value"].to_numpy(), b["value"].to_numpy())


def test_cost_of_a_mix():
    prices = CostSpec(human_price=10.0, synthetic_price=1.0)
    # generation 0: 100 human; then 5 generations of 30 synthetic + 70 fresh human
    assert mix_cost(0.3, 100, 5, "fresh", prices.human_price, prices.synthetic_price) == 100 * 10 + 5 * (30 * 1 + 70 * 10)
    assert mix_cost(0.3, 100, 5, "fixed", prices.human_price, prices.synthetic_price) == 100 * 10 + 5 * 30 * 1


def test_plan_picks_the_cheapest_mix_whose_ci_and_risk_bound_are_within(grid_run):
    df = load_results(grid_run)
    lenient = plan(analyze(df, "wasserstein", tolerance=0.5, risk=0.6), 40, CostSpec(human_price=2.5), "fresh")
    table = lenient.table.sort_values("synthetic_fraction")
    ok = np.cumprod((table["loss_high"] <= 0.5) & (table["risk_high"] <= 0.6)).astype(bool)
    assert lenient.best["cost"] == table[ok.to_numpy()]["cost"].min() and lenient.best["synthetic_fraction"] > 0
    assert "Cheapest safe mix" in cost_sentence(lenient) and "0 of 4 runs crossed: risk ≤ 53%" in cost_sentence(lenient)
    # the default risk level (25%) needs 11 seeds with no crossing: 4 seeds leave only the all-human mix,
    # and the plan says how many more seeds at the cheapest mix held back by the bound would do
    cliffs = analyze(df, "wasserstein", tolerance=0.5)
    strict = plan(cliffs, 40, CostSpec(human_price=2.5), "fresh")
    assert strict.best["synthetic_fraction"] == 0 and strict.risk_level == 0.25
    row, seeds = strict.more_seeds
    assert seeds == 7 and row["synthetic_fraction"] == cliffs[0].blocking == lenient.best["synthetic_fraction"]
    assert f"7 more seeds at s = 0 … {cliffs[0].blocking:g}, none crossing τ, would establish it" in cost_sentence(strict)
    # at the default prices (none set in the config) no mix is priced: the largest safe share instead
    unpriced = plan(analyze(df, "wasserstein", tolerance=0.5, risk=0.6), 40, CostSpec(), "fresh")
    assert unpriced.default_prices and "Largest safe synthetic share" in cost_sentence(unpriced)
    assert "$" not in cost_sentence(unpriced)


def test_cliff_cli_on_the_grid(grid_run, monkeypatch, capsys):
    code, out, _ = invoke(monkeypatch, capsys, "cliff", grid_run)
    out = " ".join(out.split())  # the terminal wraps lines
    assert code == 0 and "quality holds up to s =" in out and "Largest safe synthetic share: s = 0," in out
    assert "0 of 4: 53%" in out and "7 more seeds at s = 0 …" in out  # per-run risk per fraction; seeds the default needs
    code, out, _ = invoke(monkeypatch, capsys, "cliff", grid_run, "--risk", "0.6")
    out = " ".join(out.split())
    assert code == 0 and "Cheapest safe mix: s = 0:" not in out and "(risk level 60%)" in out


def test_resolution_refines_an_adaptive_search_only(tmp_path, monkeypatch, capsys):
    import yaml

    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    code, _, err = invoke(monkeypatch, capsys, "sweep", path, "--resolution", "0.05", "-q")
    assert code == 2 and "--adaptive" in err


def test_cliff_cli_rejects_a_directory_that_is_not_a_run(tmp_path, monkeypatch, capsys):
    code, _, err = invoke(monkeypatch, capsys, "cliff", tmp_path)
    assert code == 2 and "not a cliffwatch run" in err


def test_one_fraction_is_refused_before_any_lineage_runs(tmp_path, monkeypatch, capsys):
    import yaml

    one = {**SWEEP, "sweep": {"policy.synthetic_fraction": [0.0]}, "seeds": 1, "generations": 1}
    with pytest.raises(ConfigError, match="add a fraction above 0"):
        api.sweep(SweepConfig.model_validate(one), tmp_path / "one", workers=1, progress=False)
    assert not (tmp_path / "one").exists()
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump(one))
    code, _, err = invoke(monkeypatch, capsys, "sweep", path, "-o", tmp_path / "cli", "-q")
    assert code == 2 and "add a fraction above 0" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cli").exists()


def test_bad_data_fails_before_anything_is_written(tmp_path, monkeypatch, capsys):
    import yaml

    from cliffwatch.core.errors import DataError

    broken = {**SWEEP, "family": {"name": "gmm"}, "data": {"source": "digits"}, "holdout": 5000, "probes": None,
              "sweep": {"policy.synthetic_fraction": [0.0, 1.0]}, "seeds": 2, "generations": 1, "chains": 1}
    with pytest.raises(DataError, match="holdout"):
        api.sweep(SweepConfig.model_validate(broken), tmp_path / "broken", workers=1, progress=False).outcome
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    code, _, err = invoke(monkeypatch, capsys, "sweep", path, "--out", tmp_path / "broken2", "-q")
    assert code == 2 and "holdout" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "broken").exists() and not (tmp_path / "broken2").exists()


def test_all_lineages_failing_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import yaml

    # a filter that rejects every synthetic sample stops each lineage at generation 1
    experiment = {k: v for k, v in SWEEP.items() if k not in ("sweep", "cliff", "cost")}
    rejecting = {**experiment, "seeds": 2, "generations": 2,
                 "policy": {**SWEEP["policy"], "synthetic_fraction": 1.0, "filters": [{"name": "self_score", "threshold": -1.0}]}}
    with pytest.raises(LineagesFailed, match="2 of 2 lineages failed; rerun the same command to retry them; first: "
                                             r"lineage \w+-s0 \(seed 0\) failed: filter 'self_score' rejected all"):
        api.run(ExperimentConfig.model_validate(rejecting), tmp_path / "failing", workers=2, progress=False)
    path = tmp_path / "failing.yaml"
    path.write_text(yaml.safe_dump(rejecting))
    code, out, err = invoke(monkeypatch, capsys, "run", path, "--out", tmp_path / "failing2", "-q", "--workers", "1")
    lines = err.strip().splitlines()
    assert code == 1 and out == "" and len(lines) == 3 and lines[-1] == "error: 2 of 2 lineages failed; rerun the same command to retry them"
    assert all(" failed: filter 'self_score' rejected all" in line for line in lines[:2])


def test_summary_json_of_a_sweep(grid_run):
    import json

    from cliffwatch.report.summary_json import write_summary

    path = write_summary(api.analysis(grid_run, tolerance=0.5))
    summary = json.loads(path.read_text())
    assert summary["primary_metric"] == "wasserstein" and summary["swept_fraction"]
    (cliff,) = summary["metrics"]["wasserstein"]["cliffs"]
    assert cliff["loss"] == "ratio_of_means" and cliff["replicates"] == 4
    assert cliff["cliff"]["status"] == "located" and cliff["cliff"]["low"] <= cliff["cliff"]["estimate"]
    assert cliff["cliff"]["method"] and cliff["knee"]["method"] and cliff["safe_mix"]["method"]
    change = summary["metrics"]["wasserstein"]["change"]
    assert "[" not in change["verdict"] and change["replicates_up"] + change["replicates_down"] > 0


def test_sweep_writes_summary_json_and_cliff_json_prints_it(grid_run, monkeypatch, capsys):
    import json

    written = json.loads((grid_run / "summary.json").read_text())
    assert written["primary_metric"] == "wasserstein" and written["tolerance"] == 0.5
    (cliff,) = written["metrics"]["wasserstein"]["cliffs"]
    assert cliff["cliff"]["status"] == "located" and cliff["safe_mix"]["fraction"] is not None
    assert written == api.summary(grid_run)
    code, out, _ = invoke(monkeypatch, capsys, "cliff", grid_run, "--json")
    assert code == 0 and json.loads(out) == written
    code, out, _ = invoke(monkeypatch, capsys, "cliff", grid_run, "--json", "--tolerance", "5")
    assert code == 0 and json.loads(out)["tolerance"] == 5.0
    # and every lineage kept a few samples per generation
    for lineage in RunStore.open(grid_run).lineages():
        assert (lineage.path / "samples.jsonl").exists() and not list(lineage.path.glob("samples-*.json"))


def _step_results(fractions, seeds=5, centre=0.637):
    """A results table whose ΔQ jumps by 0.4 at ``centre`` (inside the cell [0.6, 0.7]); each
    fraction's noise is drawn from its own stream, as a lineage's would be."""
    from cliffwatch.probes.base import metric_index

    rows = []
    for s in fractions:
        gen = np.random.default_rng(int(round(s * 1e6)))
        loss = 0.02 * s + 0.4 * (s > centre) + (0.01 * gen.standard_normal(seeds) if s > 0 else np.zeros(seeds))
        rows += [{"lineage": f"s{s:g}", "seed": i, "chain": 0, "generation": 1, "probe": metric_index()["heldout_ppl"][0],
                  "metric": "heldout_ppl", "value": 20.0 * (1 + x), "synthetic_fraction": s, "family": "ngram"}
                 for i, x in enumerate(loss)]
    import pandas as pd

    return pd.DataFrame(rows)


def test_adaptive_refinement_spends_runs_only_inside_the_cliffs_cell():
    from cliffwatch.analysis.adaptive import Bisection, grid_fractions, refinements
    from cliffwatch.report.prose import adaptive_sentence

    resolution = 0.01
    search = Bisection([()], 0.1, resolution)
    fractions = set(search.first()[()])
    for _ in range(refinements(4, resolution)):
        (cliff,) = analyze(_step_results(sorted(fractions)), "heldout_ppl", 0.1)
        proposal = search.next([cliff])
        if not proposal:
            break
        fractions |= set(proposal[()])
    (cliff,) = analyze(_step_results(sorted(fractions)), "heldout_ppl", 0.1)
    assert cliff.cliff_low <= 0.637 <= cliff.cliff_high and cliff.cliff_high - cliff.cliff_low <= resolution
    # after the bisection's first midpoints, every new fraction lies in the cell the step is in
    assert len(fractions) == 9 and grid_fractions(resolution) == 101
    assert "9 fractions × 5 seeds = 45 runs" in adaptive_sentence(cliff)
    assert "a uniform grid with cells that narrow takes 129 fractions (645 runs)" in adaptive_sentence(cliff)
    (coarse,) = analyze(_step_results([0.0, 0.2, 0.4, 0.6, 0.7, 0.8, 1.0]), "heldout_ppl", 0.1)
    assert coarse.coarse_cell == (0.6, 0.7)
    assert "the cliff lies in [0.6, 0.7]; the grid is too coarse to place it closer" in cliff_sentence(coarse)


SEEDS_SWEEP = {**SWEEP, "name": "gauss-seeds", "generations": 3, "seeds": 3, "chains": 6,
               "cliff": {"metric": "wasserstein", "tolerance": 0.6, "adaptive_steps": 2},
               "sweep": {"policy.synthetic_fraction": [0.0, 0.25, 0.5, 0.75, 1.0]}}


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("seeds") / "adaptive"
    result = api.sweep(SweepConfig.model_validate(SEEDS_SWEEP), out, workers=1, progress=False, adaptive=True,
                       max_seeds=10)
    return out, result


def test_adaptive_sweep_adds_the_seeds_the_risk_bound_asks_for(seeds_run):
    out, result = seeds_run
    results = load_results(out)
    # what the config's 3 seeds found: s = 0.5 within τ on average, but 0 of 3 runs bounds the risk by 63%
    (before,) = analyze(results[results["seed"].isin([0, 1, 2])], "wasserstein", 0.6)
    assert before.safe_fraction == 0 and before.blocking == 0.5 and before.seeds_to_reach(0.5) == 8
    # the search added exactly those 8 seeds (0 of 11 crossing bounds it by 24% ≤ 25%), at every fraction
    (cliff,) = result.cliffs
    fractions = [float(s) for s in cliff.fractions]
    assert result.seeds.added == {(): list(range(3, 11))} and result.seeds.runs == 8 * len(fractions)
    assert cliff.replicates == 11 and cliff.safe_fraction == 0.5
    cells = results[["synthetic_fraction", "seed"]].drop_duplicates()
    assert len(cells) == 11 * len(fractions), "every seed at every fraction: the analysis pairs them all"
    # s = 0.75 is held back too, but needs more than the 2 seeds left of the budget: none are spent on it
    assert result.seeds.short == {(): (0.75, 7)}
    assert "Added 8 seeds (at most 10); the mix s = 0.75 is still held back" in result.seeds.lines()[0]
    assert RunStore.open(out).adaptive and result.analysis.adaptive


def test_added_seeds_resume_and_a_missing_one_is_refused_then_rerun(seeds_run, tmp_path, monkeypatch, capsys):
    import shutil

    import yaml

    from cliffwatch.core.errors import IncompleteRunError
    from cliffwatch.execution.plan import fraction_lineages

    out, result = seeds_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    lineages = sorted(p.name for p in (copy / "lineages").iterdir())
    # a sweep stopped while adding seeds: seed 7 never ran at s = 0.75
    (gone,) = [lineage.id for lineage in fraction_lineages(SweepConfig.model_validate(SEEDS_SWEEP), {(): [0.75]}, {(): [7]})]
    shutil.rmtree(copy / "lineages" / gone)
    with pytest.raises(IncompleteRunError, match="seed 7 has no run at s = 0.75"):
        api.analysis(copy)
    # the same command again runs only that lineage, and reports the same seeds
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SEEDS_SWEEP))
    code, printed, _ = invoke(monkeypatch, capsys, "sweep", path, "--adaptive", "--max-seeds", "10", "-q",
                              "--out", copy)
    assert code == 0 and sorted(p.name for p in (copy / "lineages").iterdir()) == lineages
    assert "Added 8 seeds (at most 10)" in printed and f"ran {result.seeds.runs} lineages" in printed
    assert api.analysis(copy).cliffs[0].safe_fraction == 0.5
    code, _, err = invoke(monkeypatch, capsys, "sweep", path, "--max-seeds", "3", "-q", "--out", tmp_path / "x")
    assert code == 2 and "--adaptive" in err
