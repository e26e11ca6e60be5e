"""Every example config (and the built-in demo) validates, so the docs never point at a broken file."""

from importlib.resources import files
from pathlib import Path

import pytest
import yaml

from cliffwatch.config.load import parse
from cliffwatch.config.schema import ExperimentConfig, SweepConfig

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))


def load_any(path: Path, text: str):
    """Dispatch on the top-level keys: `routes` (escape-route comparison), `sweep`, else one experiment."""
    raw = yaml.safe_load(text)
    if "routes" in raw:
        from cliffwatch.analysis.routes import CompareConfig

        return parse(CompareConfig, raw, str(path))
    return parse(SweepConfig if "sweep" in raw else ExperimentConfig, raw, str(path))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_config_is_valid(path):
    load_any(path, path.read_text())


def test_demo_config_is_a_valid_sweep_of_the_promised_size():
    demo = load_any(Path("demo.yaml"), files("cliffwatch").joinpath("demo.yaml").read_text())
    assert isinstance(demo, SweepConfig)
    assert len(demo.sweep["policy.synthetic_fraction"]) >= 11 and len(demo.seeds) >= 3 and demo.generations >= 10
    assert demo.family.name == "ngram"
