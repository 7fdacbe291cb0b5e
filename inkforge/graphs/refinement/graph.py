"""Judge refinement: an adversarial game plus reflection, gated on held-out human labels.

The judge (the *detector*) follows explicit principles, the rubric S_D. The labels are de-duplicated
and split three ways, stratified by label: **optimise** (the reflection phase's rows), **select** (the
gate's) and **test** (no decision uses them). Each iteration of the graph:

1. **Adversarial phase.** A generator writes plausible but subtly flawed items for a batch of queries,
   following a flaw strategy S_G; the detector judges them with the accepted S_D. Flaws it catches
   sharpen S_G (the adversary must get subtler); flaws that fool it become feedback for S_D. Each
   target gets *one* optimiser call that merges the whole phase's feedback (never one call per item).
2. **Reflection phase.** The detector judges a batch of the optimise split's rows with the candidate
   S_D; an error reflector diagnoses every mistake; one optimiser call merges the diagnoses into the
   candidate.
3. **Gate.** The candidate S_D judges the select split. It is accepted only if Cohen's κ does not
   drop more than ``kappa_tolerance`` below the best κ so far; otherwise the last accepted rubric
   stays. Accuracy, recall per class, the length-controlled slice and the length-only baselines on
   the same rows are recorded beside κ. Parse failures are counted as wrong verdicts for the gate (a
   rubric that makes the judge fail must not win) and reported separately.
4. **Stop** on the iteration budget, on ``patience`` iterations without a κ improvement, or when the
   tokens spent reach ``token_budget`` (checked after each gate, so a run overshoots by at most one
   iteration).

The best rubric is picked on the select split, so its κ there is biased upward. The last node
(``finish``) therefore judges the **test** split once, with the starting and the best rubric, beside
the length-only baselines (the task's fixed rule, and a threshold fitted on the optimise and select
rows): those are the figures a run reports. This final evaluation is outside the token budget (at
most twice the test split's size in calls).

S_G is not gated: it is the adversary's strategy, with no human labels to check it against; every
revision is recorded in the history.

The nodes (:mod:`inkforge.graphs.refinement.nodes`) are module-level functions that read their
agents and settings from LangGraph's run context (:class:`~inkforge.graphs.refinement.nodes.RefinementContext`);
the state (:mod:`inkforge.graphs.refinement.state`) holds only JSON-like values, so a checkpointer can
resume a crashed run from its last finished step, and per-item model calls fan out with ``Send``
under the runtime's shared concurrency limit. :func:`~inkforge.graphs.refinement.run.arefine_judge`
runs the graph through the dataset runner (:mod:`inkforge.graphs.runner`).

Example:
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> graph = build_judge_refinement_graph(Runtime.for_testing(FakeChatModel()), config=RefinementConfig())
    >>> sorted(graph.get_graph().nodes)[:4]
    ['__end__', '__start__', 'adversarial_item', 'collect_adversarial']
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from inkforge.agents import ADVERSARIAL_GENERATOR, DETECTOR, ERROR_REFLECTOR, RUBRIC_OPTIMIZER, AgentDef
from inkforge.graphs.refinement import nodes as n
from inkforge.graphs.refinement.config import RefinementConfig
from inkforge.graphs.refinement.nodes import RefinementContext, refinement_context
from inkforge.graphs.refinement.state import AdversarialItem, LabelledItem, RefinementState
from inkforge.llm.runtime import Runtime

__all__ = ["build_judge_refinement_graph", "judge_refinement_builder"]


def judge_refinement_builder() -> StateGraph[RefinementState, RefinementContext, RefinementState,
                                             RefinementState]:
    """The uncompiled refinement :class:`~langgraph.graph.StateGraph` (its context: a ``RefinementContext``).

    Example:
        >>> "gate" in judge_refinement_builder().nodes
        True
    """
    b = StateGraph(RefinementState, context_schema=RefinementContext)
    b.add_node("setup", n.setup)
    b.add_node("validate_item", n.validate_item, input_schema=LabelledItem)
    b.add_node("gate", n.gate)
    b.add_node("plan", n.plan)
    b.add_node("adversarial_item", n.adversarial_item, input_schema=AdversarialItem)
    b.add_node("collect_adversarial", n.collect_adversarial)
    b.add_node("optimize_strategy", n.optimize_strategy)
    b.add_node("revise_rubric_adversarial", n.revise_rubric_adversarial)
    b.add_node("start_reflection", n.start_reflection)
    b.add_node("reflect_item", n.reflect_item, input_schema=LabelledItem)
    b.add_node("collect_reflection", n.collect_reflection)
    b.add_node("revise_rubric_reflection", n.revise_rubric_reflection)
    b.add_node("start_validation", n.start_validation)
    b.add_node("finish", n.finish)

    b.add_edge(START, "setup")
    b.add_conditional_edges("setup", n.after_setup, ["validate_item"])
    b.add_edge("validate_item", "gate")
    b.add_conditional_edges("gate", n.after_gate, ["plan", "finish"])
    b.add_conditional_edges("plan", n.after_plan, ["adversarial_item", "start_reflection"])
    b.add_edge("adversarial_item", "collect_adversarial")
    b.add_conditional_edges("collect_adversarial", n.after_adversarial,
                            ["optimize_strategy", "revise_rubric_adversarial", "start_reflection"])
    b.add_edge("optimize_strategy", "start_reflection")
    b.add_edge("revise_rubric_adversarial", "start_reflection")
    b.add_conditional_edges("start_reflection", n.after_start_reflection, ["reflect_item", "start_validation"])
    b.add_edge("reflect_item", "collect_reflection")
    b.add_conditional_edges("collect_reflection", n.after_reflection,
                            ["revise_rubric_reflection", "start_validation"])
    b.add_edge("revise_rubric_reflection", "start_validation")
    b.add_conditional_edges("start_validation", n.after_start_validation, ["validate_item", "gate"])
    b.add_edge("finish", END)
    return b


def build_judge_refinement_graph(runtime: Runtime, *, generator: AgentDef[Any] = ADVERSARIAL_GENERATOR,
                                 detector: AgentDef[Any] = DETECTOR,
                                 error_reflector: AgentDef[Any] = ERROR_REFLECTOR,
                                 optimizer: AgentDef[Any] = RUBRIC_OPTIMIZER,
                                 config: RefinementConfig | None = None,
                                 checkpointer: Any = None) -> Any:
    """Compile the refinement state machine.

    The nodes take their agents and settings from the run context, so every invocation passes
    ``context=refinement_context(runtime, ...)`` with the same arguments as here (a
    :class:`~inkforge.graphs.refinement.nodes.RefinementContext`). They are checked here, so a task
    without starting rules fails when the graph is built, not mid-run.

    Args:
        runtime: The :class:`~inkforge.llm.runtime.Runtime` (models per role, shared limit, cache, task).
        generator: Writes flawed items following S_G (schema like
            :class:`~inkforge.agents.FlawedSample`; variables ``query``, ``strategy``).
        detector: Judges with S_D (:class:`~inkforge.agents.DetectorVerdict`; ``query``, ``response``,
            ``rubric``).
        error_reflector: Diagnoses detector mistakes (:class:`~inkforge.agents.ErrorDiagnosis`).
        optimizer: Revises a rule list from merged feedback (:class:`~inkforge.agents.RubricRevision`).
        config: Budgets, batches, split and gate.
        checkpointer: A LangGraph checkpointer (needed for resuming; :func:`arefine_judge` runs the
            graph through the dataset runner's SQLite checkpointer).

    Returns:
        A compiled graph. Invoke with ``{"labels": [...], "queries": [...]}`` and the context; the final
        state holds ``best_rubric``, ``strategy``, ``history`` and ``hard_negatives``.

    Raises:
        InputError: The task has no starting rules and the config sets none.

    Example:
        >>> import asyncio
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel
        >>> fake = FakeChatModel(responder=lambda messages, schema: {"explanation": "ok", "verdict": "Good"})
        >>> rt, cfg = Runtime.for_testing(fake), RefinementConfig(iterations=0)
        >>> rows = [{"query": "q", "response": f"r{i}", "label": i % 2} for i in range(6)]
        >>> graph = build_judge_refinement_graph(rt, config=cfg)
        >>> state = asyncio.run(graph.ainvoke({"labels": rows, "queries": ["q"]},
        ...                                   context=refinement_context(rt, config=cfg)))
        >>> state["stop_reason"], [h["kind"] for h in state["history"]]
        ('iterations', ['initial'])
    """
    refinement_context(runtime, generator=generator, detector=detector, error_reflector=error_reflector,
                       optimizer=optimizer, config=config)
    return judge_refinement_builder().compile(checkpointer=checkpointer)
