"""Judge: a strict 0/1 verdict with a reason, after hearing both critics."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from inkforge.agents.base import AgentDef


class JudgeVerdict(BaseModel):
    """Decide strictly: label 1 only when the candidate is good in every respect, else 0. Reason first."""

    reason: str = Field(min_length=1)
    label: Literal[0, 1]


JUDGE = AgentDef(name="judge", role="judge", schema=JudgeVerdict, prompt="judge",
                 description="Strict 0/1 verdict after the debate.")
