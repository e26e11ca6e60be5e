"""--tracking mlflow against a real local MLflow store (skipped without the mlflow extra)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

pytest.importorskip("mlflow")

from mlflow.tracking import MlflowClient  # noqa: E402

from conftest import invoke  # noqa: E402
from cliffwatch.config.schema import SweepConfig  # noqa: E402
from cliffwatch.core.errors import ConfigError  # noqa: E402
from cliffwatch import api  # noqa: E402
from cliffwatch.execution.store import load_results  # noqa: E402

SWEEP = {"name": "tracked", "family": {"name": "gaussian"}, "data": {"source": "gaussian", "dim": 2},
         "policy": {"samples": 60}, "generations": 3, "seeds": 2, "chains": 3, "probe_samples": 100,
         "holdout": 100, "probes": ["moments", "wasserstein"], "sweep": {"policy.synthetic_fraction": [0.0, 1.0]}}


def test_every_lineage_is_logged_once_with_its_config_and_per_generation_probes(tmp_path, monkeypatch, capsys):
    config, uri, out = tmp_path / "s.yaml", tmp_path / "mlruns", tmp_path / "run"
    config.write_text(yaml.safe_dump(SWEEP))
    for _ in range(2):  # the rerun (a resume) logs nothing twice
        code, _, err = invoke(monkeypatch, capsys, "sweep", config, "--out", out, "-q", "-w", "1",
                              "--tracking", "mlflow", "--tracking-uri", uri)
        assert code == 0, err
    client = MlflowClient(tracking_uri=uri.resolve().as_uri())
    experiment = client.get_experiment_by_name("tracked")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == sorted(load_results(out)["lineage"].unique())
    df = load_results(out)
    for run in runs:
        rows = df[(df["lineage"] == run.info.run_name) & (df["metric"] == "wasserstein")]
        expected = rows.groupby("generation")["value"].mean()
        history = sorted(client.get_metric_history(run.info.run_id, "wasserstein"), key=lambda m: m.step)
        assert [m.step for m in history] == list(expected.index)
        assert np.allclose([m.value for m in history], expected.to_numpy(), rtol=0, atol=1e-12)
        assert run.data.params["config.generations"] == "3"
        assert run.data.params["seed"] == str(int(rows["seed"].iloc[0]))
        assert float(run.data.params["label.synthetic_fraction"]) == rows["synthetic_fraction"].iloc[0]


def test_an_unknown_tracker_fails_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="--tracking 'wandb': known: mlflow"):
        api.sweep(SweepConfig.model_validate(SWEEP), tmp_path / "run", tracking="wandb", progress=False)
    assert not (tmp_path / "run").exists()


def test_finished_lineages_are_logged_when_others_fail(tmp_path):
    """A filter no sample passes stops the s = 1 lineages at generation 1; the all-human ones finish."""
    from cliffwatch.core.errors import LineagesFailed

    failing = {**SWEEP, "policy": {**SWEEP["policy"], "filters": [{"name": "self_score", "threshold": -1e6}]}}
    uri, out = tmp_path / "mlruns", tmp_path / "run"
    with pytest.raises(LineagesFailed) as info:
        api.sweep(SweepConfig.model_validate(failing), out, workers=1, progress=False, tracking="mlflow", tracking_uri=str(uri))
    client = MlflowClient(tracking_uri=uri.resolve().as_uri())
    runs = client.search_runs([client.get_experiment_by_name("tracked").experiment_id])
    assert sorted(r.info.run_name for r in runs) == sorted(info.value.outcome.finished) and len(runs) == 2
