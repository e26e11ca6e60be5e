import numpy as np
import pytest

from cliffwatch.config import ExperimentConfig
from cliffwatch.loop.engine import Lineage, LineageRunner


def experiment(**fields) -> ExperimentConfig:
    return ExperimentConfig.model_validate(fields)


def run_lineage(seed: int = 0, **fields):
    """Run one lineage in memory; returns its GenerationResults (model + metrics per generation)."""
    return LineageRunner(Lineage(experiment(**fields), seed)).run()


def metric(results, name: str) -> np.ndarray:
    """(generations, chains) values of one metric."""
    return np.stack([r.metrics[name] for r in results])


@pytest.fixture
def tmp_run(tmp_path):
    return tmp_path / "run"
