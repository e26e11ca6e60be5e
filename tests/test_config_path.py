"""One-way config: schema -> grid -> validate -> load. ``load`` is the single door (parse, then
every grid point checked), a command enters config/ once and expands its grid once, and a config
written for another workflow is an error naming the command that runs it."""

import ast
import inspect
import typing
from pathlib import Path

import pytest
import yaml

from conftest import invoke
from cliffwatch import api
from cliffwatch.config import grid, load, validate
from cliffwatch.config.schema import CompareConfig, SweepConfig
from cliffwatch.core.errors import ConfigError, WrongWorkflowError
from cliffwatch.execution.plan import sweep_lineages

CONFIG = Path(grid.__file__).parent
ORDER = ["limits", "messages", "schema", "grid", "validate", "load"]  # each imports only those before it
SWEEP = {
    "name": "door",
    "family": {"name": "gaussian"},
    "data": {"source": "gaussian", "dim": 2},
    "policy": {"samples": 20},
    "generations": 1,
    "seeds": 1,
    "chains": 2,
    "probes": ["wasserstein"],
    "sweep": {"policy.synthetic_fraction": [0.0, 1.0]},
}
COMPARE = {**{k: v for k, v in SWEEP.items() if k != "sweep"}, "routes": {"baseline": {}, "anchor": {"policy.synthetic_fraction": 0.5}}}


def test_config_modules_import_one_way():
    for i, name in enumerate(ORDER):
        tree = ast.parse((CONFIG / f"{name}.py").read_text())
        imported = {node.module.rsplit(".", 1)[-1] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cliffwatch.config.")}
        later = imported & set(ORDER[i + 1:])
        assert not later, f"config/{name}.py imports {sorted(later)}, which come after it"


def test_grid_and_validate_take_typed_configs():
    for module in (grid, validate, load):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__:
                continue
            hints = typing.get_type_hints(fn)
            if "config" in hints:
                assert hints["config"] is not typing.Any, f"{module.__name__}.{name}(config: Any)"


def test_load_checks_every_grid_point(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**SWEEP, "sweep": {"policy.synthetic_fraction": [0.0, 1.0], "family.name": ["gaussian", "ngram"]}}))
    with pytest.raises(ConfigError, match=r"bad.yaml: sweep: grid point family.name='ngram', .*: family: 'ngram' models text"):
        load.load_sweep(path)


def test_a_command_enters_config_once_and_expands_its_grid_once(tmp_path, monkeypatch, capsys):
    checks, expansions = [], []
    real_check, real_points = validate.check, grid._grid_points
    monkeypatch.setattr(load, "check", lambda config: (checks.append(config), real_check(config)))
    monkeypatch.setattr(grid, "_grid_points", lambda *a: (expansions.append(a), real_points(*a))[1])
    grid._EXPANDED.clear()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    code, _, err = invoke(monkeypatch, capsys, "sweep", path, "--out", tmp_path / "out", "-q", "--workers", "1")
    assert code == 0, err
    assert len(checks) == 1 and len(expansions) == 1


def test_a_compare_config_is_not_a_sweep(tmp_path, monkeypatch, capsys):
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(COMPARE))
    code, out, err = invoke(monkeypatch, capsys, "sweep", path, "--out", tmp_path / "out", "-q")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "a compare config" in err and f"cliffwatch compare {path}" in err
    assert not (tmp_path / "out").exists()
    config = CompareConfig.model_validate(COMPARE)
    with pytest.raises(WrongWorkflowError, match="run it with `cliffwatch compare`"):
        api.sweep(config, tmp_path / "out", progress=False)
    with pytest.raises(WrongWorkflowError):
        sweep_lineages(config)
    assert not (tmp_path / "out").exists()


def test_each_loader_names_the_command_a_config_is_written_for(tmp_path, monkeypatch, capsys):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    with pytest.raises(WrongWorkflowError, match="a sweep config .*`cliffwatch sweep"):
        load.load_config(path)
    with pytest.raises(WrongWorkflowError, match="a sweep config .*`cliffwatch sweep"):
        load.load_compare(path)
    code, _, err = invoke(monkeypatch, capsys, "run", path, "--out", tmp_path / "out", "-q")
    assert code == 2 and "cliffwatch sweep" in err and len(err.strip().splitlines()) == 1
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump({k: v for k, v in SWEEP.items() if k != "sweep"}))
    assert isinstance(load.load_sweep(plain), SweepConfig)  # a plain experiment sweeps the default grid
    assert type(load.load(path)) is SweepConfig and type(api.load(path)) is SweepConfig
