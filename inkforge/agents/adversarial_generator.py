"""Adversarial generator: follows the flaw strategy S_G to write a plausible but subtly flawed item."""

from __future__ import annotations

from pydantic import BaseModel, Field

from inkforge.agents.base import AgentDef


class FlawedSample(BaseModel):
    """Write an item that looks good at first sight but carries the planted flaws; explain them."""

    response: str = Field(min_length=2)
    planted_flaws: list[str] = Field(min_length=1, max_length=5)
    explanation: str = Field(min_length=1)


ADVERSARIAL_GENERATOR = AgentDef(name="adversarial_generator", role="generator", schema=FlawedSample,
                                 prompt="adversarial_generator",
                                 description="Writes plausible but flawed items following S_G.")
