"""Progress as a user meets it: a plan line first, log lines off a terminal (CLI and Python), a dry
run that runs nothing, and a --limit smoke run in its own directory."""

import io
import re

import yaml

from conftest import invoke
from cliffwatch import api
from cliffwatch.report.progress import LogProgress, ProgressBar, auto_progress

SWEEP = {
    "name": "tiny-sweep",
    "family": {"name": "gaussian"},
    "data": {"source": "gaussian", "dim": 2},
    "policy": {"synthetic_fraction": 1.0, "samples": 30},
    "generations": 4,
    "seeds": 2,
    "chains": 4,
    "probes": ["moments", "wasserstein"],
    "sweep": {"policy.synthetic_fraction": [0.0, 0.5, 1.0]},
}


def write(tmp_path, config: dict, name: str = "c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_off_a_terminal_the_cli_logs_a_plan_line_and_a_line_per_lineage(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, _, stderr = invoke(monkeypatch, capsys, "sweep", write(tmp_path, SWEEP), "--out", out, "-w", "1")
    assert code == 0
    lines = [line for line in stderr.splitlines() if line.startswith("[cliffwatch")]
    assert "plan: 6 lineages (3 values of policy.synthetic_fraction x 2 seeds), generations 0-4 each: 30 model fits" in lines[0]
    assert f"results in {out}" in lines[0]
    finished = [line for line in lines if "; finished " in line]
    assert len(finished) == 6  # one per lineage, each with done/total
    assert "1/6 lineages, 5/30 generations (17%)" in finished[0] and "ETA" in finished[0]
    assert re.search(r"finished synthetic_fraction \d\.\d, seed \d", finished[0])
    assert "6/6 lineages, 30/30 generations (100%)" in lines[-1] and lines[-1].endswith("; done")


def test_a_resumed_run_says_what_is_finished_and_logs_no_line_per_stored_lineage(tmp_path, monkeypatch, capsys):
    path, out = write(tmp_path, SWEEP), tmp_path / "run"
    invoke(monkeypatch, capsys, "sweep", path, "--out", out, "-w", "1", "-q")
    code, _, stderr = invoke(monkeypatch, capsys, "sweep", path, "--out", out, "-w", "1")
    assert code == 0
    assert "6 finished already (resumed)" in stderr
    assert "; finished " not in stderr and "6/6 lineages" in stderr


def test_quiet_prints_no_progress(tmp_path, monkeypatch, capsys):
    code, _, stderr = invoke(monkeypatch, capsys, "sweep", write(tmp_path, SWEEP), "--out", tmp_path / "r", "-w", "1", "-q")
    assert code == 0 and "[cliffwatch" not in stderr and "plan:" not in stderr


def test_python_users_get_the_same_progress(tmp_path):
    stream = io.StringIO()
    result = api.sweep(write(tmp_path, SWEEP), tmp_path / "run", workers=1, progress=LogProgress(stream, every=0))
    text = stream.getvalue()
    assert "plan: 6 lineages" in text and text.count("; finished ") == 6 and text.rstrip().endswith("; done")
    assert result.plan.lineages == 6 and result.plan.steps == 30 and result.elapsed > 0


def test_the_default_progress_off_a_terminal_is_log_lines():
    assert isinstance(auto_progress(io.StringIO()), LogProgress)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(auto_progress(Terminal()), ProgressBar)


def test_heartbeat_lines_while_no_lineage_finishes():
    stream = io.StringIO()
    log = LogProgress(stream, every=0.05)
    log.plan("plan: 2 lineages", 2)
    log.start("x", 10)
    log.advance(3)
    import time

    time.sleep(0.3)
    log.stop()
    beats = [line for line in stream.getvalue().splitlines() if line.endswith("; running")]
    assert beats and "0/2 lineages, 3/10 generations (30%)" in beats[0] and "ETA" in beats[0]


def test_the_eta_ignores_generations_an_earlier_run_stored():
    stream = io.StringIO()
    log = LogProgress(stream, every=0)
    log.start("x", 100)
    log.advance(90)
    log.resumed(90)  # found stored: no work was done yet
    log.lineage_finished("seed 0", stored=True)
    log.stop()
    last = stream.getvalue().splitlines()[-1]
    assert "90/100 generations (90%)" in last and "ETA after the first generation" in last
    assert last.endswith("; stopped") and "finished seed 0" not in stream.getvalue()


def test_the_bar_is_drawn_from_the_start():
    bar = ProgressBar()
    bar.start("x", 10)
    try:
        assert bar._progress.live.is_started  # before any generation finished: 0 of 10 shows
    finally:
        bar.stop()


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, stdout, _ = invoke(monkeypatch, capsys, "sweep", write(tmp_path, SWEEP), "--out", out, "--dry-run")
    assert code == 0 and not out.exists()
    assert stdout.startswith("plan: 6 lineages")
    # 6 lineages x 4 chains x 30 human items at generation 0 (a fixed anchor buys no more)
    assert "720 human items bought" in stdout
    # synthetic: 4 generations x (15 at s = 0.5 + 30 at s = 1) x 2 seeds x 4 chains
    assert "1,440 synthetic items drawn" in stdout
    assert "price: not estimated" in stdout and "$" not in stdout


def test_dry_run_prices_the_data_only_at_the_configs_own_prices(tmp_path):
    plan = api.dry_run(write(tmp_path, {**SWEEP, "cost": {"human_price": 1.0, "synthetic_price": 0.5}}), tmp_path / "r")
    # 720 human x 1 + 1,440 synthetic x 0.5
    assert plan.price == "$1,440 at the config's prices"


def test_dry_run_counts_lineages_an_earlier_run_finished(tmp_path):
    path, out = write(tmp_path, SWEEP), tmp_path / "run"
    api.sweep(path, out, workers=1, progress=False)
    assert api.dry_run(path, out).finished == 6
    assert "6 finished already" in api.dry_run(path, out).line()


def test_limit_is_a_smoke_run_in_its_own_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = invoke(monkeypatch, capsys, "sweep", write(tmp_path, SWEEP), "--limit", "1", "-w", "1")
    assert code == 0
    assert "smoke run (--limit 1)" in stderr and "runs/tiny-sweep-limit1" in stderr
    assert (tmp_path / "runs" / "tiny-sweep-limit1" / "summary.json").exists()
    assert not (tmp_path / "runs" / "tiny-sweep").exists()
    from cliffwatch.execution.store import load_results

    assert load_results(tmp_path / "runs" / "tiny-sweep-limit1")["generation"].max() == 1
    # 12 model fits here, 30 in the full run: the time is extrapolated by 2.5x
    assert re.search(r"smoke run took \S+ for 12 model fits; the full run has 30 \(2\.5x\): about", stdout)


def test_limit_through_python(tmp_path):
    result = api.run(write(tmp_path, {k: v for k, v in SWEEP.items() if k != "sweep"}), tmp_path / "smoke",
                     limit=2, progress=False)
    assert result.plan.limit == 2 and api.results(result.run_dir)["generation"].max() == 2
    assert "the full run has 10" in result.plan.smoke_estimate(result.elapsed)
