"""Audit a provenance manifest against a policy: one verdict per rule (required, measured, pass or
fail), the effective human fraction after duplicate removal, and the rows without provenance.

Columnar throughout (pyarrow compute and numpy over whole columns): a 10-million-row manifest
audits in seconds.

Definitions (what the property tests check against):

- items are grouped by content: ``dedup: off`` every row is its own item; ``exact`` rows with
  equal ``content_hash`` are one item; ``near`` also joins items whose texts are near duplicates
  (MinHash LSH candidates confirmed by exact Jaccard similarity of word-bigram sets), transitively.
- effective human fraction = items holding at least one human row / all items. So a synthetic copy
  of a human item adds nothing: it is neither more human data nor counted as distinct data.
- machine-made rows are ``synthetic`` and ``edited`` rows; their family is ``family``, else
  ``generator``. Generator families = distinct known families; family share = the largest
  family's rows / machine-made rows, where rows of unknown family count as one family (they
  might all be one model); 0 without machine-made rows. Verified share: machine-made rows with
  ``verified`` true / machine-made rows (1 without any).
- rows without provenance: ``source`` unknown, or machine-made with neither generator nor family.
- names: ``generator`` and ``family`` are counted after guard.names.canonical_name (Unicode NFKC,
  invisible characters removed, look-alike letters and dashes mapped, case folded, whitespace
  trimmed), so "GPT-4", "gpt-4 " and a Cyrillic look-alike are one family; a name that is empty
  after this is no name.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cliffwatch.core.errors import ConfigError, DataError
from cliffwatch.data.manifest.checks import HASHED_FROM, equal_mask, string_keys, take_rows
from cliffwatch.data.manifest.schema import SOURCES
from cliffwatch.core.modality import Sentences
from cliffwatch.filters.dedup import similar_pairs
from cliffwatch.guard.names import canonical_column
from cliffwatch.guard.policy import Policy

EXAMPLES = 5  # ids of rows without provenance listed in a report


@dataclass(frozen=True)
class RuleVerdict:
    rule: str
    op: str  # ">=" or "<="
    required: float
    measured: float
    passed: bool


@dataclass
class AuditResult:
    manifest: str
    policy: dict
    rows: int
    sources: dict[str, int]
    dedup: str
    items: int  # distinct items after duplicate removal
    exact_duplicates: int  # rows removed as exact copies (same content_hash)
    near_duplicates: int  # items further removed as near copies
    machine_copies_of_human: int  # machine-made rows whose content is (nearly) a human item's
    raw_human_fraction: float
    effective_human_fraction: float
    unprovenanced: int
    unprovenanced_ids: list[str]
    rules: list[RuleVerdict] = field(default_factory=list)
    merged_names: dict[str, list[str]] = field(default_factory=dict)  # canonical name -> raw spellings counted as it

    @property
    def passed(self) -> bool:
        return all(rule.passed for rule in self.rules)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["passed"] = self.passed
        return out


def audit(table: pa.Table, policy: Policy, where: str = "manifest",
          estimated_human_share: float | None = None) -> AuditResult:
    """Audit a validated manifest table (``cliffwatch.data.manifest.read_manifest``).
    ``estimated_human_share``: the conservative (low) end of the human share that
    ``cliffwatch estimate`` measured on the rows without provenance (rule min_estimated_human_share)."""
    table, merged = _canonical_names(table)
    # grouping rows into items (a sort, which releases the GIL) runs beside the per-row counts
    with ThreadPoolExecutor(1) as pool:
        grouping = pool.submit(_item_groups, table, policy, where)
        rows = _row_counts(table)
        groups, exact_items = grouping.result()
    n = table.num_rows
    items = int(groups.max()) + 1
    human_items = np.bincount(groups, weights=rows.human, minlength=items) > 0
    effective = float(human_items.sum() / items)
    measured = {
        "min_human_fraction": effective,
        "max_depth": rows.max_depth,
        "min_generator_families": rows.families,
        "max_family_share": rows.family_share,
        "min_verified_share": rows.verified_share,
        "max_unprovenanced_share": rows.unprovenanced / n,
        "min_estimated_human_share": _estimated(policy, rows.unprovenanced, estimated_human_share, where),
    }
    rules = []
    for name, value in measured.items():
        required = getattr(policy, name)
        if required is None:
            continue
        op = ">=" if name.startswith("min_") else "<="
        rules.append(RuleVerdict(name, op, required, value, bool(value >= required if op == ">=" else value <= required)))
    return AuditResult(
        manifest=where,
        policy=policy.model_dump(mode="json", exclude_none=True),
        rows=n,
        sources=rows.sources,
        dedup=policy.dedup,
        items=items,
        exact_duplicates=n - exact_items,
        near_duplicates=exact_items - items,
        machine_copies_of_human=int((human_items[groups] & rows.machine).sum()),
        raw_human_fraction=float(rows.human.sum() / n),
        effective_human_fraction=effective,
        unprovenanced=rows.unprovenanced,
        unprovenanced_ids=rows.unprovenanced_ids,
        rules=rules,
        merged_names=merged,
    )


def _estimated(policy: Policy, unprovenanced: int, estimated: float | None, where: str) -> float | None:
    """The measured value of min_estimated_human_share: 1 without unprovenanced rows (nothing is
    unknown), else the estimate, which the rule cannot do without."""
    if policy.min_estimated_human_share is None or not unprovenanced:
        return 1.0
    if estimated is None:
        raise ConfigError(f"{where}: {unprovenanced} rows have no provenance and the policy's min_estimated_human_share "
                          "needs their estimated human share: run cliffwatch estimate on their text with --out FILE, "
                          "then audit with --estimate FILE")
    return float(estimated)


def _canonical_names(table: pa.Table) -> tuple[pa.Table, dict[str, list[str]]]:
    """The table with canonical generator and family names, and the spellings that were merged."""
    merged: dict[str, set[str]] = {}
    for name in ("generator", "family"):
        column, spellings = canonical_column(table.column(name))
        table = table.set_column(table.column_names.index(name), name, column)
        for canonical, raw in spellings.items():
            merged.setdefault(canonical, set()).update(raw)
    return table, {name: sorted(raw) for name, raw in sorted(merged.items())}


@dataclass
class _Rows:
    """What the audit counts row by row, before any grouping."""

    human: np.ndarray  # bool per row
    machine: np.ndarray  # bool per row: synthetic or edited
    sources: dict[str, int]
    max_depth: int
    families: int
    family_share: float
    verified_share: float
    unprovenanced: int
    unprovenanced_ids: list[str]


def _row_counts(table: pa.Table) -> _Rows:
    # each row's source as its position in SOURCES (validated: every value is one of them)
    code = pc.index_in(table.column("source"), value_set=pa.array(SOURCES)).to_numpy(zero_copy_only=False)
    machine = (code == SOURCES.index("synthetic")) | (code == SOURCES.index("edited"))
    made = pc.filter(table.select(["family", "generator", "verified"]), pa.array(machine))
    n_machine = made.num_rows
    family = pc.coalesce(made.column("family"), made.column("generator"))
    # rows of unknown family form one null bucket: counted in the share, not as a family
    counts = pc.value_counts(family.combine_chunks() if isinstance(family, pa.ChunkedArray) else family)
    largest = int(pc.max(counts.field("counts")).as_py() or 0)
    verified = int(pc.sum(pc.fill_null(made.column("verified"), False).cast(pa.int64())).as_py() or 0)
    anonymous = pc.and_(pc.is_null(table.column("family")), pc.is_null(table.column("generator")))
    unprovenanced = (code == SOURCES.index("unknown")) | (machine & anonymous.to_numpy(zero_copy_only=False))
    return _Rows(
        human=code == SOURCES.index("human"),
        machine=machine,
        sources={name: int(count) for name, count in zip(SOURCES, np.bincount(code, minlength=len(SOURCES))) if count},
        max_depth=int(pc.max(table.column("generation")).as_py()),
        families=int(pc.sum(pc.is_valid(counts.field("values")).cast(pa.int64())).as_py() or 0),
        family_share=largest / n_machine if n_machine else 0.0,
        verified_share=verified / n_machine if n_machine else 1.0,
        unprovenanced=int(unprovenanced.sum()),
        unprovenanced_ids=take_rows(table.column("id"), np.flatnonzero(unprovenanced)[:EXAMPLES]).to_pylist(),
    )


def _item_groups(table: pa.Table, policy: Policy, where: str) -> tuple[np.ndarray, int]:
    """(item number of each row, number of items after exact dedup)."""
    n = table.num_rows
    if policy.dedup == "off":
        return np.arange(n), n
    groups, first = exact_groups(table.column("content_hash").combine_chunks())
    exact_items = len(first)
    if policy.dedup == "exact":
        return groups, exact_items
    text = table.column("text")
    if text.null_count == n:
        raise DataError(f"{where}: the policy asks for near-duplicate removal (dedup: near) but the manifest has no text")
    # one representative row per exact item: its first row
    has_text = pc.is_valid(pc.take(text, pa.array(first))).to_numpy(zero_copy_only=False)
    candidates = np.flatnonzero(has_text)
    earlier, later = similar_pairs(sentences_from_text(pc.take(text, pa.array(first[candidates]))), policy.threshold)
    labels = connected_components(exact_items, candidates[earlier], candidates[later])
    _, merged = np.unique(labels, return_inverse=True)
    return merged[groups], exact_items


def exact_groups(content: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(item number of each row, first row of each item): rows with equal content share an item.
    Grouped by 64-bit keys with one sort; the rows of items with several rows are then compared
    with their item's first row, and keys that collided (distinct content, one key) are replaced
    by exact ones."""
    groups, first = _equal_keys(string_keys([content], len(content) < HASHED_FROM)[0])
    shared = np.flatnonzero(np.bincount(groups, minlength=len(first))[groups] > 1)
    if not equal_mask(take_rows(content, shared), take_rows(content, first[groups[shared]])).all():
        groups, first = _equal_keys(string_keys([content], exact=True)[0])
    return groups, first


def _equal_keys(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group of each row, first row of each group) of equal keys, with one sort."""
    order = np.argsort(key)
    sorted_key = key[order]
    is_start = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    groups = np.empty(len(key), np.int64)
    groups[order] = np.cumsum(is_start) - 1
    return groups, np.minimum.reduceat(order, np.flatnonzero(is_start))


def sentences_from_text(text: pa.Array | pa.ChunkedArray) -> Sentences:
    """Lower-cased whitespace words of each text as token ids (a null text has no words), columnar."""
    words = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(pc.utf8_lower(pc.fill_null(text, ""))))
    words = words.combine_chunks() if isinstance(words, pa.ChunkedArray) else words
    flat = pc.list_flatten(words)
    ids = pc.dictionary_encode(flat).indices.to_numpy(zero_copy_only=False)
    lengths = pc.list_value_length(words).to_numpy(zero_copy_only=False)
    # "".split gives one empty word: drop empty words (they only occur for empty texts)
    empty = pc.equal(pc.utf8_length(flat), 0).to_numpy(zero_copy_only=False)
    if empty.any():
        owner = np.repeat(np.arange(len(lengths)), lengths)
        lengths = lengths - np.bincount(owner[empty], minlength=len(lengths))
        ids = ids[~empty]
    return Sentences.from_lengths(ids, lengths)


def connected_components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Component label (its smallest member) of each of n nodes joined by edges (i, j): min-label
    propagation with pointer jumping, vectorised; a few rounds for near-duplicate clusters."""
    labels = np.arange(n)
    while True:
        new = labels.copy()
        np.minimum.at(new, i, labels[j])
        np.minimum.at(new, j, labels[i])
        new = new[new]  # jump: each node takes its label's label
        if np.array_equal(new, labels):
            return labels
        labels = new
