"""Positive critic: argues for a candidate, naming its strengths along fixed dimensions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from inkforge.agents.base import AgentDef

Dimension = Literal["wording", "fluency", "sincerity", "creativity", "specificity", "fit", "intent"]


class Strength(BaseModel):
    """One strength and the words of the text that show it."""

    dimension: Dimension = Field(description="wording, fluency, sincerity, creativity, specificity, fit "
                                             "(occasion and relationship) or intent (purity of intent)")
    comment: str = Field(min_length=1)


class PositiveCritique(BaseModel):
    """Argue for the candidate: list its real strengths (possibly none) and sum them up."""

    strengths: list[Strength] = Field(default_factory=list, max_length=7)
    summary: str = Field(min_length=1)


POSITIVE_CRITIC = AgentDef(name="positive_critic", role="positive_critic", schema=PositiveCritique,
                           prompt="positive_critic", description="Argues for a candidate's strengths.")
