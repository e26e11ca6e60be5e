"""Bringing your own data, as a user meets it (docs/your-data.md): paths relative to the config file,
the same sentences in any format give the same lineages and results, a warning when a finite pool
cannot supply the draws, and a config of the wrong kind names the command that runs it."""

import gzip
import json
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import invoke
from cliffwatch import api
from cliffwatch.config.load import load_config, load_sweep
from cliffwatch.core.errors import CliffwatchWarning, ConfigError

WORDS = "the a cat dog sat on mat river runs fast slow green blue house tree under over near far big".split()


def sentences(n: int = 300) -> list[str]:
    import random

    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9))).capitalize() + "." for _ in range(n)]


def write_formats(folder, texts):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text(" ".join(texts))  # running text: split into sentences
    (folder / "notes.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    pq.write_table(pa.table({"text": texts}), folder / "notes.parquet")
    (folder / "notes.jsonl.gz").write_bytes(gzip.compress((folder / "notes.jsonl").read_bytes()))
    (folder / "shards").mkdir()
    half = len(texts) // 2
    pq.write_table(pa.table({"text": texts[:half]}), folder / "shards" / "train-00000-of-00002.parquet")
    pq.write_table(pa.table({"text": texts[half:]}), folder / "shards" / "train-00001-of-00002.parquet")


def config(corpus: str, **policy) -> dict:
    return {"name": "mine", "family": {"name": "ngram", "order": 2},
            "data": {"source": "corpus", "corpus": corpus},
            "policy": {"synthetic_fraction": 0.5, "samples": 100, **policy},
            "generations": 2, "seeds": 1, "holdout": 50, "probe_samples": 50, "probes": ["text_fidelity", "text_diversity"]}


def test_a_relative_corpus_path_resolves_against_the_config_file(tmp_path, monkeypatch, capsys):
    write_formats(tmp_path / "project" / "data", sentences())
    path = tmp_path / "project" / "exp.yaml"
    path.write_text(yaml.safe_dump(config("data/notes.txt")))
    monkeypatch.chdir(tmp_path)  # not the config's folder
    assert load_config(path).data.corpus == str(tmp_path / "project" / "data" / "notes.txt")
    code, _, stderr = invoke(monkeypatch, capsys, "run", path, "--out", tmp_path / "run", "-q")
    assert code == 0, stderr


def test_builtin_corpus_names_are_not_paths(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config("pydocs+facts")))
    assert load_config(path).data.corpus == "pydocs+facts"


def test_swept_corpus_paths_resolve_too(tmp_path):
    path = tmp_path / "sub" / "sweep.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({**config("a.txt"), "sweep": {"data.corpus": ["a.txt", "/abs/b.txt", "facts"], "policy.synthetic_fraction": [0, 1]}}))
    assert load_sweep(path).sweep["data.corpus"] == [str(tmp_path / "sub" / "a.txt"), "/abs/b.txt", "facts"]


def test_the_same_sentences_in_any_format_or_place_give_the_same_lineages_and_results(tmp_path):
    texts = sentences()
    write_formats(tmp_path / "a", texts)
    write_formats(tmp_path / "elsewhere", texts)
    runs = {}
    for name, corpus in [("txt", tmp_path / "a" / "notes.txt"), ("jsonl", tmp_path / "a" / "notes.jsonl"),
                         ("parquet", tmp_path / "a" / "notes.parquet"), ("gzipped", tmp_path / "a" / "notes.jsonl.gz"),
                         ("shards", tmp_path / "a" / "shards"), ("moved", tmp_path / "elsewhere" / "notes.txt")]:
        cfg = api.load(_write(tmp_path / f"{name}.yaml", config(str(corpus))))
        result = api.run(cfg, tmp_path / name, progress=False)
        runs[name] = (sorted(result.outcome.finished), api.results(result.run_dir)["value"].to_numpy())
    ids, values = runs["txt"]
    for name, (other_ids, other_values) in runs.items():
        assert other_ids == ids, name
        assert np.array_equal(other_values, values, equal_nan=True), name


def test_different_content_gives_a_different_lineage(tmp_path):
    write_formats(tmp_path / "a", sentences())
    write_formats(tmp_path / "b", sentences()[:-1])
    from cliffwatch.loop.lineage import Lineage

    keys = {Lineage(api.load(_write(tmp_path / f"{n}.yaml", config(str(tmp_path / n / "notes.txt")))), 0).key for n in "ab"}
    assert len(keys) == 2


def _write(path, raw):
    path.write_text(yaml.safe_dump(raw))
    return path


def test_draws_beyond_a_finite_pool_warn_cli(tmp_path, monkeypatch, capsys):
    write_formats(tmp_path / "d", sentences(300))  # 250 in the pool after the holdout of 50
    path = _write(tmp_path / "fresh.yaml", {**config("d/notes.txt", human="fresh"), "generations": 4})
    # fresh at s = 0.5: 100 at generation 0 + 4 x 50 = 300 > 250
    code, _, stderr = invoke(monkeypatch, capsys, "run", path, "--out", tmp_path / "run", "-q")
    assert code == 0
    line = next(line for line in stderr.splitlines() if line.startswith("warning:"))
    assert "the human pool holds 250 items after the 50 held out" in line
    assert "human: fresh at s = 0.5 draws 300 over 4 generations" in line and "notes.txt" in line
    # the dry run says it too, before anything runs
    code, stdout, _ = invoke(monkeypatch, capsys, "run", path, "--out", tmp_path / "dry", "--dry-run")
    assert "warning: " in stdout and "draws 300" in stdout and not (tmp_path / "dry").exists()


def test_draws_beyond_a_finite_pool_warn_python(tmp_path):
    write_formats(tmp_path / "d", sentences(300))
    path = _write(tmp_path / "big.yaml", config("d/notes.txt", samples=400))
    with pytest.warns(CliffwatchWarning, match="generation 0 alone draws 400"):
        api.run(path, tmp_path / "run", progress=False)


def test_draws_within_the_pool_do_not_warn(tmp_path):
    write_formats(tmp_path / "d", sentences(300))
    path = _write(tmp_path / "ok.yaml", config("d/notes.txt", human="fresh"))  # 100 + 2 x 50 = 200 <= 250
    with warnings.catch_warnings():
        warnings.simplefilter("error", CliffwatchWarning)
        api.run(path, tmp_path / "run", progress=False)


GAUSS = {"name": "g", "family": {"name": "gaussian"}, "data": {"source": "gaussian", "dim": 1}, "generations": 1}


@pytest.mark.parametrize("command, raw, says", [
    ("run", {**GAUSS, "sweep": {"policy.synthetic_fraction": [0, 1]}}, "a sweep config (it has sweep:), not a run config; run it with `cliffwatch sweep"),
    ("run", {**GAUSS, "routes": {"a": {}}}, "a compare config (it has routes:), not a run config; run it with `cliffwatch compare"),
    ("run", {**GAUSS, "cost": {"human_price": 1}}, "`cost:` belongs to a sweep config, not a run config; run it with `cliffwatch sweep"),
    ("run", {**GAUSS, "cliff": {"tolerance": 0.2}}, "`cliff:` belongs to a sweep config, not a run config; run it with `cliffwatch sweep"),
    ("sweep", {**GAUSS, "routes": {"a": {}}}, "a compare config (it has routes:), not a sweep config; run it with `cliffwatch compare"),
])
def test_a_config_of_the_wrong_kind_names_the_right_command(tmp_path, monkeypatch, capsys, command, raw, says):
    path = _write(tmp_path / "c.yaml", raw)
    code, _, stderr = invoke(monkeypatch, capsys, command, path, "--out", tmp_path / "r")
    assert code == 2 and says in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_the_wrong_kind_through_python(tmp_path):
    path = _write(tmp_path / "c.yaml", {**GAUSS, "sweep": {"policy.synthetic_fraction": [0, 1]}})
    with pytest.raises(ConfigError, match="run it with `cliffwatch sweep"):
        api.run(path, tmp_path / "r", progress=False)
