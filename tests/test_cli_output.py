"""What the CLI prints, as a user reads it: install hints, output formats, honest defaults."""

import json

import pytest
from rich.console import Console

from conftest import invoke
from cliffwatch import api, cli
from cliffwatch.config.schema import SweepConfig
from cliffwatch.core.errors import RegistryError


def test_list_keeps_the_extra_in_an_install_hint():
    console = Console(record=True, width=200)
    console.print(cli._unavailable(RegistryError("family 'gpt' needs the `neural` extra: pip install 'cliffwatch[neural]'")))
    assert "pip install 'cliffwatch[neural]'" in console.export_text()


SWEEP = {
    "name": "out",
    "family": {"name": "gaussian"},
    "data": {"source": "gaussian", "dim": 2},
    "policy": {"synthetic_fraction": 1.0, "samples": 40},
    "generations": 3,
    "seeds": 12,  # the safe mix also bounds the risk that one run crosses τ: 0 of 11 runs bounds it by 25%
    "chains": 4,
    "probes": ["wasserstein"],
    "sweep": {"policy.synthetic_fraction": [0, 0.25, 0.5, 0.75, 1]},
    "cliff": {"tolerance": 0.8},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("out")
    unpriced = api.sweep(SweepConfig.model_validate(SWEEP), folder / "unpriced", workers=2, progress=False).run_dir
    priced = api.sweep(SweepConfig.model_validate({**SWEEP, "name": "priced",
                                                   "cost": {"human_price": 2.0, "synthetic_price": 0.5}}),
                       folder / "priced", workers=2, progress=False).run_dir
    return unpriced, priced


def test_no_dollar_figures_without_prices_of_the_configs_own(runs, monkeypatch, capsys):
    code, stdout, _ = invoke(monkeypatch, capsys, "cliff", runs[0])
    assert code == 0 and "$" not in stdout and "cost" not in stdout.split("Under this setup")[0]
    assert "Largest safe synthetic share: s = 0.25" in stdout and "no prices are set" in stdout
    page = api.report(runs[0], runs[0] / "page.html").read_text(encoding="utf-8")
    assert "At the default prices" in page  # the page's cost table keeps its numbers, labelled


def test_an_all_human_cheapest_mix_says_why(runs, monkeypatch, capsys):
    code, stdout, _ = invoke(monkeypatch, capsys, "cliff", runs[1])
    assert "Cheapest safe mix: s = 0: $" in stdout
    assert "It is all human although mixes up to s = 0.25 are safe, because at these prices synthetic data adds cost" in stdout
    code, stdout, _ = invoke(monkeypatch, capsys, "cliff", runs[1], "--tolerance", "0.01")
    assert "It is all human because no mix with synthetic data is safe: at s = 0.25 the ΔQ interval already reaches" in stdout


def test_markdown_and_json_formats(runs, monkeypatch, capsys):
    code, stdout, _ = invoke(monkeypatch, capsys, "cliff", runs[0], "--format", "markdown")
    assert code == 0 and stdout.startswith("**quality loss ΔQ (relative) of wasserstein at generation 3; τ = 0.8**")
    assert "| synthetic fraction | ΔQ [95% CI] | within τ |" in stdout and "\n| 0.25 | 0.282 [0.14, 0.423] | yes |" in stdout
    assert "[green]" not in stdout and "┃" not in stdout
    code, stdout, _ = invoke(monkeypatch, capsys, "cliff", runs[0], "--format", "json")
    assert json.loads(stdout)["primary_metric"] == "wasserstein"
    code, stdout, _ = invoke(monkeypatch, capsys, "list", "--format", "json")
    tables = json.loads(stdout)["tables"]
    assert {t["title"] for t in tables} >= {"family components", "probes"}
    assert any(row["name"] == "gaussian" for t in tables for row in t["rows"] if "name" in row)
    probes = next(t["rows"] for t in tables if t["title"] == "probes")  # the costly ones run where named
    assert {r["probe"]: r["runs"] for r in probes}["precision_recall"] == "if named"
    assert {r["probe"]: r["runs"] for r in probes}["wasserstein"] == "default"
    code, _, stderr = invoke(monkeypatch, capsys, "list", "--format", "yaml")
    assert code == 2 and "--format" in stderr


def test_off_a_terminal_nothing_is_cut_at_80_columns(monkeypatch, capsys):
    from cliffwatch.core.registry import PROBES

    longest = max((m.description for name in PROBES.names() for m in PROBES.get(name).metrics), key=len)
    assert len(longest) > 80
    code, stdout, _ = invoke(monkeypatch, capsys, "list")
    assert code == 0 and any(longest in line for line in stdout.splitlines())


def test_summary_json_describes_its_run(runs):
    summary = json.loads((runs[0] / "summary.json").read_text())
    run = summary["run"]
    assert run["kind"] == "sweep" and run["config"]["name"] == "out" and run["config"]["sweep"]
    assert run["created"] and run["created_by"]["cliffwatch"] == run["written_by"]["cliffwatch"]
    assert {"python", "numpy", "scipy", "pandas"} <= set(run["written_by"]) and "git" in run["written_by"]
    assert run["data"] == [{"fingerprint": "gaussian:2", "provenance": {}}]
    assert run["prices"]["default"] is True
    labels = {row["label"] for row in run["lineages"]}
    assert "synthetic_fraction 0.25, seed 2" in labels and len(run["lineages"]) == 60
    assert api.summary(runs[0]) == summary  # the same from Python


def test_json_numbers_carry_no_float_noise(runs):
    def floats(value):
        if isinstance(value, float):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from floats(v)
        elif isinstance(value, list):
            for v in value:
                yield from floats(v)

    numbers = list(floats(json.loads((runs[0] / "summary.json").read_text())))
    assert numbers and all(float(f"{x:.12g}") == x for x in numbers)


def test_rounded():
    from cliffwatch.core.provenance import rounded

    assert rounded({"a": [0.1 + 0.2, 1 / 3, float("nan")], "b": "x"}) == {"a": [0.3, 0.333333333333, pytest.approx(float("nan"), nan_ok=True)], "b": "x"}
    assert json.dumps(rounded(0.41700000000000004)) == "0.417"
