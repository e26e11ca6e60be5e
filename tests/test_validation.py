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


FRACTIONS = "policy.synthetic_fraction"


def test_two_grid_points_that_are_one_lineage_are_an_error_naming_both():
    """`manifests` does not enter the lineage id: both points would write one directory."""
    with pytest.raises(ConfigError) as err:
        parse(SweepConfig, {**GAUSS, "sweep": {"manifests": [True, False], FRACTIONS: [0.0, 1.0]}}, "c.yaml")
    assert ("grid points manifests=True, policy.synthetic_fraction=0.0 and manifests=False, "
            "policy.synthetic_fraction=0.0 are the same lineage") in str(err.value)


@pytest.mark.parametrize("sweep", [
    {FRACTIONS: [0.0, 0.5, "0.5"]}, {FRACTIONS: [0, 1, True]}, {FRACTIONS: [0.0, 1.0], "probe_samples": [50, "50"]},
])
def test_grid_values_are_compared_after_validation_and_never_coerced(sweep):
    with pytest.raises(ConfigError, match="grid point"):
        parse(SweepConfig, {**GAUSS, "sweep": sweep}, "c.yaml")


@pytest.mark.parametrize("fields, message", [
    ({"generations": True}, "generations: Input should be a valid integer"),
    ({"seeds": [True]}, "seeds.0: Input should be a valid integer"),
    ({"probe_samples": "50"}, "probe_samples: Input should be a valid integer"),
    ({"policy": {"synthetic_fraction": "0.5"}}, "policy.synthetic_fraction: Input should be a valid number"),
    ({"policy": {"temperature": 1e300}}, "policy.temperature: 1e+300 is outside"),
    ({"policy": {"temperature": 1e-300}}, "policy.temperature: 1e-300 is outside"),
    ({"data": {"source": "gaussian", "dim": 2, "mean": 1e308}}, "data.mean: 1e+308 is beyond"),
    ({"data": {"source": "gaussian", "dim": 2, "variance": [1.0, 1e300]}}, "data.variance.1: 1e+300 is beyond"),
    ({"policy": {"generators": [{"family": {"name": "gaussian"}, "weight": 1e308},
                                {"family": {"name": "kde"}, "weight": 1e308}]}}, "policy.generators.0.weight: 1e+308"),
    ({"family": {"name": "categorical"}, "data": {"source": "categorical", "probs": [1e308, 1e308]}},
     "data.probs.0: 1e+308 is beyond"),
    ({"family": {"name": "ngram", "order": True}, "data": {"source": "corpus"}}, "family.order: Input should be a valid integer"),
])
def test_strict_types_and_overflowing_values_are_refused_at_load(fields, message):
    with pytest.raises(ConfigError) as err:
        parse(ExperimentConfig, {**{k: v for k, v in GAUSS.items() if k != "sweep"}, **fields}, "c.yaml")
    assert message in str(err.value), str(err.value)


def test_a_one_fraction_sweep_is_refused_before_any_lineage_runs():
    with pytest.raises(ConfigError, match="add a fraction above 0"):
        parse(SweepConfig, {**GAUSS, "sweep": {FRACTIONS: [0.0]}}, "c.yaml")


def test_yaml_reads_words_as_words_and_exponents_as_numbers(tmp_path):
    """YAML 1.2 scalars: `off` is the word (the documented `dedup: off`), `1e-3` is a number."""
    from cliffwatch.config.load import load_sweep
    from cliffwatch.guard.policy import load_policy

    (tmp_path / "p.yaml").write_text("dedup: off\nmin_human_fraction: 5e-1\n")
    policy = load_policy(tmp_path / "p.yaml")
    assert policy.dedup == "off" and policy.min_human_fraction == 0.5
    (tmp_path / "bad.yaml").write_text("min_human_fraction: true\n")
    with pytest.raises(ConfigError, match="min_human_fraction: Input should be a valid number"):
        load_policy(tmp_path / "bad.yaml")
    (tmp_path / "s.yaml").write_text("family: {name: gaussian}\ndata: {source: gaussian, dim: 2}\n"
                                     "sweep: {policy.synthetic_fraction: [0, 5e-1]}\nmanifests: yes\n")
    with pytest.raises(ConfigError, match="manifests: Input should be a valid boolean"):
        load_sweep(tmp_path / "s.yaml")
