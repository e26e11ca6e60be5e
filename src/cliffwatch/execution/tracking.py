"""Optional experiment tracking: every finished lineage of a run directory logged to MLflow.

One MLflow run per lineage, in the experiment named after the cliffwatch run: the config (as
dotted ``config.*`` params), the lineage's seed and labels, and every probe metric per generation
(mean over chains, ``step`` = generation). It reads the run store after the executor is done, so
every executor is tracked alike; a lineage already logged for this run directory is not logged
again, so a resumed run adds only what is new.

The default tracking URI is ``./mlruns``, MLflow's local file store (which MLflow now keeps for
existing users only: cliffwatch opts in to it for local folders; pass ``sqlite:///…`` or a server
URL to use another backend).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from cliffwatch.core.errors import ConfigError
from cliffwatch.execution.store import RunStore

TRACKERS = ("mlflow",)
DEFAULT_URI = "mlruns"
_BATCH = 500  # MLflow accepts at most 1,000 metrics and 100 params per log_batch
_PARAM_CHARS = 500


def _flatten(value: Any, prefix: str) -> dict[str, str]:
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}"))
        return out
    return {prefix: str(value)[:_PARAM_CHARS]}


def _client(uri: str | None):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError("--tracking mlflow needs the 'mlflow' extra: pip install 'cliffwatch[mlflow]'") from None
    uri = uri or DEFAULT_URI
    if "://" not in uri:  # a local folder: MLflow's file store
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        uri = Path(uri).resolve().as_uri()
    return MlflowClient(tracking_uri=uri)


def check_tracker(tracker: str, uri: str | None = None) -> None:
    """Before any work: the tracker is known, its extra installed and its store reachable."""
    if tracker not in TRACKERS:
        raise ConfigError(f"--tracking {tracker!r}: known: {', '.join(TRACKERS)}")
    _client(uri)


def track(store: RunStore, tracker: str, uri: str | None = None) -> int:
    """Log every finished, not yet logged lineage of ``store``; returns how many were logged."""
    check_tracker(tracker, uri)
    from mlflow.entities import Metric, Param, RunTag

    client = _client(uri)
    config = store.config()
    name = str(config.get("name", store.path.name))
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    run_dir = str(store.path.resolve())
    logged = {r.data.tags.get("cliffwatch.lineage") for r in client.search_runs(
        [experiment_id], f"tags.`cliffwatch.run_dir` = '{run_dir}'", max_results=50_000)}
    base = _flatten({k: v for k, v in config.items() if k not in ("sweep", "routes")}, "config")
    count = 0
    for lineage in store.lineages():
        if not lineage.finished or lineage.path.name in logged:
            continue
        meta = lineage.meta()
        results = lineage.results().to_pandas()
        means = results.groupby(["metric", "generation"], sort=True)["value"].mean()
        now = int(time.time() * 1000)
        metrics = [Metric(metric, float(value), now, int(generation)) for (metric, generation), value in means.items()
                   if math.isfinite(value)]
        params = {**base, "seed": str(meta["seed"]), **{f"label.{k}": str(v)[:_PARAM_CHARS]
                                                        for k, v in meta.get("labels", {}).items()}}
        run = client.create_run(experiment_id, run_name=lineage.path.name, tags={
            "cliffwatch.lineage": lineage.path.name, "cliffwatch.run_dir": run_dir})
        items = [Param(k, v) for k, v in params.items()]
        for start in range(0, len(items), 100):
            client.log_batch(run.info.run_id, params=items[start:start + 100])
        for start in range(0, len(metrics), _BATCH):
            client.log_batch(run.info.run_id, metrics=metrics[start:start + _BATCH])
        client.log_batch(run.info.run_id, tags=[RunTag("cliffwatch.fingerprint", str(meta.get("fingerprint", "")))])
        client.set_terminated(run.info.run_id)
        count += 1
    return count
