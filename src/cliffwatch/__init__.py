"""cliffwatch: find the quality cliff of training AI on AI outputs before your users do."""

from cliffwatch.core.version import __version__


def load_results(run_dir):
    """Every result of a run directory as one pandas DataFrame (see docs/results.md)."""
    from cliffwatch.execution.store import load_results as _load

    return _load(run_dir)


__all__ = ["__version__", "load_results"]
