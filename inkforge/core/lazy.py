"""Lazy package exports: a package names what it exports and where, and imports each on first use.

A package's ``__init__`` stays cheap to import (``import inkforge.rewards`` must not pull in torch
or the agent stack) while ``from inkforge.rewards import JudgeReward`` still works.

Example:
    >>> __getattr__, __dir__ = lazy_exports("pkg", {"dumps": "json"})
    >>> __getattr__("dumps")({"a": 1})
    '{"a": 1}'
    >>> __dir__()
    ['dumps']
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of a package with lazy exports.

    Args:
        package: The package's ``__name__`` (for the error message).
        exports: Exported name → the module that defines it.

    Returns:
        ``(__getattr__, __dir__)``, to assign at the package's module level.
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
