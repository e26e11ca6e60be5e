"""Third-party components through entry points: a plugin package works with every CLI command, a
broken one breaks only what uses it, and two packages claiming one name are named in the error."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

PLUGINS = Path(__file__).parent / "plugins"
SWEEP = {
    "name": "factor-cliff", "family": {"name": "factor", "factors": 1},
    "data": {"source": "gaussian", "dim": 3, "correlation": 0.5},
    "policy": {"samples": 60}, "generations": 2, "seeds": 2, "chains": 2, "holdout": 200, "probe_samples": 200,
    "probes": ["wasserstein", "moments"],
    "sweep": {"policy.synthetic_fraction": [0.0, 0.5, 1.0]},
}


def cli(*args, plugins=(), cwd=None):
    paths = [str(PLUGINS / p) for p in plugins] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run([sys.executable, "-m", "cliffwatch", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def test_a_plugin_family_runs_through_sweep_cliff_and_report(tmp_path):
    config = tmp_path / "factor.yaml"
    config.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / "run"
    swept = cli("sweep", config, "--out", out, "-q", "--workers", "2", plugins=["factor"])
    assert swept.returncode == 0, swept.stderr
    assert "quality loss ΔQ" in swept.stdout
    cliff = cli("cliff", out, plugins=["factor"])
    assert cliff.returncode == 0 and "wasserstein" in cliff.stdout
    report = cli("report", out, plugins=["factor"])
    assert report.returncode == 0 and (out / "report.html").stat().st_size > 10_000
    listed = cli("list", plugins=["factor"])
    assert "factor" in listed.stdout and "cliffwatch-factor" in listed.stdout
    # without the plugin installed, the same config names the unknown family
    missing = cli("sweep", config, "--out", tmp_path / "other", "-q")
    assert missing.returncode == 2 and "unknown family 'factor'" in missing.stderr


def test_a_plugin_that_fails_to_import_is_named_and_breaks_nothing_else(tmp_path):
    listed = cli("list", plugins=["broken"])
    assert listed.returncode == 0
    assert "broken" in listed.stdout and "cliffwatch-broken" in listed.stdout and "failed to import" in listed.stdout
    config = tmp_path / "g.yaml"
    config.write_text(yaml.safe_dump({"family": {"name": "gaussian"}, "data": {"source": "gaussian"}, "generations": 1}))
    assert cli("run", config, "--out", tmp_path / "g", "-q", plugins=["broken"]).returncode == 0
    config.write_text(yaml.safe_dump({"family": {"name": "broken"}, "data": {"source": "gaussian"}, "generations": 1}))
    used = cli("run", config, "--out", tmp_path / "b", "-q", plugins=["broken"])
    assert used.returncode == 2 and len(used.stderr.strip().splitlines()) == 1
    assert "family 'broken' from cliffwatch-broken failed to import" in used.stderr
    assert "cliffwatch_missing_dependency" in used.stderr


def test_two_packages_claiming_one_name_are_both_named(tmp_path):
    config = tmp_path / "g.yaml"
    config.write_text(yaml.safe_dump({"family": {"name": "gaussian"}, "data": {"source": "gaussian"}, "generations": 1}))
    clash = cli("run", config, "--out", tmp_path / "g", "-q", plugins=["clash"])
    assert clash.returncode == 2 and len(clash.stderr.strip().splitlines()) == 1
    assert "family 'gaussian' is registered twice" in clash.stderr
    assert "by cliffwatch (" in clash.stderr and "by cliffwatch-clash (" in clash.stderr


def test_a_missing_extra_is_listed_with_its_install_command(monkeypatch):
    from cliffwatch.core import registry

    entry = registry.Entry("needs-extra", "somewhere:Thing", "cliffwatch", "neural")
    monkeypatch.setattr(registry, "_missing_requirements", lambda package, extra: ["torch"])
    assert entry.missing == ["torch"] and entry.install_hint == "pip install 'cliffwatch[neural]'"
    fake = registry.Registry("family", "cliffwatch.test-none")
    monkeypatch.setattr(registry, "_declared", lambda group: [entry])
    try:
        fake.get("needs-extra")
    except registry.RegistryError as err:
        assert str(err) == "family 'needs-extra' needs the 'neural' extra (torch missing): pip install 'cliffwatch[neural]'"
    else:
        raise AssertionError("a component with a missing extra must not load")
