"""Pairwise judge: compares two completions with the rubric (the judge reward's pairwise tie-break)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from inkforge.agents.base import AgentDef

__all__ = ["PAIRWISE_JUDGE", "PairwiseVerdict"]


class PairwiseVerdict(BaseModel):
    """Compare candidates A and B against the rubric: explain briefly, then name the better one."""

    reason: str = Field(min_length=1)
    winner: Literal["A", "B", "tie"]


#: Pairwise comparison agent (vars ``query``, ``response_a``, ``response_b``, ``rubric``). The
#: judge reward asks it both ways round (A/B and B/A) so a position preference cancels out.
PAIRWISE_JUDGE: AgentDef[PairwiseVerdict] = AgentDef(
    name="pairwise_judge", role="detector", schema=PairwiseVerdict, prompt="pairwise_judge",
    description="Compares two completions with the rubric (A, B or tie); used both ways round.")
