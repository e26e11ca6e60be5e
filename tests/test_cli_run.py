import json
"""`cliffwatch run` end to end: summary, resume, and bad input (exit 2, one line, nothing half-written)."""


import numpy as np
import pytest
import yaml

from conftest import invoke
from cliffwatch.execution.store import load_results


GOOD = {
    "name": "tiny",
    "family": {"name": "gaussian"},
    "data": {"source": "gaussian", "dim": 2},
    "policy": {"synthetic_fraction": 1.0, "samples": 30},
    "generations": 4,
    "seeds": 2,
    "chains": 5,
    "probes": ["moments", "wasserstein"],
}


def write(tmp_path, config: dict, name: str = "c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_run_prints_summary_and_stores_results(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, stdout, _ = invoke(monkeypatch, capsys, "run", write(tmp_path, GOOD), "--out", out, "-q")
    assert code == 0
    assert "variance_ratio" in stdout and "generation 4" in stdout
    df = load_results(out)
    assert set(df["seed"]) == {0, 1} and set(df["generation"]) == set(range(5)) and set(df["chain"]) == set(range(5))
    assert {"synthetic_fraction", "mode", "family"} <= set(df.columns)
    summary = json.loads((out / "summary.json").read_text())  # beside every run
    assert not summary["swept_fraction"] and summary["metrics"]
    assert all(m["change"]["verdict"] for m in summary["metrics"].values())


def test_rerun_resumes_and_is_bit_identical(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, GOOD)
    straight = tmp_path / "straight"
    invoke(monkeypatch, capsys, "run", path, "--out", straight, "-q")
    # a run killed after generation 2: its lineages hold generation files and a checkpoint
    partial = tmp_path / "partial"
    invoke(monkeypatch, capsys, "run", write(tmp_path, {**GOOD, "generations": 2}, "short.yaml"), "--out", partial, "-q")
    from cliffwatch.config.load import load_config
    from cliffwatch.execution.plan import run_metrics
    from cliffwatch.execution.store import RunStore
    from cliffwatch.execution.worker import run_lineage
    from cliffwatch.loop.engine import LineageRunner
    from cliffwatch.loop.lineage import Lineage

    full_cfg = load_config(path)
    lineage = Lineage(full_cfg, 0)
    store = RunStore.create(tmp_path / "resumed", full_cfg.model_dump(mode="json"), "run", run_metrics([lineage]))
    # interrupt after generation 2 by making the probes fail on generation 3
    original = LineageRunner._probe
    def crash_at_3(self, generation, *a):
        if generation == 3:
            raise KeyboardInterrupt
        return original(self, generation, *a)
    monkeypatch.setattr(LineageRunner, "_probe", crash_at_3)
    with pytest.raises(KeyboardInterrupt):
        list(run_lineage(lineage, str(store.lineage(lineage.id).path)))
    monkeypatch.setattr(LineageRunner, "_probe", original)
    assert store.lineage(lineage.id).checkpoint_generation() == 2 and not store.lineage(lineage.id).finished
    # the CLI resumes it (and runs seed 1 from scratch)
    code, _, _ = invoke(monkeypatch, capsys, "run", path, "--out", tmp_path / "resumed", "-q")
    assert code == 0
    a = load_results(straight).sort_values(["seed", "generation", "chain", "metric"]).reset_index(drop=True)
    b = load_results(tmp_path / "resumed").sort_values(["seed", "generation", "chain", "metric"]).reset_index(drop=True)
    assert np.array_equal(a["value"].to_numpy(), b["value"].to_numpy())


def test_rerun_of_a_different_config_is_refused(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    invoke(monkeypatch, capsys, "run", write(tmp_path, GOOD), "--out", out, "-q")
    code, _, err = invoke(monkeypatch, capsys, "run", write(tmp_path, {**GOOD, "generations": 5}, "d.yaml"), "--out", out, "-q")
    assert code == 2 and "different config" in err


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"policy": {"synthetic_fractoin": 0.5}}, "policy.synthetic_fractoin: unknown field; allowed: filters, generators, human, mode, samples, synthetic_fraction"),
        ({"policy": {"synthetic_fraction": 1.5}}, "policy.synthetic_fraction: Input should be less than or equal to 1"),
        ({"policy": {"synthetic_fraction": -0.1}}, "policy.synthetic_fraction: Input should be greater than or equal to 0"),
        ({"policy": {"samples": -5}}, "policy.samples: Input should be greater than or equal to 1"),
        ({"chains": 0}, "chains: Input should be greater than or equal to 1"),
        ({"family": {"name": "gaussian", "covarance": "mle"}}, "family.covarance: unknown field; allowed: covariance"),
        ({"family": {"name": "gausian"}}, "family.name: unknown family 'gausian'"),
        ({"data": {"source": "gauss"}}, "data.source: unknown source 'gauss'"),
        ({"probes": ["nope"]}, "unknown probe 'nope'"),
    ],
)
def test_bad_config_exits_2_with_one_line_and_no_run_dir(tmp_path, monkeypatch, capsys, patch, expected):
    config = {**GOOD, **patch}
    out = tmp_path / "run"
    code, stdout, err = invoke(monkeypatch, capsys, "run", write(tmp_path, config), "--out", out)
    assert code == 2
    assert expected in err and "c.yaml" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists() and not any(p.name.startswith(".run") for p in tmp_path.iterdir())


def test_unreadable_configs(tmp_path, monkeypatch, capsys):
    code, _, err = invoke(monkeypatch, capsys, "run", tmp_path / "missing.yaml")
    assert code == 2 and "missing.yaml: no such file" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("family: {name: gaussian\ndata: x\n")
    code, _, err = invoke(monkeypatch, capsys, "run", bad)
    assert code == 2 and "bad.yaml:2: invalid YAML" in err
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    code, _, err = invoke(monkeypatch, capsys, "run", binary)
    assert code == 2 and "bin.yaml: unreadable" in err


def test_run_help_documents_every_option(monkeypatch, capsys):
    code, stdout, _ = invoke(monkeypatch, capsys, "run", "--help")
    assert code == 0
    for option in ("--out", "--workers", "--overwrite", "--quiet"):
        assert option in stdout


def _crash(*args, **kwargs):
    raise ZeroDivisionError("a bug")


@pytest.mark.parametrize("command", [["monitor", "h.csv"], ["audit", "m.jsonl", "--policy", "p.yaml"],
                                     ["cliff", "runs/x"], ["report", "runs/x"]])
def test_an_internal_error_exits_3_with_its_traceback_in_a_log_file(tmp_path, monkeypatch, capsys, command):
    """A bug is neither a verdict (1) nor bad input (2): exit 3, one line naming the log file that
    holds the traceback, and no traceback on the terminal."""
    import tempfile

    from cliffwatch import api

    for name in ("monitor", "audit", "analyze", "summary", "report"):
        monkeypatch.setattr(api, name, _crash)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, stdout, stderr = invoke(monkeypatch, capsys, *command)
    assert code == 3 and stdout == "" and len(stderr.strip().splitlines()) == 1
    assert "internal error" in stderr and "ZeroDivisionError: a bug" in stderr and "Traceback" not in stderr
    logs = list(tmp_path.glob("cliffwatch-error-*.log"))
    assert len(logs) == 1 and str(logs[0]) in stderr
    assert "Traceback" in logs[0].read_text() and "ZeroDivisionError: a bug" in logs[0].read_text()


@pytest.mark.parametrize("signum, code", [(2, 130), (15, 143)])
@pytest.mark.parametrize("command", [["monitor", "h.csv"], ["audit", "m.jsonl", "--policy", "p.yaml"]])
def test_sigint_and_sigterm_end_audit_and_monitor(monkeypatch, capsys, command, signum, code):
    import os
    import time

    from cliffwatch import api

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signum)
        time.sleep(30)  # the handler interrupts this at once
        raise AssertionError("not interrupted")

    monkeypatch.setattr(api, command[0], interrupted)
    started = time.monotonic()
    got, _, stderr = invoke(monkeypatch, capsys, *command)
    assert got == code and "interrupted" in stderr and time.monotonic() - started < 10


def test_help_points_to_the_exit_codes(monkeypatch, capsys):
    code, stdout, _ = invoke(monkeypatch, capsys, "--help")
    assert code == 0 and "Exit codes" in stdout and "3 internal error" in stdout and "README.md" in stdout
