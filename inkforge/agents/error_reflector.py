"""Error reflector: turns a detector mistake on a human-labelled example into a rubric suggestion."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from inkforge.agents.base import Agent, AgentDef


class ErrorDiagnosis(BaseModel):
    """Diagnose why the rubric led the detector to the wrong verdict, and suggest one rubric change."""

    diagnosis: str = Field(min_length=1)
    suggestion: str = Field(min_length=1)


ERROR_REFLECTOR = AgentDef(name="error_reflector", role="error_reflector", schema=ErrorDiagnosis,
                           prompt="error_reflector", description="Diagnoses detector mistakes.")


def node(agent: Agent[ErrorDiagnosis]) -> Any:
    """Node: ``{query, response, rubric, human_label, verdict, explanation}`` → ``{"diagnoses": [AgentResult]}``."""

    async def error_reflector_node(state: dict[str, Any]) -> dict[str, Any]:
        keys = ("query", "response", "rubric", "human_label", "verdict", "explanation")
        return {"diagnoses": [await agent.ainvoke({k: state[k] for k in keys})]}

    return error_reflector_node
