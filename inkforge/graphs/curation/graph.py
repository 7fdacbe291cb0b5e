"""Curation graph: multi-agent rejection sampling of preference pairs (the paper's first reward strategy).

For each query the graph retrieves few-shot examples, has the writer produce ``n_candidates``
candidates, lets a positive and a negative critic debate every candidate in parallel, has a judge
decide 0/1 after the debate and a reflector audit the decision, then keeps a candidate finally judged
good and one judged not good as a preference pair. The state keeps every critique and verdict.

Topology (``mode="write"``; see ``tests/unit/graphs/snapshots/curation_write.mmd`` for the exact graph)::

    START → retrieve ─Send×N→ writer → dispatch_critics ─Send×2N→ positive_critic ┐
                                                                  negative_critic ┴→ dispatch_judge
    dispatch_judge ─Send→ judge → dispatch_reflector ─Send→ reflector → [extra nodes] → pair → END

``mode="judge_given"`` replaces retrieval and writing by the responses given with each query (rows
with ``responses``): ``START → given ─Send→ critics → ...``. Each ``Send`` carries only its worker's
slice (the query and one candidate), never the whole state; results come back through list reducers.

**Nodes and context.** Every node and router is a module-level function of its state (or ``Send``
slice) and of LangGraph's runtime, whose ``context`` is the graph's :class:`CurationContext`: the bound
agents, the retriever, the options and the task (its language strings come from ``task.text``; the
graph never branches on a language). :func:`build_curation_graph` makes that context
(``graph.context``); the runner passes it to every invocation (:attr:`GraphJob.context
<inkforge.graphs.runner.GraphJob>`), and so must anyone who compiles the graph themselves::

    compiled = graph.compile()
    state = await compiled.ainvoke({"item_id": "1", "query": q}, context=graph.context)

**Failures.** An agent failure (timeout, parse error, refusal...) of a candidate removes that
candidate from the rest of the graph and becomes a failure record (item, stage = agent name, status,
error, raw output). No verdict is ever defaulted. A query left with fewer than two judged candidates,
or whose judged candidates are all good or all bad, yields a ``no_pair`` record with the reason.

**Pair policies** (:mod:`inkforge.graphs.curation.pairing`): ``good`` = final label 1 (reflector's
``final_label``, or the judge's ``label`` when the reflector is dropped) and not vetoed by an extra
node; ``bad`` = the other judged ones. ``"one"``: the first good and the first bad candidate in
sampling order (unbiased, as in the paper); ``"all"``: every good × bad combination;
``"best_vs_worst"``: the best good against the worst bad, by
:func:`~inkforge.graphs.curation.pairing.rank_key`: final label, then the negative critic's issues
(fewer and lighter is better: high = 3, medium = 2, low = 1 point each), then the positive critic's
strengths count (more is better), then sampling order.

**Replacing agents.** Every slot takes an :class:`~inkforge.agents.AgentDef` (or a registered name /
``"module:ATTR"`` path) bound to the runtime. What a replacement must provide:

* ``writer``: template variables ⊆ {``query``, ``examples``}; output field ``text`` (str).
* ``positive_critic`` / ``negative_critic``: variables ⊆ {``query``, ``response``}; any output. The judge
  sees ``strengths``/``issues`` items (``dimension``, ``comment``, ``severity``) and ``summary`` when
  present, else the output as JSON. ``best_vs_worst`` reads ``issues[].severity`` and ``strengths``
  when present (missing counts as none).
* ``judge``: variables ⊆ {``query``, ``response``, ``positive``, ``negative``}; output ``label`` (0/1),
  ideally ``reason``.
* ``reflector``: variables ⊆ the judge's plus {``label``, ``reason``}; output ``final_label`` (0/1).
  ``reflector=None`` drops the audit: the judge's label is final.

**Adding nodes.** ``extra_nodes`` run in order between the verdicts and pairing, with the whole state.
A node may return ``vetoes`` (``{"candidate": i, "by": name, "reason": str}``: that candidate counts as
bad) and ``failures`` (failure records; one with a ``candidate`` index excludes that candidate).
:func:`~inkforge.graphs.curation.checks.agent_check_node` builds such a node from any agent (a safety
checker, say).

**LangGraph policies.** Retrieval and extra nodes get a ``RetryPolicy`` for transient I/O errors (a
remote retriever or checker); agent nodes get none because model failures are returned as
:class:`~inkforge.agents.AgentResult`, not raised, and transport retries already happen in the client.
No ``CachePolicy``: the agents' response cache already keys every call on its rendered prompt and
sample index, and a node-level cache would only duplicate it.

Example:
    >>> import asyncio
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel, fake_curation_responder
    >>> graph = build_curation_graph(Runtime.for_testing(FakeChatModel(responder=fake_curation_responder())),
    ...                              mode="judge_given", reflector=None)
    >>> state = asyncio.run(graph.compile().ainvoke(
    ...     {"item_id": "1", "query": "给奶奶的祝福", "given": ["奶奶福寿安康", "奶奶生日快乐"]}, context=graph.context))
    >>> [(p["chosen"]["response"], p["rejected"]["response"]) for p in state["pairs"]]
    [('奶奶生日快乐', '奶奶福寿安康')]
"""

from __future__ import annotations

import asyncio
import logging
import operator
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime as GraphRuntime
from langgraph.types import RetryPolicy, Send

from inkforge.agents import JUDGE, NEGATIVE_CRITIC, POSITIVE_CRITIC, REFLECTOR, WRITER
from inkforge.agents.base import Agent, AgentDef, AgentResult
from inkforge.agents.registry import get_agent
from inkforge.agents.writer import format_examples
from inkforge.core.errors import InputError
from inkforge.core.tasks import TaskSpec
from inkforge.core.types import FailureRecord
from inkforge.graphs.curation.pairing import (
    PAIR_POLICIES,
    PairPolicy,
    by_candidate,
    critique_text,
    judgements_of,
    make_pairs,
    nth_permutation,
    output_of,
)

log = logging.getLogger(__name__)

CurationMode = Literal["write", "judge_given"]
MODES: tuple[str, ...] = ("write", "judge_given")

# Slot → template variables the graph provides to that slot.
SLOT_VARS: dict[str, frozenset[str]] = {
    "writer": frozenset({"query", "examples"}),
    "positive_critic": frozenset({"query", "response"}),
    "negative_critic": frozenset({"query", "response"}),
    "judge": frozenset({"query", "response", "positive", "negative"}),
    "reflector": frozenset({"query", "response", "positive", "negative", "label", "reason"}),
}
_SLOT_FIELDS: dict[str, str] = {"writer": "text", "judge": "label", "reflector": "final_label"}
_TRANSIENT = RetryPolicy(max_attempts=3, initial_interval=0.5, retry_on=(OSError, TimeoutError, ConnectionError))
#: Node names of the graph itself (extra nodes may not take them).
RESERVED_NODES = frozenset({"retrieve", "given", "writer", "dispatch_critics", "positive_critic", "negative_critic",
                            "dispatch_judge", "judge", "dispatch_reflector", "reflector", "pair"})


# ---------------------------------------------------------------------------------------------- state


class CandidateEntry(TypedDict):
    """One candidate: its index (sampling order), text (``None`` when the writer failed), where it
    came from (``"writer"`` or ``"given"``) and the writer's result record (``None`` when given)."""

    candidate: int
    text: str | None
    source: str
    result: dict[str, Any] | None


class ResultEntry(TypedDict):
    """One agent's result record about one candidate (see :meth:`AgentResult.to_record`)."""

    candidate: int
    result: dict[str, Any]


class VetoEntry(TypedDict):
    """An extra node's veto: the candidate counts as bad."""

    candidate: int
    by: str
    reason: str


class CurationState(TypedDict, total=False):
    """The graph state of one query. List channels are append-only (``operator.add`` reducers) so that
    parallel workers each add their own entries; each entry names its ``candidate`` index.

    Attributes:
        item_id: Input row id.
        query: The request.
        given: Responses to judge (``judge_given`` mode).
        examples: Few-shot examples (``id``, ``query``, ``response``, ``score``[, ``popularity``]).
        candidates: One :class:`CandidateEntry` per candidate.
        positive: :class:`ResultEntry` items from the positive critic.
        negative: :class:`ResultEntry` items from the negative critic.
        verdicts: :class:`ResultEntry` items from the judge.
        reflections: :class:`ResultEntry` items from the reflector.
        vetoes: :class:`VetoEntry` items from extra nodes.
        failures: Extra failure records from extra nodes.
        pairs: ``{"chosen": judgement, "rejected": judgement}`` items chosen by the policy.
        no_pair: Why no pair was made (``None`` when pairs exist).
    """

    item_id: str
    query: str
    given: list[str]
    examples: list[dict[str, Any]]
    candidates: Annotated[list[CandidateEntry], operator.add]
    positive: Annotated[list[ResultEntry], operator.add]
    negative: Annotated[list[ResultEntry], operator.add]
    verdicts: Annotated[list[ResultEntry], operator.add]
    reflections: Annotated[list[ResultEntry], operator.add]
    vetoes: Annotated[list[VetoEntry], operator.add]
    failures: Annotated[list[FailureRecord], operator.add]
    pairs: list[dict[str, Any]]
    no_pair: dict[str, Any] | None


class WriteTask(TypedDict):
    """A writer worker's slice."""

    query: str
    examples: list[dict[str, Any]]
    sample: int


class DebateTask(TypedDict):
    """A critic worker's slice: one candidate."""

    query: str
    candidate: int
    response: str


class JudgeTask(DebateTask):
    """A judge worker's slice: one candidate and its two critiques as text."""

    positive: str
    negative: str


class ReflectTask(JudgeTask):
    """A reflector worker's slice: adds the judge's label and reason."""

    label: int
    reason: str


@dataclass(frozen=True)
class CurationContext:
    """What the nodes need besides their state, given through LangGraph's ``context``.

    Attributes:
        agents: Bound agents by slot (``writer`` only in ``write`` mode, ``reflector`` only when kept).
        task: The run's task: few-shot labels and critique wording come from ``task.text``.
        retriever: Few-shot retriever, or ``None``.
        k: Examples per query.
        n_candidates: Candidates written per query.
        pair_policy: ``"one"``, ``"all"`` or ``"best_vs_worst"``.
        vary_examples: Each writer sample sees the examples in its own order.
        after_verdicts: The node the routers skip to when no candidate is left to debate, judge or
            audit (the first extra node, else ``"pair"``).
    """

    agents: Mapping[str, Agent[Any]]
    task: TaskSpec
    retriever: Any = None
    k: int = 3
    n_candidates: int = 4
    pair_policy: PairPolicy = "one"
    vary_examples: bool = True
    after_verdicts: str = "pair"

    @property
    def reflector(self) -> bool:
        """Whether the reflector audits the judge."""
        return "reflector" in self.agents


def result_record(res: AgentResult[Any]) -> dict[str, Any]:
    """Compact, JSON-ready result: the raw text is kept only for failures (where it is needed)."""
    rec = res.to_record()
    if res.ok:
        rec.pop("raw", None)
    return rec


def context_of(runtime: GraphRuntime[CurationContext]) -> CurationContext:
    """The curation context of a node's runtime (an error naming the fix when it was not passed)."""
    ctx = runtime.context
    if not isinstance(ctx, CurationContext):
        raise TypeError("the curation graph runs with its context: invoke the compiled graph with "
                        "context=graph.context (the runner does this through GraphJob.context)")
    return ctx


# ---------------------------------------------------------------------------------------------- nodes


async def retrieve_node(state: CurationState, runtime: GraphRuntime[CurationContext]) -> dict[str, Any]:
    """Few-shot examples for the query (none without a retriever)."""
    ctx = context_of(runtime)
    if ctx.retriever is None:
        return {"examples": []}
    if hasattr(ctx.retriever, "aretrieve"):
        examples = await ctx.retriever.aretrieve(state["query"], ctx.k)
    else:
        examples = await asyncio.to_thread(ctx.retriever.retrieve, state["query"], ctx.k)
    return {"examples": [dict(e) for e in examples]}


def route_to_writers(state: CurationState, runtime: GraphRuntime[CurationContext]) -> list[Send]:
    """One writer worker per candidate; sample ``i`` sees the ``i``-th ordering of the examples."""
    ctx = context_of(runtime)
    examples = state.get("examples") or []
    return [Send("writer", WriteTask(query=state["query"], sample=i,
                                     examples=nth_permutation(examples, i) if ctx.vary_examples else examples))
            for i in range(ctx.n_candidates)]


async def writer_node(task: WriteTask, runtime: GraphRuntime[CurationContext]) -> dict[str, Any]:
    """Write one candidate."""
    ctx = context_of(runtime)
    res = await ctx.agents["writer"].ainvoke(
        {"query": task["query"], "examples": format_examples(task["examples"], ctx.task)}, sample=task["sample"])
    text = getattr(res.output, "text", None) if res.ok else None
    entry = CandidateEntry(candidate=task["sample"], text=text, source="writer", result=result_record(res))
    return {"candidates": [entry]}


def given_node(state: CurationState) -> dict[str, Any]:
    """The responses given with the query, as candidates (``judge_given`` mode)."""
    return {"candidates": [CandidateEntry(candidate=i, text=t, source="given", result=None)
                           for i, t in enumerate(state.get("given") or [])]}


def barrier(state: CurationState) -> dict[str, Any]:
    """Runs once after all parallel workers of the previous step: the next router needs all their results."""
    return {}


def identical_candidates(candidates: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """Candidate index → the earlier candidate whose text it repeats (whitespace-insensitive).

    Identical candidates are never debated, judged or paired: a pair of one text with itself teaches
    nothing, and judging it twice would only cost.

    Example:
        >>> identical_candidates([{"candidate": 0, "text": "a b"}, {"candidate": 1, "text": " a  b"},
        ...                       {"candidate": 2, "text": "c"}])
        {1: 0}
    """
    first: dict[str, int] = {}
    out: dict[int, int] = {}
    for c in sorted(candidates, key=lambda c: c["candidate"]):
        text = c.get("text")
        if not text:
            continue
        norm = " ".join(str(text).split())
        if norm in first:
            out[int(c["candidate"])] = first[norm]
        else:
            first[norm] = int(c["candidate"])
    return out


def route_to_critics(state: CurationState, runtime: GraphRuntime[CurationContext]) -> list[Send] | str:
    """Both critics for every written candidate (or straight on when there is none); repeats are skipped."""
    sends = []
    repeats = identical_candidates(state.get("candidates", []))
    for c in sorted(state.get("candidates", []), key=lambda c: c["candidate"]):
        text = c.get("text")
        if text and c["candidate"] not in repeats:
            task = DebateTask(query=state["query"], candidate=c["candidate"], response=text)
            sends += [Send("positive_critic", task), Send("negative_critic", task)]
    return sends or context_of(runtime).after_verdicts


async def _critique(slot: str, key: str, task: DebateTask, runtime: GraphRuntime[CurationContext]) -> dict[str, Any]:
    res = await context_of(runtime).agents[slot].ainvoke({"query": task["query"], "response": task["response"]})
    return {key: [ResultEntry(candidate=task["candidate"], result=result_record(res))]}


async def positive_critic_node(task: DebateTask, runtime: GraphRuntime[CurationContext]) -> dict[str, Any]:
    """The case for one candidate."""
    return await _critique("positive_critic", "positive", task, runtime)


async def negative_critic_node(task: DebateTask, runtime: GraphRuntime[CurationContext]) -> dict[str, Any]:
    """The case against one candidate."""
    return await _critique("negative_critic", "negative", task, runtime)


def route_to_judge(state: CurationState, runtime: GraphRuntime[CurationContext]) -> list[Send] | str:
    """The judge for every candidate both critics spoke about."""
    ctx = context_of(runtime)
    pos, neg = by_candidate(state.get("positive", [])), by_candidate(state.get("negative", []))
    texts = {c["candidate"]: c["text"] for c in state.get("candidates", [])}
    sends = []
    for i in sorted(texts):
        p, n, text = output_of(pos.get(i)), output_of(neg.get(i)), texts[i]
        if p is None or n is None or not text:
            continue
        sends.append(Send("judge", JudgeTask(query=state["query"], candidate=i, response=text,
                                             positive=critique_text(p, ctx.task.text),
                                             negative=critique_text(n, ctx.task.text))))
    return sends or ctx.after_verdicts


async def judge_node(task: JudgeTask, runtime: GraphRuntime[CurationContext]) -> dict[str, Any]:
    """The 0/1 verdict on one candidate after its debate."""
    res = await context_of(runtime).agents["judge"].ainvoke(
        {k: task[k] for k in ("query", "response", "positive", "negative")})
    return {"verdicts": [ResultEntry(candidate=task["candidate"], result=result_record(res))]}


def route_to_reflector(state: CurationState, runtime: GraphRuntime[CurationContext]) -> list[Send] | str:
    """The reflector for every candidate the judge decided."""
    ctx = context_of(runtime)
    pos, neg = by_candidate(state.get("positive", [])), by_candidate(state.get("negative", []))
    texts = {c["candidate"]: c["text"] for c in state.get("candidates", [])}
    sends = []
    for v in sorted(state.get("verdicts", []), key=lambda v: v["candidate"]):
        out = output_of(v)
        i = v["candidate"]
        text = texts.get(i)
        if out is None or not text:
            continue
        sends.append(Send("reflector", ReflectTask(
            query=state["query"], candidate=i, response=text,
            positive=critique_text(output_of(pos[i]), ctx.task.text),
            negative=critique_text(output_of(neg[i]), ctx.task.text),
            label=int(out["label"]), reason=str(out.get("reason", "")))))
    return sends or ctx.after_verdicts


async def reflector_node(task: ReflectTask, runtime: GraphRuntime[CurationContext]) -> dict[str, Any]:
    """The audit of the judge's verdict on one candidate."""
    slice_: dict[str, Any] = dict(task)
    res = await context_of(runtime).agents["reflector"].ainvoke({k: slice_[k] for k in SLOT_VARS["reflector"]})
    return {"reflections": [ResultEntry(candidate=task["candidate"], result=result_record(res))]}


def pair_node(state: CurationState, runtime: GraphRuntime[CurationContext]) -> dict[str, Any]:
    """Pairs by the policy, or the reason there are none."""
    ctx = context_of(runtime)
    judged = judgements_of(state, reflector=ctx.reflector)
    pairs, no_pair = make_pairs(state, judged, ctx.pair_policy, n_candidates=len(state.get("candidates", [])))
    repeats = identical_candidates(state.get("candidates", []))
    if repeats:
        log.warning("query %s: %d of %d candidates repeat an earlier one (not judged, never paired)",
                    state.get("item_id"), len(repeats), len(state.get("candidates", [])))
    same = [FailureRecord(item_id=str(state.get("item_id")), query=str(state.get("query")), stage="pair", slot="pair",
                          candidate=i, status="identical", reason=f"identical to candidate {j}", raw=None)
            for i, j in sorted(repeats.items())]
    return {"pairs": pairs, "no_pair": no_pair, "failures": same}


# --------------------------------------------------------------------------------------------- graph

ExtraNode = Callable[[CurationState], Awaitable[Mapping[str, Any]] | Mapping[str, Any]]


class CurationGraph(StateGraph[CurationState, CurationContext, CurationState, CurationState]):
    """The uncompiled curation graph, plus what its invocations and output records need.

    Attributes:
        agents: Bound agents by slot (``writer``, ``positive_critic``...): their models and prompt
            versions go into every record's provenance.
        options: Graph options (candidates, policy, mode...), part of the run fingerprint.
        retriever: The few-shot retriever, or ``None``.
        context: The :class:`CurationContext` every invocation must be given (``context=``).
    """

    agents: dict[str, Agent[Any]]
    options: dict[str, Any]
    retriever: Any
    context: CurationContext


def _check_slot(slot: str, agent: Agent[Any]) -> None:
    field = _SLOT_FIELDS.get(slot)
    if field and field not in agent.schema.model_fields:
        raise InputError(f"agent {agent.name!r} cannot fill the {slot} slot: its output schema "
                         f"{agent.schema.__name__} has no {field!r} field", field=f"agents.{slot}")
    extra = agent.template.variables() - SLOT_VARS[slot]
    if extra:
        raise InputError(f"agent {agent.name!r} cannot fill the {slot} slot: its prompt uses variables "
                         f"{sorted(extra)} but the graph provides {sorted(SLOT_VARS[slot])}",
                         field=f"agents.{slot}")


def _bind(ref: AgentDef[Any] | str | Agent[Any], runtime: Any, slot: str) -> Agent[Any]:
    agent = ref if isinstance(ref, Agent) else get_agent(ref).bind(runtime)
    _check_slot(slot, agent)
    return agent


def build_curation_graph(runtime: Any, *, writer: AgentDef[Any] | str = WRITER,
                         positive_critic: AgentDef[Any] | str = POSITIVE_CRITIC,
                         negative_critic: AgentDef[Any] | str = NEGATIVE_CRITIC,
                         judge: AgentDef[Any] | str = JUDGE, reflector: AgentDef[Any] | str | None = REFLECTOR,
                         retriever: Any = None, k: int = 3,
                         extra_nodes: Mapping[str, ExtraNode] | Sequence[tuple[str, ExtraNode]] | None = None,
                         n_candidates: int = 4, pair_policy: PairPolicy = "one",
                         mode: CurationMode = "write", vary_examples: bool = True) -> CurationGraph:
    """Build the (uncompiled) curation :class:`~langgraph.graph.StateGraph`.

    Args:
        runtime: :class:`~inkforge.llm.runtime.Runtime` the agents are bound to.
        writer: Writer agent (``mode="write"``).
        positive_critic: Critic arguing for a candidate.
        negative_critic: Critic arguing against it.
        judge: 0/1 judge.
        reflector: Auditor of the judge, or ``None`` to drop it.
        retriever: A :class:`~inkforge.graphs.retrieval.Retriever` for few-shot examples, or ``None``.
        k: Examples per query.
        extra_nodes: Nodes run in order between the verdicts and pairing (see module docstring).
        n_candidates: Candidates written per query.
        pair_policy: ``"one"``, ``"all"`` or ``"best_vs_worst"`` (see module docstring).
        mode: ``"write"`` or ``"judge_given"``.
        vary_examples: Show each candidate's writer the few-shot examples in a different order
            (sample ``i`` gets the ``i``-th permutation; sample 0 the ranked order). Candidates of one
            query then differ even on endpoints that ignore sampling, and position bias towards one
            example does not repeat across all candidates.

    Returns:
        The :class:`CurationGraph` builder; give it to :func:`~inkforge.graphs.curation.curation_job`
        (the runner compiles it with its checkpointer and passes ``graph.context``), or ``.compile()``
        it and invoke it with ``context=graph.context``.

    Raises:
        InputError: An agent cannot fill its slot (missing output field, unknown template variable), or
            an option is out of range.

    Example:
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel
        >>> g = build_curation_graph(Runtime.for_testing(FakeChatModel()), reflector=None)
        >>> sorted(g.compile().get_graph().nodes)[:4], g.context.n_candidates, sorted(g.agents)[:2]
        (['__end__', '__start__', 'dispatch_critics', 'dispatch_judge'], 4, ['judge', 'negative_critic'])
    """
    if pair_policy not in PAIR_POLICIES:
        raise InputError(f"unknown pair policy {pair_policy!r}; choose one of {PAIR_POLICIES}", field="pair_policy")
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; choose one of {MODES}", field="mode")
    if n_candidates < 1:
        raise InputError("must be at least 1", field="n_candidates")
    agents: dict[str, Agent[Any]] = {
        "positive_critic": _bind(positive_critic, runtime, "positive_critic"),
        "negative_critic": _bind(negative_critic, runtime, "negative_critic"),
        "judge": _bind(judge, runtime, "judge"),
    }
    if mode == "write":
        agents["writer"] = _bind(writer, runtime, "writer")
    if reflector is not None:
        agents["reflector"] = _bind(reflector, runtime, "reflector")
    if mode == "write" and n_candidates == 1:
        log.warning("one candidate per query: no pair can form (pairs need a good and a bad candidate)")
    if (mode == "write" and n_candidates > 1 and agents["writer"].spec.temperature == 0
            and not (retriever is not None and vary_examples)):
        log.warning("writer temperature is 0 and its prompts do not vary: the %d candidates of a query will "
                    "be identical (no pairs); raise the temperature or give a retriever", n_candidates)
    extras = list(extra_nodes.items()) if isinstance(extra_nodes, Mapping) else list(extra_nodes or [])
    for name, _ in extras:
        if name in RESERVED_NODES:
            raise InputError(f"extra node name {name!r} is taken by the curation graph", field="extra_nodes")
    post = [name for name, _ in extras] + ["pair"]

    g = CurationGraph(CurationState, context_schema=CurationContext)
    # Send targets take their slice (input_schema), not the state: mypy cannot see that.
    if mode == "write":
        g.add_node("retrieve", retrieve_node, retry_policy=_TRANSIENT)
        g.add_node("writer", writer_node, input_schema=WriteTask)  # type: ignore[call-overload]
        g.add_node("dispatch_critics", barrier)
        g.add_edge(START, "retrieve")
        g.add_conditional_edges("retrieve", route_to_writers, ["writer"])
        g.add_edge("writer", "dispatch_critics")
        g.add_conditional_edges("dispatch_critics", route_to_critics, ["positive_critic", "negative_critic", post[0]])
    else:
        g.add_node("given", given_node)
        g.add_edge(START, "given")
        g.add_conditional_edges("given", route_to_critics, ["positive_critic", "negative_critic", post[0]])
    g.add_node("positive_critic", positive_critic_node, input_schema=DebateTask)  # type: ignore[arg-type]
    g.add_node("negative_critic", negative_critic_node, input_schema=DebateTask)  # type: ignore[arg-type]
    g.add_node("dispatch_judge", barrier)
    g.add_edge("positive_critic", "dispatch_judge")
    g.add_edge("negative_critic", "dispatch_judge")
    g.add_node("judge", judge_node, input_schema=JudgeTask)  # type: ignore[arg-type]
    g.add_conditional_edges("dispatch_judge", route_to_judge, ["judge", post[0]])
    if reflector is not None:
        g.add_node("dispatch_reflector", barrier)
        g.add_node("reflector", reflector_node, input_schema=ReflectTask)  # type: ignore[arg-type]
        g.add_edge("judge", "dispatch_reflector")
        g.add_conditional_edges("dispatch_reflector", route_to_reflector, ["reflector", post[0]])
        g.add_edge("reflector", post[0])
    else:
        g.add_edge("judge", post[0])
    for (name, fn), nxt in zip(extras, post[1:], strict=True):
        g.add_node(name, fn, retry_policy=_TRANSIENT)  # type: ignore[arg-type]
        g.add_edge(name, nxt)
    g.add_node("pair", pair_node)
    g.add_edge("pair", END)

    g.agents = agents
    g.options = {"n_candidates": n_candidates, "pair_policy": pair_policy, "mode": mode, "k": k,
                 "reflector": reflector is not None, "extra_nodes": [n for n, _ in extras],
                 "vary_examples": vary_examples}
    g.retriever = retriever
    g.context = CurationContext(agents=dict(agents), task=runtime.task, retriever=retriever, k=k,
                                n_candidates=n_candidates, pair_policy=pair_policy, vary_examples=vary_examples,
                                after_verdicts=post[0])
    return g
