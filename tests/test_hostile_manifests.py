"""Hostile manifests and dataset folders (in the style of test_hostile_inputs.py): random bytes and
random records in every manifest format, random dataset-folder metadata, FIFOs, devices and
symlinks. Every outcome is a table, or a DataError / ConfigError of one bounded line naming the
file; never another exception, a crash or a hang; the audit writes nothing when it refuses."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import invoke
from cliffwatch.core.errors import MAX_MESSAGE, CliffwatchError
from cliffwatch.data.corpora import load_corpus
from cliffwatch.data.manifest import MANIFEST_FIELDS, Mapping, read_manifest
from cliffwatch.guard.audit import audit
from cliffwatch.guard.policy import Policy

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])
FORMATS = [".jsonl", ".jsonl.gz", ".json", ".csv", ".parquet", ".arrow"]
POLICY = Policy(min_human_fraction=0.1, min_generator_families=1, max_family_share=0.9)


@contextlib.contextmanager
def no_hang(seconds: float = 20):
    """Fail instead of hanging: SIGALRM interrupts a blocked open() or read()."""
    def stop(*_):
        raise TimeoutError(f"hung for {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def refused_or_read(path, mapping=None) -> pa.Table | None:
    """The manifest (audited, so the audit copes with what the reader lets through), or None when
    it is refused with a one-line error naming the file."""
    with no_hang():
        try:
            table = read_manifest(path, Mapping.parse(mapping))
        except CliffwatchError as err:
            message = str(err)
            assert "\n" not in message and len(message) <= MAX_MESSAGE
            assert str(path) in message or path.name in message or mapping, message
            return None
    audit(table, POLICY)
    return table


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(["human", "synthetic", "edited", "unknown", "N/A", "", " ",
                                                           "gpt-4", "GPT-4 ", "gрt-4", "..", "/etc/passwd"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                      max_leaves=8)
KEYS = st.one_of(st.sampled_from(list(MANIFEST_FIELDS) + ["model_name", "prov:wasGeneratedBy"]), st.text(max_size=6))


@st.composite
def records(draw):
    """Rows that are often nearly valid manifests (so the checks past the reader run), with hostile values."""
    rows = []
    for i in range(draw(st.integers(0, 6))):
        source = draw(st.sampled_from(["human", "synthetic", "edited", "unknown"]))
        row = {"id": f"r{i}", "source": source, "generation": int(source != "human"), "content_hash": f"h{i % 3}"}
        for key in draw(st.lists(KEYS, max_size=3)):
            row[key] = draw(VALUES)
        rows.append(row)
    return rows


def write(path, rows: list[dict]) -> None:
    """``rows`` in the format ``path`` names; for typed formats, as far as Arrow can type them."""
    name = path.name
    if name.endswith((".jsonl", ".jsonl.gz")):
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    elif name.endswith(".json"):
        path.write_text(json.dumps(rows))
    elif name.endswith(".csv"):
        keys = list(dict.fromkeys(k for r in rows for k in r))
        path.write_text(",".join(json.dumps(k) for k in keys) + "\n"
                        + "".join(",".join(json.dumps(str(r.get(k, ""))) for k in keys) + "\n" for r in rows))
    else:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        try:
            typed(path, pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows]))
        except (pa.ArrowException, TypeError, ValueError, OverflowError):  # not typable, or not storable: as text
            typed(path, pa.table({k: [json.dumps(r.get(k)) for r in rows] for k in keys}))


def typed(path, table: pa.Table) -> None:
    if path.name.endswith(".parquet"):
        pq.write_table(table, path)
    else:
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)


@FUZZ
@given(suffix=st.sampled_from(FORMATS), content=st.binary(max_size=300))
def test_random_bytes_in_every_format(tmp_path, suffix, content):
    path = tmp_path / f"m{suffix}"
    path.write_bytes(content)
    refused_or_read(path)


@FUZZ
@given(suffix=st.sampled_from(FORMATS), rows=records(), mapping=st.sampled_from([None, ["distilabel"], ["croissant"],
                                                                               ["generator=model_name"]]))
def test_random_records_in_every_format(tmp_path, suffix, rows, mapping):
    path = tmp_path / f"m{suffix}"
    write(path, rows)
    table = refused_or_read(path, mapping)
    if table is not None:
        assert table.schema.names == list(MANIFEST_FIELDS) and table.num_rows == len(rows)


NAMES = st.one_of(st.sampled_from(["data.arrow", "../data.arrow", "/etc/passwd", "..", ".", "", "a\\b", "sub/data.arrow",
                                   "missing.arrow", "fifo.arrow", "state.json", "x" * 300, "a\0b"]), st.text(max_size=8))
METADATA = st.one_of(
    VALUES,
    st.fixed_dictionaries({"_data_files": st.one_of(VALUES, st.lists(st.one_of(
        st.fixed_dictionaries({"filename": st.one_of(NAMES, VALUES)}), VALUES), max_size=3))}),
    st.fixed_dictionaries({"splits": st.one_of(VALUES, st.lists(st.one_of(NAMES, VALUES,
                                                                          st.just("train")), max_size=3))}),
)


@FUZZ
@given(state=st.one_of(st.none(), METADATA), dataset_dict=st.one_of(st.none(), METADATA),
       info=st.one_of(st.none(), METADATA, st.just("{not json"), st.binary(max_size=20)))
def test_random_dataset_folder_metadata(tmp_path_factory, state, dataset_dict, info):
    folder = tmp_path_factory.mktemp("ds")
    table = pa.table({"id": ["a"], "source": ["human"], "generation": [0], "content_hash": ["h"], "text": ["Hello there."]})
    for where in (folder, folder / "train"):
        where.mkdir(exist_ok=True)
        with pa.OSFile(str(where / "data.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        os.mkfifo(where / "fifo.arrow")
        (where / "train").mkdir(exist_ok=True)
    for name, value in (("state.json", state), ("dataset_dict.json", dataset_dict), ("dataset_info.json", info)):
        if value is not None:
            data = value if isinstance(value, bytes) else (value if isinstance(value, str) else json.dumps(value)).encode()
            (folder / name).write_bytes(data)
            (folder / "train" / name).write_bytes(data)  # the split folder too: a DatasetDict that recurses
    refused_or_read(folder)
    with no_hang():
        try:
            load_corpus(folder)
        except CliffwatchError as err:
            assert "\n" not in str(err)


def test_fifos_devices_and_symlinks_are_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo.jsonl")
    (tmp_path / "zero.jsonl").symlink_to("/dev/zero")
    (tmp_path / "loop.jsonl").symlink_to(tmp_path / "loop.jsonl")
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "a.jsonl").write_text('{"id": "a", "source": "human", "generation": 0, "content_hash": "h"}\n')
    os.mkfifo(shards / "b.jsonl")
    dataset = tmp_path / "ds"
    dataset.mkdir()
    (dataset / "data.arrow").symlink_to("/dev/zero")
    (dataset / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data.arrow"}]}))
    card = tmp_path / "carded"
    card.mkdir()
    (card / "m.jsonl").write_text('{"text": "a"}\n')
    os.mkfifo(card / "README.md")
    for path, expected in ((tmp_path / "fifo.jsonl", r"fifo.jsonl: not a regular file \(a FIFO"),
                           (tmp_path / "zero.jsonl", r"zero.jsonl: not a regular file \(a character device"),
                           (tmp_path / "loop.jsonl", "loop.jsonl: unreadable"),
                           (shards, r"b.jsonl: not a regular file \(a FIFO"),
                           (dataset, r"data.arrow: not a regular file \(a character device")):
        with no_hang(), pytest.raises(CliffwatchError, match=expected):
            read_manifest(path)
        with no_hang(), pytest.raises(CliffwatchError, match=expected):
            load_corpus(path)
    with no_hang(), pytest.raises(CliffwatchError, match=r"README.md: not a regular file \(a FIFO"):
        read_manifest(card / "m.jsonl", Mapping.parse(["hf-card"]))
    (tmp_path / "link.jsonl").symlink_to(shards / "a.jsonl")  # a symlink to a regular file is followed
    assert read_manifest(tmp_path / "link.jsonl").column("id").to_pylist() == ["a"]


@pytest.mark.parametrize("case", ["deep", "0xff", "dotdot", "recursive-dict", "bad-state", "card-encoding",
                                  "card-types", "croissant-folder", "croissant-fifo", "toml-fifo"])
def test_cli_audit_refuses_damage_in_one_line_with_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys, case):
    row = {"id": "a", "source": "human", "generation": 0, "content_hash": "h", "text": "a"}
    manifest, policy, args = tmp_path / "m.jsonl", tmp_path / "p.yaml", []
    manifest.write_text(json.dumps(row) + "\n")
    policy.write_text("min_human_fraction: 0.5\n")
    if case == "deep":
        manifest.write_text(json.dumps(row)[:-1] + ', "x": ' + "[" * 50_000 + "]" * 50_000 + "}\n")
    elif case == "0xff":
        manifest.write_bytes(json.dumps(row).encode() + b'\n{"id": "\xff"}\n')
    elif case in ("dotdot", "recursive-dict", "bad-state"):
        manifest = tmp_path / "ds"
        manifest.mkdir()
        state = {"dotdot": {"_data_files": [{"filename": "../x.arrow"}]}, "bad-state": {"_data_files": "x"}}
        if case == "recursive-dict":
            (manifest / "dataset_dict.json").write_text(json.dumps({"splits": ["train"]}))
            (manifest / "train").symlink_to(".")
        else:
            (manifest / "state.json").write_text(json.dumps(state[case]))
    elif case.startswith("card"):
        card = tmp_path / "README.md"
        if case == "card-encoding":
            card.write_bytes("---\nlanguage_creators: [crowdsourced]\n---\n".encode("utf-16"))
        else:
            card.write_text("---\nlanguage_creators: {a: 1}\n---\n")
        args = ["--mapping", "hf-card"]
    elif case == "croissant-folder":
        (tmp_path / "out").mkdir()
        args = ["--croissant", tmp_path / "out"]
    elif case == "croissant-fifo":
        os.mkfifo(tmp_path / "out.json")
        args = ["--croissant", tmp_path / "out.json"]
    elif case == "toml-fifo":
        policy = tmp_path / "p.toml"
        os.mkfifo(policy)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with no_hang():
        code, out, err = invoke(monkeypatch, capsys, "audit", manifest, "--policy", policy, *args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written, nothing half-written


def test_found_by_the_fuzz(tmp_path):
    # pyarrow's JSON reader builds an invalid list-of-nulls column from this: one line, not a traceback
    rows = [{"id": "r0", "source": "human", "generation": 0, "content_hash": "h0"}] * 4 + [
        {"id": None, "source": "human", "generation": 0, "content_hash": "h1", "generator": [None, None]}]
    write(tmp_path / "m.jsonl", rows)
    assert refused_or_read(tmp_path / "m.jsonl") is None


def test_a_gzip_bomb_is_refused_while_it_streams(tmp_path, monkeypatch):
    from cliffwatch.data import tables

    monkeypatch.setattr(tables, "MAX_GZIP_FLOOR", 1 << 20)  # the real floor (1 GiB) would take seconds to pass
    (tmp_path / "bomb.jsonl.gz").write_bytes(gzip.compress(b"{}\n" * 10_000_000))  # 30 MB in some 30 kB
    with pytest.raises(CliffwatchError, match="bomb.jsonl.gz: decompresses to more than 200 times its size"):
        read_manifest(tmp_path / "bomb.jsonl.gz")
