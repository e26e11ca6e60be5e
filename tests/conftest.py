import os
import tempfile

import numpy as np
import pytest
from hypothesis import settings

# The suite must not flake: every hypothesis search walks the same examples on every run (and no
# deadline: timings on a loaded 2-core CI box are noise). HYPOTHESIS_PROFILE=explore searches afresh
# with more examples, to hunt for new failures before adding them as @example cases.
settings.register_profile("deterministic", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

from cliffwatch.config.schema import ExperimentConfig
from cliffwatch.loop.engine import LineageRunner
from cliffwatch.loop.lineage import Lineage


TASK_PROBES = ("task_reasoning", "task_code", "task_facts")  # run only on task data (source: tasks)


def default_metrics(modality: str, without: tuple[str, ...] = ()) -> dict:
    """Name -> declaration of every metric the default probes of ``modality`` report on running text
    (task probes need task data; ``without`` names probes the data cannot feed)."""
    from cliffwatch.core.registry import PROBES

    skip = {*TASK_PROBES, *without}
    return {m.name: m for _, p in PROBES.items()
            if p.modality.name == modality and not p.opt_in and p.name not in skip for m in p.metrics}


def experiment(**fields) -> ExperimentConfig:
    return ExperimentConfig.model_validate(fields)


def run_lineage(seed: int = 0, **fields):
    """Run one lineage in memory; returns its GenerationResults (model + metrics per generation)."""
    return list(LineageRunner(Lineage(experiment(**fields), seed)).generations())


def metric(results, name: str) -> np.ndarray:
    """(generations, chains) values of one metric."""
    return np.stack([r.values()[name] for r in results])


@pytest.fixture
def tmp_run(tmp_path):
    return tmp_path / "run"


def invoke(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    import sys

    from cliffwatch import cli

    monkeypatch.setattr(sys, "argv", ["cliffwatch", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def pytest_configure(config):
    # built-in corpora are kept between the session's processes (CLI subprocesses too), never in
    # the user's own cache
    if "CLIFFWATCH_CACHE" not in os.environ:
        os.environ["CLIFFWATCH_CACHE"] = tempfile.mkdtemp(prefix="cliffwatch-test-cache-")
