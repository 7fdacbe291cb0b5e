"""Error reflector: turns a detector mistake on a human-labelled example into a rubric suggestion."""

from __future__ import annotations

from pydantic import BaseModel, Field

from inkforge.agents.base import AgentDef


class ErrorDiagnosis(BaseModel):
    """Diagnose why the rubric led the detector to the wrong verdict, and suggest one rubric change."""

    diagnosis: str = Field(min_length=1)
    suggestion: str = Field(min_length=1)


ERROR_REFLECTOR = AgentDef(name="error_reflector", role="error_reflector", schema=ErrorDiagnosis,
                           prompt="error_reflector", description="Diagnoses detector mistakes.")
