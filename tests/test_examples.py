"""Every example config (and the built-in demo) validates, so the docs never point at a broken file."""

import re
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


REPO = Path(__file__).parent.parent


def header(path: Path) -> str:
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines[:next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))])


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_header_gives_its_runtime_and_cites_only_what_exists(path):
    text = header(path)
    assert "# Runtime on 2 cores:" in text, "every example says how long it runs on 2 cores"
    assert not re.search(r"\bissues?\b", text, re.IGNORECASE), "no issue numbers: users cannot see the tracker"
    assert "REPRODUCTIONS" not in text.replace("docs/REPRODUCTIONS.md", ""), "cite docs/REPRODUCTIONS.md by its path"
    for cited in re.findall(r"\b((?:docs|examples|tests|benchmarks)/[\w./-]+\.(?:md|yaml|py))", text):
        assert (REPO / cited).exists(), f"{path.name} cites {cited}, which does not exist"


def test_reproductions_items_cited_by_examples_exist():
    items = set(re.findall(r"^(\d+)\. \*\*", (REPO / "docs" / "REPRODUCTIONS.md").read_text(), re.MULTILINE))
    for path in EXAMPLES:
        for group in re.findall(r"REPRODUCTIONS\.md items? ([\d ,and]+)", header(path)):
            for item in re.findall(r"\d+", group):
                assert item in items, f"{path.name}: docs/REPRODUCTIONS.md has no item {item}"
