"""Monitor: history readers (CSV long/wide, JSON, a cliffwatch run), trend and forecast on known
curves, moving indicators, the gaming alarm, bad input, and the CLI's exit codes."""

import json

import numpy as np
import pandas as pd
import pytest

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
