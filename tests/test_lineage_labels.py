"""Lineages by their labels, as a user names them: `monitor --lineage "s=0.5,seed=1"` and errors that
show each lineage's labels next to its id."""

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import invoke
from cliffwatch import api
from cliffwatch.core.errors import DataError
from cliffwatch.execution.selection import lineage_labels, select_lineage

SWEEP = {
    "name": "labels",
    "family": {"name": "gaussian"},
    "data": {"source": "gaussian", "dim": 1},
    "policy": {"synthetic_fraction": 1.0, "samples": 20},
    "generations": 2,
    "seeds": 2,
    "chains": 2,
    "probes": ["moments", "wasserstein"],
    "sweep": {"policy.synthetic_fraction": [0.0, 0.5, 1.0]},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("labels")
    (folder / "s.yaml").write_text(yaml.safe_dump(SWEEP))
    return api.sweep(folder / "s.yaml", folder / "run", workers=1, progress=False).run_dir


def test_labels_tell_lineages_apart(run):
    labels = lineage_labels(run)
    assert sorted(labels.values()) == sorted(f"synthetic_fraction {s}, seed {seed}" for s in (0.0, 0.5, 1.0) for seed in (0, 1))


def test_select_by_labels_or_id(run):
    chosen = select_lineage(run, "s=0.5,seed=1")
    assert lineage_labels(run)[chosen] == "synthetic_fraction 0.5, seed 1"
    assert select_lineage(run, "synthetic_fraction=0.50, seed=1") == chosen  # numbers compare as numbers
    assert select_lineage(run, chosen) == chosen


@pytest.mark.parametrize("selector, says", [
    ("s=0.5", "2 lineages match 's=0.5'; add labels to pick one"),
    ("s=0.7,seed=0", "no lineage matches 's=0.7,seed=0'"),
    ("colour=red", "no label 'colour'"),
    ("abc", "no lineage 'abc'; give an id or labels such as s=0.3,seed=0"),
])
def test_a_selector_that_does_not_pick_one_lineage_lists_them_with_labels(run, selector, says):
    with pytest.raises(DataError, match=says.replace("(", r"\(").replace(")", r"\)")):
        select_lineage(run, selector)


def test_monitor_by_labels_cli_and_python(run, monkeypatch, capsys):
    by_label = api.monitor(run, lineage="s=1,seed=0")
    by_id = api.monitor(run, lineage=next(i for i, l in lineage_labels(run).items() if l == "synthetic_fraction 1.0, seed 0"))
    assert by_label.to_dict() == by_id.to_dict()
    code, stdout, _ = invoke(monkeypatch, capsys, "monitor", run, "--lineage", "s=1,seed=0", "--json")
    assert code in (0, 1) and '"generations"' in stdout
    code, _, stderr = invoke(monkeypatch, capsys, "monitor", run)
    assert code == 2 and "(synthetic_fraction 0.5, seed 1)" in stderr and "s=0.3,seed=0" in stderr


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(selector=st.text(max_size=40))
def test_any_selector_picks_one_lineage_or_says_why(run, selector):
    try:
        chosen = select_lineage(run, selector)
    except DataError as err:
        assert "\n" not in str(err)
    else:
        assert chosen in lineage_labels(run)
