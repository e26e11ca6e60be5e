"""The HTML report: self-contained, summary first, the right figures, graceful without a cliff or text
metrics, and it renders in a real (headless) browser."""

import html
import os
import re
import shutil
import subprocess

import numpy as np
import pyarrow as pa
import pytest

from cliffwatch.report.prose import cliff_sentence, cost_sentence
from cliffwatch.analysis.cliff import analyze
from cliffwatch.analysis.cost import plan
from cliffwatch.config.schema import ExperimentConfig, SweepConfig
from cliffwatch.core.errors import AnalysisError
from cliffwatch.execution.store import RunStore, load_results
from cliffwatch import api

FRACTIONS = [0, 0.25, 0.5, 0.75, 1.0]
SWEEP = {
    "name": "report-sweep",
    "family": {"name": "gaussian"},
    "data": {"source": "gaussian", "dim": 2},
    "policy": {"human": "fresh", "samples": 50},
    "generations": 5,
    "seeds": 3,
    "chains": 5,
    "probes": ["moments", "wasserstein"],
    "cliff": {"metric": "wasserstein", "tolerance": 0.5},
    "sweep": {"policy.synthetic_fraction": FRACTIONS},
}
FIGURE = "<figure class='plot'>"
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "sweep"
    api.sweep(SweepConfig.model_validate(SWEEP), out, workers=1, progress=False).outcome
    return out


@pytest.fixture(scope="module")
def sweep_report(sweep_run):
    return api.report(sweep_run)


def test_sweep_report_is_self_contained_with_summary_first(sweep_run, sweep_report):
    assert sweep_report == sweep_run / "report.html"
    page = sweep_report.read_text(encoding="utf-8")
    assert not EXTERNAL.search(page), "the report must open without a network"
    assert "<link" not in page and "@import" not in page
    cliffs = analyze(load_results(sweep_run), "wasserstein", 0.5)
    cost = plan(cliffs, 50, SweepConfig.model_validate(SWEEP).cost, "fresh")
    summaries = [html.escape(cliff_sentence(c)) for c in cliffs] + [html.escape(cost_sentence(cost))]
    positions = [page.index(s) for s in summaries]
    assert max(positions) < page.index(FIGURE), "the plain-language summary comes before any figure"
    # cliff, heatmap, trajectories; the text-track plots say they were not measured
    assert page.count(FIGURE) == 3 and page.count("data:image/svg+xml;base64,") == 3
    assert page.count("Not measured in this run") == 2
    assert "ΔQ [95% CI]" in page and "class=best" in page  # cost table with the cheapest safe mix marked
    assert "gaussian:2" in page and "policy.synthetic_fraction:" in page  # fingerprint and config snapshot
    assert not [p for p in sweep_run.iterdir() if p.name.endswith(".tmp")], "no temp file left behind"


def test_key_numbers_samples_and_one_glossary(sweep_run, sweep_report):
    page = sweep_report.read_text(encoding="utf-8")
    (cliff,) = analyze(load_results(sweep_run), "wasserstein", 0.5)
    keys = page[page.index("<table class='keys'>"):page.index(FIGURE)]  # in the summary, before any figure
    assert "cliff s" in keys and "knee s" in keys and "safe mix s" in keys
    assert f"{cliff.cliff:.2f}" in keys and cliff.cliff_interval.method in keys
    assert page.count("<h2 id='glossary'>") == 1 and page.count("<dt>wasserstein</dt>") == 1
    # the samples each generation saved, shown for generation 0 and the last at the key fractions
    lineage = RunStore.open(sweep_run).lineages()[0]
    saved = lineage.samples()
    assert [d["generation"] for d in saved] == list(range(6)) and len(saved[0]["items"]) == 5
    assert "What the models write" in page and page.count("<td class='text sample'>") >= 4
    assert "<details>" in page and "Every metric at generation 0 and 5" in page
    assert "svg.fonttype" not in page and len(page) < 400_000


def test_options_override_the_sweep_and_output_is_reproducible(sweep_run, sweep_report, tmp_path):
    out = api.report(sweep_run, tmp_path / "sub" / "r.html", tolerance=5.0, generation=3)
    page = out.read_text(encoding="utf-8")
    assert "τ = 5" in page and "at generation 3" in page
    again = api.report(sweep_run, tmp_path / "again.html", tolerance=5.0, generation=3)
    assert again.read_bytes() == out.read_bytes(), "same run and options, same bytes"
    with pytest.raises(AnalysisError, match="not in this run"):
        api.report(sweep_run, tmp_path / "x.html", metric="no_such_metric")
    with pytest.raises(AnalysisError, match="generation 99"):
        api.report(sweep_run, tmp_path / "x.html", generation=99)
    assert not (tmp_path / "x.html").exists()


def test_plain_run_gets_trajectories_and_says_why_there_is_no_cliff(tmp_path):
    config = {k: v for k, v in SWEEP.items() if k not in ("sweep", "cliff")}
    config["policy"] = {**config["policy"], "synthetic_fraction": 0.5}
    api.run(ExperimentConfig.model_validate({**config, "generations": 3}), tmp_path / "run", progress=False)
    page = api.report(tmp_path / "run").read_text(encoding="utf-8")
    assert "No cliff can be located in this run" in page and "only one synthetic fraction (s = 0.5)" in page
    assert page.count(FIGURE) == 1  # trajectories only
    assert "No cost plan" in page
    assert "This run saved no model samples" not in page  # a plain run saves them too


def fake_text_run(path, generations: int = 4, seeds: int = 3):
    """A run with the text track's fluency, fact and gaming metrics (invented values with the expected
    trends), written through the run store as a sweep would write it."""
    # adaptive: its lineages are the ones stored (invented ids), not those the config plans
    store = RunStore.create(path, SweepConfig.model_validate(SWEEP).model_dump(mode="json"), "sweep", [], adaptive=True)
    for s in FRACTIONS:
        for seed in range(seeds):
            lineage = store.lineage(f"s{s}-seed{seed}")
            labels = {"family": "ngram", "synthetic_fraction": s, "human": "fresh", "mode": "replace", "samples": 50}
            lineage.write_meta({"seed": seed, "labels": labels, "fingerprint": "pydocs:abc123",
                                "provenance": {"python": "3.11.9"}})
            rng = np.random.default_rng([seed, int(100 * s)])
            for g in range(generations + 1):
                drift = s * g
                values = {
                    "wasserstein": 0.1 + 0.05 * drift,
                    "self_ppl": 60 / (1 + 0.3 * drift),
                    "fact_accuracy": 0.8 / (1 + 0.2 * drift),
                    "synthetic_ppl": 80 / (1 + 0.2 * drift),
                    # one collapsed replicate: its infinite perplexity must be reported, not averaged away
                    "heldout_ppl": np.inf if (s, seed, g) == (1.0, 0, generations) else 80 * (1 + 0.1 * drift),
                }
                noisy = {k: v * (1 + 0.02 * rng.standard_normal()) for k, v in values.items()}
                table = pa.table({
                    "generation": pa.array([g] * len(noisy), pa.int32()), "chain": pa.array([0] * len(noisy), pa.int32()),
                    "probe": ["fake"] * len(noisy), "metric": list(noisy), "value": list(noisy.values()),
                })
                lineage.write_generation(g, table, {"state": np.zeros(1)})
            lineage.finish(generations)
    return path


def test_text_track_metrics_get_fluency_truth_and_gaming_gap_plots(tmp_path):
    page = api.report(fake_text_run(tmp_path / "text")).read_text(encoding="utf-8")
    assert "Not measured in this run" not in page
    assert page.count(FIGURE) == 5
    assert "Fluency vs truthfulness" in page and "Gaming gap" in page
    assert "infinite mean" in page  # the collapsed replicate is admitted in a caption
    assert "pydocs:abc123" in page and "python 3.11.9" in page


def chromium() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def test_report_renders_in_headless_chromium(sweep_report, tmp_path):
    browser = chromium()
    if browser is None:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail("chromium is not installed, but CI is set: install it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); set CI=true to make this a failure")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--window-size=1200,3000"]
    url = sweep_report.resolve().as_uri()
    dom = subprocess.run([*flags, "--dump-dom", url], check=False, capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    # set by the report's inline script once every figure has decoded
    assert 'data-figures="3"' in body and 'data-figures-ok="true"' in body, body
    assert "data-js-error" not in body, body
    shot = tmp_path / "report.png"
    subprocess.run([*flags, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 50_000, "a page with figures makes a sizeable screenshot"


def test_cliff_section_shows_per_run_risk_level_and_seeds_needed(sweep_run, sweep_report):
    """Every fraction's k of n runs over τ with its exact bound, the risk level, and the seeds that
    would establish the mix only the risk bound holds back, in the terminal's words."""
    from cliffwatch.report.prose import risk_text, seeds_sentence

    page = html.unescape(sweep_report.read_text(encoding="utf-8"))
    section = page[page.index("<h2>The cliff</h2>"):page.index("<h2>Quality loss over fraction")]
    (cliff,) = api.analysis(sweep_run).cliffs
    assert f"runs over τ: risk ≤ (level {cliff.risk_level:.0%})" in section
    for i, s in enumerate(cliff.fractions[1:], 1):
        assert risk_text(cliff.crossed[i], cliff.replicates, cliff.risk_high[i]) in section
    # 3 seeds: even 0 of 3 crossing bounds the risk by 63% > 25%, so no mix past s = 0 is safe yet
    assert cliff.replicates == 3 and np.isfinite(cliff.blocking)
    seeds = cliff.seeds_to_reach(cliff.blocking)
    assert seeds == 8  # 0 of 11 bounds it by 23.8%
    assert seeds_sentence(cliff) in section and f"{seeds} more seeds at s = 0 … {cliff.blocking:g}" in section
    # the same risk level again in the cost table, with each mix's bound
    costs = page[page.index("<h2>Cost of each mix</h2>"):]
    assert "runs over τ: risk ≤ (level 25%)" in costs and "risk level (25%)" in costs
    assert "<th>crossed</th>" not in costs  # risk columns are not mistaken for swept labels


def test_cliff_section_names_a_coarse_cell():
    from cliffwatch.report.html import _risk_table
    from test_cliff import _step_results

    (coarse,) = analyze(_step_results([0.0, 0.2, 0.4, 0.6, 0.7, 0.8, 1.0]), "heldout_ppl", 0.1)
    table = html.unescape(_risk_table(coarse))
    assert "The cliff lies in [0.6, 0.7]; the grid is too coarse to place it closer" in table
    assert "0 of 5 runs crossed: risk ≤ 45%" in table and "5 of 5 runs crossed: risk ≤ 100%" in table
    (fine,) = analyze(_step_results([0.0, 0.2, 0.4, 0.6, 0.65, 0.7, 0.8, 1.0], centre=0.9), "heldout_ppl", 0.1)
    assert fine.coarse_cell is None and "too coarse" not in _risk_table(fine)
