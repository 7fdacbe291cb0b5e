"""Judge: a strict 0/1 verdict with a reason, after hearing both critics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from inkforge.agents.base import Agent, AgentDef
from inkforge.agents.templates import none_text


class JudgeVerdict(BaseModel):
    """Decide strictly: label 1 only when the candidate is good in every respect, else 0. Reason first."""

    reason: str = Field(min_length=1)
    label: Literal[0, 1]


JUDGE = AgentDef(name="judge", role="judge", schema=JudgeVerdict, prompt="judge",
                 description="Strict 0/1 verdict after the debate.")


def node(agent: Agent[JudgeVerdict]) -> Any:
    """Node: ``{query, response, positive, negative}`` (critique summaries) → ``{"verdict": AgentResult}``."""

    async def judge_node(state: dict[str, Any]) -> dict[str, Any]:
        res = await agent.ainvoke({k: state.get(k, none_text(agent.runtime.task.language)) for k in ("query", "response", "positive", "negative")})
        return {"verdict": res}

    return judge_node
