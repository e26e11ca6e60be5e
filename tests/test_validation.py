"""Every cross-field and cross-component check runs when a config loads, before anything is written."""

import pytest

from cliffwatch.config.load import parse
from cliffwatch.config.schema import ExperimentConfig, SweepConfig
from cliffwatch.core.errors import ConfigError

TEXT = {"family": {"name": "ngram", "order": 2}, "data": {"source": "corpus", "corpus": "pydocs", "max_sentences": 500},
        "generations": 2}
GAUSS = {"family": {"name": "gaussian"}, "data": {"source": "gaussian", "dim": 2}, "generations": 3,
         "sweep": {"policy.synthetic_fraction": [0.0, 0.5, 1.0]}}


@pytest.mark.parametrize("model, fields, message", [
    (ExperimentConfig, {**TEXT, "policy": {"filters": [{"name": "critic", "family": {"name": "kde"}}]}},
     "c.yaml: policy.filters.0: critic: family 'kde' models vector data, not text"),
    (ExperimentConfig, {**TEXT, "policy": {"filters": [{"name": "critic", "family": {"name": "ngram", "order": 2}}]}},
     "c.yaml: policy.filters.0: critic: family 'ngram' with these knobs is the generator itself"),
    (ExperimentConfig, {**TEXT, "family": {"name": "gaussian"}}, "c.yaml: family: 'gaussian' models vector data; source 'corpus' gives text data"),
    (ExperimentConfig, {**TEXT, "chains": 2}, "c.yaml: chains: text lineages run 1 chain each"),
    (ExperimentConfig, {**TEXT, "probes": ["wasserstein"]}, "c.yaml: probes: probe 'wasserstein' measures vector data, not text"),
    (SweepConfig, {**GAUSS, "cliff": {"metric": "heldout_ppl"}}, "c.yaml: cliff.metric: 'heldout_ppl' is not measured by this config's probes"),
    (SweepConfig, {**GAUSS, "cliff": {"metric": "mean_error"}, "probes": ["wasserstein"]}, "c.yaml: cliff.metric: 'mean_error' is not measured"),
    (SweepConfig, {**GAUSS, "cliff": {"generation": 4}}, "c.yaml: cliff.generation: 4 is past the last generation (3)"),
    (SweepConfig, {**GAUSS, "sweep": {"policy.synthetic_fraction": [0.5, 1.0]}},
     "c.yaml: sweep.policy.synthetic_fraction: include 0, the all-human run"),
    (SweepConfig, {**GAUSS, "sweep": {"policy.temperature": [0.9, 1.0]}}, "c.yaml: sweep: sweep policy.synthetic_fraction (including 0)"),
    (SweepConfig, {**GAUSS, "sweep": {"policy.synthetic_fractoin": [0.0, 1.0]}}, "c.yaml: sweep.policy.synthetic_fractoin: no such field"),
])
def test_cross_checks_fail_at_load_with_the_field_named(model, fields, message):
    with pytest.raises(ConfigError) as err:
        parse(model, fields, "c.yaml")
    assert str(err.value).startswith(message), str(err.value)


def test_a_config_that_loads_runs_its_first_generation(tmp_path):
    """The critic of another family of the right modality passes at load and runs."""
    from cliffwatch import api

    cfg = parse(ExperimentConfig, {**TEXT, "seeds": 1, "holdout": 100, "probes": ["text_fidelity"],
                                   "policy": {"samples": 300, "filters": [{"name": "critic", "family": {"name": "ngram", "order": 3}}]}},
                "c.yaml")
    result = api.run(cfg, tmp_path / "run", progress=False)
    assert result.outcome.finished and not result.outcome.failed


def test_analysis_reads_metric_directions_from_the_run_not_the_registry(tmp_path, monkeypatch):
    """A run records every metric's declaration: analysing it needs no probe of today's registry."""
    from cliffwatch import api
    from cliffwatch.probes import base

    result = api.sweep(parse(SweepConfig, {**GAUSS, "seeds": 2, "chains": 2, "probes": ["wasserstein"],
                                           "policy": {"samples": 50}, "holdout": 100, "probe_samples": 100}, "c.yaml"),
                       tmp_path / "sweep", workers=1, progress=False)
    monkeypatch.setattr(base, "metric_index", lambda: {})  # as if the probe had been renamed since
    again = api.analyze(result.run_dir)
    assert [c.loss.tolist() for c in again.cliffs] == [c.loss.tolist() for c in result.cliffs]
    assert again.kind == "sweep" and again.cliffs[0].higher_is_better is False
