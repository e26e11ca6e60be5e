"""The layout mirrors the data flow: a module imports only from its own layer or layers below it,
and the named rules of docs/architecture.md hold beyond layer rank."""

import ast
import subprocess
import sys
from pathlib import Path

import cliffwatch

PACKAGE = Path(cliffwatch.__file__).parent
# lowest first; modules in one entry share a layer
LAYERS = [
    {"core"},
    {"config"},
    {"data"},
    {"families", "probes", "filters"},
    {"loop", "testing"},  # testing: the conformance checks run components through the loop
    {"execution"},
    {"analysis"},
    {"guard", "report"},
    {"api"},
    {"cli", "__main__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
# (layer, forbidden module prefix, why): rules that layer rank alone does not express
RULES = [
    ("analysis", "cliffwatch.execution", "analysis is pure: a results table in, results out"),
    ("report", "cliffwatch.execution", "report renders a run's analysis; it never opens the run store"),
    ("report", "cliffwatch.config.load", "report renders a run's analysis; it never reads a config"),
    ("report", "cliffwatch.api", "report is below api"),
]
ROOT_NAMES = {"cliffwatch.__version__", "cliffwatch.load_results"}  # the root re-exports for users only


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "cliffwatch" or len(parts) == 1:
        return None  # the package root holds only the version and a lazy loader
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every cliffwatch import, at module level or inside functions."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "cliffwatch" else [f"cliffwatch.{a.name}" for a in node.names]
            out.extend((node.lineno, n) for n in names)
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
    return [(line, m) for line, m in out if m.startswith("cliffwatch")]


def test_no_module_imports_a_higher_layer():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        own = _layer(module.removesuffix(".__init__"))
        if own is None:
            continue
        assert own in RANK, f"{module}: its folder {own!r} has no layer; add it to LAYERS"
        for line, imported in _imports(path):
            other = _layer(imported)
            if other is not None and RANK.get(other, -1) > RANK[own]:
                violations.append(f"{path.relative_to(PACKAGE)}:{line} ({own}) imports {imported} ({other})")
    assert not violations, "\n".join(violations)


def _rule_violations(path: Path, own: str) -> list[str]:
    out = []
    for line, imported in _imports(path):
        if imported in ROOT_NAMES:
            out.append(f"{path.name}:{line} imports {imported} from the package root (use cliffwatch.core)")
        for layer, prefix, why in RULES:
            if own == layer and (imported == prefix or imported.startswith(prefix + ".")):
                out.append(f"{path.name}:{line} ({own}) imports {imported}: {why}")
    return out


def test_named_rules_hold():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        own = _layer(module.removesuffix(".__init__"))
        if own is not None:
            violations += [f"{path.relative_to(PACKAGE).parent}/{v}" for v in _rule_violations(path, own)]
    assert not violations, "\n".join(violations)


def test_the_rule_check_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from cliffwatch.execution.store import RunStore\n")
    assert "the run store" in _rule_violations(bad, "report")[0] and "pure" in _rule_violations(bad, "analysis")[0]
    bad.write_text("def f():\n    from cliffwatch.config.load import load_config\n")
    assert "never reads a config" in _rule_violations(bad, "report")[0] and not _rule_violations(bad, "analysis")
    bad.write_text("from cliffwatch import __version__\n")
    assert "package root" in _rule_violations(bad, "execution")[0]


def test_the_layer_check_catches_a_violation(tmp_path):
    bad = tmp_path / "analysis_bad.py"
    bad.write_text("from cliffwatch.execution.store import RunStore\n")
    assert [RANK[_layer(m)] for _, m in _imports(bad)] == [RANK["execution"]] and RANK["execution"] < RANK["analysis"]
    bad.write_text("def f():\n    from cliffwatch.cli import main\n")
    assert _layer(_imports(bad)[0][1]) == "cli"


def test_loading_a_gaussian_config_imports_no_heavy_dependency():
    code = (
        "import sys, cliffwatch\n"
        "from cliffwatch.config.load import parse\n"
        "from cliffwatch.config.schema import ExperimentConfig\n"
        "parse(ExperimentConfig, {'family': {'name': 'gaussian'}, 'data': {'source': 'gaussian', 'dim': 2},"
        " 'policy': {'synthetic_fraction': 0.5}}, 'c.yaml')\n"
        "print(sorted(m for m in ('sklearn', 'pandas', 'torch', 'matplotlib', 'datasketch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
