"""Detector: judges an item with the rubric S_D; also says how S_G's flaws could be made harder to spot."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from inkforge.agents.base import AgentDef
from inkforge.agents.templates import PromptTemplate
from inkforge.core.rubric import Rubric


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


def detector_for_rubric(rubric: Rubric | None, detector: AgentDef[Any] = DETECTOR, *,
                        role: str | None = None) -> AgentDef[Any]:
    """The detector that judges with ``rubric``'s own template, so its verdicts reproduce the tuned judge.

    The rubric's stored template text wins; else its ``prompt_name`` (a ``.md`` path or a shipped
    name); a rubric of a custom detector (``prompt_name="<custom>"``) keeps ``detector``'s prompt.
    ``role`` rebinds the model role (the judge reward's ``--role``).

    Example:
        >>> detector_for_rubric(None) is DETECTOR
        True
        >>> detector_for_rubric(Rubric.default("poem")).prompt
        'detector'
    """
    if rubric is None and role is None:
        return detector
    changes: dict[str, Any] = {} if role is None else {"role": role}
    if rubric is not None:
        if rubric.prompt_text:
            changes["prompt"] = PromptTemplate.from_text(rubric.prompt_text, name=f"<rubric {rubric.version} template>")
        elif rubric.prompt_name != "<custom>":
            changes["prompt"] = Path(rubric.prompt_name) if rubric.prompt_name.endswith(".md") else rubric.prompt_name
    return dataclasses.replace(detector, **changes)
