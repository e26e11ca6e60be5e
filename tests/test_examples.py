"""Every example config validates, so the docs never point at a broken file."""

from pathlib import Path

import pytest

from cliffwatch.config import load_config

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_config_is_valid(path):
    load_config(path)
