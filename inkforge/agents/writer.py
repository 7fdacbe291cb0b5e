"""Candidate writer: writes one item for a request, guided by retrieved few-shot examples."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from inkforge.agents.base import Agent, AgentDef


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


def format_examples(examples: list[dict[str, Any]], language: str = "zh") -> list[str]:
    """Few-shot rows (``query``, ``response``) as prompt lines."""
    label = "请求：" if language == "zh" else "Request: "
    return [f"{label}{e['query']}\n→ {e['response']}" for e in examples]


def node(agent: Agent[WriterOutput]) -> Any:
    """Node: ``{query, examples, sample}`` → ``{"candidates": [AgentResult]}``."""

    async def writer_node(state: dict[str, Any]) -> dict[str, Any]:
        res = await agent.ainvoke({"query": state["query"], "examples": format_examples(state.get("examples", []), agent.runtime.task.language)},
                                  sample=state.get("sample", 0))
        return {"candidates": [res]}

    return writer_node
