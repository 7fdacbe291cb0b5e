"""Extension loading, in one place: ``module:ATTR`` references, plugin modules and entry points.

Every extension point of inkforge is a ``typing.Protocol`` (or a pydantic class) plus a plain dict
registry (:data:`inkforge.agents.AGENTS`, :data:`inkforge.core.tasks.TASKS`...). Code reaches user
extensions three ways, all through this module:

* a ``"package.module:ATTR"`` reference in a config (an agent for a graph slot, a reward function);
* ``plugins:`` in a run config: modules imported before the run, which register their agents, tasks
  or guards on import;
* the entry-point groups of installed packages (``inkforge.agents``, ``inkforge.plugins``).

Example:
    >>> import_object("inkforge.core.tasks:POEM_TASK").language
    'en'
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

from inkforge.core.errors import ConfigError

#: Entry-point group whose modules are imported by :func:`load_plugins` (they register themselves).
PLUGIN_GROUP = "inkforge.plugins"


def import_object(ref: str, *, field: str | None = None) -> Any:
    """The object a ``"package.module:ATTR"`` reference names.

    Raises:
        ConfigError: Not of that form, or not importable (the message names ``field``).
    """
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"expected 'package.module:ATTR', got {ref!r}", field=field)
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot import {ref!r}: {e}", field=field) from None
    return obj


def load_plugins(modules: Iterable[str] = (), *, installed: bool = True) -> None:
    """Import plugin modules: those a config lists, then (``installed``) the ``inkforge.plugins`` entry points.

    Importing is idempotent, so calling this from every command that reads a config is cheap.

    Raises:
        ConfigError: A listed module cannot be imported (field ``plugins``).
    """
    for mod in modules:
        try:
            importlib.import_module(mod)
        except ImportError as e:
            raise ConfigError(f"cannot import plugin module {mod!r}: {e}", field="plugins") from None
    if installed:
        for ep in entry_points(group=PLUGIN_GROUP):
            ep.load()


def entry_point_objects(group: str) -> list[Any]:
    """The objects that installed packages expose in an entry-point ``group`` (loaded now)."""
    return [ep.load() for ep in entry_points(group=group)]
