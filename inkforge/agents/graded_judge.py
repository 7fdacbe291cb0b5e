"""Graded judge: scores an item with the rubric on an integer scale (the judge reward's graded mode)."""

from __future__ import annotations

import functools

from pydantic import BaseModel, Field, create_model

from inkforge.agents.base import AgentDef

__all__ = ["GRADED_JUDGE", "GradedVerdict", "graded_schema"]


class GradedVerdict(BaseModel):
    """Grade the piece against the rubric: explain rule by rule, then give an integer score on the scale."""

    explanation: str = Field(min_length=1)
    score: int


@functools.lru_cache(maxsize=32)
def graded_schema(low: int, high: int) -> type[GradedVerdict]:
    """A :class:`GradedVerdict` whose ``score`` must lie in ``[low, high]`` (the re-ask signal).

    Example:
        >>> graded_schema(1, 5)(explanation="ok", score=4).score
        4
        >>> graded_schema(1, 5).model_json_schema()["properties"]["score"]["maximum"]
        5
    """
    model: type[GradedVerdict] = create_model(  # type: ignore[call-overload]
        f"GradedVerdict_{low}_{high}", __base__=GradedVerdict, __doc__=GradedVerdict.__doc__,
        score=(int, Field(ge=low, le=high, description=f"Integer from {low} (worst) to {high} (best).")))
    return model


#: Graded judge (vars ``query``, ``response``, ``rubric``, ``scale_min``, ``scale_max``). Bind it with
#: ``dataclasses.replace(GRADED_JUDGE, schema=graded_schema(lo, hi))`` to enforce the scale.
GRADED_JUDGE: AgentDef[GradedVerdict] = AgentDef(
    name="graded_judge", role="detector", schema=GradedVerdict, prompt="graded_judge",
    description="Scores an item with the rubric on an integer scale (graded judge reward).")
