"""Reflector: audits the judge's verdict against both critiques; overturns only with a clear reason."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from inkforge.agents.base import Agent, AgentDef
from inkforge.agents.templates import none_text


class ReflectorVerdict(BaseModel):
    """Re-examine the judge's verdict. Keep it unless a clear reason shows it wrong; give the final label."""

    agrees: bool
    reason: str = Field(min_length=1)
    final_label: Literal[0, 1]


REFLECTOR = AgentDef(name="reflector", role="reflector", schema=ReflectorVerdict, prompt="reflector",
                     description="Audits the judge; overturns only with a clear reason.")


def node(agent: Agent[ReflectorVerdict]) -> Any:
    """Node: ``{query, response, positive, negative, label, reason}`` → ``{"reflection": AgentResult}``."""

    async def reflector_node(state: dict[str, Any]) -> dict[str, Any]:
        keys = ("query", "response", "positive", "negative", "label", "reason")
        return {"reflection": await agent.ainvoke({k: state.get(k, none_text(agent.runtime.task.language)) for k in keys})}

    return reflector_node
