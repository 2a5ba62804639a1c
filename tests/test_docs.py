"""Every reference to a project document points at a file and a section that exist.

Code, tests, scripts and docs cite documents as `docs/<NAME>.md` and sections as
`docs/<NAME>.md §N`; the section must be a heading `## N.` in that file. A document name without
its `docs/` folder (as the old design notes, which lived outside the repository, were cited) is
refused too: it names no file a reader can open.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".py", ".md", ".sh", ".toml", ".yaml", ".yml", ".cfg", ".txt"}
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "runs", "build", "dist"}

# docs/NAME.md, optionally followed by a section: "§4", "§ 4", "§4.2" (the section is the 4), also
# after a closing backtick ("`docs/NAME.md` §4").
REFERENCE = re.compile(r"(?<![\w/.-])docs/([\w./-]+?\.md)(?:`?\s*§\s*(\d+)(?:\.\d+)*)?")
# Document names refused without their "docs/" folder: every document in docs/, and these even
# when the file is gone (the design notes were once cited by this bare name).
ALWAYS_CHECKED = ("DESIGN",)


def project_files() -> list[Path]:
    """The files to scan; this one is left out, since its test cases are broken references on purpose."""
    out = []
    for p in sorted(ROOT.rglob("*")):
        rel = p.relative_to(ROOT)
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        if p.is_file() and p.suffix in SUFFIXES and p != Path(__file__).resolve():
            out.append(p)
    return out


def find_references(text: str) -> list[tuple[int, str, int | None]]:
    """(line, document path relative to docs/, section or None) for each reference in text."""
    refs = []
    for m in REFERENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        refs.append((line, m.group(1), int(m.group(2)) if m.group(2) else None))
    return refs


def bare_names(text: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, name) for each document name used without its docs/ folder."""
    if not names:
        return []
    pattern = re.compile(r"(?<![\w.-])(?<!docs/)(" + "|".join(sorted(map(re.escape, names))) + r")\.md\b")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1) + ".md") for m in pattern.finditer(text)]


def section_numbers(doc: Path) -> set[int]:
    return {int(m.group(1)) for m in re.finditer(r"^## (\d+)\.", doc.read_text(encoding="utf-8"), re.MULTILINE)}


def problems(root: Path, files: list[Path]) -> list[str]:
    docs = root / "docs"
    names = {p.stem for p in docs.glob("*.md")} | set(ALWAYS_CHECKED)
    sections: dict[Path, set[int]] = {}
    out = []
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        rel = f.relative_to(root)
        for line, doc, section in find_references(text):
            target = docs / doc
            if not target.is_file():
                out.append(f"{rel}:{line}: docs/{doc} does not exist")
                continue
            if section is not None:
                if target not in sections:
                    sections[target] = section_numbers(target)
                if section not in sections[target]:
                    out.append(f"{rel}:{line}: docs/{doc} has no section '## {section}.'")
        for line, name in bare_names(text, names):
            out.append(f"{rel}:{line}: '{name}' without its folder: write docs/{name}")
    return out


def test_every_document_reference_points_at_an_existing_file_and_section() -> None:
    files = project_files()
    assert ROOT / "docs" / "DESIGN.md" in files
    found = problems(ROOT, files)
    assert not found, "broken document references:\n" + "\n".join(found)


def test_the_design_doc_is_cited_by_section_and_numbered_without_gaps() -> None:
    cited = {
        s
        for f in project_files()
        for _, d, s in find_references(f.read_text(encoding="utf-8", errors="replace"))
        if d == "DESIGN.md" and s is not None
    }
    numbers = section_numbers(ROOT / "docs" / "DESIGN.md")
    assert cited and cited <= numbers
    assert numbers == set(range(1, max(numbers) + 1))


@pytest.fixture
def mini_project(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/DESIGN.md").write_text("# Design\n\n## 1. One\n\ntext\n\n## 2. Two\n\n### 2.1 Sub\n")
    (tmp_path / "docs/WIRE.md").write_text("## Wire format\n")
    (tmp_path / "pkg").mkdir()
    return tmp_path


def _check(root: Path, text: str) -> list[str]:
    f = root / "pkg" / "mod.py"
    f.write_text(text)
    return problems(root, [f])


@pytest.mark.parametrize(
    "text",
    [
        "# see docs/DESIGN.md §2 and docs/WIRE.md\n",
        '"""Why (docs/DESIGN.md §1): ..."""\n',
        "# docs/DESIGN.md § 2.1, then `docs/DESIGN.md`\n",
        "see `docs/DESIGN.md` §2 and `docs/DESIGN.md`, §9 of nothing\n",
        "x = 1  # no reference at all; a README.md is not a document of docs/\n",
    ],
)
def test_good_references_pass(mini_project: Path, text: str) -> None:
    assert _check(mini_project, text) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("# see docs/DESIGN.md §3\n", "DESIGN.md has no section '## 3.'"),
        ("# see docs/WIRE.md §1\n", "WIRE.md has no section '## 1.'"),
        ("see `docs/DESIGN.md` §7\n", "DESIGN.md has no section '## 7.'"),
        ("# see docs/MISSING.md\n", "MISSING.md does not exist"),
        ("# see docs/MISSING.md §1\n", "MISSING.md does not exist"),
        ("# the notes (DESIGN.md 4) say so\n", "'DESIGN.md' without its folder"),
        ("# as in WIRE.md\n", "'WIRE.md' without its folder"),
        ("# see ../shared/DESIGN.md\n", "'DESIGN.md' without its folder"),
    ],
)
def test_broken_references_fail(mini_project: Path, text: str, expected: str) -> None:
    found = _check(mini_project, text)
    assert len(found) == 1 and expected in found[0] and found[0].startswith("pkg/mod.py:1: ")


def test_bare_design_name_fails_even_without_the_file(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    f = tmp_path / "mod.py"
    f.write_text("# (DESIGN.md 4)\n")
    assert problems(tmp_path, [f]) == ["mod.py:1: 'DESIGN.md' without its folder: write docs/DESIGN.md"]
