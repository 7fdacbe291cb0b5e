"""Reflector: audits the judge's verdict against both critiques; overturns only with a clear reason."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from inkforge.agents.base import AgentDef


class ReflectorVerdict(BaseModel):
    """Re-examine the judge's verdict. Keep it unless a clear reason shows it wrong; give the final label."""

    agrees: bool
    reason: str = Field(min_length=1)
    final_label: Literal[0, 1]


REFLECTOR = AgentDef(name="reflector", role="reflector", schema=ReflectorVerdict, prompt="reflector",
                     description="Audits the judge; overturns only with a clear reason.")
