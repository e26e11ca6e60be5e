"""Audit: verdicts against an independent row-by-row oracle (hypothesis), dedup semantics, policy
files, Croissant output checked by mlcroissant, and the CLI's exit codes."""

import json

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import invoke
from cliffwatch.config.load import parse
from cliffwatch.core.errors import ConfigError
from cliffwatch.data.manifest import validate
from cliffwatch.guard.audit import audit
from cliffwatch.guard.policy import Policy, load_policy


def oracle(rows: list[dict], policy: Policy) -> bool:
    """Whether the rows satisfy the policy, computed row by row from the definitions in audit.py."""
    n = len(rows)
    if policy.dedup == "off":
        items = [{i} for i in range(n)]
    else:  # exact: one item per content hash
        by_hash = {}
        for i, r in enumerate(rows):
            by_hash.setdefault(r["content_hash"], set()).add(i)
        items = list(by_hash.values())
    human_items = sum(any(rows[i]["source"] == "human" for i in item) for item in items)
    machine = [r for r in rows if r["source"] in ("synthetic", "edited")]
    family = [r["family"] if r["family"] is not None else r["generator"] for r in machine]
    known = {f for f in family if f is not None}
    counts = {}
    for f in family:
        counts[f] = counts.get(f, 0) + 1
    checks = {
        "min_human_fraction": lambda v: human_items / len(items) >= v,
        "max_depth": lambda v: max(r["generation"] for r in rows) <= v,
        "min_generator_families": lambda v: len(known) >= v,
        "max_family_share": lambda v: (max(counts.values()) / len(machine) if machine else 0.0) <= v,
        "min_verified_share": lambda v: (sum(bool(r["verified"]) for r in machine) / len(machine) if machine else 1.0) >= v,
        "max_unprovenanced_share": lambda v: sum(r["source"] == "unknown" or (r["source"] in ("synthetic", "edited") and r["family"] is None and r["generator"] is None) for r in rows) / n <= v,
    }
    return all(check(getattr(policy, name)) for name, check in checks.items() if getattr(policy, name) is not None)


@st.composite
def manifests(draw):
    n = draw(st.integers(1, 25))
    rows = []
    for i in range(n):
        source = draw(st.sampled_from(["human", "synthetic", "edited", "unknown"]))
        rows.append({
            "id": f"r{i}", "source": source,
            "generation": 0 if source == "human" else draw(st.integers(1 if source != "unknown" else 0, 4)),
            "content_hash": draw(st.sampled_from("abcdefgh")),  # few hashes: many duplicates, across sources
            "family": draw(st.sampled_from([None, "ngram", "gmm", "kde"])),
            "generator": draw(st.sampled_from([None, "m1", "m2"])),
            "verified": draw(st.sampled_from([None, True, False])),
        })
    return rows


def fraction():
    return st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 1.0]), st.floats(0, 1))


@st.composite
def policies(draw):
    raw = {
        "min_human_fraction": draw(fraction()), "max_depth": draw(st.one_of(st.none(), st.integers(0, 4))),
        "min_generator_families": draw(st.one_of(st.none(), st.integers(0, 4))),
        "max_family_share": draw(st.one_of(st.none(), st.sampled_from([0.25, 0.5, 1.0]), st.floats(0.01, 1))),
        "min_verified_share": draw(fraction()), "max_unprovenanced_share": draw(fraction()),
        "dedup": draw(st.sampled_from(["off", "exact"])),
    }
    try:
        return parse(Policy, {k: v for k, v in raw.items() if v is not None})
    except ConfigError:  # contradictory rules: rejected before any audit (tested below)
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests(), policies())
def test_audit_passes_exactly_the_manifests_that_satisfy_the_policy(rows, policy):
    if policy is None:
        return
    table = validate(pa.Table.from_pylist(rows))
    result = audit(table, policy)
    assert result.passed == oracle(rows, policy)
    for rule in result.rules:  # and each verdict is the rule's own
        single = parse(Policy, {rule.rule: getattr(policy, rule.rule), "dedup": policy.dedup})
        assert rule.passed == oracle(rows, single)


def rows_from(spec):
    return validate(pa.Table.from_pylist([
        {"id": f"r{i}", "source": s, "generation": 0 if s == "human" else 1, "content_hash": h, "text": t, "generator": "m"}
        for i, (s, h, t) in enumerate(spec)
    ]))


def test_synthetic_copies_of_human_items_are_not_human_data():
    table = rows_from([("human", "a", "one two three four five"), ("synthetic", "a", "one two three four five"),
                       ("synthetic", "b", "one two three four five six"), ("synthetic", "c", "seven eight nine ten"),
                       ("human", "d", "eleven twelve thirteen")])
    off = audit(table, Policy(dedup="off"))
    exact = audit(table, Policy(dedup="exact"))
    near = audit(table, Policy(dedup="near", near_threshold=0.7))
    assert off.effective_human_fraction == 2 / 5
    assert exact.effective_human_fraction == 2 / 4 and exact.exact_duplicates == 1 and exact.machine_copies_of_human == 1
    # the near copy (Jaccard 4/5 on word bigrams) joins the human item: 3 items, 2 of them human
    assert near.items == 3 and near.near_duplicates == 1 and near.machine_copies_of_human == 2
    assert near.effective_human_fraction == 2 / 3


def test_rows_without_provenance_are_listed():
    table = validate(pa.Table.from_pylist([
        {"id": "a", "source": "unknown", "generation": 0, "content_hash": "1", "generator": None},
        {"id": "b", "source": "synthetic", "generation": 1, "content_hash": "2", "generator": None},
        {"id": "c", "source": "synthetic", "generation": 1, "content_hash": "3", "generator": "m"},
    ]))
    result = audit(table, Policy(max_unprovenanced_share=0.5))
    assert result.unprovenanced == 2 and result.unprovenanced_ids == ["a", "b"] and not result.passed


@pytest.mark.parametrize("raw, message", [
    ({"min_human_fraction": 1.0, "min_generator_families": 1, "dedup": "off"}, "contradictory rules"),
    ({"max_depth": 0, "min_generator_families": 2}, "contradictory rules"),
    ({"near_threshold": 0.9}, "contradictory rules: near_threshold is set but dedup is 'exact'"),
    ({"min_human": 0.5}, "min_human: unknown field"),
    ({"max_family_share": 0}, "max_family_share"),
])
def test_bad_policies_are_one_line_config_errors(tmp_path, raw, message):
    import yaml

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_toml_policy(tmp_path):
    (tmp_path / "p.toml").write_text('min_human_fraction = 0.3\ndedup = "near"\nnear_threshold = 0.9\n')
    assert load_policy(tmp_path / "p.toml") == Policy(min_human_fraction=0.3, dedup="near", near_threshold=0.9)
    (tmp_path / "q.toml").write_text("min_human_fraction = \n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_policy(tmp_path / "q.toml")


# ---- CLI ----------------------------------------------------------------------------------------

MANIFEST = [
    {"id": "h1", "source": "human", "generation": 0, "content_hash": "a"},
    {"id": "h2", "source": "human", "generation": 0, "content_hash": "b"},
    {"id": "s1", "source": "synthetic", "generation": 1, "content_hash": "a", "generator": "m1", "family": "ngram"},
    {"id": "s2", "source": "synthetic", "generation": 2, "content_hash": "c", "generator": "m2", "family": "gmm", "parent_id": "h1"},
]


def files(tmp_path, rows=MANIFEST, policy="min_human_fraction: 0.5\nmax_depth: 2\n"):
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "p.yaml").write_text(policy)
    return tmp_path / "m.jsonl", tmp_path / "p.yaml"


def test_cli_audit_pass_and_croissant(tmp_path, monkeypatch, capsys):
    manifest, policy = files(tmp_path)
    out = tmp_path / "meta" / "m.croissant.json"
    code, stdout, _ = invoke(monkeypatch, capsys, "audit", manifest, "--policy", policy, "--croissant", out)
    assert code == 0 and "PASS" in stdout and "0.6667 effective" in stdout
    doc = json.loads(out.read_text())
    assert doc["prov:wasAttributedTo"] == [{"@type": "prov:SoftwareAgent", "name": n} for n in ("m1", "m2")]
    pytest.importorskip("mlcroissant")
    from cliffwatch.guard.croissant import croissant_issues

    assert croissant_issues(out) == ([], [])


def test_cli_audit_violation_json(tmp_path, monkeypatch, capsys):
    manifest, policy = files(tmp_path, policy="min_human_fraction: 0.8\nmax_depth: 1\n")
    code, stdout, _ = invoke(monkeypatch, capsys, "audit", manifest, "--policy", policy, "--json")
    verdict = json.loads(stdout)
    assert code == 1 and verdict["passed"] is False
    assert [(r["rule"], r["passed"]) for r in verdict["rules"]] == [("min_human_fraction", False), ("max_depth", False)]


@pytest.mark.parametrize("rows, policy, args, message", [
    ([{**MANIFEST[0], "source": "robot"}], "max_depth: 1\n", [], "unknown source 'robot'"),
    (MANIFEST, "max_depth: 0\nmin_generator_families: 1\n", [], "contradictory rules"),
    (MANIFEST, "max_depth: 1\n", ["--mapping", "generator=model"], "no column 'model'"),
    ([{k: v for k, v in r.items() if k != "content_hash"} for r in MANIFEST], "max_depth: 1\n", [], "missing required column(s): content_hash"),
])
def test_cli_audit_bad_input_exit_2_nothing_written(tmp_path, monkeypatch, capsys, rows, policy, args, message):
    manifest, policy_path = files(tmp_path, rows, policy)
    out = tmp_path / "c.json"
    code, stdout, stderr = invoke(monkeypatch, capsys, "audit", manifest, "--policy", policy_path, "--croissant", out, *args)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1 and not out.exists()


# ---- names: spelling variants of one model are one family (guard/names.py) ----------------------

LOOK_ALIKE = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "i": "і", "k": "к", "t": "т", "y": "у"}


@st.composite
def spellings(draw, name: str) -> str:
    """A spelling of ``name`` a pipeline might write: case, padding, look-alike letters, fullwidth
    forms, invisible characters, other dashes."""
    out = []
    for char in name:
        choice = draw(st.sampled_from(["same", "upper", "look-alike", "fullwidth", "invisible"]))
        if choice == "upper":
            char = char.upper()
        elif choice == "look-alike":
            char = LOOK_ALIKE.get(char, char)
        elif choice == "fullwidth" and "!" <= char <= "~":
            char = chr(ord(char) - 0x21 + 0xFF01)
        elif choice == "invisible":
            char = char + draw(st.sampled_from(["\u200b", "\u200d", "\u00ad", "\ufeff"]))
        if char == "-":
            char = draw(st.sampled_from(["-", "\u2010", "\u2013", "\uff0d"]))
        out.append(char)
    pad = st.sampled_from(["", " ", "\t", "\u00a0", "  "])
    return draw(pad) + "".join(out) + draw(pad)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), name=st.sampled_from(["gpt-4", "llama-3-70b", "mixtral-8x7b", "claude", "phi-3"]),
       n=st.integers(2, 12))
def test_no_spelling_variant_of_one_model_passes_a_diversity_rule_the_canonical_spelling_fails(data, name, n):
    from cliffwatch.guard.names import canonical_name

    variants = [data.draw(spellings(name)) for _ in range(n)]
    assert {canonical_name(v) for v in variants} == {name}
    policy = Policy(min_generator_families=2, max_family_share=0.9)

    def verdict(generators):
        rows = [{"id": "h", "source": "human", "generation": 0, "content_hash": "h", "generator": None}] + [
            {"id": f"s{i}", "source": "synthetic", "generation": 1, "content_hash": f"s{i}", "generator": g}
            for i, g in enumerate(generators)]
        return audit(validate(pa.Table.from_pylist(rows)), policy)

    canonical, spelled = verdict([name] * n), verdict(variants)
    assert not canonical.passed
    assert not spelled.passed and [r.measured for r in spelled.rules] == [r.measured for r in canonical.rules]
    if len(set(variants)) > 1:
        assert set(spelled.merged_names[name]) == set(variants)


def test_names_that_differ_stay_apart_and_blank_names_are_no_provenance():
    from cliffwatch.guard.names import canonical_name

    assert len({canonical_name(n) for n in ("gpt-4", "gpt-4o", "gpt-40", "gpt 4", "gpt4")}) == 5
    rows = [{"id": f"r{i}", "source": s, "generation": int(s != "human"), "content_hash": str(i), "generator": g}
            for i, (s, g) in enumerate([("human", None), ("synthetic", " \u200b "), ("synthetic", "GPT-4")])]
    result = audit(validate(pa.Table.from_pylist(rows)), Policy(max_unprovenanced_share=0.0))
    assert result.unprovenanced == 1 and not result.passed  # a blank name is no name


def test_cli_audit_shows_the_merged_spellings(tmp_path, monkeypatch, capsys):
    rows = [{"id": "h", "source": "human", "generation": 0, "content_hash": "h"}] + [
        {"id": f"s{i}", "source": "synthetic", "generation": 1, "content_hash": f"s{i}", "generator": g}
        for i, g in enumerate(["gpt-4", "GPT-4 ", "gрt-4", "[bold]x"])]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    (tmp_path / "p.yaml").write_text("min_generator_families: 2\n")
    code, out, _ = invoke(monkeypatch, capsys, "audit", tmp_path / "m.jsonl", "-p", tmp_path / "p.yaml")
    assert code == 0 and "names merged: gpt-4 <- 'GPT-4 ', 'gpt-4', 'gрt-4'" in out
    code, out, _ = invoke(monkeypatch, capsys, "audit", tmp_path / "m.jsonl", "-p", tmp_path / "p.yaml", "--json")
    assert json.loads(out)["merged_names"] == {"gpt-4": ["GPT-4 ", "gpt-4", "gрt-4"]}


def test_cli_audit_of_distilabel_output_counts_rows_without_a_model_as_human(tmp_path, monkeypatch, capsys):
    pytest.importorskip("duckdb")  # hashes the text (the guard extra)
    import gzip

    rows = [{"instruction": f"q{i}", "generation": f"answer {i}", "model_name": "llama-3-8b" if i % 2 else None}
            for i in range(10)]
    manifest = tmp_path / "distilabel.jsonl.gz"
    manifest.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    (tmp_path / "p.yaml").write_text("min_human_fraction: 0.4\n")
    code, _, err = invoke(monkeypatch, capsys, "audit", manifest, "-p", tmp_path / "p.yaml")
    assert code == 2 and "--mapping distilabel" in err and len(err.strip().splitlines()) == 1
    code, out, _ = invoke(monkeypatch, capsys, "audit", manifest, "-p", tmp_path / "p.yaml", "-m", "distilabel", "--json")
    result = json.loads(out)
    assert code == 0 and result["sources"] == {"human": 5, "synthetic": 5} and result["effective_human_fraction"] == 0.5
