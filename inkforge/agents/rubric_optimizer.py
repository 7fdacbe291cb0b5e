"""Rubric optimiser: merges a phase's feedback into one revision of a rule list (S_D or S_G)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from inkforge.agents.base import AgentDef

MAX_RULES = 10


class RubricRevision(BaseModel):
    """Revise the rules using all the feedback at once: keep them few (at most 10), concrete, non-overlapping."""

    rules: list[str] = Field(min_length=1, max_length=MAX_RULES)
    changes: str = Field(min_length=1, description="What changed and why.")

    @field_validator("rules")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        v = [r.strip() for r in v if r.strip()]
        if not v:
            raise ValueError("rules are empty")
        if len(set(v)) != len(v):
            raise ValueError("rules repeat each other")
        return v


RUBRIC_OPTIMIZER = AgentDef(name="rubric_optimizer", role="optimizer", schema=RubricRevision,
                            prompt="rubric_optimizer", description="Revises S_D or S_G from feedback.")
