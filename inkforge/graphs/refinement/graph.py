"""Judge refinement: an adversarial game plus reflection, gated on held-out human labels.

The judge (the *detector*) follows explicit principles, the rubric S_D. Each iteration of the graph:

1. **Adversarial phase.** A generator writes plausible but subtly flawed items for a batch of queries,
   following a flaw strategy S_G; the detector judges them with the accepted S_D. Flaws it catches
   sharpen S_G (the adversary must get subtler); flaws that fool it become feedback for S_D. Each
   target gets *one* optimiser call that merges the whole phase's feedback (never one call per item).
2. **Reflection phase.** The detector judges a batch of human-labelled training rows with the
   candidate S_D; an error reflector diagnoses every mistake; one optimiser call merges the diagnoses
   into the candidate.
3. **Validation gate.** The candidate S_D judges a held-out labelled split. It is accepted only if
   Cohen's κ does not drop more than ``kappa_tolerance`` below the best κ so far; otherwise the last
   accepted rubric stays. Accuracy, recall per class, accuracy on the 30–50-character slice and the
   length-only baseline on the same rows are recorded beside κ. Parse failures are counted as wrong
   verdicts for the gate (a rubric that makes the judge fail must not win) and reported separately.
4. **Stop** on the iteration budget, on ``patience`` iterations without a κ improvement, or when the
   tokens spent reach ``token_budget`` (checked after each gate, so a run overshoots by at most one
   iteration).

S_G is not gated: it is the adversary's strategy, with no human labels to check it against; every
revision is recorded in the history.

The state holds only JSON-like values, so a LangGraph checkpointer (SQLite in :func:`arefine_judge`)
can resume a crashed run from its last finished step, and per-item model calls fan out with ``Send``
under the runtime's shared concurrency limit.

Example:
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> graph = build_judge_refinement_graph(Runtime.for_testing(FakeChatModel()), config=RefinementConfig())
    >>> sorted(graph.get_graph().nodes)[:4]
    ['__end__', '__start__', 'adversarial_item', 'collect_adversarial']
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import operator
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inkforge.agents import ADVERSARIAL_GENERATOR, DETECTOR, ERROR_REFLECTOR, RUBRIC_OPTIMIZER, AgentDef
from inkforge.agents.base import AgentResult
from inkforge.agents.detector import detector_for_rubric
from inkforge.agents.rubric_optimizer import MAX_RULES
from inkforge.core.errors import FailFastError, InputError
from inkforge.core.io import atomic_write
from inkforge.core.rubric import Rubric
from inkforge.core.tasks import TaskSpec
from inkforge.evaluation import LENGTH_SLICE, judge_report, response_length, validation_metrics

log = logging.getLogger(__name__)

__all__ = [
    "AdversarialItem", "LabelledItem", "RefinementConfig", "RefinementResult", "RefinementState", "aevaluate_judge", "arefine_judge",
    "build_judge_refinement_graph", "collect", "detector_for_rubric", "load_queries", "refine_judge",
    "split_labels", "thread_id",
]

ARTIFACTS = ("rubric.json", "history.jsonl", "hard_negatives.jsonl", "strategy.json", "summary.json")


# ----------------------------------------------------------------------------------------- config


class RefinementConfig(BaseModel):
    """Budgets, batch sizes, split and gate of a judge-refinement run.

    Attributes:
        iterations: Iterations (adversarial + reflection + gate) at most.
        patience: Stop after this many iterations without a κ improvement.
        token_budget: Stop once this many tokens were spent (checked after each gate); ``None``: no limit.
        adversarial_batch: Queries per adversarial phase.
        reflection_batch: Labelled training rows per reflection phase.
        val_fraction: Share of the labels held out for the gate (stratified by label).
        kappa_tolerance: A candidate is accepted iff its κ ≥ best κ − this.
        min_improvement: κ must exceed the best by more than this to reset patience.
        max_rules: Most rules in S_D and S_G (the optimiser's schema allows 10).
        seed: Seed of the split and of the batch draws.
        adversarial: Run the adversarial phase.
        reflection: Run the reflection phase.
        length_slice: Inclusive character bounds of the length-controlled slice.
        max_failure_rate: If the starting rubric's validation fails (status not ok) on more than this
            share of rows, stop with :class:`~inkforge.core.errors.FailFastError`: the endpoint is broken.
        initial_rubric: Starting S_D; ``None``: the task's default.
        initial_strategy: Starting S_G; ``None``: the task's default.
        feedback_chars: Texts quoted into optimiser feedback are cut to this many characters.

    Example:
        >>> RefinementConfig(iterations=3, val_fraction=0.25).kappa_tolerance
        0.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    iterations: int = Field(default=5, ge=0)
    patience: int = Field(default=3, ge=1)
    token_budget: int | None = Field(default=None, gt=0)
    adversarial_batch: int = Field(default=8, ge=1)
    reflection_batch: int = Field(default=16, ge=1)
    val_fraction: float = Field(default=0.3, gt=0.0, lt=1.0)
    kappa_tolerance: float = Field(default=0.0, ge=0.0, le=2.0)
    min_improvement: float = Field(default=0.0, ge=0.0)
    max_rules: int = Field(default=MAX_RULES, ge=1, le=MAX_RULES)
    seed: int = 0
    adversarial: bool = True
    reflection: bool = True
    length_slice: tuple[int, int] = LENGTH_SLICE
    max_failure_rate: float = Field(default=0.5, gt=0.0, le=1.0)
    initial_rubric: tuple[str, ...] | None = None
    initial_strategy: tuple[str, ...] | None = None
    feedback_chars: int = Field(default=300, ge=20)

    @model_validator(mode="after")
    def _check(self) -> RefinementConfig:
        if not (self.adversarial or self.reflection):
            raise ValueError("enable at least one phase (adversarial or reflection)")
        if self.length_slice[0] > self.length_slice[1]:
            raise ValueError("length_slice must be (low, high) with low <= high")
        for name in ("initial_rubric", "initial_strategy"):
            rules = getattr(self, name)
            if rules is not None and not 1 <= len(rules) <= self.max_rules:
                raise ValueError(f"{name} needs 1 to max_rules ({self.max_rules}) rules")
        return self

    @classmethod
    def load(cls, path: str | Path, overrides: Mapping[str, Any] | None = None) -> RefinementConfig:
        """Read a YAML file of these fields (a top-level ``refinement:`` mapping is also accepted).

        Args:
            path: The YAML file.
            overrides: Fields set on top (``None`` values are ignored), e.g. from CLI flags.

        Raises:
            InputError: Missing file, bad YAML, or a field that does not validate (named).
        """
        import yaml

        p = Path(path)
        if not p.is_file():
            raise InputError("refinement config not found", file=str(p))
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise InputError(f"invalid YAML: {e}", file=str(p)) from None
        if isinstance(raw, dict) and isinstance(raw.get("refinement"), dict):
            raw = raw["refinement"]
        if not isinstance(raw, dict):
            raise InputError("top level must be a mapping", file=str(p))
        return cls.from_dict(raw, overrides, source=str(p))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], overrides: Mapping[str, Any] | None = None, *,
                  source: str = "<flags>") -> RefinementConfig:
        """Validate ``data`` plus the non-``None`` ``overrides``; errors name the source and the field.

        Example:
            >>> RefinementConfig.from_dict({"iterations": 2}, {"iterations": 4, "seed": None}).iterations
            4
        """
        merged = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
        try:
            return cls.model_validate(merged)
        except ValidationError as e:
            err = e.errors()[0]
            raise InputError(err["msg"], file=source, field=".".join(map(str, err["loc"])) or None) from None


# ------------------------------------------------------------------------------------------ state


def collect(left: list[Any] | None, right: list[Any] | None) -> list[Any]:
    """Reducer of per-phase lists: parallel ``Send`` results append; ``None`` empties it (new iteration).

    Example:
        >>> collect([1], [2]), collect([1, 2], None)
        ([1, 2], [])
    """
    if right is None:
        return []
    return [*(left or []), *right]


class RefinementState(TypedDict, total=False):
    """State of the refinement graph. Only JSON-like values, so checkpoints stay portable.

    Inputs are ``labels`` (``{"query", "response", "label"}`` rows) and ``queries``.
    """

    labels: list[dict[str, Any]]
    queries: list[str]
    train: list[int]
    val: list[int]
    #: S_G, the flaw strategy (not gated).
    strategy: list[str]
    #: The last accepted S_D and its validation metrics.
    rubric: list[str]
    rubric_metrics: dict[str, Any]
    #: The accepted S_D with the highest κ (ties keep the earlier one), written to ``rubric.json``.
    best_rubric: list[str]
    best_metrics: dict[str, Any]
    best_kappa: float | None
    best_iteration: int
    initial_metrics: dict[str, Any]
    #: The S_D proposal of the current iteration (``None``: none yet).
    candidate: list[str] | None
    iteration: int
    #: Iterations since the last κ improvement.
    stale: int
    stop_reason: str | None
    adv_batch: list[int]
    refl_batch: list[int]
    tokens_used: Annotated[int, operator.add]
    calls: Annotated[int, operator.add]
    adv_results: Annotated[list[dict[str, Any]], collect]
    refl_results: Annotated[list[dict[str, Any]], collect]
    val_results: Annotated[list[dict[str, Any]], collect]
    #: The optimiser calls behind the current candidate: source, feedback, changes, status.
    proposal: Annotated[list[dict[str, Any]], collect]
    history: Annotated[list[dict[str, Any]], operator.add]
    hard_negatives: Annotated[list[dict[str, Any]], operator.add]


class LabelledItem(TypedDict):
    """``Send`` payload of one labelled row judged with a rule list (validation and reflection)."""

    i: int
    query: str
    response: str
    label: int
    rules: list[str]


class AdversarialItem(TypedDict):
    """``Send`` payload of one adversarial query."""

    k: int
    query: str
    strategy: list[str]
    rules: list[str]
    sample: int


# ----------------------------------------------------------------------------------------- helpers

def _digest(value: Any) -> str:
    blob = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _rules_version(rules: Sequence[str]) -> str:
    return _digest(list(rules))[:12]


def _tokens(*results: AgentResult[Any] | None) -> int:
    return sum(r.input_tokens + r.output_tokens for r in results if r is not None)


def _attempts(*results: AgentResult[Any] | None) -> int:
    return sum(r.attempts for r in results if r is not None)


def _failure(res: AgentResult[Any]) -> dict[str, Any]:
    # Failures keep the raw output: it is what a human needs to fix a prompt or an endpoint.
    return {"error": res.error, "raw": res.raw}


def default_rules(task: TaskSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(S_D, S_G) defaults of a task.

    Raises:
        InputError: The task has no starting rubric or strategy (set ``initial_rubric`` /
            ``initial_strategy``).

    Example:
        >>> from inkforge.core.tasks import GREETING_TASK
        >>> rubric, strategy = default_rules(GREETING_TASK)
        >>> len(rubric), len(strategy)
        (6, 5)
    """
    if not task.rubric or not task.flaw_strategy:
        raise InputError(f"no default rubric/strategy for task {task.name!r}; set initial_rubric and "
                         "initial_strategy in the refinement config", field="task")
    return task.rubric, task.flaw_strategy


def split_labels(labels: Sequence[dict[str, Any]], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified train/validation split of label rows, by index.

    Each class puts ``round(n_class * val_fraction)`` rows (at least one when it has two or more) into
    validation; the draw is seeded.

    Example:
        >>> rows = [{"label": i % 2} for i in range(10)]
        >>> train, val = split_labels(rows, 0.4, seed=0)
        >>> len(val), sorted({rows[i]["label"] for i in val})
        (4, [0, 1])
    """
    rng = random.Random(f"split:{seed}")
    train: list[int] = []
    val: list[int] = []
    for cls in (0, 1):
        idx = [i for i, r in enumerate(labels) if int(r["label"]) == cls]
        rng.shuffle(idx)
        k = round(len(idx) * val_fraction)
        if len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        val.extend(idx[:k])
        train.extend(idx[k:])
    return sorted(train), sorted(val)


def load_queries(path: str | Path) -> list[str]:
    """Queries from a text file (one per line) or a JSONL file (``query`` or ``prompt`` field).

    Blank lines are skipped and duplicates dropped (first occurrence kept).

    Raises:
        InputError: Missing file, bad JSON or a row without a query (file, line and field named).

    Example:
        >>> from importlib import resources
        >>> len(load_queries(resources.files("inkforge.data") / "sample_queries.txt")) > 5
        True
    """
    from inkforge.graphs.items import read_queries

    out: list[str] = []
    seen: set[str] = set()
    for item in read_queries(Path(str(path))):
        if item.query not in seen:
            seen.add(item.query)
            out.append(item.query)
    if not out:
        raise InputError("no queries", file=str(path))
    return out


# ------------------------------------------------------------------------------------------ graph


def build_judge_refinement_graph(runtime: Any, *, generator: AgentDef[Any] = ADVERSARIAL_GENERATOR,
                                 detector: AgentDef[Any] = DETECTOR,
                                 error_reflector: AgentDef[Any] = ERROR_REFLECTOR,
                                 optimizer: AgentDef[Any] = RUBRIC_OPTIMIZER,
                                 config: RefinementConfig | None = None,
                                 checkpointer: Any = None) -> Any:
    """Compile the refinement state machine.

    Args:
        runtime: The :class:`~inkforge.llm.runtime.Runtime` (models per role, shared limit, cache, task).
        generator: Writes flawed items following S_G (schema like
            :class:`~inkforge.agents.FlawedSample`; variables ``query``, ``strategy``).
        detector: Judges with S_D (:class:`~inkforge.agents.DetectorVerdict`; ``query``, ``response``,
            ``rubric``).
        error_reflector: Diagnoses detector mistakes (:class:`~inkforge.agents.ErrorDiagnosis`).
        optimizer: Revises a rule list from merged feedback (:class:`~inkforge.agents.RubricRevision`).
        config: Budgets, batches, split and gate.
        checkpointer: A LangGraph checkpointer (needed for resuming; :func:`arefine_judge` uses SQLite).

    Returns:
        A compiled graph. Invoke with ``{"labels": [...], "queries": [...]}``; the final state holds
        ``best_rubric``, ``strategy``, ``history`` and ``hard_negatives``.

    Example:
        >>> # state = await graph.ainvoke({"labels": rows, "queries": qs}, {"configurable": {"thread_id": "t"}})
    """
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Send

    cfg = config or RefinementConfig()
    task = runtime.task
    txt = task.text
    if cfg.initial_rubric is None or cfg.initial_strategy is None:
        d_rubric, d_strategy = default_rules(task)
    init_rubric = list(cfg.initial_rubric or d_rubric)
    init_strategy = list(cfg.initial_strategy or d_strategy)
    gen = generator.bind(runtime)
    det = detector.bind(runtime)
    refl = error_reflector.bind(runtime)
    opt = optimizer.bind(runtime)
    cut = cfg.feedback_chars

    def clip(value: Any) -> str:
        s = txt.list_separator.join(value) if isinstance(value, list) else str(value or "")
        return s if len(s) <= cut else s[:cut] + "…"

    def capped(rules: list[str]) -> list[str]:
        return list(rules)[: cfg.max_rules]

    # -- setup and validation -------------------------------------------------------------------

    def setup(state: RefinementState) -> dict[str, Any]:
        # Also checked by arefine_judge before the run; here for callers invoking the graph directly.
        check_inputs(state["labels"], state.get("queries") or [], cfg)
        train, val = split_labels(state["labels"], cfg.val_fraction, cfg.seed)
        return {"train": train, "val": val, "rubric": init_rubric, "strategy": init_strategy,
                "candidate": None, "iteration": 0, "stale": 0, "best_kappa": None, "stop_reason": None,
                "val_results": None, "proposal": None}

    def validation_sends(state: RefinementState, rules: list[str]) -> list[Send]:
        labels = state["labels"]
        return [Send("validate_item", {"i": i, "query": labels[i]["query"], "response": labels[i]["response"],
                                       "label": int(labels[i]["label"]), "rules": rules})
                for i in state["val"]]

    async def validate_item(state: LabelledItem) -> dict[str, Any]:
        item = state  # a Send payload, not the graph state
        res = await det.ainvoke({"query": item["query"], "response": item["response"], "rubric": item["rules"]})
        rec: dict[str, Any] = {"i": item["i"], "label": item["label"], "length": response_length(item["response"]),
                               "pred": res.output.label if res.ok and res.output is not None else None,
                               "status": res.status}
        if not res.ok:
            rec.update(_failure(res))
        return {"val_results": [rec], "tokens_used": _tokens(res), "calls": _attempts(res)}

    def phase_stats(state: RefinementState) -> dict[str, Any]:
        adv = state.get("adv_results") or []
        rf = state.get("refl_results") or []
        return {
            "adversarial": {"n": len(adv), "caught": sum(1 for r in adv if r.get("caught") is True),
                            "fooled": sum(1 for r in adv if r.get("caught") is False),
                            "failures": sum(1 for r in adv if r["status"] != "ok")},
            "reflection": {"n": len(rf), "mistakes": sum(1 for r in rf if r.get("mistake")),
                           "failures": sum(1 for r in rf if r["status"] != "ok")},
        }

    def gate(state: RefinementState) -> dict[str, Any]:
        it = state.get("iteration", 0)
        recs = sorted(state.get("val_results") or [], key=lambda r: r["i"])
        metrics = None
        if recs:
            metrics = validation_metrics([r["label"] for r in recs], [r["pred"] for r in recs],
                                         [r["length"] for r in recs], length_slice=cfg.length_slice)
        upd: dict[str, Any] = {"candidate": None}
        best = state.get("best_kappa")
        stale = state.get("stale", 0)
        tokens = state.get("tokens_used", 0)
        if best is None:
            assert metrics is not None
            if metrics["failure_rate"] > cfg.max_failure_rate:
                raise FailFastError(
                    f"the starting rubric's validation failed on {metrics['parse_failures']} of {metrics['n']} "
                    f"rows (more than max_failure_rate={cfg.max_failure_rate}); check the endpoint and model. "
                    f"First failure: {next((r.get('error') for r in recs if r['pred'] is None), '')}")
            rules = state["rubric"]
            entry = {"iteration": 0, "target": "S_D", "kind": "initial", "rules": rules,
                     "version": _rules_version(rules), "metrics": metrics, "accepted": True, "improved": True,
                     "best_kappa": metrics["kappa"], "reason": "starting rubric", "proposal": []}
            upd.update(rubric_metrics=metrics, best_rubric=rules, best_metrics=metrics, initial_metrics=metrics,
                       best_kappa=metrics["kappa"], best_iteration=0, stale=0)
        else:
            cand = state.get("candidate")
            entry = {"iteration": it, "target": "S_D", "proposal": state.get("proposal") or [],
                     "phases": phase_stats(state), "parent_version": _rules_version(state["rubric"])}
            if cand is None or metrics is None:
                stale += 1
                entry.update(kind="no_proposal", rules=None, version=None, metrics=None, accepted=False,
                             improved=False, best_kappa=best,
                             reason="no S_D change proposed (no mistakes, or the optimiser failed)")
            else:
                kappa = metrics["kappa"]
                accepted = kappa >= best - cfg.kappa_tolerance
                improved = kappa > best + cfg.min_improvement
                entry.update(kind="candidate", rules=cand, version=_rules_version(cand), metrics=metrics,
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

    # -- adversarial phase ----------------------------------------------------------------------

    def plan(state: RefinementState) -> dict[str, Any]:
        it = state.get("iteration", 0) + 1
        rng = random.Random(f"iteration:{cfg.seed}:{it}")
        queries = state.get("queries") or []
        adv = rng.sample(range(len(queries)), min(cfg.adversarial_batch, len(queries))) if cfg.adversarial else []
        train = state.get("train") or []
        rb = rng.sample(train, min(cfg.reflection_batch, len(train))) if cfg.reflection else []
        return {"iteration": it, "adv_batch": adv, "refl_batch": rb, "candidate": None, "adv_results": None,
                "refl_results": None, "val_results": None, "proposal": None}

    def after_plan(state: RefinementState) -> Any:
        if not state.get("adv_batch"):
            return "start_reflection"
        q = state["queries"]
        return [Send("adversarial_item", {"k": k, "query": q[k], "strategy": state["strategy"],
                                          "rules": state["rubric"], "sample": state["iteration"]})
                for k in state["adv_batch"]]

    async def adversarial_item(state: AdversarialItem) -> dict[str, Any]:
        item = state  # a Send payload, not the graph state
        rec: dict[str, Any] = {"k": item["k"], "query": item["query"], "caught": None}
        g = await gen.ainvoke({"query": item["query"], "strategy": item["strategy"]}, sample=item["sample"])
        d = None
        if not g.ok or g.output is None:
            rec.update(status=f"generator:{g.status}", **_failure(g))
        else:
            out = g.output
            rec.update(response=out.response, planted_flaws=list(out.planted_flaws), explanation=out.explanation)
            d = await det.ainvoke({"query": item["query"], "response": out.response, "rubric": item["rules"]})
            if not d.ok or d.output is None:
                rec.update(status=f"detector:{d.status}", **_failure(d))
            else:
                rec.update(status="ok", verdict=d.output.verdict, caught=d.output.verdict == "Bad",
                           detector_explanation=d.output.explanation,
                           generator_suggestion=d.output.generator_suggestion)
        return {"adv_results": [rec], "tokens_used": _tokens(g, d), "calls": _attempts(g, d)}

    def collect_adversarial(state: RefinementState) -> dict[str, Any]:
        it = state["iteration"]
        recs = sorted(state.get("adv_results") or [], key=lambda r: r["k"])
        hard = [{"prompt": r["query"], "rejected": r["response"], "explanation": r["explanation"],
                 "planted_flaws": r["planted_flaws"], "caught": r["caught"],
                 "detector_explanation": r["detector_explanation"], "iteration": it,
                 "rubric_version": _rules_version(state["rubric"]),
                 "strategy_version": _rules_version(state["strategy"])}
                for r in recs if r["status"] == "ok"]
        return {"hard_negatives": hard}

    def after_adversarial(state: RefinementState) -> list[str]:
        recs = state.get("adv_results") or []
        nxt = []
        if any(r.get("caught") is True for r in recs):
            nxt.append("optimize_strategy")
        if any(r.get("caught") is False for r in recs):
            nxt.append("revise_rubric_adversarial")
        return nxt or ["start_reflection"]

    async def optimize_strategy(state: RefinementState) -> dict[str, Any]:
        recs = sorted((r for r in state.get("adv_results") or [] if r.get("caught") is True), key=lambda r: r["k"])
        feedback = [txt.caught.format(flaws=clip(r["planted_flaws"]),
                                         detector_explanation=clip(r["detector_explanation"]),
                                         suggestion=clip(r["generator_suggestion"] or "—")) for r in recs]
        parent = state["strategy"]
        res = await opt.ainvoke({"target": txt.target_strategy, "rules": parent, "feedback": feedback,
                                 "max_rules": cfg.max_rules})
        entry: dict[str, Any] = {"iteration": state["iteration"], "target": "S_G", "kind": "revision",
                                 "sources": ["adversarial"], "feedback": feedback,
                                 "parent_version": _rules_version(parent), "status": res.status, "gated": False}
        upd: dict[str, Any] = {"tokens_used": _tokens(res), "calls": _attempts(res)}
        if res.ok and res.output is not None:
            rules = capped(res.output.rules)
            entry.update(rules=rules, version=_rules_version(rules), changes=res.output.changes, accepted=True,
                         reason="S_G is the adversary's strategy: not gated on human labels")
            if len(res.output.rules) > len(rules):
                entry["dropped_rules"] = list(res.output.rules[len(rules):])
            upd["strategy"] = rules
        else:
            entry.update(rules=None, accepted=False, reason="optimiser failed; S_G unchanged", **_failure(res))
        upd["history"] = [entry]
        return upd

    async def revise_rubric(state: RefinementState, source: str, feedback: list[str]) -> dict[str, Any]:
        # Reflection refines the adversarial phase's candidate when there is one: one proposal per iteration.
        parent = state.get("candidate") or state["rubric"]
        res = await opt.ainvoke({"target": txt.target_rubric, "rules": parent, "feedback": feedback,
                                 "max_rules": cfg.max_rules})
        item: dict[str, Any] = {"source": source, "feedback": feedback, "status": res.status}
        upd: dict[str, Any] = {"tokens_used": _tokens(res), "calls": _attempts(res)}
        if res.ok and res.output is not None:
            rules = capped(res.output.rules)
            item.update(changes=res.output.changes, rules=rules)
            if len(res.output.rules) > len(rules):
                # Over the cap despite the prompt: keep the first ones and say what was dropped.
                item["dropped_rules"] = list(res.output.rules[len(rules):])
            upd["candidate"] = rules
        else:
            item.update(_failure(res))
        upd["proposal"] = [item]
        return upd

    async def revise_rubric_adversarial(state: RefinementState) -> dict[str, Any]:
        recs = sorted((r for r in state.get("adv_results") or [] if r.get("caught") is False), key=lambda r: r["k"])
        feedback = [txt.fooled.format(query=clip(r["query"]), response=clip(r["response"]),
                                         flaws=clip(r["planted_flaws"]), explanation=clip(r["explanation"]),
                                         detector_explanation=clip(r["detector_explanation"])) for r in recs]
        return await revise_rubric(state, "adversarial", feedback)

    # -- reflection phase -----------------------------------------------------------------------

    def start_reflection(state: RefinementState) -> dict[str, Any]:
        return {}

    def after_start_reflection(state: RefinementState) -> Any:
        batch = state.get("refl_batch") or []
        if not batch:
            return "start_validation"
        rules = state.get("candidate") or state["rubric"]
        labels = state["labels"]
        return [Send("reflect_item", {"i": i, "query": labels[i]["query"], "response": labels[i]["response"],
                                      "label": int(labels[i]["label"]), "rules": rules}) for i in batch]

    async def reflect_item(state: LabelledItem) -> dict[str, Any]:
        item = state  # a Send payload, not the graph state
        rec: dict[str, Any] = {"i": item["i"], "query": item["query"], "response": item["response"],
                               "label": item["label"], "mistake": False}
        d = await det.ainvoke({"query": item["query"], "response": item["response"], "rubric": item["rules"]})
        r = None
        if not d.ok or d.output is None:
            # A failed verdict is not a mistake to reflect on: counted, never guessed.
            rec.update(status=f"detector:{d.status}", pred=None, **_failure(d))
        else:
            v = d.output
            rec.update(status="ok", pred=v.label, verdict=v.verdict, detector_explanation=v.explanation)
            if v.label != item["label"]:
                rec["mistake"] = True
                r = await refl.ainvoke({"query": item["query"], "response": item["response"], "rubric": item["rules"],
                                        "human_label": item["label"], "verdict": v.verdict,
                                        "explanation": v.explanation})
                if r.ok and r.output is not None:
                    rec.update(reflector_status="ok", diagnosis=r.output.diagnosis, suggestion=r.output.suggestion)
                else:
                    rec.update(reflector_status=r.status, reflector_error=r.error, reflector_raw=r.raw)
        return {"refl_results": [rec], "tokens_used": _tokens(d, r), "calls": _attempts(d, r)}

    def collect_reflection(state: RefinementState) -> dict[str, Any]:
        return {}

    def after_reflection(state: RefinementState) -> str:
        if any(r.get("reflector_status") == "ok" for r in state.get("refl_results") or []):
            return "revise_rubric_reflection"
        return "start_validation"

    async def revise_rubric_reflection(state: RefinementState) -> dict[str, Any]:
        recs = sorted((r for r in state.get("refl_results") or [] if r.get("reflector_status") == "ok"),
                      key=lambda r: r["i"])
        feedback = [txt.mistake.format(human=txt.good if r["label"] == 1 else txt.bad,
                                          verdict=r["verdict"], query=clip(r["query"]),
                                          response=clip(r["response"]), diagnosis=clip(r["diagnosis"]),
                                          suggestion=clip(r["suggestion"])) for r in recs]
        return await revise_rubric(state, "reflection", feedback)

    # -- gate -----------------------------------------------------------------------------------

    def start_validation(state: RefinementState) -> dict[str, Any]:
        return {"val_results": None}

    def after_start_validation(state: RefinementState) -> Any:
        cand = state.get("candidate")
        if not cand or list(cand) == list(state["rubric"]):
            return "gate"
        return validation_sends(state, list(cand))

    def after_gate(state: RefinementState) -> str:
        return "finish" if state.get("stop_reason") else "plan"

    def finish(state: RefinementState) -> dict[str, Any]:
        return {}

    b = StateGraph(RefinementState)
    b.add_node("setup", setup)
    b.add_node("validate_item", validate_item, input_schema=LabelledItem)
    b.add_node("gate", gate)
    b.add_node("plan", plan)
    b.add_node("adversarial_item", adversarial_item, input_schema=AdversarialItem)
    b.add_node("collect_adversarial", collect_adversarial)
    b.add_node("optimize_strategy", optimize_strategy)
    b.add_node("revise_rubric_adversarial", revise_rubric_adversarial)
    b.add_node("start_reflection", start_reflection)
    b.add_node("reflect_item", reflect_item, input_schema=LabelledItem)
    b.add_node("collect_reflection", collect_reflection)
    b.add_node("revise_rubric_reflection", revise_rubric_reflection)
    b.add_node("start_validation", start_validation)
    b.add_node("finish", finish)

    b.add_edge(START, "setup")
    b.add_conditional_edges("setup", lambda s: validation_sends(s, s["rubric"]), ["validate_item"])
    b.add_edge("validate_item", "gate")
    b.add_conditional_edges("gate", after_gate, ["plan", "finish"])
    b.add_conditional_edges("plan", after_plan, ["adversarial_item", "start_reflection"])
    b.add_edge("adversarial_item", "collect_adversarial")
    b.add_conditional_edges("collect_adversarial", after_adversarial,
                            ["optimize_strategy", "revise_rubric_adversarial", "start_reflection"])
    b.add_edge("optimize_strategy", "start_reflection")
    b.add_edge("revise_rubric_adversarial", "start_reflection")
    b.add_conditional_edges("start_reflection", after_start_reflection, ["reflect_item", "start_validation"])
    b.add_edge("reflect_item", "collect_reflection")
    b.add_conditional_edges("collect_reflection", after_reflection,
                            ["revise_rubric_reflection", "start_validation"])
    b.add_edge("revise_rubric_reflection", "start_validation")
    b.add_conditional_edges("start_validation", after_start_validation, ["validate_item", "gate"])
    b.add_edge("finish", END)
    return b.compile(checkpointer=checkpointer)


# ----------------------------------------------------------------------------------------- runner


@dataclass
class RefinementResult:
    """What a refinement run produced (also written to its output folder).

    Attributes:
        rubric: The best accepted rubric, with its validation metrics.
        strategy: The final S_G.
        history: Every proposal, accepted or rejected, with its feedback and metrics.
        hard_negatives: Synthetic flawed items, reusable as rejected samples.
        summary: Run summary (stop reason, budgets, split sizes...).
        state: The final graph state.

    Example:
        >>> # result = refine_judge(rt, rows, queries, out_dir="runs/judge"); result.rubric.metrics["kappa"]
    """

    rubric: Rubric
    strategy: list[str]
    history: list[dict[str, Any]]
    hard_negatives: list[dict[str, Any]]
    summary: dict[str, Any]
    state: dict[str, Any]


def thread_id(labels: Sequence[dict[str, Any]], queries: Sequence[str], config: RefinementConfig,
              runtime: Any, agents: Sequence[AgentDef[Any]] = ()) -> str:
    """Checkpoint thread of a run: a hash of the inputs, the config, the task and the models/prompts.

    The same inputs resume the same thread; any change starts a new one.

    Example:
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel
        >>> rt = Runtime.for_testing(FakeChatModel())
        >>> rows = [{"query": "q", "response": "r", "label": 1}]
        >>> thread_id(rows, ["q"], RefinementConfig(), rt) == thread_id(rows, ["q"], RefinementConfig(seed=1), rt)
        False
    """
    lang = runtime.task.language
    return _digest({
        "labels": _digest([[r["query"], r["response"], int(r["label"])] for r in labels]),
        "queries": _digest(list(queries)),
        "config": config.model_dump(mode="json"),
        "task": runtime.task.name,
        "agents": [[a.name, a.template(lang).version, runtime.spec_for(a.role).identity()] for a in agents],
    })[:16]


def _jsonl(rows: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _build_rubric(state: dict[str, Any], runtime: Any, detector: AgentDef[Any]) -> Rubric:
    lang = runtime.task.language
    metrics = dict(state.get("best_metrics") or {})
    metrics["iteration"] = state.get("best_iteration", 0)
    prompt_name = detector.prompt if isinstance(detector.prompt, str) and "\n" not in detector.prompt else "<custom>"
    return Rubric(rules=tuple(state.get("best_rubric") or state["rubric"]), task=runtime.task.name,
                  prompt_name=str(prompt_name), language=lang, prompt_text=detector.template(lang).source(),
                  model=runtime.spec_for(detector.role).identity(), metrics=metrics)


def _summary(state: dict[str, Any], rubric: Rubric, runtime: Any, config: RefinementConfig, tid: str,
             finished: bool) -> dict[str, Any]:
    hist = [h for h in state.get("history") or [] if h["target"] == "S_D" and h["kind"] == "candidate"]
    hard = state.get("hard_negatives") or []
    best = state.get("best_metrics") or {}
    return {
        "status": "finished" if finished else "running",
        "stop_reason": state.get("stop_reason"),
        "thread_id": tid,
        "iterations_done": state.get("iteration", 0),
        "task": runtime.task.name,
        "labels": {"n": len(state.get("labels") or []), "train": len(state.get("train") or []),
                   "val": len(state.get("val") or [])},
        "queries": len(state.get("queries") or []),
        "initial_metrics": state.get("initial_metrics"),
        "best": {"version": rubric.version, "iteration": state.get("best_iteration", 0), "kappa": best.get("kappa"),
                 "metrics": best},
        "length_baseline_val": {"accuracy": best.get("length_baseline_accuracy"),
                                "kappa": best.get("length_baseline_kappa"),
                                "slice_accuracy": best.get("slice_length_baseline_accuracy")},
        "proposals": {"validated": len(hist), "accepted": sum(1 for h in hist if h["accepted"]),
                      "rejected": sum(1 for h in hist if not h["accepted"])},
        "hard_negatives": {"n": len(hard), "caught": sum(1 for h in hard if h["caught"]),
                           "fooled": sum(1 for h in hard if not h["caught"])},
        "tokens_used": state.get("tokens_used", 0),
        "model_calls": state.get("calls", 0),
        "usage_this_process": runtime.usage.as_dict(),
        "config": config.model_dump(mode="json"),
    }


def write_artifacts(out_dir: str | Path, state: dict[str, Any], *, runtime: Any, config: RefinementConfig,
                    detector: AgentDef[Any] = DETECTOR, tid: str = "", finished: bool = False) -> Rubric:
    """Write the run's artifacts from a graph state, each file atomically (temp file + rename).

    Files are rewritten whole from the checkpointed state, so a crash never leaves half a file and a
    resumed run never duplicates lines.

    Returns:
        The rubric written to ``rubric.json``.

    Example:
        >>> # write_artifacts("runs/judge", final_state, runtime=rt, config=cfg, finished=True)
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rubric = _build_rubric(state, runtime, detector)
    rubric.save(out / "rubric.json")
    atomic_write(out / "history.jsonl", _jsonl(state.get("history") or []))
    atomic_write(out / "hard_negatives.jsonl", _jsonl(state.get("hard_negatives") or []))
    strategy = list(state.get("strategy") or [])
    atomic_write(out / "strategy.json", json.dumps(
        {"rules": strategy, "task": runtime.task.name, "language": runtime.task.language,
         "version": _rules_version(strategy)}, ensure_ascii=False, indent=2))
    atomic_write(out / "summary.json", json.dumps(_summary(state, rubric, runtime, config, tid, finished),
                                                 ensure_ascii=False, indent=2))
    return rubric


def check_inputs(labels: Sequence[dict[str, Any]], queries: Sequence[str], config: RefinementConfig) -> None:
    """Refuse inputs the loop cannot learn from, before any model call.

    Raises:
        InputError: Too few labels for a split with both classes on each side, or no queries while the
            adversarial phase is on.

    Example:
        >>> try:
        ...     check_inputs([{"label": 1}] * 3, ["q"], RefinementConfig())
        ... except InputError as e:
        ...     print(e.field)
        label
    """
    counts = [sum(1 for r in labels if int(r["label"]) == c) for c in (0, 1)]
    if min(counts) < 2:
        raise InputError(f"labels need at least 2 rows of each class for a train/validation split, got "
                         f"{counts[0]} bad and {counts[1]} good", field="label")
    if config.adversarial and not queries:
        raise InputError("the adversarial phase needs queries", field="queries")


async def arefine_judge(runtime: Any, labels: Sequence[dict[str, Any]], queries: Sequence[str], *,
                        out_dir: str | Path, config: RefinementConfig | None = None, resume: bool = False,
                        generator: AgentDef[Any] = ADVERSARIAL_GENERATOR, detector: AgentDef[Any] = DETECTOR,
                        error_reflector: AgentDef[Any] = ERROR_REFLECTOR,
                        optimizer: AgentDef[Any] = RUBRIC_OPTIMIZER,
                        on_gate: Callable[[dict[str, Any]], None] | None = None,
                        max_steps: int | None = None) -> RefinementResult:
    """Run (or resume) a refinement with a SQLite checkpoint and artifacts in ``out_dir``.

    Args:
        runtime: The runtime.
        labels: Human labels ``{"query", "response", "label"}``.
        queries: Queries for the adversarial phase.
        out_dir: Output folder: ``checkpoints.sqlite`` plus the artifacts (see :func:`write_artifacts`).
        config: The refinement config.
        resume: Continue the checkpointed run of the same inputs. Without it, a folder that already
            holds that run is refused (so a long run is never overwritten by accident).
        generator: Generator agent.
        detector: Detector agent.
        error_reflector: Error reflector agent.
        optimizer: Optimiser agent.
        on_gate: Called with each S_D gate history entry as it happens (progress display).
        max_steps: Stop after this many graph steps, leaving the checkpoint to resume (tests, dry runs).

    Returns:
        A :class:`RefinementResult`.

    Raises:
        InputError: Bad inputs, or an existing run without ``resume``.
        FailFastError: The starting rubric's validation mostly failed (its checkpoint is dropped).

    Example:
        >>> # result = asyncio.run(arefine_judge(rt, rows, queries, out_dir="runs/judge"))
    """
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    cfg = config or RefinementConfig()
    check_inputs(labels, queries, cfg)
    agents = (generator, detector, error_reflector, optimizer)
    tid = thread_id(labels, queries, cfg, runtime, agents)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    conf = {"configurable": {"thread_id": tid}, "recursion_limit": 20 * (cfg.iterations + 2) + 20}
    async with AsyncSqliteSaver.from_conn_string(str(out / "checkpoints.sqlite")) as saver:
        graph = build_judge_refinement_graph(runtime, generator=generator, detector=detector,
                                             error_reflector=error_reflector, optimizer=optimizer, config=cfg,
                                             checkpointer=saver)
        snap = await graph.aget_state(conf)
        existing = bool(snap.values)
        if existing and not resume:
            raise InputError(f"already holds a run of these inputs (thread {tid}); pass --resume to continue "
                             "it, or choose another --out", file=str(out))
        if resume and not existing:
            log.info("no checkpoint of these inputs in %s: starting a new run", out)
        inputs = None if existing else {"labels": list(labels), "queries": list(queries)}
        seen = len(snap.values.get("history") or []) if existing else 0
        steps = 0
        state: dict[str, Any] = dict(snap.values)
        stream = graph.astream(inputs, conf, stream_mode="values")
        try:
            async for state in stream:
                hist = state.get("history") or []
                if len(hist) > seen:
                    for entry in hist[seen:]:
                        if on_gate is not None and entry["target"] == "S_D":
                            on_gate(entry)
                    seen = len(hist)
                    write_artifacts(out, state, runtime=runtime, config=cfg, detector=detector, tid=tid)
                steps += 1
                if max_steps is not None and steps >= max_steps:
                    break
        except FailFastError:
            await saver.adelete_thread(tid)
            raise
        finally:
            # Closing the stream cancels work in flight (max_steps, interrupts) before the state is read.
            await stream.aclose()
        final = await graph.aget_state(conf)
        state = dict(final.values)
        finished = not final.next
    rubric = write_artifacts(out, state, runtime=runtime, config=cfg, detector=detector, tid=tid, finished=finished)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return RefinementResult(rubric=rubric, strategy=list(state.get("strategy") or []),
                            history=list(state.get("history") or []),
                            hard_negatives=list(state.get("hard_negatives") or []), summary=summary, state=state)


def refine_judge(runtime: Any, labels: Sequence[dict[str, Any]], queries: Sequence[str], *,
                 out_dir: str | Path, config: RefinementConfig | None = None, resume: bool = False,
                 **kwargs: Any) -> RefinementResult:
    """Synchronous :func:`arefine_judge` (scripts and notebooks without a running loop).

    Example:
        >>> # result = refine_judge(rt, load_labels("labels.jsonl"), load_queries("q.txt"), out_dir="runs/j")
    """
    from inkforge.core.aio import run_sync

    return run_sync(arefine_judge(runtime, labels, queries, out_dir=out_dir, config=config, resume=resume,
                                     **kwargs))


# ------------------------------------------------------------------------------------------ eval


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

    Example:
        >>> # report = asyncio.run(aevaluate_judge(rt, load_labels("labels.jsonl")))
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
            item.update(_failure(res))
        items.append(item)
    report.update(
        rubric={"version": rb.version, "task": rb.task, "rules": list(rb.rules),
                "default": rubric is None},
        model=runtime.spec_for(detector.role).identity(),
        usage=runtime.usage.as_dict(),
        items=items,
    )
    return report
