"""Import paths of the first release, kept working after the move into layers.

Release 0.1 had its modules loose at the package root (``inkforge.models``, ``inkforge.runtime``...)
and a few single-file modules that are packages now. Code, notebooks and configs written against
those paths keep working: each old path is an alias of the module that holds its names today (the
same module object, so ``isinstance`` checks and monkeypatching behave). New code should import from
the new paths; ``docs/architecture.md`` lists them.

Example:
    >>> import importlib
    >>> importlib.import_module("inkforge.runtime") is importlib.import_module("inkforge.llm.runtime")
    True
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

#: Old module path → the module that holds its names now.
ALIASES: dict[str, str] = {
    "inkforge.errors": "inkforge.core.errors",
    "inkforge.asyncutil": "inkforge.core.aio",
    "inkforge.jsonl": "inkforge.core.io",
    "inkforge.tasks": "inkforge.core.tasks",
    "inkforge.rubric": "inkforge.core.rubric",
    "inkforge.models": "inkforge.llm",
    "inkforge.runtime": "inkforge.llm.runtime",
    "inkforge.cache": "inkforge.llm.cache",
    "inkforge.parsing": "inkforge.llm.parsing",
    "inkforge.transport": "inkforge.llm.transport.http",
    "inkforge.prompts": "inkforge.agents.templates",
    "inkforge.graphs.io": "inkforge.graphs",
    "inkforge.graphs.judge_refinement": "inkforge.graphs.refinement",
    "inkforge.rewards.server": "inkforge.rewards.serving",
    "inkforge.testing.stub_server": "inkforge.testing.stub",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        # The target module is already executed; re-running it would create a second copy.
        return None


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None, target: object = None
                  ) -> importlib.machinery.ModuleSpec | None:
        new = ALIASES.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (idempotent)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
