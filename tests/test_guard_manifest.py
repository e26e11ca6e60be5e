"""Manifests: every reader and mapping on real small files, and every bad input -> a typed one-line error."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from cliffwatch.core.errors import ConfigError, DataError
from cliffwatch.data.manifest import MANIFEST_FIELDS, Mapping, read_manifest, row_hashes, validate, write_manifest

ROWS = [
    {"id": "h1", "source": "human", "generation": 0, "content_hash": "aa", "text": "the river runs north", "license": "cc-by-4.0"},
    {"id": "s1", "source": "synthetic", "generation": 1, "content_hash": "bb", "generator": "ngram-v1", "family": "ngram",
     "parent_id": "h1", "verified": True, "text": "the river runs south"},
    {"id": "s2", "source": "synthetic", "generation": 2, "content_hash": "cc", "generator": "ngram-v2", "family": "ngram", "parent_id": "s1"},
]
KEYS = sorted({k for r in ROWS for k in r})
FULL = [{k: r.get(k) for k in KEYS} for r in ROWS]  # every key in every row: Arrow infers the schema from the first


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def check(table):
    assert table.schema.names == list(MANIFEST_FIELDS)
    assert table.column("id").to_pylist() == ["h1", "s1", "s2"]
    assert table.column("generation").to_pylist() == [0, 1, 2]
    assert table.column("parent_id").to_pylist() == [None, "h1", "s1"]


def test_jsonl_parquet_csv_read_alike(tmp_path):
    check(read_manifest(write_jsonl(tmp_path / "m.jsonl", ROWS)))
    frame = pa.Table.from_pylist(FULL)
    pq.write_table(frame, tmp_path / "m.parquet")
    check(read_manifest(tmp_path / "m.parquet"))
    pcsv.write_csv(frame, tmp_path / "m.csv")
    check(read_manifest(tmp_path / "m.csv"))


def test_hf_save_to_disk_folder(tmp_path):
    # the layout `datasets.Dataset.save_to_disk` writes: Arrow IPC stream shards listed in state.json
    folder = tmp_path / "ds"
    folder.mkdir()
    table = pa.Table.from_pylist(FULL)
    for i, part in enumerate([table.slice(0, 2), table.slice(2)]):
        with pa.OSFile(str(folder / f"data-0000{i}-of-00002.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(part)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": f"data-0000{i}-of-00002.arrow"} for i in range(2)]}))
    (folder / "dataset_info.json").write_text("{}")
    check(read_manifest(folder))
    # and a DatasetDict folder of splits
    (tmp_path / "dd").mkdir()
    folder.rename(tmp_path / "dd" / "train")
    (tmp_path / "dd" / "dataset_dict.json").write_text(json.dumps({"splits": ["train"]}))
    check(read_manifest(tmp_path / "dd"))


def test_text_without_hash_is_hashed(tmp_path):
    pytest.importorskip("duckdb")  # hashes the text (the guard extra)
    rows = [{k: v for k, v in r.items() if k != "content_hash"} | {"text": r.get("text", "x")} for r in ROWS]
    rows[2]["text"] = rows[0]["text"]
    table = read_manifest(write_jsonl(tmp_path / "m.jsonl", rows), need_text=True)
    hashes = table.column("content_hash").to_pylist()
    assert hashes[0] == hashes[2] != hashes[1] and len(hashes[0]) == 16


def test_explicit_mapping(tmp_path):
    rows = [{"uid": r["id"], **{k: v for k, v in r.items() if k != "id"}} for r in ROWS]
    check(read_manifest(write_jsonl(tmp_path / "m.jsonl", rows), Mapping.parse(["id=uid"])))


def test_distilabel_mapping(tmp_path):
    pytest.importorskip("duckdb")  # hashes the text (the guard extra)
    # distilabel output rows: instruction, generation, model_name (1.x) -- or generation_model (0.x)
    rows = [{"instruction": "q1", "generation": "a1", "model_name": "llama-3-8b"},
            {"instruction": "q2", "generation": "a2", "model_name": "llama-3-8b"}]
    table = read_manifest(write_jsonl(tmp_path / "d.jsonl", rows), Mapping.parse(["distilabel"]), need_text=True)
    assert table.column("source").to_pylist() == ["synthetic"] * 2
    assert table.column("generator").to_pylist() == ["llama-3-8b"] * 2
    assert table.column("generation").to_pylist() == [1, 1]
    assert table.column("text").to_pylist() == ["a1", "a2"] and table.column("id").to_pylist() == ["row-0", "row-1"]
    old = [{"instruction": "q", "generation": "a", "generation_model": "gpt-4"}]
    assert read_manifest(write_jsonl(tmp_path / "o.jsonl", old), Mapping.parse(["distilabel"])).column("generator").to_pylist() == ["gpt-4"]
    with pytest.raises(DataError, match="model_name or generation_model"):
        read_manifest(write_jsonl(tmp_path / "n.jsonl", [{"generation": "a"}]), Mapping.parse(["distilabel"]))


def test_hf_card_mapping(tmp_path):
    pytest.importorskip("duckdb")  # hashes the text (the guard extra)
    path = write_jsonl(tmp_path / "train.jsonl", [{"text": "a b"}, {"text": "c d"}])
    (tmp_path / "README.md").write_text("---\nlanguage_creators:\n- machine-generated\nannotations_creators:\n- machine-generated\n---\n# card\n")
    table = read_manifest(path, Mapping.parse(["hf-card"]))
    assert table.column("source").to_pylist() == ["synthetic"] * 2 and table.column("generation").to_pylist() == [1, 1]
    (tmp_path / "README.md").write_text("---\nlanguage_creators: [crowdsourced]\n---\n")
    assert read_manifest(path, Mapping.parse(["hf-card"])).column("source").to_pylist() == ["human"] * 2
    (tmp_path / "README.md").write_text("---\nlanguage_creators: [crowdsourced, machine-generated]\n---\n")
    assert read_manifest(path, Mapping.parse(["hf-card"])).column("source").to_pylist() == ["unknown"] * 2


def test_croissant_mapping(tmp_path):
    rows = [{"id": "a", "content_hash": "1", "prov:wasGeneratedBy": None},
            {"id": "b", "content_hash": "2", "prov:wasGeneratedBy": "sampling", "prov:wasAttributedTo": "gpt-x", "prov:wasDerivedFrom": "a"}]
    table = read_manifest(write_jsonl(tmp_path / "c.jsonl", rows), Mapping.parse(["croissant"]))
    assert table.column("source").to_pylist() == ["human", "synthetic"]
    assert table.column("generator").to_pylist() == [None, "gpt-x"] and table.column("parent_id").to_pylist() == [None, "a"]


def test_write_manifest_round_trip_and_row_hashes(tmp_path):
    tokens = np.array([[1, 2, 3], [1, 2, 3], [1, 2, 4]])
    hashes = row_hashes(tokens).to_pylist()
    assert hashes[0] == hashes[1] != hashes[2]
    path = write_manifest(tmp_path / "g" / "gen-000001.parquet", ids=["a", "b", "c"], source="synthetic", generation=1,
                          content_hash=row_hashes(tokens), generator="ngram", family="ngram")
    table = read_manifest(path)
    assert table.column("source").to_pylist() == ["synthetic"] * 3 and table.column("content_hash").to_pylist() == hashes
    assert [p.name for p in path.parent.iterdir()] == ["gen-000001.parquet"]  # no temporary left behind


def test_item_hashes_of_sentences_and_vectors():
    from cliffwatch.data.manifest import item_hashes
    from cliffwatch.core.modality import Sentences

    sentences = Sentences.from_lists([[1, 2], [1, 2, 3], [1, 2], [3]])
    hashes = item_hashes(sentences).to_pylist()
    assert hashes[0] == hashes[2] and len(set(hashes)) == 3  # a prefix is not the same sentence
    # a sentence hashes the same in any batch (a shorter longest sentence pads less)
    assert item_hashes(Sentences.from_lists([[1, 2], [3]])).to_pylist() == [hashes[0], hashes[3]]
    empty = item_hashes(Sentences.from_lists([[], [1, 2], []])).to_pylist()
    assert empty[0] == empty[2] != empty[1] == hashes[0]
    vectors = item_hashes(np.array([[0.5, 1.0], [0.5, 1.0], [0.5, -1.0]])).to_pylist()
    assert vectors[0] == vectors[1] != vectors[2]


def test_write_manifest_rejects_bad_rows_and_writes_nothing(tmp_path):
    with pytest.raises(DataError, match="duplicate id 'a'"):
        write_manifest(tmp_path / "m.parquet", ids=["a", "a"], source="human", generation=0, content_hash=["x", "y"])
    assert list(tmp_path.iterdir()) == []


BASE = {"id": ["a", "b", "c"], "source": ["human", "synthetic", "synthetic"], "generation": [0, 1, 2],
        "content_hash": ["1", "2", "3"], "parent_id": [None, "a", "b"]}


@pytest.fixture(params=["hashed", "colliding", "no-duckdb"])
def keys(request, monkeypatch):
    """Every id, parent and content check under three kinds of string keys: DuckDB hashes; hashes
    that collide (kept to 1 bit: the checks must notice and fall back to exact keys); and Arrow
    dictionary codes (DuckDB not installed)."""
    import sys

    import cliffwatch.data.manifest.checks as manifest
    import cliffwatch.guard.audit as audit

    if request.param != "no-duckdb":  # hash even the smallest manifest
        monkeypatch.setattr(manifest, "HASHED_FROM", 0)
        monkeypatch.setattr(audit, "HASHED_FROM", 0)
    if request.param == "colliding":
        original = manifest.string_keys

        def colliding(arrays, exact=False):
            return original(arrays, exact) if exact else [k % np.uint64(2) for k in original(arrays)]

        monkeypatch.setattr(manifest, "string_keys", colliding)
        monkeypatch.setattr(audit, "string_keys", colliding)
    elif request.param == "no-duckdb":
        monkeypatch.setitem(sys.modules, "duckdb", None)  # import duckdb raises ImportError
    return request.param


def test_ids_parents_and_content_groups_under_every_kind_of_key(keys):
    from cliffwatch.guard.audit import exact_groups

    n = 1000
    ids = [f"item-{i}" for i in range(n)]
    parents = [None if i % 3 == 0 else ids[i - 1 - i % 7 if i % 7 < i else 0] for i in range(n)]
    content = [f"text-{i % 600}" for i in range(n)]  # rows i and i + 600 share their content
    table = validate(pa.table({"id": ids, "source": ["human"] * n, "generation": [0] * n,
                               "content_hash": content, "parent_id": parents}))
    assert table.num_rows == n
    groups, first = exact_groups(table.column("content_hash").combine_chunks())
    assert len(first) == 600 and (groups[:400] == groups[600:]).all() and len(np.unique(groups[:600])) == 600
    assert (np.sort(first) == np.arange(600)).all()


@pytest.mark.parametrize("change, message", [
    ({"drop": ["source", "content_hash"]}, "missing required column(s): source, content_hash"),
    ({"source": ["human", "robot", "synthetic"]}, "row 1: unknown source 'robot'"),
    ({"generation": [0, -1, 2]}, "row 1 (id 'b'): generation (recursion depth) is negative"),
    ({"generation": [1, 1, 2]}, "row 0 (id 'a'): human data must have generation 0"),
    ({"id": ["a", "b", "a"]}, "duplicate id 'a' (first at row 0; 1 id(s) repeat)"),
    ({"parent_id": [None, "zz", "b"]}, "parent_id 'zz' is not an id in the manifest"),
    ({"parent_id": ["c", "a", "b"]}, "parent_id cycle"),
    ({"empty": True}, "the manifest is empty"),
    ({"generation": ["0", "one", "2"]}, "column 'generation' cannot be read as int64"),
])
def test_bad_manifests_are_one_line_data_errors(change, message, keys):
    columns = {k: list(v) for k, v in BASE.items()}
    for key, value in change.items():
        if key == "drop":
            for name in value:
                columns.pop(name)
        elif key == "empty":
            columns = {k: [] for k in columns}
        else:
            columns[key] = value
    table = pa.table({k: pa.array(v, pa.string() if k != "generation" or isinstance(v[0] if v else 0, str) else pa.int64()) for k, v in columns.items()})
    with pytest.raises(DataError) as err:
        validate(table, "m.jsonl")
    assert message in str(err.value) and "\n" not in str(err.value) and str(err.value).startswith("m.jsonl: ")


def test_bad_mappings(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", ROWS)
    with pytest.raises(DataError, match="mapping generator=model: no column 'model'"):
        read_manifest(path, Mapping.parse(["generator=model"]))
    with pytest.raises(ConfigError, match="'author' is not a manifest field"):
        Mapping.parse(["author=x"])
    with pytest.raises(ConfigError, match="FIELD=COLUMN or a preset"):
        Mapping.parse(["alpaca"])


def test_unreadable_and_unknown_files(tmp_path):
    (tmp_path / "m.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="unreadable"):
        read_manifest(tmp_path / "m.parquet")
    with pytest.raises(DataError, match="no such file"):
        read_manifest(tmp_path / "missing.jsonl")
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(DataError, match="unknown manifest format"):
        read_manifest(tmp_path / "m.txt")


def test_distilabel_rows_without_a_model_are_human_and_the_preset_is_suggested(tmp_path):
    pytest.importorskip("duckdb")  # hashes the text (the guard extra)
    rows = [{"instruction": "q1", "generation": "a1", "model_name": "llama-3-8b"},
            {"instruction": "q2", "generation": "written by a person", "model_name": None},
            {"instruction": "q3", "generation": "also a person", "model_name": "  "}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    table = read_manifest(path, Mapping.parse(["distilabel"]))
    assert table.column("source").to_pylist() == ["synthetic", "human", "human"]
    assert table.column("generation").to_pylist() == [1, 0, 0]
    with pytest.raises(DataError, match="missing required column.*: id, source, content_hash; .*--mapping distilabel"):
        read_manifest(path)
    croissant = write_jsonl(tmp_path / "c.jsonl", [{"prov:wasGeneratedBy": None, "text": "a"}])
    with pytest.raises(DataError, match="--mapping croissant"):
        read_manifest(croissant)
    (tmp_path / "README.md").write_text("---\nlanguage_creators: [crowdsourced]\n---\n")
    with pytest.raises(DataError, match="--mapping hf-card"):
        read_manifest(write_jsonl(tmp_path / "t.jsonl", [{"text": "a"}]))


def test_json_jsonl_gz_and_folders_of_shards_read_alike(tmp_path):
    import gzip

    check(read_manifest(write_jsonl(tmp_path / "lines.json", ROWS)))  # JSON Lines named .json
    (tmp_path / "array.json").write_text(json.dumps(ROWS))
    check(read_manifest(tmp_path / "array.json"))
    (tmp_path / "m.jsonl.gz").write_bytes(gzip.compress(write_jsonl(tmp_path / "m.jsonl", ROWS).read_bytes()))
    check(read_manifest(tmp_path / "m.jsonl.gz"))
    table = pa.Table.from_pylist(FULL)
    parquet = tmp_path / "parquet" / "data"  # a hub download: data/train-*.parquet beside other splits
    parquet.mkdir(parents=True)
    pq.write_table(table.slice(0, 2), parquet / "train-00000-of-00002.parquet")
    pq.write_table(table.slice(2), parquet / "train-00001-of-00002.parquet")
    pq.write_table(table.slice(0, 1), parquet / "test-00000-of-00001.parquet")  # not read: the train split is
    (tmp_path / "parquet" / "README.md").write_text("# a card\n")
    check(read_manifest(tmp_path / "parquet"))
    jsonl = tmp_path / "jsonl"  # datatrove: 00000.jsonl.gz, 00001.jsonl.gz
    jsonl.mkdir()
    for i, part in enumerate([ROWS[:1], ROWS[1:]]):
        (jsonl / f"{i:05d}.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in part).encode()))
    check(read_manifest(jsonl))
    (jsonl / "extra.parquet").write_bytes((tmp_path / "m.jsonl").read_bytes())
    with pytest.raises(DataError, match="mixed shards"):
        read_manifest(jsonl)


def test_csv_strings_stay_strings(tmp_path):
    (tmp_path / "m.csv").write_text("id,source,generation,content_hash,generator,verified\n"
                                    "NA,synthetic,1,null,N/A,true\nnull,synthetic,1,N/A,,\n")
    table = read_manifest(tmp_path / "m.csv")
    assert table.column("id").to_pylist() == ["NA", "null"]
    assert table.column("content_hash").to_pylist() == ["null", "N/A"]
    assert table.column("generator").to_pylist() == ["N/A", None]  # an empty cell is no value
    assert table.column("verified").to_pylist() == [True, None]
    (tmp_path / "bad.csv").write_text("id,source,generation,content_hash\na,human,N/A,h\n")
    with pytest.raises(DataError, match="column 'generation' cannot be read as int64"):
        read_manifest(tmp_path / "bad.csv")


def test_a_datasetdict_is_read_as_its_train_split_with_plain_file_names(tmp_path):
    folder = tmp_path / "dd"
    table = pa.Table.from_pylist(FULL)
    for split, part in (("train", table), ("test", table.slice(0, 1))):
        (folder / split).mkdir(parents=True)
        with pa.OSFile(str(folder / split / "data.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(part)
        (folder / split / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data.arrow"}]}))
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    check(read_manifest(folder))  # the train split only, as the corpus reader reads it
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": ["test"]}))
    with pytest.raises(DataError, match="no 'train'"):
        read_manifest(folder)
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": ["train"]}))
    for name in ("../test/data.arrow", "/etc/passwd", "..", "a\\b.arrow"):
        (folder / "train" / "state.json").write_text(json.dumps({"_data_files": [{"filename": name}]}))
        with pytest.raises(DataError, match="not a plain file name"):
            read_manifest(folder)


def test_large_rows_read_in_every_format(tmp_path):
    pytest.importorskip("duckdb")  # hashes the text (the guard extra)
    big = "word " * 1_000_000  # a 5 MB row: more than pyarrow's default block
    rows = [{"id": "a", "source": "human", "generation": 0, "text": big},
            {"id": "b", "source": "human", "generation": 0, "text": "line one\nline two"}]
    write_jsonl(tmp_path / "m.jsonl", rows)
    pcsv.write_csv(pa.Table.from_pylist(rows), tmp_path / "m.csv")  # the second cell is quoted over two lines
    for name in ("m.jsonl", "m.csv"):
        table = read_manifest(tmp_path / name, need_text=True)
        assert table.column("text").to_pylist() == [big, "line one\nline two"], name
