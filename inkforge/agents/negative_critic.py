"""Negative critic: looks for every flaw of a candidate, with a severity."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from inkforge.agents.base import AgentDef

IssueKind = Literal["grammar", "awkward", "hollow", "cliche", "misfit", "generic", "pressure", "taboo", "other"]


class Issue(BaseModel):
    """One flaw, quoted or pointed at precisely."""

    dimension: IssueKind = Field(description="grammar (typos/grammar), awkward, hollow (templated feeling), "
                                             "cliche, misfit (to occasion), generic, pressure (or negative "
                                             "implication), taboo (cultural), other")
    comment: str = Field(min_length=1)
    severity: Literal["low", "medium", "high"]


class NegativeCritique(BaseModel):
    """Argue against the candidate: list its real flaws (possibly none) and sum them up."""

    issues: list[Issue] = Field(default_factory=list, max_length=9)
    summary: str = Field(min_length=1)


NEGATIVE_CRITIC = AgentDef(name="negative_critic", role="negative_critic", schema=NegativeCritique,
                           prompt="negative_critic", description="Finds a candidate's flaws.")
