"""Text corpora: the built-in Python docs corpus, and user files in every supported format."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet
import pytest

from cliffwatch.data import corpora, corpus_cache, pydocs
from cliffwatch.data.corpora import TextCorpus, load_corpus
from cliffwatch.core.errors import DataError

TEXTS = ["The cat sat on the mat. It was warm!", "A rare aardvark appeared.", "Dogs bark at night."]
SENTENCES = [
    ["the", "cat", "sat", "on", "the", "mat", "."],
    ["it", "was", "warm", "!"],
    ["a", "rare", "aardvark", "appeared", "."],
    ["dogs", "bark", "at", "night", "."],
]


def decoded(corpus: TextCorpus) -> list[list[str]]:
    return [corpus.vocab.decode(corpus.sentences.sentence(i)) for i in range(len(corpus.sentences))]


# --- pydocs -------------------------------------------------------------------------------------


def test_pydocs_is_large_real_prose_and_deterministic():
    first = load_corpus("pydocs")
    assert first.n_tokens >= 200_000
    assert len(first.vocab) > 5_000
    lengths = first.sentences.lengths
    assert lengths.min() >= pydocs.PYDOCS_MIN_TOKENS and lengths.max() <= pydocs.PYDOCS_MAX_TOKENS
    assert first.provenance["source"] == "pydocs" and first.provenance["python"]
    counts = np.bincount(first.sentences.ids, minlength=len(first.vocab))
    assert counts[first.vocab.index["the"]] > 5_000  # English prose
    assert counts[0] == 0  # the vocabulary covers every token: no cut-off
    assert (counts[1:] == 1).sum() > 1_000  # and keeps a long tail of words seen once

    pydocs.pydocs_sentences.cache_clear()
    corpora._pydocs_corpus.cache_clear()
    second = load_corpus("pydocs")
    assert second is not first and second.fingerprint == first.fingerprint
    # A fresh interpreter, which has imported far fewer modules than pytest, reads the same text.
    script = "from cliffwatch.data.corpora import load_corpus; print(load_corpus('pydocs').fingerprint)"
    fresh = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert fresh.stdout.strip() == first.fingerprint


def test_pydocs_drops_doctests_code_and_markup():
    text = pydocs._prose(
        "Return the sum of :func:`~math.fsum` and ``x``.\n\n"
        "Example::\n\n    total = add(1, 2)\n\n"
        ">>> add(1, 2)\n3\n\n"
        ".. versionadded:: 3.2\n"
        "Heading\n=======\n"
        "The *value* is kept."
    )
    sentences = [" ".join(pydocs.tokenize(s)) for s in pydocs.split_sentences(text)]
    assert sentences == ["return the sum of math.fsum and x .", "example :", "the value is kept ."]


def test_pydocs_max_sentences_keeps_the_first_sentences():
    small = load_corpus("pydocs", max_sentences=50)
    full = load_corpus("pydocs")
    assert len(small.sentences) == 50
    assert decoded(small) == decoded(full)[:50]
    assert len(small.vocab) < len(full.vocab)


def test_cached_corpus_cannot_be_edited_in_place():
    with pytest.raises(ValueError):
        load_corpus("pydocs").sentences.ids[0] = 1


# --- user files ---------------------------------------------------------------------------------


def write_arrow_stream(path, table):
    with pa.OSFile(str(path), "wb") as sink, pyarrow.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


def write_dataset_folder(folder, texts, *, arrow_file_format=False):
    """A folder as Hugging Face ``Dataset.save_to_disk`` writes it (an Arrow stream plus JSON metadata)."""
    folder.mkdir(parents=True)
    table = pa.table({"id": list(range(len(texts))), "text": texts})
    if arrow_file_format:
        with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink, pyarrow.ipc.new_file(
            sink, table.schema
        ) as writer:
            writer.write_table(table)
    else:
        write_arrow_stream(folder / "data-00000-of-00001.arrow", table)
    (folder / "dataset_info.json").write_text(json.dumps({"features": {"text": {"dtype": "string"}}}))
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    return folder


@pytest.fixture
def files(tmp_path):
    txt = tmp_path / "notes.txt"
    txt.write_text("\n\n".join(TEXTS) + "\n", encoding="utf-8")
    jsonl = tmp_path / "notes.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(TEXTS)) + "\n")
    parquet = tmp_path / "notes.parquet"
    pyarrow.parquet.write_table(pa.table({"text": TEXTS, "n": [1, 2, 3]}), parquet)
    csv = tmp_path / "notes.csv"
    csv.write_text("n,text\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(TEXTS)))
    dataset = write_dataset_folder(tmp_path / "notes_dataset", TEXTS)
    arrow_file_dataset = write_dataset_folder(tmp_path / "notes_arrow_file", TEXTS, arrow_file_format=True)
    dataset_dict = tmp_path / "notes_dict"
    write_dataset_folder(dataset_dict / "train", TEXTS)
    write_dataset_folder(dataset_dict / "test", ["Other words entirely."])
    (dataset_dict / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    array = tmp_path / "notes.json"  # one JSON array of records
    array.write_text(json.dumps([{"text": t, "n": i} for i, t in enumerate(TEXTS)]))
    gzipped = tmp_path / "notes.jsonl.gz"  # datatrove's default output
    gzipped.write_bytes(gzip.compress(jsonl.read_bytes()))
    parquet_shards = tmp_path / "notes_hub" / "data"  # a hub download: data/train-*.parquet, data/test-*.parquet
    parquet_shards.mkdir(parents=True)
    pyarrow.parquet.write_table(pa.table({"text": TEXTS[:2]}), parquet_shards / "train-00000-of-00002.parquet")
    pyarrow.parquet.write_table(pa.table({"text": TEXTS[2:]}), parquet_shards / "train-00001-of-00002.parquet")
    pyarrow.parquet.write_table(pa.table({"text": ["Other words entirely."]}), parquet_shards / "test-00000-of-00001.parquet")
    (tmp_path / "notes_hub" / "README.md").write_text("# card\n")
    jsonl_shards = tmp_path / "notes_shards"
    jsonl_shards.mkdir()
    for i, t in enumerate(TEXTS):
        (jsonl_shards / f"{i:05d}.jsonl.gz").write_bytes(gzip.compress((json.dumps({"text": t}) + "\n").encode()))
    return {"txt": txt, "jsonl": jsonl, "parquet": parquet, "csv": csv, "hf-dataset": dataset,
            "arrow-file": arrow_file_dataset, "dataset-dict": dataset_dict, "json": array, "jsonl.gz": gzipped,
            "parquet-shards": tmp_path / "notes_hub", "jsonl-shards": jsonl_shards}


@pytest.mark.parametrize("kind", ["txt", "jsonl", "parquet", "csv", "hf-dataset", "arrow-file", "dataset-dict", "json",
                                  "jsonl.gz", "parquet-shards", "jsonl-shards"])
def test_each_format_loads_the_same_sentences(files, kind):
    corpus = load_corpus(files[kind])
    assert decoded(corpus) == SENTENCES
    assert corpus.facts is None
    assert corpus.provenance["path"].endswith(files[kind].name)
    # The fingerprint is of the content, not of the file: every format gives the same one.
    assert corpus.fingerprint == load_corpus(files["txt"]).fingerprint


def test_fingerprint_changes_with_content_and_max_sentences_truncates(files, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("The cat sat on the mat.")
    assert load_corpus(other).fingerprint != load_corpus(files["txt"]).fingerprint
    assert decoded(load_corpus(files["jsonl"], max_sentences=2)) == SENTENCES[:2]


def test_text_in_another_field(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"content": "Hello there."}) + "\n" + json.dumps({"content": None}) + "\n")
    assert decoded(load_corpus(path, field="content")) == [["hello", "there", "."]]


def expect_data_error(source, *fragments, **kwargs):
    with pytest.raises(DataError) as caught:
        load_corpus(source, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_file_and_folder_that_is_not_a_dataset(tmp_path):
    expect_data_error(tmp_path / "absent.txt", "absent.txt", "no such file")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "readme.md").write_text("hi")
    expect_data_error(tmp_path / "folder", "folder", "not a Hugging Face dataset")


def test_binary_and_non_utf8_files(tmp_path):
    binary = tmp_path / "model.txt"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    expect_data_error(binary, "model.txt", "binary", "offset 4")
    latin1 = tmp_path / "latin.txt"
    latin1.write_bytes("first line\ncaf\xe9 au lait\n".encode("latin-1"))
    expect_data_error(latin1, "latin.txt:2:", "not UTF-8", "0xe9", "offset 14")
    latin_csv = tmp_path / "latin.csv"
    latin_csv.write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    expect_data_error(latin_csv, "latin.csv:2:", "not UTF-8")


def test_bad_jsonl_lines_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "Fine."}\n{"text": "Broken\n')
    expect_data_error(path, "bad.jsonl:2:", "not valid JSON")
    path.write_text('{"text": "Fine."}\n\n{"body": "No text field."}\n')
    expect_data_error(path, "bad.jsonl:3:", "no 'text' field")
    path.write_text('{"text": "Fine."}\n{"text": 42}\n')
    expect_data_error(path, "bad.jsonl:2:", "'text' is a int")
    path.write_text('["a list"]\n')
    expect_data_error(path, "bad.jsonl:1:", "no 'text' field")


def test_missing_or_non_text_columns(files, tmp_path):
    expect_data_error(files["parquet"], "notes.parquet", "no column 'body'", "columns: text, n", field="body")
    expect_data_error(files["csv"], "notes.csv", "no column 'body'", field="body")
    expect_data_error(files["hf-dataset"], "data-00000-of-00001.arrow", "no column 'body'", field="body")
    expect_data_error(files["parquet"], "notes.parquet", "column 'n' holds int64, not text", field="n")


def test_unreadable_and_unsupported_files(files, tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    expect_data_error(broken, "broken.parquet", "unreadable parquet")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("text,n\nhello,1,extra\n")
    expect_data_error(ragged, "ragged.csv", "unreadable csv")
    expect_data_error(tmp_path / "notes.docx", "notes.docx", "no such file")
    (tmp_path / "notes.docx").write_text("x")
    expect_data_error(tmp_path / "notes.docx", "notes.docx", "unsupported file type '.docx'")
    (files["hf-dataset"] / "data-00000-of-00001.arrow").write_bytes(b"garbage")
    expect_data_error(files["hf-dataset"], "data-00000-of-00001.arrow", "not an Arrow file")
    (files["dataset-dict"] / "dataset_dict.json").write_text(json.dumps({"splits": ["validation"]}))
    expect_data_error(files["dataset-dict"], "notes_dict", "no 'train'")


def test_empty_and_too_small_corpora(files, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    expect_data_error(empty, "empty.txt", "no sentences")
    blank_texts = tmp_path / "blank.jsonl"
    blank_texts.write_text(json.dumps({"text": ""}) + "\n")
    expect_data_error(blank_texts, "blank.jsonl", "no sentences")
    expect_data_error(files["txt"], "notes.txt", "only 21 tokens, need at least 1000", min_tokens=1000)
    expect_data_error("pydocs", "pydocs", "only", min_tokens=10**9)
    expect_data_error(files["txt"], "max_sentences", max_sentences=0)


def test_builtin_corpora_are_kept_on_disk_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    monkeypatch.setenv(corpus_cache.CACHE_ENV, str(tmp_path / "cache"))
    built = corpora._facts_corpus.__wrapped__(500)  # the disk layer, below the in-process cache
    kept = sorted((tmp_path / "cache").glob("corpus-*.pickle"))
    assert len(kept) == 1
    again = corpora._facts_corpus.__wrapped__(500)
    assert again is not built  # read back from the file
    assert again.fingerprint == built.fingerprint and again.vocab.words == built.vocab.words
    assert np.array_equal(again.facts.answers.ids, built.facts.answers.ids)
    assert not again.sentences.ids.flags.writeable
    kept[0].write_bytes(b"not a pickle")  # damaged: built again, and the file repaired
    assert corpora._facts_corpus.__wrapped__(500).fingerprint == built.fingerprint
    assert corpora._facts_corpus.__wrapped__(500).fingerprint == built.fingerprint
    assert kept[0].read_bytes()[:1] != b"n"


def test_corpus_cache_can_be_off_or_unwritable(tmp_path, monkeypatch):
    monkeypatch.setenv(corpus_cache.CACHE_ENV, "off")
    assert corpus_cache.cache_dir() is None
    assert corpora._facts_corpus.__wrapped__(300).n_tokens > 0
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv(corpus_cache.CACHE_ENV, str(blocked / "cache"))
    assert corpora._facts_corpus.__wrapped__(300).n_tokens > 0  # built; nothing kept, no error
    assert blocked.read_text().startswith("a file")


def test_a_first_run_builds_the_missing_builtin_parts_side_by_side(tmp_path, monkeypatch):
    monkeypatch.setenv(corpus_cache.CACHE_ENV, str(tmp_path / "cache"))
    parts = ("pydocs", "facts")
    assert not any(corpora._kept_path(name, 400).exists() for name in parts)
    combined = corpora._combined_builtins.__wrapped__(parts, 400)  # below the in-process cache
    assert all(corpora._kept_path(name, 400).exists() for name in parts)  # kept by the forked builders
    # the same corpus as the builders give in this process, one after the other, with no cache
    again = corpora.combine([corpora._BUILDERS[name].__wrapped__.__wrapped__(400) for name in parts])
    assert again.fingerprint == combined.fingerprint and again.vocab.words == combined.vocab.words
    assert np.array_equal(again.sentences.ids, combined.sentences.ids)


def test_a_5_mb_row_reads_and_limits_name_the_line(tmp_path):
    big = "word " * 1_000_000 + "end."
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"text": "First line here."}) + "\n" + json.dumps({"text": big}) + "\n")
    assert len(load_corpus(path).sentences) == 2
    path.write_bytes(b'{"text": "fine"}\n{"text": "bad \xff byte"}\n')
    expect_data_error(path, "big.jsonl:2:", "not UTF-8")
    path.write_text('{"text": "fine"}\n{"text": "a", "x": ' + "[" * 5000 + "]" * 5000 + "}\n")
    expect_data_error(path, "big.jsonl:2:", "nested 5001 levels deep")
    path.write_text('{"text": "brackets in a string are text: ' + "[" * 5000 + '"}\n')
    assert load_corpus(path).n_tokens > 0
