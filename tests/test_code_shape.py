"""No product function is over 60 lines: a longer one is several steps that want names.

Read with ast from the code itself (monitor/, calibration/, pipelines/, cli/, scripts/ and
run_monitor.py); a function's length runs from its `def` line to its last line, as ruff formats it,
decorators left out. Methods and nested functions count on their own (and inside their parent).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("monitor", "calibration", "pipelines", "cli", "scripts")
MAX_LINES = 60


def _product_files() -> list[Path]:
    files = [p for pkg in PRODUCT for p in sorted((ROOT / pkg).rglob("*.py"))]
    return files + [ROOT / "run_monitor.py"]


def long_functions(source: str, where: str, max_lines: int = MAX_LINES) -> list[str]:
    """'where:line name (N lines)' for every function or method in `source` over max_lines."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > max_lines:
                found.append(f"{where}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_product_function_is_over_60_lines() -> None:
    files = _product_files()
    assert len(files) > 20, f"found only {len(files)} product files under {ROOT}"
    offenders = [hit for p in files for hit in long_functions(p.read_text(), str(p.relative_to(ROOT)))]
    assert not offenders, f"functions over {MAX_LINES} lines (split them into named steps):\n" + "\n".join(offenders)


def _function(name: str, lines: int, indent: str = "") -> str:
    """Source of a function `lines` long: its def line and lines - 1 statements."""
    body = "".join(f"{indent}    x{i} = {i}\n" for i in range(lines - 1))
    return f"{indent}def {name}():\n{body}"


def test_the_check_catches_a_long_function_and_passes_one_at_the_limit() -> None:
    source = (
        _function("at_limit", MAX_LINES)
        + "\n\n@staticmethod\n"  # a decorator does not count as a line of the function
        + _function("decorated_at_limit", MAX_LINES)
        + "\n\nclass Holder:\n"
        + _function("long_method", MAX_LINES + 1, indent="    ")
        + "\n\nasync def outer():\n"
        + _function("long_inner", MAX_LINES + 5, indent="    ")
    )
    found = long_functions(source, "generated.py")
    at = {name: source.splitlines().index(line) + 1 for name, line in _defs(source)}
    assert sorted(found) == sorted(
        [
            f"generated.py:{at['outer']} outer ({MAX_LINES + 6} lines)",
            f"generated.py:{at['long_method']} long_method ({MAX_LINES + 1} lines)",
            f"generated.py:{at['long_inner']} long_inner ({MAX_LINES + 5} lines)",
        ]
    )


def _defs(source: str) -> list[tuple[str, str]]:
    """(name, its def line) for each def in source, read as text (independently of ast)."""
    out = []
    for line in source.splitlines():
        words = line.strip().removeprefix("async ").split()
        if words and words[0] == "def":
            out.append((words[1].split("(")[0], line))
    return out
