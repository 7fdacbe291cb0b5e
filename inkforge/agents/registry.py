"""The agent registry: a plain dict of name → :class:`AgentDef`, plus import-path and entry-point lookup.

Custom agents need no library change: register them from your own module, name them by import path in
a config (``agents: {negative_critic: "mylab.agents:STRICT_CRITIC"}``), or expose them through the
``inkforge.agents`` entry-point group of your package so that ``inkforge agents`` lists them.

Example:
    >>> from pydantic import BaseModel
    >>> class Safety(BaseModel):
    ...     '''Flag unsafe greetings.'''
    ...     safe: bool
    >>> _ = register_agent(AgentDef(name="safety_demo", role="judge", schema=Safety,
    ...                             prompt="## user\\nSafe? {{ response }}"), replace=True)
    >>> get_agent("safety_demo").role
    'judge'
"""

from __future__ import annotations

from typing import Any

from inkforge.agents.base import AgentDef
from inkforge.core.errors import InputError
from inkforge.core.plugins import entry_point_objects, import_object

#: Every known agent by name. Shipped agents are added by :mod:`inkforge.agents`.
AGENTS: dict[str, AgentDef[Any]] = {}


def register_agent(defn: AgentDef[Any], *, replace: bool = False) -> AgentDef[Any]:
    """Add an agent to :data:`AGENTS` (returns it, so it works as an expression).

    Raises:
        ValueError: The name is taken and ``replace`` is false.
    """
    if defn.name in AGENTS and not replace and AGENTS[defn.name] is not defn:
        raise ValueError(f"agent {defn.name!r} is already registered; pass replace=True to override")
    AGENTS[defn.name] = defn
    return defn


def load_entry_points() -> None:
    """Register the agents that installed packages expose in the ``inkforge.agents`` entry-point group."""
    for obj in entry_point_objects("inkforge.agents"):
        if isinstance(obj, AgentDef):
            register_agent(obj, replace=True)


def get_agent(ref: str | AgentDef[Any]) -> AgentDef[Any]:
    """Resolve an agent by registered name or ``"module:ATTR"`` import path.

    Raises:
        InputError: Unknown name or unimportable path (the message lists the known names).
    """
    if isinstance(ref, AgentDef):
        return ref
    if ref in AGENTS:
        return AGENTS[ref]
    if ":" in ref:
        obj = import_object(ref, field="agents")
        if not isinstance(obj, AgentDef):
            raise InputError(f"{ref!r} is a {type(obj).__name__}, not an AgentDef", field="agents")
        return obj
    load_entry_points()
    if ref in AGENTS:
        return AGENTS[ref]
    raise InputError(f"unknown agent {ref!r}; known: {sorted(AGENTS)}", field="agents")
