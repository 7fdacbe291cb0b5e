"""Evaluate a judge: the detector, with a rubric, against human labels and beside the length baseline.

Besides agreement with the labels, the report carries the judge's **corrected pass rate**
(:func:`~inkforge.evaluation.prevalence.corrected_pass_rate`): the share of good items the judge's
verdicts imply once its measured true- and false-positive rates are accounted for, on unlabelled
items (e.g. a policy's completions) or, without them, on the labelled rows beside their true rate.

The evaluation fails honestly: label rows are de-duplicated first (the counts are in the report), and
once more than ``max_failure_rate`` of the judge calls fail (after :data:`MIN_CALLS` of them, or all
of them for a smaller set), the remaining calls are cancelled and
:class:`~inkforge.core.errors.FailFastError` names the failures: a report of garbage is never returned.

Example:
    >>> import asyncio
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> fake = FakeChatModel(responder=lambda messages, schema: {"explanation": "ok", "verdict": "Good"})
    >>> rows = [{"query": "q", "response": "r" * n, "label": int(n > 40)} for n in (20, 30, 45, 60)]
    >>> report = asyncio.run(aevaluate_judge(Runtime.for_testing(fake), rows, n_boot=0))
    >>> report["overall"]["n"], report["rubric"]["default"], [i["verdict"] for i in report["items"]]
    (4, True, [1, 1, 1, 1])
    >>> report["pass_rate"]["observed"], report["pass_rate"]["human"], report["pass_rate"]["corrected"]
    (1.0, 0.5, None)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from inkforge.agents import DETECTOR, AgentDef
from inkforge.agents.base import AgentResult
from inkforge.agents.detector import detector_for_rubric
from inkforge.core.errors import InputError
from inkforge.core.rubric import Rubric
from inkforge.evaluation.labels import dedupe_labels
from inkforge.evaluation.metrics import LENGTH_RULE_THRESHOLD, judge_report, response_length
from inkforge.evaluation.prevalence import corrected_pass_rate
from inkforge.llm.failwatch import MIN_CALLS, FailureWatch
from inkforge.llm.runtime import Runtime

log = logging.getLogger(__name__)

__all__ = ["MIN_CALLS", "aevaluate_judge", "ajudge_all"]

# The failure watch has one home, the model layer; re-exported here where evaluations always found it.
__all__ += ["FailureWatch"]


async def ajudge_all(agent: Any, inputs: Sequence[dict[str, Any]], *, max_failure_rate: float | None = 0.5,
                     in_flight: int | None = None,
                     on_progress: Callable[[int, int], None] | None = None) -> list[AgentResult[Any]]:
    """Run a bound judge agent on many inputs concurrently, stopping early when most calls fail.

    Model calls are limited by the runtime's shared limit; ``in_flight`` also bounds the inputs started
    and not finished, so that a failing endpoint is noticed after about ``in_flight`` inputs rather than
    after every input's first attempt (the shared limit serves queued calls in turn, re-asks included).
    Once a :class:`FailureWatch` trips, the calls still queued are cancelled and its
    :class:`~inkforge.core.errors.FailFastError` propagates.

    Args:
        agent: A bound agent (``agent.ainvoke(variables)`` returns an ``AgentResult``).
        inputs: The variables of each call (for the detector: ``query``, ``response``, ``rubric``).
        max_failure_rate: See :class:`FailureWatch`; ``None``: never stop.
        in_flight: Most inputs started and not finished; ``None``: no bound beyond the runtime's.
        on_progress: Called with (done, total) after each call.

    Returns:
        The results, in the order of ``inputs``.

    Raises:
        FailFastError: More than ``max_failure_rate`` of the calls failed.
    """
    total = len(inputs)
    watch = FailureWatch(max_failure_rate, total)
    gate = asyncio.Semaphore(in_flight or max(total, 1))
    done = 0

    async def one(variables: dict[str, Any]) -> AgentResult[Any]:
        nonlocal done
        async with gate:
            res: AgentResult[Any] = await agent.ainvoke(variables)
        done += 1
        if on_progress is not None:
            on_progress(done, total)
        spec = getattr(agent, "spec", None)
        watch.record(res.status, res.error, kind=getattr(res, "kind", None),
                     endpoint=getattr(spec, "base_url", None), key_env=getattr(spec, "api_key_env", None))
        return res

    tasks = [asyncio.ensure_future(one(v)) for v in inputs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        # Stop the calls still queued: a broken endpoint must not be asked thousands more times.
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def aevaluate_judge(runtime: Runtime, rows: Sequence[dict[str, Any]], rubric: Rubric | None = None, *,
                          detector: AgentDef[Any] = DETECTOR, n_boot: int = 1000, seed: int = 0,
                          unlabelled: Sequence[dict[str, Any]] | None = None,
                          max_failure_rate: float | None = 0.5,
                          on_progress: Callable[[int, int], None] | None = None,
                          bind: Callable[[AgentDef[Any]], Any] | None = None) -> dict[str, Any]:
    """Judge labelled rows with a rubric (concurrently) and report against the length baseline.

    Label rows are de-duplicated first (:func:`~inkforge.evaluation.labels.dedupe_labels`: one row per
    query and response, none for conflicting labels); the counts are in ``report["labels"]`` and a
    warning is logged. The length slice and the fixed length rule are the task's
    (``task.length_slice``, ``task.length_rule_threshold``, the paper's 39 characters when the task
    has none).

    Args:
        runtime: The runtime (the detector role's model judges).
        rows: Labelled rows ``{"query", "response", "label"}``.
        rubric: The rubric; ``None``: the task's default. Its own prompt text is used when it has one.
        detector: Detector agent.
        n_boot: Bootstrap resamples (0: no intervals).
        seed: Bootstrap seed.
        unlabelled: Rows ``{"query", "response"}`` to estimate the corrected pass rate of (kept as
            given, repeats included); ``None``: the estimate is made on the labelled rows.
        max_failure_rate: Stop with :class:`~inkforge.core.errors.FailFastError` once more than this
            share of the judge calls fail (see :class:`FailureWatch`); ``None``: never stop.
        on_progress: Called with (done, total) after each judge call.
        bind: How the detector is bound; default ``definition.bind(runtime)``. An executor's ``bind``
            (e.g. :class:`~inkforge.graphs.executors.RayExecutor`) runs the calls on its workers and adds
            their usage to ``runtime``'s.

    Returns:
        :func:`inkforge.evaluation.metrics.judge_report` plus ``labels`` (de-duplication counts),
        ``pass_rate`` (:func:`~inkforge.evaluation.prevalence.corrected_pass_rate`), ``rubric``
        (``version``: the :class:`~inkforge.core.rubric.Rubric`'s own hash), ``model``, ``usage``, per-row
        ``items`` and, with ``unlabelled``, ``unlabelled`` (``n`` and its ``items``). Failed items keep
        their status, error and raw output.

    Raises:
        InputError: No labelled row is left after de-duplication.
        FailFastError: Too many judge calls failed.
    """
    rb = rubric or Rubric.default(runtime.task.name)
    task = runtime.task
    definition = detector_for_rubric(rubric, detector)
    agent = bind(definition) if bind is not None else definition.bind(runtime)
    dedup = dedupe_labels(rows)
    if dedup.changed:
        log.warning("labels: %s", dedup.message())
    labelled = dedup.rows
    if not labelled:
        raise InputError(f"no labelled rows left after de-duplication ({dedup.message()})", field="label")
    extra = list(unlabelled or [])
    results = await ajudge_all(agent, [{"query": r["query"], "response": r["response"], "rubric": list(rb.rules)}
                                       for r in [*labelled, *extra]],
                               max_failure_rate=max_failure_rate, on_progress=on_progress,
                               # Enough to keep the shared limit busy, few enough to stop early.
                               in_flight=max(MIN_CALLS, 2 * runtime.config.concurrency))
    preds = [r.output.label if r.ok and r.output is not None else None for r in results]
    n_lab = len(labelled)
    threshold = task.length_rule_threshold if task.length_rule_threshold is not None else LENGTH_RULE_THRESHOLD
    report = judge_report(labelled, preds[:n_lab], statuses=[r.status for r in results[:n_lab]], n_boot=n_boot,
                          seed=seed, length_slice=task.length_slice, threshold=threshold)

    def items(src: Sequence[dict[str, Any]], res: Sequence[AgentResult[Any]],
              verdicts: Sequence[int | None]) -> list[dict[str, Any]]:
        out = []
        for i, (row, r, p) in enumerate(zip(src, res, verdicts, strict=True)):
            item: dict[str, Any] = {"i": i, "length": response_length(row["response"]), "verdict": p,
                                    "status": r.status}
            if "label" in row:
                item["label"] = int(row["label"])
            if not r.ok:
                # Failures keep the raw output: it is what a human needs to fix a prompt or an endpoint.
                item.update(error=r.error, raw=r.raw)
            out.append(item)
        return out

    report.update(
        labels=dedup.as_dict(),
        pass_rate=corrected_pass_rate([int(r["label"]) for r in labelled], preds[:n_lab],
                                      preds[n_lab:] if unlabelled is not None else None, n_boot=n_boot, seed=seed),
        rubric={"version": rb.version, "task": rb.task, "rules": list(rb.rules), "default": rubric is None},
        model=runtime.spec_for(detector.role).identity(),
        usage=runtime.usage.as_dict(),
        items=items(labelled, results[:n_lab], preds[:n_lab]),
    )
    if unlabelled is not None:
        report["unlabelled"] = {"n": len(extra), "items": items(extra, results[n_lab:], preds[n_lab:])}
    return report
