"""Lineages by what they are, not by their hash: the label that tells each lineage of a run apart
(``synthetic_fraction 0.3, seed 0``) and selection by labels (``s=0.3,seed=0``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cliffwatch.core.errors import DataError
from cliffwatch.execution.plan import describe
from cliffwatch.execution.store import RunStore

ALIASES = {"s": "synthetic_fraction", "fraction": "synthetic_fraction"}


def run_labels(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Lineage id -> its labels (policy fields, swept values, route) and its seed, from lineage.json."""
    out = {}
    for lineage in RunStore.open(run_dir).lineages():
        meta = lineage.meta() if (lineage.path / "lineage.json").exists() else {}
        out[lineage.path.name] = {**meta.get("labels", {}), "seed": meta.get("seed")}
    return out


def lineage_labels(run_dir: str | Path) -> dict[str, str]:
    """Lineage id -> the labels that tell it apart from the run's other lineages."""
    return describe(run_labels(run_dir))


def listing(labels: dict[str, str], limit: int = 12) -> str:
    """``id (label)`` for each lineage, the first ``limit`` of them."""
    items = [f"{i} ({label})" for i, label in sorted(labels.items(), key=lambda kv: kv[1])]
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def select_lineage(run_dir: str | Path, selector: str) -> str:
    """The lineage id ``selector`` names: an id, or labels ``key=value,...`` that match exactly one
    lineage (``s`` stands for synthetic_fraction; numbers compare as numbers: s=0.3 matches 0.30).
    DataError when none or several match, listing the lineages with their labels."""
    labels = run_labels(run_dir)
    if selector in labels:
        return selector
    if "=" not in selector:
        raise DataError(f"{run_dir}: no lineage {selector!r}; give an id or labels such as s=0.3,seed=0 "
                        f"(lineages: {listing(describe(labels))})")
    wanted = {}
    for part in selector.split(","):
        key, sep, value = part.partition("=")
        key = ALIASES.get(key.strip(), key.strip())
        if not sep or not key:
            raise DataError(f"--lineage {selector!r}: {part!r} is not KEY=VALUE")
        wanted[key] = value.strip()
    known = {k for row in labels.values() for k in row}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise DataError(f"--lineage {selector!r}: no label {unknown[0]!r} in {run_dir}; labels: {', '.join(sorted(known))}")
    matches = [i for i, row in labels.items() if all(_same(row.get(k), v) for k, v in wanted.items())]
    if len(matches) == 1:
        return matches[0]
    described = describe(labels)
    if not matches:
        raise DataError(f"{run_dir}: no lineage matches {selector!r} (lineages: {listing(described)})")
    raise DataError(f"{run_dir}: {len(matches)} lineages match {selector!r}; add labels to pick one "
                    f"(matching: {listing({i: described[i] for i in matches})})")


def _same(value: Any, text: str) -> bool:
    if value is None:
        return False
    try:
        return math.isclose(float(value), float(text), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return str(value).lower() == text.lower()
