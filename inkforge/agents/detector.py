"""Detector: judges an item with the rubric S_D; also says how S_G's flaws could be made harder to spot."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from inkforge.agents.base import AgentDef


class DetectorVerdict(BaseModel):
    """Apply the rubric rules: explain, then decide Good or Bad, then advise the flaw generator."""

    explanation: str = Field(min_length=1)
    verdict: Literal["Good", "Bad"]
    generator_suggestion: str = Field(default="", description="How the planted flaws could be subtler.")

    @property
    def label(self) -> int:
        """1 for Good, 0 for Bad."""
        return int(self.verdict == "Good")


DETECTOR = AgentDef(name="detector", role="detector", schema=DetectorVerdict, prompt="detector",
                    description="Judges with the rubric S_D (Good/Bad).")
