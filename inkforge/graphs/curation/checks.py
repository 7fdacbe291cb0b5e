"""Extra curation nodes built from agents: check every judged candidate, veto some.

Example:
    >>> from pydantic import BaseModel
    >>> from inkforge.agents import AgentDef
    >>> from inkforge.graphs.curation import build_curation_graph
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> class Safe(BaseModel):
    ...     safe: bool
    >>> SAFETY = AgentDef(name="safety", role="judge", schema=Safe, prompt="## user\\n{{ response }}")
    >>> rt = Runtime.for_testing(FakeChatModel())
    >>> safety = agent_check_node(SAFETY, rt, veto=lambda out: None if out.safe else "unsafe")
    >>> graph = build_curation_graph(rt, reflector=None, extra_nodes={"safety": safety})
    >>> "judge --> safety" in graph.compile().get_graph().draw_mermaid()
    True
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from inkforge.agents.base import Agent, AgentDef
from inkforge.agents.registry import get_agent
from inkforge.graphs.curation.graph import CurationState, VetoEntry, result_record
from inkforge.graphs.curation.job import failure_record
from inkforge.graphs.curation.pairing import output_of


class AgentCheckNode:
    """An extra node (a plain callable over the state) that runs an agent on every judged candidate.

    Built by :func:`agent_check_node`; see there.

    Attributes:
        agent: The bound checking agent.
        veto: Output → veto reason, or ``None`` to let the candidate pass.
        name: Name used in veto and failure records.
    """

    def __init__(self, agent: Agent[Any], veto: Callable[[Any], str | None], name: str) -> None:
        self.agent, self.veto, self.name = agent, veto, name

    async def __call__(self, state: CurationState) -> dict[str, Any]:
        judged = sorted({e["candidate"] for e in state.get("verdicts", []) if output_of(e) is not None})
        texts = {c["candidate"]: c["text"] for c in state.get("candidates", [])}
        results = await asyncio.gather(*[self.agent.ainvoke({"query": state["query"], "response": texts[i]})
                                         for i in judged])
        vetoes, failures = [], []
        for i, res in zip(judged, results, strict=True):
            if not res.ok:
                failures.append(failure_record(state, self.name, self.name, i, result_record(res)))
                continue
            reason = self.veto(res.output)
            if reason:
                vetoes.append(VetoEntry(candidate=i, by=self.name, reason=str(reason)))
        return {"vetoes": vetoes, "failures": failures}

    def __repr__(self) -> str:
        return f"AgentCheckNode({self.name!r})"


def agent_check_node(agent: AgentDef[Any] | str | Agent[Any], runtime: Any, *, veto: Callable[[Any], str | None],
                     name: str | None = None) -> AgentCheckNode:
    """An extra node that runs ``agent`` on every judged candidate and vetoes some.

    Args:
        agent: Agent called with ``{"query", "response"}`` for each judged candidate.
        runtime: Runtime to bind it to.
        veto: Output → veto reason (the candidate then counts as bad) or ``None`` to let it pass.
        name: Name used in veto and failure records (default: the agent's name).

    A failed check is a failure record for that candidate, which excludes it from pairing (it is
    not known to be safe, and it is not known to be bad either).

    Example::

        safety = agent_check_node(SAFETY, runtime, veto=lambda out: None if out.safe else out.reason)
        graph = build_curation_graph(runtime, extra_nodes={"safety": safety})
    """
    bound = agent if isinstance(agent, Agent) else get_agent(agent).bind(runtime)
    return AgentCheckNode(bound, veto, name or bound.name)
