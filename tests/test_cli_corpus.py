"""Bad text input through the CLI: exit 2, one line naming the file (and line), no run directory."""

import json

import yaml

from conftest import invoke


def config_for(tmp_path, corpus: str, **extra) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"family": {"name": "ngram"}, "data": {"source": "corpus", "corpus": corpus},
                                    "generations": 1, "holdout": 50, **extra}))
    return path


def expect_error(tmp_path, monkeypatch, capsys, corpus, *needles, **extra):
    code, _, err = invoke(monkeypatch, capsys, "run", config_for(tmp_path, corpus, **extra), "--out", tmp_path / "run", "-q")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    for needle in needles:
        assert needle in err
    assert not (tmp_path / "run").exists()


def test_missing_file(tmp_path, monkeypatch, capsys):
    expect_error(tmp_path, monkeypatch, capsys, str(tmp_path / "nope.txt"), "nope.txt")


def test_jsonl_line_without_the_text_field(tmp_path, monkeypatch, capsys):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"text": "A fine sentence here."}) + "\n" + json.dumps({"body": "no text"}) + "\n")
    expect_error(tmp_path, monkeypatch, capsys, str(path), "data.jsonl:2", "text")


def test_non_utf8_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "latin.txt"
    path.write_bytes("Caf\xe9 au lait is a drink.".encode("latin-1"))
    expect_error(tmp_path, monkeypatch, capsys, str(path), "latin.txt", "UTF-8")


def test_corpus_too_small_for_the_holdout(tmp_path, monkeypatch, capsys):
    path = tmp_path / "small.txt"
    path.write_text("One sentence here. Another sentence there. A third one too.")
    expect_error(tmp_path, monkeypatch, capsys, str(path), "small.txt", "holdout")


def test_a_small_user_corpus_runs(tmp_path, monkeypatch, capsys):
    path = tmp_path / "corpus.jsonl"
    words = "the quick brown fox jumps over the lazy dog while a cat sleeps on the warm mat".split()
    lines = [json.dumps({"text": " ".join(words[i % 5: i % 5 + 8]).capitalize() + "."}) for i in range(300)]
    path.write_text("\n".join(lines) + "\n")
    code, out, err = invoke(monkeypatch, capsys, "run", config_for(tmp_path, str(path), policy={"samples": 100}),
                            "--out", tmp_path / "run", "-q")
    assert code == 0, err
    assert "heldout_ppl" in out


def test_a_gzipped_jsonl_corpus_and_a_folder_of_shards_run(tmp_path, monkeypatch, capsys):
    import gzip

    words = "the quick brown fox jumps over the lazy dog while a cat sleeps on the warm mat".split()
    lines = [json.dumps({"text": " ".join(words[i % 5: i % 5 + 8]).capitalize() + "."}) for i in range(300)]
    (tmp_path / "corpus.jsonl.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    shards = tmp_path / "shards"  # datatrove's layout: numbered .jsonl.gz shards
    shards.mkdir()
    for i in range(3):
        (shards / f"{i:05d}.jsonl.gz").write_bytes(gzip.compress(("\n".join(lines[i::3]) + "\n").encode()))
    for corpus, out in ((tmp_path / "corpus.jsonl.gz", "run-gz"), (shards, "run-shards")):
        code, printed, err = invoke(monkeypatch, capsys, "run", config_for(tmp_path, str(corpus), policy={"samples": 100}),
                                    "--out", tmp_path / out, "-q")
        assert code == 0, err
        assert "heldout_ppl" in printed


def test_a_fifo_inside_a_folder_of_shards(tmp_path, monkeypatch, capsys):
    import os

    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "00000.jsonl").write_text(json.dumps({"text": "A fine sentence here."}) + "\n")
    os.mkfifo(shards / "00001.jsonl")
    expect_error(tmp_path, monkeypatch, capsys, str(shards), "00001.jsonl: not a regular file (a FIFO")
