"""The layers point one way, read from the code's own imports (docs/ARCHITECTURE.md).

monitor (model, scorer, data) <- calibration (detector, thresholds, conditions, alerts) <-
pipelines (Kafka, wire, consumer, hook, console) <- cli (commands, demo, benches) <- run_monitor.py
and scripts/. Every import counts, at module level or inside a function, so a function-level
import cannot hide a cycle or an upward edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"monitor": 0, "calibration": 1, "pipelines": 2, "cli": 3}
PACKAGES = tuple(LAYERS)


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).glob("*.py")):
            out[_module_name(path)] = path
    return out


def _imports(path: Path, modules: dict[str, Path], here: str | None = None) -> list[tuple[str, str | None, int]]:
    """(imported project module, imported name or None, line) for every import in the file."""
    here = here or _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] in PACKAGES]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if base.split(".")[0] not in PACKAGES:
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.append((sub, None, node.lineno) if sub in modules else (base, a.name, node.lineno))
    return found


def _graph() -> tuple[dict[str, Path], dict[str, set[str]]]:
    modules = _sources()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for m, path in modules.items():
        for target, _, _ in _imports(path, modules):
            if target in modules and target != m:
                edges[m].add(target)
    return modules, edges


def test_every_import_points_down_or_across_never_up():
    modules, _ = _graph()
    upward = []
    for m, path in modules.items():
        for target, _, line in _imports(path, modules):
            if LAYERS[target.split(".")[0]] > LAYERS[m.split(".")[0]]:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_no_import_cycles():
    _, edges = _graph()
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t) :] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_module_uses_another_modules_private_names():
    modules, _ = _graph()
    private = []
    for m, path in modules.items():
        for target, name, line in _imports(path, modules):
            if name and name.startswith("_") and target != m:
                private.append(f"{path.relative_to(ROOT)}:{line} imports {target}.{name}")
    assert not private, "private names used across modules:\n" + "\n".join(private)


def test_the_checker_sees_imports_inside_functions_and_private_names(tmp_path):
    """The checks above can fail: imports inside a function and of private names are read."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def f():\n    from pipelines.wire import AlertEvent\n    import cli.demo\nfrom .alerts import _hidden\n"
    )
    found = _imports(probe, _sources(), here="calibration.probe")
    assert ("pipelines.wire", "AlertEvent", 2) in found and ("cli.demo", None, 3) in found
    assert ("calibration.alerts", "_hidden", 4) in found
