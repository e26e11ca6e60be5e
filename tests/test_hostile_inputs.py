"""Hostile inputs: every invalid config, YAML file or corpus file is a ConfigError or DataError with
one bounded line naming the file and the field; nothing ends in another exception or a hang."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import invoke
from cliffwatch.config.load import parse, read_yaml
from cliffwatch.config.schema import CompareConfig, ExperimentConfig, SweepConfig
from cliffwatch.core.errors import MAX_MESSAGE, ConfigError, DataError
from cliffwatch.core.registry import FAMILIES, FILTERS, SOURCES
from cliffwatch.data.corpora import load_corpus

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.function_scoped_fixture])

GAUSS = {"name": "g", "family": {"name": "gaussian"}, "data": {"source": "gaussian", "dim": 2},
         "policy": {"synthetic_fraction": 0.5, "samples": 50}, "generations": 2, "seeds": 2, "chains": 2,
         "probes": ["moments"]}
BASES = {
    ExperimentConfig: [GAUSS,
                       {**GAUSS, "family": {"name": "kde"}},
                       {**GAUSS, "family": {"name": "gmm"}, "data": {"source": "digits"}},
                       {**GAUSS, "family": {"name": "categorical"}, "data": {"source": "zipf"}, "probes": None},
                       {**GAUSS, "family": {"name": "categorical"}, "data": {"source": "categorical", "probs": [1, 2]},
                        "probes": None},
                       {**GAUSS, "family": {"name": "ngram"}, "data": {"source": "corpus"}, "chains": 1, "probes": None,
                        "policy": {"samples": 50, "filters": [{"name": "dedup"}, {"name": "self_score"}]}}],
    SweepConfig: [{**GAUSS, "sweep": {"policy.synthetic_fraction": [0.0, 0.5, 1.0]}, "cliff": {"tolerance": 0.1},
                   "cost": {"human_price": 1.0}}],
    CompareConfig: [{**GAUSS, "routes": {"baseline": None, "anchor": {"policy.human": "fresh"}}}],
}
HOSTILE = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-2**70, max_value=2**70), st.sampled_from([0, -1, 10**12, 2**63, 10**6]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([float("nan"), float("inf"), -0.0, 1e308]),
    st.text(max_size=40), st.sampled_from(["..", "../x", "/abs", "a\0b", "x" * 300, "", " ", "a/b"]),
    st.lists(st.integers(-3, 3), max_size=5), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=2), max_leaves=30),
)
PATHS = ["name", "generations", "seeds", "chains", "holdout", "probe_samples", "probes", "policy.synthetic_fraction",
         "policy.samples", "policy.temperature", "policy.top_p", "policy.mode", "policy.generators", "policy.filters",
         "family.name", "data.dim", "data.mean", "data.variance", "data.correlation", "data.support", "data.exponent",
         "data.probs", "data.components", "data.corpus", "data.field", "data.max_sentences", "sweep",
         "sweep.policy.synthetic_fraction", "cliff.tolerance", "cliff.metric", "cliff.generation",
         "cost.human_price", "cost.synthetic_price", "cost.currency", "routes", "routes.anchor", "nonsense"]
PARAMS = sorted({f for registry in (FAMILIES, FILTERS) for name in registry.names()
                 for f in registry.get(name).Params.model_fields} | {"bandwidth", "order", "components"})


def _set(raw: dict, path: str, value) -> dict:
    raw = json.loads(json.dumps(raw))
    node, parts = raw, path.split(".")
    if parts[0] == "sweep" and len(parts) > 1:  # a grid path is one key
        parts = ["sweep", ".".join(parts[1:])]
    for part in parts[:-1]:
        node = node.setdefault(part, {}) if isinstance(node.get(part), dict) or part not in node else node[part]
        if not isinstance(node, dict):
            return raw
    node[parts[-1]] = value
    return raw


def _assert_one_line(err: Exception, source: str) -> None:
    message = str(err)
    assert "\n" not in message and len(message) <= MAX_MESSAGE
    assert message.startswith(source), message


@FUZZ
@given(model=st.sampled_from(list(BASES)), data=st.data(), path=st.sampled_from(PATHS), value=HOSTILE)
def test_every_config_model_rejects_hostile_values_in_one_line(model, data, path, value):
    raw = _set(data.draw(st.sampled_from(BASES[model])), path, value)
    try:
        config = parse(model, raw, "c.yaml")
    except ConfigError as err:
        _assert_one_line(err, "c.yaml: ")
        return
    # what loads is sane: a run folder under runs/, finite numbers, bounded work
    assert "/" not in config.name and ".." not in config.name and "\0" not in config.name
    assert config.generations <= 1000 and len(config.seeds) == len(set(config.seeds)) <= 1000


@FUZZ
@given(data=st.data(), field=st.sampled_from(PARAMS), value=HOSTILE)
def test_every_component_knob_rejects_hostile_values_in_one_line(data, field, value):
    base = data.draw(st.sampled_from(BASES[ExperimentConfig]))
    if data.draw(st.booleans()):
        raw = _set(base, f"family.{field}", value)
    else:
        raw = _set(base, "policy.filters", [{"name": data.draw(st.sampled_from(FILTERS.names())), field: value}])
    try:
        parse(ExperimentConfig, raw, "c.yaml")
    except ConfigError as err:
        _assert_one_line(err, "c.yaml: ")


@pytest.mark.parametrize("path, value, expected", [
    ("seeds", [0, 0, 1], "seeds: seed 0 appears more than once"),
    ("seeds", 10**12, "seeds: at most 1,000"),
    ("seeds", [2**63], "at most 4,294,967,295"),
    ("seeds", [-1], "greater than or equal to 0"),
    ("generations", 10**12, "generations: at most 1,000: every generation is a fit"),
    ("name", "../escape", "name: letters, digits"),
    ("name", "/abs/path", "name: letters"),
    ("name", "a\0b", "name: letters"),
    ("name", "x" * 300, "name: at most 100 characters"),
    ("data.dim", 10**9, "data.dim: at most 4,096"),
    ("data.variance", [1.0, 2.0, 3.0], "data: variance: 3 values for dim 2"),
    ("data", {"source": "gaussian", "dim": 3, "correlation": -0.9}, "data: correlation: must exceed -0.5"),
    ("family", {"name": "kde", "bandwidth": 0}, "family.bandwidth"),
    ("family", {"name": "kde", "bandwidth": -1}, "family.bandwidth"),
    ("family", {"name": "ngram", "order": 100}, "family.order: at most 10"),
    ("policy.temperature", float("nan"), "policy.temperature: Input should be a finite number"),
])
def test_named_hostile_configs(path, value, expected):
    raw = _set(GAUSS, path, value)
    if path == "family" and value["name"] == "ngram":
        raw = {**raw, "data": {"source": "corpus"}, "chains": 1, "probes": None}
    with pytest.raises(ConfigError, match=None) as info:
        parse(ExperimentConfig, raw, "c.yaml")
    assert expected in str(info.value)
    _assert_one_line(info.value, "c.yaml: ")


@pytest.mark.parametrize("sweep, expected", [
    ({"policy.synthetic_fraction": [0.0, 0.0, 1.0]}, "sweep.policy.synthetic_fraction: 0.0 appears more than once"),
    ({"policy.synthetic_fraction": [0, 0.0, 1.0]}, "appears more than once"),
    ({"policy.synthetic_fraction": [0.0, 1.0], "policy.samples": list(range(1, 1001)),
      "policy.temperature": [0.5, 1.0, 2.0, 3.0, 4.0, 5.0]}, "sweep: 24,000 lineages"),
])
def test_grids_with_repeated_or_too_many_points_are_rejected(sweep, expected):
    with pytest.raises(ConfigError) as info:
        parse(SweepConfig, {**GAUSS, "sweep": sweep}, "s.yaml")
    assert expected in str(info.value)
    _assert_one_line(info.value, "s.yaml: ")


def test_cliff_and_cost_need_finite_numbers_and_a_metric():
    for cliff, cost in (({"tolerance": float("inf")}, {}), ({"metric": ""}, {}), ({}, {"human_price": float("inf")}),
                        ({}, {"synthetic_price": float("nan")})):
        with pytest.raises(ConfigError):
            parse(SweepConfig, {**GAUSS, "sweep": {"policy.synthetic_fraction": [0.0, 1.0]}, "cliff": cliff,
                                "cost": cost}, "s.yaml")


# ---- the YAML loader -----------------------------------------------------------------------------


@FUZZ
@given(text=st.text(alphabet=string.printable + "é\u2028\0", max_size=300))
def test_the_yaml_loader_never_raises_anything_but_a_config_error(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        raw = read_yaml(path)
    except ConfigError as err:
        _assert_one_line(err, str(path))
        return
    assert isinstance(raw, dict)


@pytest.mark.parametrize("text, expected", [
    ("a: " + "[" * 10_000 + "]" * 10_000, "nested more than 32 levels deep"),
    ("a: " + "9" * 5000, "invalid value"),
    ("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefghijklmn", "bcdefghijklmno")), "more than 100 YAML aliases"),
])
def test_yaml_bombs_are_refused_before_they_are_built(tmp_path, text, expected):
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    assert expected in str(info.value)
    _assert_one_line(info.value, str(path))


def test_a_fifo_a_device_a_folder_and_a_huge_file_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    device = tmp_path / "zero.yaml"
    device.symlink_to("/dev/zero")
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * (2 << 20))
    for path, expected in ((fifo, "not a regular file"), (device, "not a regular file"),
                           (tmp_path, "not a regular file"), (big, "bytes; a config file is at most")):
        with pytest.raises(ConfigError, match=expected):
            read_yaml(path)


def test_crlf_configs_load_like_lf_ones(tmp_path):
    lf = yaml.safe_dump(GAUSS)
    (tmp_path / "lf.yaml").write_text(lf)
    (tmp_path / "crlf.yaml").write_bytes(lf.replace("\n", "\r\n").encode())
    assert read_yaml(tmp_path / "crlf.yaml") == read_yaml(tmp_path / "lf.yaml")


# ---- corpus readers --------------------------------------------------------------------------------

# paragraphs without a full stop end at a blank line, which CRLF used to hide
CORPUS = "A heading without a stop\n\nThe river runs north to the sea. A red fox\ncrossed the road at night\n\n" * 20


@FUZZ
@given(suffix=st.sampled_from([".txt", ".jsonl", ".csv", ".parquet"]), content=st.binary(max_size=400))
def test_corpus_readers_never_raise_anything_but_a_data_error(tmp_path, suffix, content):
    path = tmp_path / f"corpus{suffix}"
    path.write_bytes(content)
    try:
        load_corpus(path)
    except DataError as err:
        _assert_one_line(err, str(path))


@FUZZ
@given(records=st.lists(st.one_of(st.text(max_size=30), st.integers(), st.none(), st.recursive(
    st.text(max_size=5), lambda inner: st.dictionaries(st.text(max_size=4), inner, max_size=2), max_leaves=5)),
    max_size=8))
def test_jsonl_reader_takes_any_records(tmp_path, records):
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps({"text": r} if i % 2 else r) for i, r in enumerate(records)))
    try:
        load_corpus(path)
    except DataError as err:
        _assert_one_line(err, str(path))


@pytest.mark.parametrize("name, content, expected", [
    ("deep.jsonl", '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "nested 100001 levels deep"),
    ("bigint.jsonl", '{"text": "a", "n": ' + "7" * 5000 + "}\n", "unreadable JSON"),
    ("dup.csv", "text,text\nhello there,general kenobi\n", "columns are named 'text'"),
])
def test_hostile_corpus_files_are_named(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=expected) as info:
        load_corpus(path)
    _assert_one_line(info.value, str(path))


def test_malformed_dataset_metadata_is_named(tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    for content, expected in (("[1, 2]", "not a JSON object"), ('{"splits": "train"}', "'splits' must be a list")):
        (folder / "dataset_dict.json").write_text(content)
        with pytest.raises(DataError, match=expected):
            load_corpus(folder)
    (folder / "dataset_dict.json").unlink()
    (folder / "state.json").write_text('{"_data_files": [{"filename": "../../etc/passwd"}]}')
    with pytest.raises(DataError, match="not a plain file name"):
        load_corpus(folder)


def test_fifo_and_endless_device_corpora_are_refused(tmp_path):
    os.mkfifo(tmp_path / "fifo.txt")
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    for name in ("fifo.txt", "zero.txt"):
        with pytest.raises(DataError, match="not a regular file"):
            load_corpus(tmp_path / name)


def test_crlf_corpus_splits_like_the_lf_one(tmp_path):
    (tmp_path / "lf.txt").write_text(CORPUS)
    (tmp_path / "crlf.txt").write_bytes(CORPUS.replace("\n", "\r\n").encode())
    crlf, lf = load_corpus(tmp_path / "crlf.txt"), load_corpus(tmp_path / "lf.txt")
    assert crlf.fingerprint == lf.fingerprint and len(crlf.sentences) == len(lf.sentences) == 60


def test_cli_names_the_config_field_of_a_bad_corpus(tmp_path, monkeypatch, capsys):
    os.mkfifo(tmp_path / "fifo.txt")
    config = {"name": "t", "family": {"name": "ngram"}, "data": {"source": "corpus", "corpus": str(tmp_path / "fifo.txt")},
              "generations": 1, "probes": ["text_fidelity"]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    code, _, err = invoke(monkeypatch, capsys, "run", tmp_path / "c.yaml", "--out", tmp_path / "run", "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "data.corpus" in err and "fifo.txt: not a regular file" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args", [["bogus"], ["run"], ["sweep", "x.yaml", "--wrkers", "2"],
                                  ["sweep", "x.yaml", "--workers", "-1"]])
def test_usage_errors_are_one_line_with_exit_2(monkeypatch, capsys, args):
    code, out, err = invoke(monkeypatch, capsys, *args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_version(monkeypatch, capsys):
    from cliffwatch import __version__

    code, out, _ = invoke(monkeypatch, capsys, "--version")
    assert code == 0 and out.strip() == f"cliffwatch {__version__}"
