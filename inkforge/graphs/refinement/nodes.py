"""The nodes and routers of the judge-refinement graph, as module-level functions.

A node's dependencies (the bound agents, the settings, the task's language strings and starting
rules) come from LangGraph's run context, a :class:`RefinementContext`: the graph is built with
``StateGraph(RefinementState, context_schema=RefinementContext)``, every node takes
``runtime: langgraph.runtime.Runtime[RefinementContext]``, and a run passes
``context=refinement_context(runtime, ...)``. The nodes never branch on the task's language: the words
they put into feedback are ``task.text``, the rules they start from are the task's.

Example:
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> ctx = refinement_context(Runtime.for_testing(FakeChatModel(), task="poem"))
    >>> ctx.text.target_rubric, len(ctx.rubric) > 0
    ("S_D: the judge's rubric", True)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime as GraphRuntime
from langgraph.types import Send

from inkforge.agents import ADVERSARIAL_GENERATOR, DETECTOR, ERROR_REFLECTOR, RUBRIC_OPTIMIZER, AgentDef
from inkforge.agents.base import Agent, AgentResult
from inkforge.core.errors import FailFastError, InputError
from inkforge.core.tasks.text import TaskText
from inkforge.evaluation import fit_length_threshold, response_length, validation_metrics
from inkforge.evaluation.judge_eval import ajudge_all
from inkforge.graphs.refinement.config import RefinementConfig, default_rules
from inkforge.graphs.refinement.inputs import prepare_labels
from inkforge.graphs.refinement.state import AdversarialItem, LabelledItem, RefinementState
from inkforge.graphs.refinement.versions import RubricIdentity, rubric_identity, strategy_version
from inkforge.llm.runtime import Runtime

__all__ = ["RefinementContext", "StartingRubricFailed", "refinement_context"]


class StartingRubricFailed(FailFastError):
    """The starting rubric's gate mostly failed: the endpoint is broken, the run's checkpoint is dropped."""


@dataclass(frozen=True)
class RefinementContext:
    """What the refinement nodes need besides the state: LangGraph's run context of the graph.

    Attributes:
        generator: Bound agent writing flawed items following S_G.
        detector: Bound agent judging with S_D.
        error_reflector: Bound agent diagnosing the detector's mistakes.
        optimizer: Bound agent revising a rule list from merged feedback.
        config: Budgets, batches, split and gate.
        text: The task's language strings (feedback templates, optimiser targets, label words).
        rubric: The starting S_D.
        strategy: The starting S_G.
        identity: The provenance every S_D of the run shares: its :meth:`version` is the one every
            artifact records.
        length_slice: The length-controlled slice (the config's, else the task's).
        length_threshold: The task's fixed length rule, or ``None``.
    """

    generator: Agent[Any]
    detector: Agent[Any]
    error_reflector: Agent[Any]
    optimizer: Agent[Any]
    config: RefinementConfig
    text: TaskText
    rubric: tuple[str, ...]
    strategy: tuple[str, ...]
    identity: RubricIdentity
    length_slice: tuple[int, int]
    length_threshold: int | None

    def version(self, rules: Sequence[str]) -> str:
        """The version of an S_D: the :class:`~inkforge.core.rubric.Rubric`'s own content hash."""
        return self.identity.version(rules)

    def metrics(self, labels: list[int], preds: list[int | None], lengths: list[int],
                fitted_threshold: int | None) -> dict[str, Any]:
        """A rubric's metrics on one split, beside the length baselines of this run."""
        return validation_metrics(labels, preds, lengths, length_slice=self.length_slice,
                                  threshold=self.length_threshold, fitted_threshold=fitted_threshold)

    def clip(self, value: Any) -> str:
        """A text (or a short list, joined) quoted into feedback, cut to ``config.feedback_chars``."""
        s = self.text.list_separator.join(value) if isinstance(value, list) else str(value or "")
        cut = self.config.feedback_chars
        return s if len(s) <= cut else s[:cut] + "…"

    def capped(self, rules: list[str]) -> list[str]:
        """The first ``config.max_rules`` rules."""
        return list(rules)[: self.config.max_rules]


#: The ``runtime`` parameter of every node that needs the context.
Ctx = GraphRuntime[RefinementContext]


def refinement_context(runtime: Runtime, *, generator: AgentDef[Any] = ADVERSARIAL_GENERATOR,
                       detector: AgentDef[Any] = DETECTOR, error_reflector: AgentDef[Any] = ERROR_REFLECTOR,
                       optimizer: AgentDef[Any] = RUBRIC_OPTIMIZER,
                       config: RefinementConfig | None = None) -> RefinementContext:
    """Bind the agents to ``runtime`` and resolve the starting rules: the context a run passes.

    Raises:
        InputError: The task has no starting rules and the config sets none (see :func:`default_rules`).
    """
    cfg = config or RefinementConfig()
    task = runtime.task
    rubric, strategy = cfg.initial_rubric, cfg.initial_strategy
    if rubric is None or strategy is None:
        d_rubric, d_strategy = default_rules(task)
        rubric, strategy = rubric or d_rubric, strategy or d_strategy
    return RefinementContext(generator=generator.bind(runtime), detector=detector.bind(runtime),
                             error_reflector=error_reflector.bind(runtime), optimizer=optimizer.bind(runtime),
                             config=cfg, text=task.text, rubric=tuple(rubric), strategy=tuple(strategy),
                             identity=rubric_identity(runtime, detector),
                             length_slice=cfg.length_slice or task.length_slice,
                             length_threshold=task.length_rule_threshold)


# ----------------------------------------------------------------------------------------- helpers


def _tokens(*results: AgentResult[Any] | None) -> int:
    return sum(r.input_tokens + r.output_tokens for r in results if r is not None)


def _attempts(*results: AgentResult[Any] | None) -> int:
    return sum(r.attempts for r in results if r is not None)


def _failure(res: AgentResult[Any]) -> dict[str, Any]:
    # Failures keep the raw output: it is what a human needs to fix a prompt or an endpoint.
    return {"error": res.error, "raw": res.raw}


def _labelled_sends(node: str, state: RefinementState, indices: list[int], rules: list[str]) -> list[Send]:
    labels = state["labels"]
    return [Send(node, {"i": i, "query": labels[i]["query"], "response": labels[i]["response"],
                        "label": int(labels[i]["label"]), "rules": rules}) for i in indices]


# ---------------------------------------------------------------------------------- setup and gate


def setup(state: RefinementState, runtime: Ctx) -> dict[str, Any]:
    """De-duplicate and split the labels three ways; start from the task's (or the config's) rules."""
    ctx = runtime.context
    if not isinstance(ctx, RefinementContext):
        # The first node: say what is missing instead of an AttributeError deep in a later one.
        raise TypeError("the refinement graph needs its run context: invoke it with "
                        "context=refinement_context(runtime, config=...)")
    cfg = ctx.config
    # Also checked by arefine_judge before the run; here for callers invoking the graph directly.
    dedup, split = prepare_labels(state["labels"], cfg)
    if cfg.adversarial and not state.get("queries"):
        raise InputError("the adversarial phase needs queries", field="queries")
    rows = dedup.rows
    # The length-only rule a reader could have fitted without the test rows: the optimise and select splits.
    seen = split.optimize + split.select
    fitted, _ = fit_length_threshold([response_length(rows[i]["response"]) for i in seen],
                                     [int(rows[i]["label"]) for i in seen])
    return {"labels": rows, "label_counts": dedup.as_dict(), "optimize": split.optimize, "select": split.select,
            "test": split.test, "fitted_threshold": fitted, "rubric": list(ctx.rubric),
            "strategy": list(ctx.strategy), "candidate": None, "iteration": 0, "stale": 0, "best_kappa": None,
            "stop_reason": None, "val_results": None, "proposal": None, "test_report": None}


def after_setup(state: RefinementState) -> list[Send]:
    """Judge the starting rubric on the select split (the gate's rows)."""
    return _labelled_sends("validate_item", state, state["select"], state["rubric"])


async def validate_item(state: LabelledItem, runtime: Ctx) -> dict[str, Any]:
    """Judge one select-split row (a :class:`~inkforge.graphs.refinement.state.LabelledItem`) with a rule list."""
    item = state  # a Send payload, not the graph state
    res = await runtime.context.detector.ainvoke({"query": item["query"], "response": item["response"],
                                                  "rubric": item["rules"]})
    rec: dict[str, Any] = {"i": item["i"], "label": item["label"], "length": response_length(item["response"]),
                           "pred": res.output.label if res.ok and res.output is not None else None,
                           "status": res.status}
    if not res.ok:
        rec.update(_failure(res))
    return {"val_results": [rec], "tokens_used": _tokens(res), "calls": _attempts(res)}


def _phase_stats(state: RefinementState) -> dict[str, Any]:
    adv = state.get("adv_results") or []
    rf = state.get("refl_results") or []
    return {
        "adversarial": {"n": len(adv), "caught": sum(1 for r in adv if r.get("caught") is True),
                        "fooled": sum(1 for r in adv if r.get("caught") is False),
                        "failures": sum(1 for r in adv if r["status"] != "ok")},
        "reflection": {"n": len(rf), "mistakes": sum(1 for r in rf if r.get("mistake")),
                       "failures": sum(1 for r in rf if r["status"] != "ok")},
    }


def gate(state: RefinementState, runtime: Ctx) -> dict[str, Any]:
    """Accept or reject the iteration's candidate on its select-split κ, and decide whether to stop.

    Raises:
        StartingRubricFailed: The starting rubric's gate failed on more than ``max_failure_rate``.
    """
    ctx = runtime.context
    cfg = ctx.config
    it = state.get("iteration", 0)
    recs = sorted(state.get("val_results") or [], key=lambda r: r["i"])
    metrics = None
    if recs:
        metrics = ctx.metrics([r["label"] for r in recs], [r["pred"] for r in recs], [r["length"] for r in recs],
                              state.get("fitted_threshold"))
    upd: dict[str, Any] = {"candidate": None}
    best = state.get("best_kappa")
    stale = state.get("stale", 0)
    tokens = state.get("tokens_used", 0)
    entry: dict[str, Any]
    if best is None:
        assert metrics is not None
        if metrics["failure_rate"] > cfg.max_failure_rate:
            raise StartingRubricFailed(
                f"the starting rubric's validation failed on {metrics['parse_failures']} of {metrics['n']} "
                f"rows (more than max_failure_rate={cfg.max_failure_rate}); check the endpoint and model. "
                f"First failure: {next((r.get('error') for r in recs if r['pred'] is None), '')}")
        rules = state["rubric"]
        entry = {"iteration": 0, "target": "S_D", "kind": "initial", "rules": rules, "split": "select",
                 "version": ctx.version(rules), "metrics": metrics, "accepted": True, "improved": True,
                 "best_kappa": metrics["kappa"], "reason": "starting rubric", "proposal": []}
        upd.update(rubric_metrics=metrics, best_rubric=rules, best_metrics=metrics, initial_metrics=metrics,
                   best_kappa=metrics["kappa"], best_iteration=0, stale=0)
    else:
        cand = state.get("candidate")
        entry = {"iteration": it, "target": "S_D", "split": "select", "proposal": state.get("proposal") or [],
                 "phases": _phase_stats(state), "parent_version": ctx.version(state["rubric"])}
        if cand is None or metrics is None:
            stale += 1
            entry.update(kind="no_proposal", rules=None, version=None, metrics=None, accepted=False,
                         improved=False, best_kappa=best,
                         reason="no S_D change proposed (no mistakes, or the optimiser failed)")
        else:
            kappa = metrics["kappa"]
            accepted = kappa >= best - cfg.kappa_tolerance
            improved = kappa > best + cfg.min_improvement
            entry.update(kind="candidate", rules=cand, version=ctx.version(cand), metrics=metrics,
                         accepted=accepted, improved=improved)
            if accepted:
                upd.update(rubric=cand, rubric_metrics=metrics)
            if improved:
                upd.update(best_rubric=cand, best_metrics=metrics, best_kappa=kappa, best_iteration=it)
                stale = 0
            else:
                stale += 1
            entry["best_kappa"] = kappa if improved else best
            entry["reason"] = (f"κ {kappa:.3f} vs best {best:.3f} (tolerance {cfg.kappa_tolerance}): "
                               + ("accepted" if accepted else "rejected, the last accepted rubric stays"))
        upd["stale"] = stale
    entry["tokens_used"] = tokens
    stop = None
    if cfg.token_budget is not None and tokens >= cfg.token_budget:
        stop = "token_budget"
    elif it >= cfg.iterations:
        stop = "iterations"
    elif stale >= cfg.patience:
        stop = "patience"
    entry["stop"] = stop
    upd.update(stop_reason=stop, history=[entry])
    return upd


def after_gate(state: RefinementState) -> str:
    """Next iteration, or the end."""
    return "finish" if state.get("stop_reason") else "plan"


async def finish(state: RefinementState, runtime: Ctx) -> dict[str, Any]:
    """Judge the test split once, with the starting and the best S_D: the figures a run reports.

    No decision depends on these rows: the loop is over and the best rubric chosen (on the select
    split) before they are judged. Each distinct rubric is judged once (the best may be the starting
    one). The last node, so the final checkpoint says the run is over.

    Raises:
        FailFastError: More than ``max_failure_rate`` of these calls failed. The loop's checkpoint is
            kept: resuming judges the test split again.
    """
    ctx = runtime.context
    labels = state["labels"]
    test = list(state.get("test") or [])
    rules = {"starting": list(ctx.rubric), "best": list(state.get("best_rubric") or state["rubric"])}
    versions = {name: ctx.version(r) for name, r in rules.items()}
    distinct = list(dict.fromkeys(versions.values()))
    by_version = {versions[name]: r for name, r in rules.items()}
    try:
        results = await ajudge_all(ctx.detector, [
            {"query": labels[i]["query"], "response": labels[i]["response"], "rubric": by_version[v]}
            for v in distinct for i in test], max_failure_rate=ctx.config.max_failure_rate)
    except FailFastError as e:
        raise FailFastError(f"the test split's evaluation stopped: {e}. The refinement loop is saved: once fixed, "
                            "resume (--resume) judges the test split again") from e
    y = [int(labels[i]["label"]) for i in test]
    lengths = [response_length(labels[i]["response"]) for i in test]
    fitted = state.get("fitted_threshold")
    metrics: dict[str, dict[str, Any]] = {}
    for k, v in enumerate(distinct):
        res = results[k * len(test):(k + 1) * len(test)]
        preds = [r.output.label if r.ok and r.output is not None else None for r in res]
        metrics[v] = ctx.metrics(y, preds, lengths, fitted)
    m = metrics[versions["best"]]
    report = {
        "split": "test", "n": len(test), "positives": sum(y), "slice": list(ctx.length_slice),
        "slice_n": m["slice_n"],
        "starting": {"version": versions["starting"], "metrics": metrics[versions["starting"]]},
        "best": {"version": versions["best"], "iteration": state.get("best_iteration", 0), "metrics": m},
        "length_baseline": {
            "fixed": None if ctx.length_threshold is None else {
                "threshold": ctx.length_threshold, "accuracy": m["length_baseline_accuracy"],
                "kappa": m["length_baseline_kappa"], "slice_accuracy": m["slice_length_baseline_accuracy"]},
            "fitted": None if fitted is None else {
                "threshold": fitted, "fitted_on": "optimize+select", "accuracy": m["fitted_baseline_accuracy"],
                "kappa": m["fitted_baseline_kappa"], "slice_accuracy": m["slice_fitted_baseline_accuracy"]},
        },
    }
    return {"test_report": report, "tokens_used": _tokens(*results), "calls": _attempts(*results)}


# ------------------------------------------------------------------------------ adversarial phase


def plan(state: RefinementState, runtime: Ctx) -> dict[str, Any]:
    """Start an iteration: draw its adversarial queries and reflection rows (seeded)."""
    cfg = runtime.context.config
    it = state.get("iteration", 0) + 1
    rng = random.Random(f"iteration:{cfg.seed}:{it}")
    queries = state.get("queries") or []
    adv = rng.sample(range(len(queries)), min(cfg.adversarial_batch, len(queries))) if cfg.adversarial else []
    pool = state.get("optimize") or []
    rb = rng.sample(pool, min(cfg.reflection_batch, len(pool))) if cfg.reflection else []
    return {"iteration": it, "adv_batch": adv, "refl_batch": rb, "candidate": None, "adv_results": None,
            "refl_results": None, "val_results": None, "proposal": None}


def after_plan(state: RefinementState) -> Any:
    """Fan the adversarial queries out, or go straight to reflection."""
    if not state.get("adv_batch"):
        return "start_reflection"
    q = state["queries"]
    return [Send("adversarial_item", {"k": k, "query": q[k], "strategy": state["strategy"],
                                      "rules": state["rubric"], "sample": state["iteration"]})
            for k in state["adv_batch"]]


async def adversarial_item(state: AdversarialItem, runtime: Ctx) -> dict[str, Any]:
    """One flawed item (an :class:`~inkforge.graphs.refinement.state.AdversarialItem`), then its verdict."""
    ctx = runtime.context
    item = state  # a Send payload, not the graph state
    rec: dict[str, Any] = {"k": item["k"], "query": item["query"], "caught": None}
    g = await ctx.generator.ainvoke({"query": item["query"], "strategy": item["strategy"]}, sample=item["sample"])
    d = None
    if not g.ok or g.output is None:
        rec.update(status=f"generator:{g.status}", **_failure(g))
    else:
        out = g.output
        rec.update(response=out.response, planted_flaws=list(out.planted_flaws), explanation=out.explanation)
        d = await ctx.detector.ainvoke({"query": item["query"], "response": out.response, "rubric": item["rules"]})
        if not d.ok or d.output is None:
            rec.update(status=f"detector:{d.status}", **_failure(d))
        else:
            rec.update(status="ok", verdict=d.output.verdict, caught=d.output.verdict == "Bad",
                       detector_explanation=d.output.explanation,
                       generator_suggestion=d.output.generator_suggestion)
    return {"adv_results": [rec], "tokens_used": _tokens(g, d), "calls": _attempts(g, d)}


def collect_adversarial(state: RefinementState, runtime: Ctx) -> dict[str, Any]:
    """Join the adversarial results; the judged flawed items become hard negatives."""
    ctx = runtime.context
    it = state["iteration"]
    recs = sorted(state.get("adv_results") or [], key=lambda r: r["k"])
    hard = [{"prompt": r["query"], "rejected": r["response"], "explanation": r["explanation"],
             "planted_flaws": r["planted_flaws"], "caught": r["caught"],
             "detector_explanation": r["detector_explanation"], "iteration": it,
             "rubric_version": ctx.version(state["rubric"]),
             "strategy_version": strategy_version(state["strategy"])}
            for r in recs if r["status"] == "ok"]
    return {"hard_negatives": hard}


def after_adversarial(state: RefinementState) -> list[str]:
    """Caught flaws sharpen S_G, flaws that fooled the detector revise S_D (both when both happened)."""
    recs = state.get("adv_results") or []
    nxt = []
    if any(r.get("caught") is True for r in recs):
        nxt.append("optimize_strategy")
    if any(r.get("caught") is False for r in recs):
        nxt.append("revise_rubric_adversarial")
    return nxt or ["start_reflection"]


async def optimize_strategy(state: RefinementState, runtime: Ctx) -> dict[str, Any]:
    """One optimiser call merging every caught flaw into a subtler S_G (not gated)."""
    ctx = runtime.context
    txt = ctx.text
    recs = sorted((r for r in state.get("adv_results") or [] if r.get("caught") is True), key=lambda r: r["k"])
    feedback = [txt.caught.format(flaws=ctx.clip(r["planted_flaws"]),
                                  detector_explanation=ctx.clip(r["detector_explanation"]),
                                  suggestion=ctx.clip(r["generator_suggestion"] or "—")) for r in recs]
    parent = state["strategy"]
    res = await ctx.optimizer.ainvoke({"target": txt.target_strategy, "rules": parent, "feedback": feedback,
                                       "max_rules": ctx.config.max_rules})
    entry: dict[str, Any] = {"iteration": state["iteration"], "target": "S_G", "kind": "revision",
                             "sources": ["adversarial"], "feedback": feedback,
                             "parent_version": strategy_version(parent), "status": res.status, "gated": False}
    upd: dict[str, Any] = {"tokens_used": _tokens(res), "calls": _attempts(res)}
    if res.ok and res.output is not None:
        rules = ctx.capped(res.output.rules)
        entry.update(rules=rules, version=strategy_version(rules), changes=res.output.changes, accepted=True,
                     reason="S_G is the adversary's strategy: not gated on human labels")
        if len(res.output.rules) > len(rules):
            entry["dropped_rules"] = list(res.output.rules[len(rules):])
        upd["strategy"] = rules
    else:
        entry.update(rules=None, accepted=False, reason="optimiser failed; S_G unchanged", **_failure(res))
    upd["history"] = [entry]
    return upd


async def _revise_rubric(state: RefinementState, ctx: RefinementContext, source: str,
                         feedback: list[str]) -> dict[str, Any]:
    # Reflection refines the adversarial phase's candidate when there is one: one proposal per iteration.
    parent = state.get("candidate") or state["rubric"]
    res = await ctx.optimizer.ainvoke({"target": ctx.text.target_rubric, "rules": parent, "feedback": feedback,
                                       "max_rules": ctx.config.max_rules})
    item: dict[str, Any] = {"source": source, "feedback": feedback, "status": res.status}
    upd: dict[str, Any] = {"tokens_used": _tokens(res), "calls": _attempts(res)}
    if res.ok and res.output is not None:
        rules = ctx.capped(res.output.rules)
        item.update(changes=res.output.changes, rules=rules)
        if len(res.output.rules) > len(rules):
            # Over the cap despite the prompt: keep the first ones and say what was dropped.
            item["dropped_rules"] = list(res.output.rules[len(rules):])
        upd["candidate"] = rules
    else:
        item.update(_failure(res))
    upd["proposal"] = [item]
    return upd


async def revise_rubric_adversarial(state: RefinementState, runtime: Ctx) -> dict[str, Any]:
    """One optimiser call merging every flaw that fooled the detector into a candidate S_D."""
    ctx = runtime.context
    recs = sorted((r for r in state.get("adv_results") or [] if r.get("caught") is False), key=lambda r: r["k"])
    feedback = [ctx.text.fooled.format(query=ctx.clip(r["query"]), response=ctx.clip(r["response"]),
                                       flaws=ctx.clip(r["planted_flaws"]), explanation=ctx.clip(r["explanation"]),
                                       detector_explanation=ctx.clip(r["detector_explanation"])) for r in recs]
    return await _revise_rubric(state, ctx, "adversarial", feedback)


# ------------------------------------------------------------------------------- reflection phase


def start_reflection(state: RefinementState) -> dict[str, Any]:
    """Join point of the adversarial branches."""
    return {}


def after_start_reflection(state: RefinementState) -> Any:
    """Fan the reflection rows out (judged with the candidate if there is one), or go to validation."""
    batch = state.get("refl_batch") or []
    if not batch:
        return "start_validation"
    return _labelled_sends("reflect_item", state, batch, state.get("candidate") or state["rubric"])


async def reflect_item(state: LabelledItem, runtime: Ctx) -> dict[str, Any]:
    """Judge one training row (a :class:`~inkforge.graphs.refinement.state.LabelledItem`); diagnose a mistake."""
    ctx = runtime.context
    item = state  # a Send payload, not the graph state
    rec: dict[str, Any] = {"i": item["i"], "query": item["query"], "response": item["response"],
                           "label": item["label"], "mistake": False}
    d = await ctx.detector.ainvoke({"query": item["query"], "response": item["response"], "rubric": item["rules"]})
    r = None
    if not d.ok or d.output is None:
        # A failed verdict is not a mistake to reflect on: counted, never guessed.
        rec.update(status=f"detector:{d.status}", pred=None, **_failure(d))
    else:
        v = d.output
        rec.update(status="ok", pred=v.label, verdict=v.verdict, detector_explanation=v.explanation)
        if v.label != item["label"]:
            rec["mistake"] = True
            r = await ctx.error_reflector.ainvoke({"query": item["query"], "response": item["response"],
                                                   "rubric": item["rules"], "human_label": item["label"],
                                                   "verdict": v.verdict, "explanation": v.explanation})
            if r.ok and r.output is not None:
                rec.update(reflector_status="ok", diagnosis=r.output.diagnosis, suggestion=r.output.suggestion)
            else:
                rec.update(reflector_status=r.status, reflector_error=r.error, reflector_raw=r.raw)
    return {"refl_results": [rec], "tokens_used": _tokens(d, r), "calls": _attempts(d, r)}


def collect_reflection(state: RefinementState) -> dict[str, Any]:
    """Join point of the reflection rows."""
    return {}


def after_reflection(state: RefinementState) -> str:
    """Revise S_D when a mistake was diagnosed."""
    if any(r.get("reflector_status") == "ok" for r in state.get("refl_results") or []):
        return "revise_rubric_reflection"
    return "start_validation"


async def revise_rubric_reflection(state: RefinementState, runtime: Ctx) -> dict[str, Any]:
    """One optimiser call merging every diagnosed mistake into the candidate S_D."""
    ctx = runtime.context
    txt = ctx.text
    recs = sorted((r for r in state.get("refl_results") or [] if r.get("reflector_status") == "ok"),
                  key=lambda r: r["i"])
    feedback = [txt.mistake.format(human=txt.good if r["label"] == 1 else txt.bad, verdict=r["verdict"],
                                   query=ctx.clip(r["query"]), response=ctx.clip(r["response"]),
                                   diagnosis=ctx.clip(r["diagnosis"]), suggestion=ctx.clip(r["suggestion"]))
                for r in recs]
    return await _revise_rubric(state, ctx, "reflection", feedback)


# ------------------------------------------------------------------------------------------ gate


def start_validation(state: RefinementState) -> dict[str, Any]:
    """Clear the last gate's results."""
    return {"val_results": None}


def after_start_validation(state: RefinementState) -> Any:
    """Judge a new candidate on the select split; without one (or an unchanged one) go straight to the gate."""
    cand = state.get("candidate")
    if not cand or list(cand) == list(state["rubric"]):
        return "gate"
    return _labelled_sends("validate_item", state, state["select"], list(cand))
