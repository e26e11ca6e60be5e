"""Monitor: history readers (CSV long/wide, JSON, a cliffwatch run), trend and forecast on known
curves, moving indicators, the gaming alarm, bad input, and the CLI's exit codes."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import invoke
from cliffwatch.core.errors import ConfigError, DataError
from cliffwatch.guard.monitor import Roles, alarm_generation, load_history, monitor


def history(generations=10, ppl_slope=0.0, noise=0.0, seed=0, **extra) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.arange(generations)
    frame = pd.DataFrame({"heldout_ppl": 100 * (1 + ppl_slope * g) * (1 + noise * rng.standard_normal(generations)),
                          "distinct_1": np.full(generations, 0.3)}, index=pd.Index(g, name="generation"))
    for name, values in extra.items():
        frame[name] = values
    return frame


def test_linear_rise_is_forecast_where_it_crosses():
    # ΔQ = 0.02 g (+ 1% noise): crosses τ = 0.1 at generation 5; the monitor sees generations 0-3
    frame = history(10, 0.02, noise=0.01)
    result = monitor(frame.iloc[:4], Roles.parse(list(frame.columns)), tolerance=0.1)
    trend = result.quality[0]
    assert trend.crossed_at is None and abs(trend.forecast - 5) < 1.0
    assert trend.forecast_low <= 5 and (trend.forecast_high is None or trend.forecast_high >= 5)
    assert result.warning and "forecast to reach" in result.warnings[0]
    full = monitor(frame, Roles.parse(list(frame.columns)), tolerance=0.1)
    assert full.quality[0].crossed_at in (5, 6)  # noise of 1% around 0.10 at generation 5


def test_flat_history_is_quiet_and_never_alarms():
    frame = history(12, 0.0, noise=0.005)
    roles = Roles.parse(list(frame.columns))
    assert not monitor(frame, roles).warning
    assert alarm_generation(frame, roles) is None


def test_moving_indicator_alarms_before_quality_crosses():
    frame = history(10, 0.0, distinct_1=0.3 * (1 - 0.1 * np.arange(10)))
    result = monitor(frame, Roles.parse(list(frame.columns)), indicator_threshold=0.25)
    assert [i.metric for i in result.indicators if i.moving] == ["distinct_1"]
    assert alarm_generation(frame, Roles.parse(list(frame.columns)), indicator_threshold=0.25) == 3  # 30% fall at generation 3


def test_gaming_alarm():
    frame = history(8, 0.01, synthetic_ppl=100 * (1 - 0.03 * np.arange(8)))
    result = monitor(frame, Roles.parse(list(frame.columns)), tolerance=0.5)
    assert [(g.benchmark, g.quality) for g in result.gaming] == [("synthetic_ppl", "heldout_ppl")]
    assert any(w.startswith("gaming") for w in result.warnings)
    honest = history(8, 0.01, synthetic_ppl=100 * (1 + 0.01 * np.arange(8)))
    assert not monitor(honest, Roles.parse(list(honest.columns)), tolerance=0.5).gaming


def test_readers_agree(tmp_path):
    frame = history(5, 0.02)
    frame.reset_index().to_csv(tmp_path / "wide.csv", index=False)
    long = frame.reset_index().melt(id_vars="generation", var_name="metric", value_name="value")
    long.to_csv(tmp_path / "long.csv", index=False)
    (tmp_path / "h.json").write_text(json.dumps({k: list(v) for k, v in frame.items()}))
    (tmp_path / "r.json").write_text(json.dumps(frame.reset_index().to_dict(orient="records")))
    for name in ("wide.csv", "long.csv", "h.json", "r.json"):
        loaded = load_history(tmp_path / name)
        assert list(loaded.index) == list(range(5))
        np.testing.assert_allclose(loaded["heldout_ppl"], frame["heldout_ppl"])


def test_reads_a_cliffwatch_run(tmp_path):
    from cliffwatch.config.schema import ExperimentConfig
    from cliffwatch import api

    cfg = ExperimentConfig.model_validate({"family": {"name": "gaussian"}, "data": {"source": "gaussian", "dim": 1},
                                          "policy": {"samples": 20}, "generations": 6, "seeds": 2, "chains": 20,
                                          "probes": ["moments", "wasserstein"]})
    api.run(cfg, tmp_path / "run", progress=False)
    frame = load_history(tmp_path / "run")
    assert list(frame.index) == list(range(7)) and {"wasserstein", "variance_ratio"} <= set(frame.columns)
    roles = Roles.parse(list(frame.columns))
    assert "wasserstein" in roles.quality and roles.indicators == {"variance_ratio": "both"}
    # the run's own declarations decide, not today's registry: one recorded as higher-is-better is read so
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    for m in meta["metrics"]:
        if m["name"] == "wasserstein":
            m["higher_is_better"] = True
    (tmp_path / "run" / "run.json").write_text(json.dumps(meta))
    result = api.monitor(tmp_path / "run")
    assert {t.metric: t.direction for t in result.quality}["wasserstein"] == "higher"


@pytest.mark.parametrize("content, name, message", [
    ("metric,value\nx,1\n", "h.csv", "no 'generation' column"),
    ("generation,heldout_ppl\n0,10\n", "h.csv", "at least 2 generations"),
    ("generation,heldout_ppl\n-1,10\n0,11\n", "h.csv", "negative generation"),
    ("{not json", "h.json", "unreadable history"),
])
def test_bad_histories(tmp_path, content, name, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=message):
        load_history(tmp_path / name)


def test_roles_are_strict():
    with pytest.raises(DataError, match="no human-anchored quality metric"):
        Roles.parse(["distinct_1"])
    with pytest.raises(DataError, match="'accuracy' is not in the history"):
        Roles.parse(["heldout_ppl"], quality=["accuracy:higher"])
    with pytest.raises(ConfigError, match="say which way is better"):
        Roles.parse(["my_eval"], quality=["my_eval"])
    assert Roles.parse(["my_eval"], quality=["my_eval:higher"]).quality == {"my_eval": "higher"}


def test_cli_monitor_exit_codes(tmp_path, monkeypatch, capsys):
    history(6, 0.0, noise=0.002).reset_index().to_csv(tmp_path / "ok.csv", index=False)
    code, stdout, _ = invoke(monkeypatch, capsys, "monitor", tmp_path / "ok.csv")
    assert code == 0 and "ok: warning score" in stdout
    history(6, 0.03).reset_index().to_csv(tmp_path / "bad.csv", index=False)
    code, stdout, _ = invoke(monkeypatch, capsys, "monitor", tmp_path / "bad.csv", "--json")
    result = json.loads(stdout)
    assert code == 1 and result["warning"] and result["quality"][0]["crossed_at"] == 4
    (tmp_path / "one.csv").write_text("generation,heldout_ppl\n0,1\n")
    code, _, stderr = invoke(monkeypatch, capsys, "monitor", tmp_path / "one.csv")
    assert code == 2 and "at least 2 generations" in stderr and len(stderr.strip().splitlines()) == 1


# ---- hostile histories: one line, exit 2 -------------------------------------------------------

@pytest.mark.parametrize("content, name, message", [
    ("3", "h.json", "a JSON history is a list of records or {metric: [values]}, not int"),
    ("null", "h.json", "not null"),
    ('{"heldout_ppl": 3}', "h.json", "every value is a list"),
    ('{"heldout_ppl": [1, 2], "distinct_1": [1]}', "h.json", "differ in length"),
    ("[1, 2]", "h.json", "a list of records"),
    ("generation,heldout_ppl\n0,10\n1,abc\n", "h.csv", "generation 1, heldout_ppl: 'abc' is not a number"),
    ('[{"generation": 0, "heldout_ppl": 1}, {"generation": 1, "heldout_ppl": "2"}]', "h.json", "'2' is not a number"),
    ('[{"generation": 0, "heldout_ppl": 1}, {"generation": 1, "heldout_ppl": true}]', "h.json", "True is not a number"),
    ("generation,heldout_ppl\n0,10\n1.5,12\n2,13\n", "h.csv", "row 2: generation 1.5 is not a whole number"),
    ('[{"generation": 0, "heldout_ppl": 1}, {"generation": true, "heldout_ppl": 2}]', "h.json", "generation True is not a whole number"),
    ('[{"generation": 0, "heldout_ppl": 1}, {"heldout_ppl": 2}, {"generation": 2, "heldout_ppl": 3}]', "h.json", "row 2 has no generation"),
    ("generation,heldout_ppl\n0,10\n,11\n2,12\n", "h.csv", "row 2 has no generation"),
    ("generation,metric,value\n0,heldout_ppl,1\n1,heldout_ppl,N/A\n", "h.csv", "'N/A' is not a number"),
    ("", "h.csv", "unreadable history"),
])
def test_hostile_histories_are_one_line(tmp_path, content, name, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError) as err:
        load_history(tmp_path / name)
    assert message in str(err.value), str(err.value)


def test_a_fifo_or_binary_history_is_refused_without_blocking(tmp_path, monkeypatch, capsys):
    import os

    os.mkfifo(tmp_path / "h.csv")  # opening it would block until a writer comes
    code, _, err = invoke(monkeypatch, capsys, "monitor", tmp_path / "h.csv")
    assert code == 2 and "not a regular file" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "b.json").write_bytes(bytes(range(256)) * 4)
    code, _, err = invoke(monkeypatch, capsys, "monitor", tmp_path / "b.json")
    assert code == 2 and "unreadable history" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("option", [("--tolerance", "0"), ("--indicator-threshold", "0"), ("--warn-fraction", "0"),
                                    ("--tolerance", "nan"), ("--tolerance", "-1")])
def test_settings_that_would_divide_by_zero_are_refused(tmp_path, monkeypatch, capsys, option):
    history(6, 0.01).reset_index().to_csv(tmp_path / "h.csv", index=False)
    code, _, err = invoke(monkeypatch, capsys, "monitor", tmp_path / "h.csv", *option)
    assert code == 2 and "must be a positive number" in err and len(err.strip().splitlines()) == 1


def test_a_fractional_generation_is_no_longer_a_crossing():
    """1.5 used to be truncated to 1 and reported as a crossing at generation 1."""
    frame = pd.DataFrame({"generation": [0, 1.5, 2], "heldout_ppl": [10, 20, 10]})
    with pytest.raises(DataError, match="not a whole number"):
        monitor_from(frame)


def monitor_from(frame: pd.DataFrame):
    from cliffwatch.guard.monitor import _tidy

    tidy = _tidy(frame, "h")
    return monitor(tidy, Roles.parse(list(tidy.columns)))


# ---- one vocabulary of directions, one ΔQ; custom metrics add to the defaults (issue 23) --------

def test_directions_come_from_the_metric_declarations():
    from cliffwatch.probes.base import metric_index

    roles = Roles.parse(["heldout_ppl", "fact_accuracy", "distinct_1", "variance_ratio", "synthetic_ppl", "mmd"])
    index = metric_index()
    for name, direction in {**roles.quality, **roles.indicators, **roles.benchmarks}.items():
        declared = index[name][1].higher_is_better
        assert direction == {True: "higher", False: "lower", None: "both"}[declared]
    assert roles.losses["mmd"] == "difference" and roles.losses["heldout_ppl"] == "relative"
    with pytest.raises(ConfigError, match="heldout_ppl is already a quality metric as lower"):
        Roles.parse(["heldout_ppl"], quality=["heldout_ppl:higher"])
    with pytest.raises(ConfigError, match="heldout_ppl is declared lower"):
        Roles.parse(["heldout_ppl"], quality=["heldout_ppl:higher"], only=True)


def test_the_monitor_uses_the_analysis_quality_loss():
    from cliffwatch.analysis.quality_loss import quality_loss
    from cliffwatch.guard.monitor import relative_loss

    values = np.array([2.0, 2.5, 1.0, 4.0])
    frame = pd.DataFrame({"value": values, "baseline": values[0], "g": range(4)})
    for kind in ("relative", "ratio_of_means", "log_ratio", "difference"):
        np.testing.assert_allclose(relative_loss(values, "higher", kind), quality_loss(frame, ["g"], kind, True))
        np.testing.assert_allclose(relative_loss(values, "both", kind), np.abs(quality_loss(frame, ["g"], kind, False)))


def test_a_custom_quality_metric_adds_to_the_defaults(tmp_path, monkeypatch, capsys):
    frame = history(6, 0.04, mmlu=np.linspace(0.5, 0.6, 6), notes=np.arange(6.0))
    frame.reset_index().to_csv(tmp_path / "h.csv", index=False)
    code, stdout, _ = invoke(monkeypatch, capsys, "monitor", tmp_path / "h.csv", "--quality", "mmlu:higher", "--json")
    result = json.loads(stdout)
    assert code == 1 and [q["metric"] for q in result["quality"]] == ["heldout_ppl", "mmlu"]
    assert result["ignored"] == ["notes"]
    code, stdout, _ = invoke(monkeypatch, capsys, "monitor", tmp_path / "h.csv", "--quality", "mmlu:higher")
    assert code == 1 and "ignored (no role" in stdout and "notes" in stdout
    code, stdout, _ = invoke(monkeypatch, capsys, "monitor", tmp_path / "h.csv", "--quality", "mmlu:higher",
                             "--only-named", "--json")
    result = json.loads(stdout)  # asked for: only mmlu, and everything else is listed as ignored
    assert code == 0 and [q["metric"] for q in result["quality"]] == ["mmlu"]
    assert result["ignored"] == ["heldout_ppl", "distinct_1", "notes"]


EXTRA = st.lists(st.tuples(st.sampled_from(["quality", "indicators", "benchmarks"]),
                           st.sampled_from(["mmlu", "heldout_ppl", "distinct_1", "synthetic_ppl", "variance_ratio"]),
                           st.sampled_from(["", ":lower", ":higher", ":both"])), max_size=4)


@settings(max_examples=150, deadline=None)
@given(ppl=st.lists(st.floats(1, 1000), min_size=2, max_size=8), seed=st.integers(0, 2**16), extra=EXTRA,
       tolerance=st.sampled_from([0.05, 0.1, 0.5]))
def test_adding_a_metric_never_turns_a_failing_gate_green(ppl, seed, extra, tolerance):
    rng = np.random.default_rng(seed)
    n = len(ppl)
    frame = pd.DataFrame({"heldout_ppl": ppl, "distinct_1": rng.uniform(0.1, 1, n), "synthetic_ppl": rng.uniform(1, 100, n),
                          "variance_ratio": rng.uniform(0.5, 2, n), "mmlu": rng.uniform(0, 1, n)},
                         index=pd.Index(range(n), name="generation"))
    metrics = list(frame.columns)
    before = monitor(frame, Roles.parse(metrics), tolerance=tolerance)
    given_specs = {"quality": [], "indicators": [], "benchmarks": []}
    for role, name, direction in extra:
        given_specs[role].append(name + direction)
    try:
        roles = Roles.parse(metrics, **given_specs)
    except (ConfigError, DataError):
        return  # refused (exit 2): never green
    after = monitor(frame, roles, tolerance=tolerance)
    assert after.score >= before.score
    moving = lambda result: {i.metric for i in result.indicators if i.moving}  # noqa: E731
    others = lambda result: {w for w in result.warnings if not w.startswith("leading indicators")}  # noqa: E731
    assert moving(before) <= moving(after) and others(before) <= others(after)
    assert after.warning or not before.warning
