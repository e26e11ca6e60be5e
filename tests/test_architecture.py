"""The layout mirrors the data flow: a module imports only from its own layer or layers below it."""

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
    {"loop"},
    {"execution"},
    {"analysis"},
    {"guard", "report"},
    {"api"},
    {"cli", "__main__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


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
            if other is not None and other != "__version__" and RANK.get(other, -1) > RANK[own]:
                violations.append(f"{path.relative_to(PACKAGE)}:{line} ({own}) imports {imported} ({other})")
    assert not violations, "\n".join(violations)


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
