"""Evaluate a judge: the detector, with a rubric, against human labels and beside the length baseline.

Example:
    >>> import asyncio
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> fake = FakeChatModel(responder=lambda messages, schema: {"explanation": "ok", "verdict": "Good"})
    >>> rows = [{"query": "q", "response": "r" * n, "label": int(n > 40)} for n in (20, 30, 45, 60)]
    >>> report = asyncio.run(aevaluate_judge(Runtime.for_testing(fake), rows, n_boot=0))
    >>> report["overall"]["n"], report["rubric"]["default"], [i["verdict"] for i in report["items"]]
    (4, True, [1, 1, 1, 1])
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from inkforge.agents import DETECTOR, AgentDef
from inkforge.agents.base import AgentResult
from inkforge.agents.detector import detector_for_rubric
from inkforge.core.rubric import Rubric
from inkforge.evaluation.metrics import judge_report, response_length

__all__ = ["aevaluate_judge"]


async def aevaluate_judge(runtime: Any, rows: Sequence[dict[str, Any]], rubric: Rubric | None = None, *,
                          detector: AgentDef[Any] = DETECTOR, n_boot: int = 1000, seed: int = 0,
                          on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Judge labelled rows with a rubric (concurrently) and report against the length baseline.

    Args:
        runtime: The runtime (the detector role's model judges).
        rows: Labelled rows ``{"query", "response", "label"}``.
        rubric: The rubric; ``None``: the task's default. Its own prompt text is used when it has one.
        detector: Detector agent.
        n_boot: Bootstrap resamples.
        seed: Bootstrap seed.
        on_progress: Called with (done, total) after each row.

    Returns:
        :func:`inkforge.evaluation.metrics.judge_report` plus ``rubric``, ``model``, ``usage`` and per-row
        ``items`` (failures keep their status, error and raw output).
    """
    rb = rubric or Rubric.default(runtime.task.name)
    agent = detector_for_rubric(rubric, detector).bind(runtime)
    total = len(rows)
    done = 0

    async def one(row: dict[str, Any]) -> AgentResult[Any]:
        nonlocal done
        res = await agent.ainvoke({"query": row["query"], "response": row["response"], "rubric": list(rb.rules)})
        done += 1
        if on_progress is not None:
            on_progress(done, total)
        return res

    results = await asyncio.gather(*(one(r) for r in rows))
    preds = [r.output.label if r.ok and r.output is not None else None for r in results]
    statuses = [r.status for r in results]
    report = judge_report(rows, preds, statuses=statuses, n_boot=n_boot, seed=seed)
    items = []
    for i, (row, res, p) in enumerate(zip(rows, results, preds, strict=True)):
        item: dict[str, Any] = {"i": i, "length": response_length(row["response"]), "label": int(row["label"]),
                                "verdict": p, "status": res.status}
        if not res.ok:
            # Failures keep the raw output: it is what a human needs to fix a prompt or an endpoint.
            item.update(error=res.error, raw=res.raw)
        items.append(item)
    report.update(
        rubric={"version": rb.version, "task": rb.task, "rules": list(rb.rules),
                "default": rubric is None},
        model=runtime.spec_for(detector.role).identity(),
        usage=runtime.usage.as_dict(),
        items=items,
    )
    return report
