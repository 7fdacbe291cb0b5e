"""The layering rule of docs/architecture.md, checked on the code: a lower floor never imports a higher one."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from inkforge._legacy import ALIASES

PACKAGE = Path(__file__).resolve().parents[2] / "inkforge"

#: The floors, lowest first. A module may import its own floor and the floors below it.
LAYERS = ("core", "llm", "agents", "evaluation", "graphs", "rewards", "training", "testing", "cli")


def _floor(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "inkforge" or len(parts) < 2:
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def _module_name(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, function-level and TYPE_CHECKING ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append((node.lineno, mod))
    return found


def violations(root: Path = PACKAGE) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        own = _floor(_module_name(path, root))
        if own is None:
            continue
        for line, mod in _imports(path, root):
            other = _floor(mod)
            if other is not None and other > own:
                out.append(f"{path.relative_to(root.parent)}:{line}: {LAYERS[own]} imports {mod} ({LAYERS[other]})")
    return out


def test_no_floor_imports_a_higher_one() -> None:
    assert violations() == []


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    pkg = tmp_path / "inkforge"
    (pkg / "core").mkdir(parents=True)
    (pkg / "core" / "bad.py").write_text("def f():\n    from inkforge.graphs.runner import run_graph\n")
    (pkg / "cli").mkdir()
    (pkg / "cli" / "fine.py").write_text("from inkforge.core.errors import InputError\n")
    assert violations(pkg) == ["inkforge/core/bad.py:2: core imports inkforge.graphs.runner (graphs)"]


def test_every_package_folder_is_a_floor() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders - set(LAYERS) <= {"data"}, "a new top-level package needs a floor in LAYERS and the docs"


def test_no_module_imports_a_first_release_path() -> None:

    used = [f"{path.relative_to(PACKAGE.parent)}:{line}: {mod}"
            for path in sorted(PACKAGE.rglob("*.py")) for line, mod in _imports(path) if mod in ALIASES]
    assert used == []


@pytest.mark.parametrize("old", sorted(ALIASES))
def test_first_release_import_paths_still_work(old: str) -> None:

    assert importlib.import_module(old) is importlib.import_module(ALIASES[old])
