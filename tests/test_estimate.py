"""cliffwatch estimate: the quantifier's calibration, the command's output and files, the audit rule,
the history monitor reads, and bad input (one line, exit 2, nothing written)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import invoke
from cliffwatch.analysis.quantify import quantify
from cliffwatch.core.errors import MAX_MESSAGE, AnalysisError, CliffwatchError, ConfigError
from cliffwatch.data.corpora import load_corpus
from cliffwatch.guard.estimate import GeneratorSpec, _chain, fit_detector

Z = 3.0  # standard errors of tolerance in the simulation checks (fixed seeds: no flakes)


@pytest.fixture(scope="module")
def pydocs():
    return load_corpus("pydocs")


@pytest.fixture(scope="module")
def files(tmp_path_factory, pydocs):
    """A human reference file, a pure-human corpus, a 40%-synthetic corpus of ngram samples, and a
    corpus in another language, as .jsonl (one document per line)."""
    from cliffwatch.core.modality import TEXT, DataInfo
    from cliffwatch.families.ngram import NgramFamily

    root = tmp_path_factory.mktemp("estimate")
    words, rng = pydocs.vocab.words, np.random.default_rng(1)
    order = rng.permutation(len(pydocs.sentences))
    # the true generator learnt from as much text as the estimator's copies of it do (a fifth of the reference)
    reference, held, other = order[:6000], order[6000:7000], order[7000:8200]
    machine = NgramFamily(DataInfo(TEXT, vocab=pydocs.vocab)).fit(pydocs.sentences.take(other), rng).sample(400, rng)

    def write(name, sentences_list):
        path = root / name
        path.write_text("".join(json.dumps({"text": " ".join(words[i] for i in s)}) + "\n" for s in sentences_list))
        return path

    def docs(sentences):
        return [sentences.sentence(i) for i in range(len(sentences)) if len(sentences.sentence(i))]

    out = {
        "reference": write("reference.jsonl", docs(pydocs.sentences.take(reference))),
        "human": write("human.jsonl", docs(pydocs.sentences.take(held))),
        "mixed": write("mixed.jsonl", docs(pydocs.sentences.take(held[:600])) + docs(machine)),
    }
    foreign = root / "foreign.jsonl"
    foreign.write_text("".join(json.dumps({"text": "der schnelle braune fuchs springt über den faulen hund"}) + "\n"
                               for _ in range(50)) + out["human"].read_text())
    out["foreign"] = foreign
    return out


# ---- calibration -----------------------------------------------------------------------------------


def test_interval_covers_at_nominal_rate_and_is_not_needlessly_wide(pydocs):
    """Seeded simulation on mixtures the loop makes: the detector is fitted once on a reference;
    each replicate picks one of 8 draws of the true generator (ngram, each learnt from its own
    1,000 documents the detector never saw) and COPIES of 8 copies of the estimator's own
    generator made as fit_detector makes them (own training draws and seeds),
    and draws fresh calibration sets and a corpus of 20,000 documents (true share 0, 0.5 or 0.9)
    from the score pools; the estimate combines the copies as estimate_with does. Fails when
    coverage drops below 95% by more than Z standard errors (one copy's interval alone covers
    about 75% here: it leaves out the generator-draw spread), and when the interval is wider than
    1.5 times what the estimates' root mean squared error needs (a needlessly wide interval covers
    too, so coverage alone cannot catch it)."""
    from cliffwatch.analysis.quantify import combine
    from cliffwatch.core.modality import TEXT, DataInfo
    from cliffwatch.data.corpora import TextCorpus
    from cliffwatch.guard.estimate import COPIES, _remap

    order = np.random.default_rng(0).permutation(len(pydocs.sentences))
    ref_idx, human_idx, unseen_idx = order[:5000], order[5000:8000], order[5000:9000]
    words = pydocs.vocab.words
    reference = TextCorpus.from_tokens("ref", [[words[i] for i in pydocs.sentences.sentence(j)] for j in ref_idx], {})
    spec = GeneratorSpec.parse("ngram")
    detector = fit_detector(reference, [spec], seed=0)
    info, ids = DataInfo(TEXT, vocab=detector.vocab), _remap(pydocs, detector.vocab)
    human_pool = np.concatenate([detector.calibration_human, detector.score(ids.take(human_idx))])
    own, true = [], []
    for j in range(8):
        draw = np.random.default_rng([1, j]).choice(len(detector.copy_training), detector.copy_size, replace=False)
        own.append(detector.score(_chain(spec, info, detector.copy_training.take(np.sort(draw)), 12_000, seed=100 + j)))
        draw = np.random.default_rng([2, j]).choice(unseen_idx, detector.copy_size, replace=False)
        true.append(detector.score(_chain(spec, info, ids.take(np.sort(draw)), 4_000, seed=200 + j)))
    rng = np.random.default_rng(2)
    n_h, n_s, size, reps = len(detector.calibration_human), len(detector.calibration_copies[0]), 20_000, 25
    covered, widths, errors = [], [], []
    for share in (0.0, 0.5, 0.9):
        k = int(round(share * size))
        for _ in range(reps):
            corpus = np.concatenate([rng.choice(true[rng.integers(len(true))], k), rng.choice(human_pool, size - k)])
            human = rng.choice(human_pool, n_h)
            e = combine([quantify(human, rng.choice(own[c], n_s), corpus)
                         for c in rng.choice(len(own), COPIES, replace=False)], detector.copy_overlap)
            covered.append(e.low <= k / size <= e.high)
            if share > 0:  # at 0 the estimates pile up on the boundary: their error is not the interval's
                widths.append(e.high - e.low)
                errors.append(e.share - k / size)
    coverage, n = np.mean(covered), len(covered)
    assert coverage >= 0.95 - Z * math.sqrt(0.95 * 0.05 / n), coverage
    rmse = math.sqrt(np.mean(np.square(errors)))
    assert np.mean(widths) <= 1.5 * 2 * 1.96 * rmse, (np.mean(widths), rmse)


def test_combine_is_the_profile_interval_for_agreeing_copies_and_widens_with_their_spread():
    """Rubin's rules: copies that agree give back the one interval; copies that disagree widen it
    by the t quantile of the between-copy spread (overlapping training draws widen it more)."""
    from cliffwatch.analysis.quantify import combine

    rng = np.random.default_rng(3)
    human, corpus = rng.normal(0, 1, 2000), np.concatenate([rng.normal(0, 1, 5000), rng.normal(2, 1, 5000)])
    one = quantify(human, rng.normal(2, 1, 2000), corpus)
    same = combine([one] * 5)
    assert (same.share, same.low, same.high, same.between_sd, same.copies) == (one.share, one.low, one.high, 0.0, 5)
    copies = [quantify(human, rng.normal(mu, 1, 2000), corpus) for mu in (1.8, 1.9, 2.0, 2.1, 2.2)]
    wide = combine(copies)
    shares = np.array([c.share for c in copies])
    assert wide.share == pytest.approx(shares.mean())
    assert wide.between_sd == pytest.approx(shares.std(ddof=1))
    assert wide.high - wide.low > max(c.high - c.low for c in copies)
    wider = combine(copies, overlap=0.5)
    assert wider.high - wider.low > wide.high - wide.low
    with pytest.raises(AnalysisError):
        combine(copies, overlap=1.0)


def test_fit_check_rejects_a_corpus_that_is_no_mixture_of_the_classes():
    rng = np.random.default_rng(3)
    shifted = quantify(rng.normal(0, 1, 2000), rng.normal(2, 1, 2000), rng.normal(-1.5, 1, 5000))
    assert not shifted.fits


def test_at_least_holds_whatever_the_unexplained_text_is():
    """The model-free lower bound stays below the true non-human share at the nominal rate when
    the corpus's machine text comes from a generator the estimate was not given, on either side of
    the given one's scores, while the two-sided interval misses."""
    rng = np.random.default_rng(6)
    held, n = [], 0
    for other in (rng.normal(4, 1, 100_000), rng.normal(1, 0.3, 100_000)):
        for _ in range(25):
            corpus = np.r_[rng.normal(0, 1, 2000), rng.choice(other, 1000)]
            e = quantify(rng.normal(0, 1, 2000), rng.normal(2, 1, 2000), corpus)
            held.append(e.at_least <= 1 / 3)
    assert np.mean(held) >= 0.95 - Z * math.sqrt(0.95 * 0.05 / len(held))


def test_acc_is_the_two_bin_case():
    rng = np.random.default_rng(4)
    e = quantify(rng.normal(0, 1, 2000), rng.normal(2, 1, 2000),
                 np.r_[rng.normal(0, 1, 7000), rng.normal(2, 1, 3000)], method="acc")
    assert e.bins == 2 and e.low <= 0.3 <= e.high and e.fits


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60), st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60),
       st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200), st.sampled_from(["ml", "acc"]))
def test_any_scores_give_an_ordered_interval_in_the_unit_range(human, synthetic, corpus, method):
    e = quantify(np.array(human), np.array(synthetic), np.array(corpus), method=method)
    assert 0 <= e.low <= e.share <= e.high <= 1
    assert 0 <= e.fit_p <= 1 and 0 <= e.classify_count <= 1


def test_bad_scores_are_analysis_errors():
    with pytest.raises(AnalysisError):
        quantify(np.array([]), np.array([1.0]), np.array([1.0]))
    with pytest.raises(AnalysisError):
        quantify(np.array([np.nan]), np.array([1.0]), np.array([1.0]))
    with pytest.raises(AnalysisError):
        quantify(np.array([0.0]), np.array([1.0]), np.array([1.0]), method="cc")


# ---- the command -------------------------------------------------------------------------------------


def test_estimate_format_json_is_the_json_flag(files, monkeypatch, capsys):
    args = ("estimate", files["mixed"], "--human", files["reference"], "-g", "ngram")
    _, by_flag, _ = invoke(monkeypatch, capsys, *args, "--json")
    code, by_format, _ = invoke(monkeypatch, capsys, *args, "--format", "json")
    assert code == 0 and json.loads(by_format) == json.loads(by_flag)
    code, _, stderr = invoke(monkeypatch, capsys, *args, "--format", "csv")
    assert code == 2 and "--format" in stderr and len(stderr.strip().splitlines()) == 1


def test_estimate_a_mixed_corpus_writes_json_and_history(files, tmp_path, monkeypatch, capsys):
    out, history = tmp_path / "estimate.json", tmp_path / "history.csv"
    code, stdout, _ = invoke(monkeypatch, capsys, "estimate", files["mixed"], "--human", files["reference"],
                             "-g", "ngram", "--out", out, "--history", history)
    assert code == 0
    assert "as seen by detectors of: ngram" in stdout and "classify-and-count" in stdout
    result = json.loads(out.read_text())
    # one seeded corpus: within Z standard errors (the interval's half-width / 1.96) of the truth;
    # the interval's coverage is the calibration test's business
    assert abs(result["share"] - 0.4) <= Z * (result["high"] - result["low"]) / (2 * 1.96)
    assert result["low"] <= result["share"] <= result["high"] and result["generators"] == ["ngram"]
    assert result["human_share_low"] == pytest.approx(1 - result["high"])
    # a second snapshot; monitor follows the conservative human share without being told its role
    invoke(monkeypatch, capsys, "estimate", files["human"], "--human", files["reference"], "-g", "ngram",
           "--history", history)
    rows = history.read_text().splitlines()
    assert rows[0] == "generation,metric,value" and {r.split(",")[0] for r in rows[1:]} == {"0", "1"}
    code, stdout, _ = invoke(monkeypatch, capsys, "monitor", history, "--json")
    assert code in (0, 1)
    assert json.loads(stdout)["quality"][0]["metric"] == "estimated_human_share_low"


def test_max_share_gate(files, monkeypatch, capsys):
    code, stdout, _ = invoke(monkeypatch, capsys, "estimate", files["mixed"], "--human", files["reference"],
                             "-g", "ngram", "--max-share", "0.05")
    assert code == 1 and "over the limit" in stdout


def test_unexplained_text_is_reported_as_a_lower_bound(files, pydocs, tmp_path, monkeypatch, capsys):
    """Text of a generator the estimate was not given (a unigram model): only 'at least'."""
    from cliffwatch.core.modality import TEXT, DataInfo
    from cliffwatch.families.ngram import NgramFamily

    words, rng = pydocs.vocab.words, np.random.default_rng(5)
    unigram = NgramFamily(DataInfo(TEXT, vocab=pydocs.vocab), {"order": 1}).fit(pydocs.sentences, rng).sample(1500, rng)
    corpus = tmp_path / "unigram.jsonl"
    lines = [" ".join(words[i] for i in unigram.sentence(j)) for j in range(len(unigram)) if len(unigram.sentence(j))]
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines) + files["human"].read_text())
    code, stdout, _ = invoke(monkeypatch, capsys, "estimate", corpus, "--human", files["reference"], "-g", "ngram",
                             "--json")
    result = json.loads(stdout)
    assert code == 0 and not result["fits"]
    assert result["statement"].startswith("at least") and "as seen by these detectors" in result["statement"]
    assert result["human_share_low"] == 0.0


# ---- the audit rule ----------------------------------------------------------------------------------


def _manifest(path: Path, unknown: int) -> Path:
    rows = [{"id": f"h{i}", "source": "human", "generation": 0, "content_hash": f"h{i}"} for i in range(10)]
    rows += [{"id": f"u{i}", "source": "unknown", "generation": 0, "content_hash": f"u{i}"} for i in range(unknown)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("human_share_low, passed", [(0.9, True), (0.5, False)])
def test_audit_rule_judges_the_conservative_end(tmp_path, monkeypatch, capsys, human_share_low, passed):
    policy = tmp_path / "policy.yaml"
    policy.write_text("min_estimated_human_share: 0.8\n")
    estimate = tmp_path / "estimate.json"
    estimate.write_text(json.dumps({"human_share_low": human_share_low, "share": 0.05, "low": 0.0,
                                    "high": 1 - human_share_low, "generators": ["ngram"], "statement": "x"}))
    code, stdout, _ = invoke(monkeypatch, capsys, "audit", _manifest(tmp_path / "m.jsonl", 5), "--policy", policy,
                             "--estimate", estimate, "--json")
    rule = [r for r in json.loads(stdout)["rules"] if r["rule"] == "min_estimated_human_share"][0]
    assert rule["measured"] == human_share_low and rule["passed"] is passed and code == (0 if passed else 1)


def test_audit_rule_needs_an_estimate_only_when_rows_lack_provenance(tmp_path, monkeypatch, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text("min_estimated_human_share: 0.8\n")
    code, _, err = invoke(monkeypatch, capsys, "audit", _manifest(tmp_path / "m.jsonl", 3), "--policy", policy)
    assert code == 2 and "--estimate" in err and len(err.strip().splitlines()) == 1
    code, _, _ = invoke(monkeypatch, capsys, "audit", _manifest(tmp_path / "n.jsonl", 0), "--policy", policy)
    assert code == 0


# ---- bad input -----------------------------------------------------------------------------------------


def _bad(monkeypatch, capsys, tmp_path, *args) -> str:
    before = set(tmp_path.iterdir())
    code, stdout, err = invoke(monkeypatch, capsys, "estimate", *args, "--out", tmp_path / "e.json",
                               "--history", tmp_path / "h.csv")
    assert code == 2, (stdout, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    assert set(tmp_path.iterdir()) == before  # nothing written, not even half
    return err


def test_empty_corpus(files, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "empty" in _bad(monkeypatch, capsys, tmp_path, empty, "--human", files["reference"], "-g", "ngram")


def test_reference_too_small(files, tmp_path, monkeypatch, capsys):
    small = tmp_path / "small.jsonl"
    small.write_text("".join(files["reference"].read_text().splitlines(keepends=True)[:50]))
    err = _bad(monkeypatch, capsys, tmp_path, files["human"], "--human", small, "-g", "ngram")
    assert "too few to fit a detector" in err


def test_language_the_reference_does_not_cover(files, tmp_path, monkeypatch, capsys):
    err = _bad(monkeypatch, capsys, tmp_path, files["foreign"], "--human", files["reference"], "-g", "ngram")
    assert "another language" in err and "document 1" in err


def test_unreadable_files(files, tmp_path, monkeypatch, capsys):
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    assert "not UTF-8" in _bad(monkeypatch, capsys, tmp_path, binary, "--human", files["reference"], "-g", "ngram")
    _bad(monkeypatch, capsys, tmp_path, tmp_path / "missing.jsonl", "--human", files["reference"], "-g", "ngram")
    _bad(monkeypatch, capsys, tmp_path, files["human"], "--human", files["reference"], "-g", "nosuchfamily")
    _bad(monkeypatch, capsys, tmp_path, files["human"], "--human", files["reference"], "-g", "ngram@x")
    _bad(monkeypatch, capsys, tmp_path, files["human"], "--human", files["reference"], "-g", "ngram:order=0")


FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_family_knobs_in_a_generator_spec_are_typed():
    """`ngram@2:order=2,temperature=0.8` (the documented form): a knob's number reaches the strict
    family config as a number, and the chain runs."""
    from cliffwatch.core.modality import TEXT, DataInfo

    spec = GeneratorSpec.parse("ngram@2:order=2,temperature=0.8")
    assert spec.params == {"order": 2} and spec.generation == 2 and spec.temperature == 0.8
    pydocs = load_corpus("pydocs")
    info = DataInfo(TEXT, vocab=pydocs.vocab)
    assert len(_chain(spec, info, pydocs.sentences.take(np.arange(300)), 50, seed=0)) == 50
    assert GeneratorSpec.parse("ngram:order=x").params == {"order": "x"}  # left for the config to reject


@FUZZ
@given(st.text(max_size=40))
def test_any_generator_spec_is_a_generator_or_one_config_error(spec):
    try:
        parsed = GeneratorSpec.parse(spec)
    except CliffwatchError as err:
        assert isinstance(err, ConfigError) and "\n" not in str(err) and len(str(err)) <= MAX_MESSAGE
    else:
        assert parsed.label


@pytest.fixture(scope="module")
def detector(files):
    return fit_detector(load_corpus(files["reference"]), [GeneratorSpec.parse("ngram")])


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([".jsonl", ".txt", ".csv"]))
def test_any_corpus_bytes_give_an_estimate_or_one_line(tmp_path_factory, detector, data, suffix):
    from cliffwatch.guard.estimate import estimate_with

    corpus = tmp_path_factory.mktemp("fuzz") / f"corpus{suffix}"
    corpus.write_bytes(data)
    try:
        share, flagged = estimate_with(detector, load_corpus(corpus), str(corpus))
    except CliffwatchError as err:
        assert "\n" not in str(err) and len(str(err)) <= MAX_MESSAGE
    else:
        assert 0 <= share.low <= share.high <= 1 and share.documents + flagged >= 1
