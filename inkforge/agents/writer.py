"""Candidate writer: writes one item for a request, guided by retrieved few-shot examples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field, field_validator

from inkforge.agents.base import AgentDef
from inkforge.core.tasks import TaskSpec


class WriterOutput(BaseModel):
    """Write one item (e.g. one greeting) that answers the request. Only the text, nothing else."""

    text: str = Field(min_length=2, description="The written item only: no title, quotes or explanation.")

    @field_validator("text")
    @classmethod
    def _clean(cls, v: str) -> str:
        v = v.strip().strip('"“”「」')
        if not v:
            raise ValueError("text is empty")
        return v


WRITER = AgentDef(name="writer", role="writer", schema=WriterOutput, prompt="writer",
                  description="Writes a candidate for a request, with few-shot examples.")


def format_examples(examples: Sequence[Mapping[str, Any]], task: TaskSpec) -> list[str]:
    """Few-shot rows (``query``, ``response``) as prompt lines, labelled in the task's language.

    Example:
        >>> from inkforge.core.tasks import POEM_TASK
        >>> format_examples([{"query": "rain", "response": "Grey lines of rain"}], POEM_TASK)
        ['Request: rain\\n→ Grey lines of rain']
    """
    return [f"{task.text.request_label}{e['query']}\n→ {e['response']}" for e in examples]
