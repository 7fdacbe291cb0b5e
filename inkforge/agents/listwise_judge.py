"""Listwise judge: ranks a group of completions with the rubric (the judge reward's listwise tie-break)."""

from __future__ import annotations

import functools

from pydantic import BaseModel, Field, create_model, model_validator

from inkforge.agents.base import AgentDef

__all__ = ["LISTWISE_JUDGE", "ListwiseRanking", "listwise_schema"]


class ListwiseRanking(BaseModel):
    """Rank the candidates against the rubric: explain briefly, then list candidate numbers best first."""

    reason: str = Field(min_length=1)
    ranking: list[int] = Field(min_length=1, description="Candidate numbers (1-based), best first, each once.")

    @model_validator(mode="after")
    def _permutation(self) -> ListwiseRanking:
        # The re-ask signal: a ranking must name every candidate exactly once.
        if sorted(self.ranking) != list(range(1, len(self.ranking) + 1)):
            raise ValueError(f"ranking must list each candidate number 1..{len(self.ranking)} exactly once, "
                             f"got {self.ranking}")
        return self


@functools.lru_cache(maxsize=64)
def listwise_schema(count: int) -> type[ListwiseRanking]:
    """A :class:`ListwiseRanking` whose JSON schema fixes the number of candidates to ``count``.

    Structured-output endpoints then emit exactly ``count`` numbers in ``1..count``.

    Example:
        >>> listwise_schema(3).model_json_schema()["properties"]["ranking"]["maxItems"]
        3
        >>> listwise_schema(3)(reason="具体", ranking=[2, 3, 1]).ranking
        [2, 3, 1]
    """
    item = (list[int], Field(min_length=count, max_length=count,
                             json_schema_extra={"items": {"type": "integer", "minimum": 1, "maximum": count},
                                                "uniqueItems": True},
                             description="Candidate numbers (1-based), best first, each exactly once."))
    model: type[ListwiseRanking] = create_model(  # type: ignore[call-overload]
        f"ListwiseRanking{count}", __base__=ListwiseRanking, __doc__=ListwiseRanking.__doc__, ranking=item)
    return model


#: Listwise ranking agent (vars ``query``, ``candidates`` (list), ``count``, ``rubric``). Bind it with
#: ``dataclasses.replace(LISTWISE_JUDGE, schema=listwise_schema(k))`` to fix the group size.
LISTWISE_JUDGE: AgentDef[ListwiseRanking] = AgentDef(
    name="listwise_judge", role="detector", schema=ListwiseRanking, prompt="listwise_judge",
    description="Ranks a group of completions with the rubric; used forward and reversed.")
