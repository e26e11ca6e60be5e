"""Running one lineage into its directory of the run store; every executor calls this."""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Iterator

from cliffwatch.core.errors import CliffwatchError, StoreWriteError
from cliffwatch.data.manifest import write_manifest
from cliffwatch.execution.events import Advanced, Event, Failed, Finished
from cliffwatch.execution.store import LineageStore
from cliffwatch.loop.engine import LineageRunner
from cliffwatch.loop.lineage import Lineage


def run_lineage(lineage: Lineage, path: str) -> Iterator[Event]:
    """Run (or resume) ``lineage`` into the lineage directory ``path``: one Advanced event per
    finished generation, then Finished, or Failed with a one-line reason."""
    store = LineageStore(Path(path))
    try:
        store.path.mkdir(parents=True, exist_ok=True)
        store.discard_partial()  # a killed earlier attempt's temporary files
    except OSError as err:
        yield Failed(lineage.id, f"{path}: cannot write ({os.strerror(err.errno) if err.errno else err})", fatal=True)
        return
    try:
        runner = LineageRunner(lineage)
        store.write_meta({"seed": lineage.seed, "key": f"{lineage.key:016x}", "labels": lineage.labels(),
                          "fingerprint": runner.source.fingerprint, "provenance": runner.source.provenance})
        done = store.checkpoint_generation()
        resume = (done, store.load_checkpoint()) if done is not None else None
        if done is not None:
            yield Advanced(lineage.id, done + 1, stored=True)
        for output in runner.generations(resume):
            if lineage.config.manifests:
                # the manifest first: a crash before the checkpoint repeats the generation and rewrites it
                write_manifest(store.manifest_path(output.generation), **output.manifest())
            store.write_artifacts(output.generation, output.artifacts)
            store.write_generation(output.generation, output.table(), output.state, output.pool_part,
                                   output.samples_preview)
            yield Advanced(lineage.id, 1)
        store.finish(lineage.config.generations)
        yield Finished(lineage.id)
    except StoreWriteError as err:
        yield Failed(lineage.id, str(err), fatal=True)
    except CliffwatchError as err:
        yield Failed(lineage.id, str(err))
    except Exception as err:  # a bug in a component: keep the other lineages going, report it
        last = traceback.extract_tb(err.__traceback__)[-1]
        yield Failed(lineage.id, f"{err.__class__.__name__}: {err} ({Path(last.filename).name}:{last.lineno})")
