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

**Failures.** An agent failure (timeout, parse error, refusal...) of a candidate removes that
candidate from the rest of the graph and becomes a failure record (item, stage = agent name, status,
error, raw output). No verdict is ever defaulted. A query left with fewer than two judged candidates,
or whose judged candidates are all good or all bad, yields a ``no_pair`` record with the reason.

**Pair policies.** ``good`` = final label 1 (reflector's ``final_label``, or the judge's ``label``
when the reflector is dropped) and not vetoed by an extra node; ``bad`` = the other judged ones.

* ``"one"``: the first good and the first bad candidate in sampling order (unbiased, as in the paper).
* ``"all"``: every good × bad combination.
* ``"best_vs_worst"``: the best good against the worst bad, by :func:`rank_key`: final label, then the
  negative critic's issues (fewer and lighter is better: high = 3, medium = 2, low = 1 point each),
  then the positive critic's strengths count (more is better), then sampling order.

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
:func:`agent_check_node` builds such a node from any agent (a safety checker, say).

**LangGraph policies.** Retrieval and extra nodes get a ``RetryPolicy`` for transient I/O errors (a
remote retriever or checker); agent nodes get none because model failures are returned as
:class:`~inkforge.agents.AgentResult`, not raised, and transport retries already happen in the client.
No ``CachePolicy``: the agents' response cache already keys every call on its rendered prompt and
sample index, and a node-level cache would only duplicate it.

Example:
    >>> import json
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> from inkforge.graphs.retrieval import SAMPLE_CORPUS, KeywordRetriever
    >>> rt = Runtime.for_testing(FakeChatModel(responder=fake_curation_responder()))
    >>> ds = curate(["给奶奶八十大寿的祝福语"], rt, retriever=KeywordRetriever(SAMPLE_CORPUS))
    >>> ds[0]["prompt"], sorted(json.loads(ds[0]["provenance"])["chosen_meta"])[:3]
    ('给奶奶八十大寿的祝福语', ['candidate', 'final_label', 'judge'])
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import operator
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy, Send
from pydantic import BaseModel

from inkforge.agents import JUDGE, NEGATIVE_CRITIC, POSITIVE_CRITIC, REFLECTOR, WRITER
from inkforge.agents.base import Agent, AgentDef, AgentResult
from inkforge.agents.registry import get_agent
from inkforge.agents.writer import format_examples
from inkforge.core.errors import InputError
from inkforge.core.io import read_jsonl
from inkforge.core.tasks import TaskText
from inkforge.graphs.items import QueryItem
from inkforge.graphs.runner import Durability, GraphJob, Records, RunProgress, RunReport, arun_graph, run_sync

log = logging.getLogger(__name__)

PairPolicy = Literal["one", "all", "best_vs_worst"]
CurationMode = Literal["write", "judge_given"]
PAIR_POLICIES: tuple[str, ...] = ("one", "all", "best_vs_worst")
MODES: tuple[str, ...] = ("write", "judge_given")
OUTPUTS = ("pairs", "judgements", "failures")
SEVERITY_POINTS = {"high": 3, "medium": 2, "low": 1}
#: Share of pairs whose chosen text is longer above which the summary warns of a length shortcut.
LENGTH_WARNING_SHARE = 0.9

# Slot → template variables the graph provides to that slot.
_SLOT_VARS: dict[str, set[str]] = {
    "writer": {"query", "examples"},
    "positive_critic": {"query", "response"},
    "negative_critic": {"query", "response"},
    "judge": {"query", "response", "positive", "negative"},
    "reflector": {"query", "response", "positive", "negative", "label", "reason"},
}
_SLOT_FIELDS: dict[str, str] = {"writer": "text", "judge": "label", "reflector": "final_label"}
_TRANSIENT = RetryPolicy(max_attempts=3, initial_interval=0.5, retry_on=(OSError, TimeoutError, ConnectionError))


# ---------------------------------------------------------------------------------------------- state


class CurationState(TypedDict, total=False):
    """The graph state of one query. List channels are append-only (``operator.add`` reducers) so that
    parallel workers each add their own entries; each entry names its ``candidate`` index.

    Attributes:
        item_id: Input row id.
        query: The request.
        given: Responses to judge (``judge_given`` mode).
        examples: Few-shot examples (``id``, ``query``, ``response``, ``score``[, ``popularity``]).
        candidates: ``{"candidate", "text", "source", "result"}`` per candidate (``text`` is ``None``
            when the writer failed; ``result`` is the writer's result record).
        positive: ``{"candidate", "result"}`` from the positive critic.
        negative: ``{"candidate", "result"}`` from the negative critic.
        verdicts: ``{"candidate", "result"}`` from the judge.
        reflections: ``{"candidate", "result"}`` from the reflector.
        vetoes: ``{"candidate", "by", "reason"}`` from extra nodes.
        failures: Extra failure records from extra nodes.
        pairs: Pair records chosen by the policy.
        no_pair: Why no pair was made (``None`` when pairs exist).
    """

    item_id: str
    query: str
    given: list[str]
    examples: list[dict[str, Any]]
    candidates: Annotated[list[dict[str, Any]], operator.add]
    positive: Annotated[list[dict[str, Any]], operator.add]
    negative: Annotated[list[dict[str, Any]], operator.add]
    verdicts: Annotated[list[dict[str, Any]], operator.add]
    reflections: Annotated[list[dict[str, Any]], operator.add]
    vetoes: Annotated[list[dict[str, Any]], operator.add]
    failures: Annotated[list[dict[str, Any]], operator.add]
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


class PairRecord(TypedDict, total=False):
    """One line of ``pairs.jsonl``: TRL preference columns plus provenance."""

    prompt: str
    chosen: str
    rejected: str
    item_id: str
    pair_policy: str
    few_shot_ids: list[str]
    chosen_meta: dict[str, Any]
    rejected_meta: dict[str, Any]
    models: dict[str, str]
    prompt_versions: dict[str, str]


class FailureRecord(TypedDict, total=False):
    """One line of ``failures.jsonl``."""

    item_id: str
    query: str
    stage: str
    slot: str
    candidate: int | None
    status: str
    reason: str
    raw: str | None


# ------------------------------------------------------------------------------------------- helpers


def _result_record(res: AgentResult[Any]) -> dict[str, Any]:
    """Compact, JSON-ready result: the raw text is kept only for failures (where it is needed)."""
    rec = res.to_record()
    if res.ok:
        rec.pop("raw", None)
    return rec


def critique_text(output: BaseModel | Mapping[str, Any] | None, text: TaskText) -> str:
    """How a critique is shown to the judge and reflector.

    ``strengths``/``issues`` items as ``- [dimension/severity] comment`` lines plus ``summary``;
    a schema without those fields is shown as its JSON.

    Example:
        >>> from inkforge.core.tasks import ZH_TEXT
        >>> critique_text({"issues": [{"dimension": "cliche", "comment": "套话", "severity": "low"}],
        ...                "summary": "略显空泛"}, ZH_TEXT)
        '- [cliche/low] 套话\\n总结：略显空泛'
    """
    if output is None:
        return text.none
    data = output.model_dump(mode="json") if isinstance(output, BaseModel) else dict(output)
    lines = []
    for key in ("strengths", "issues"):
        for x in data.get(key) or []:
            if isinstance(x, Mapping):
                tag = "/".join(str(x[f]) for f in ("dimension", "severity") if x.get(f))
                lines.append(f"- [{tag}] {x.get('comment', '')}" if tag else f"- {x.get('comment', x)}")
            else:
                lines.append(f"- {x}")
    if data.get("summary"):
        lines.append(text.summary_label + str(data["summary"]))
    return "\n".join(lines) if lines else json.dumps(data, ensure_ascii=False)


def rank_key(judgement: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """Ordering used by ``best_vs_worst`` (greater is better).

    (effective label, −severity points of the negative critic's issues, number of the positive
    critic's strengths, −candidate index). Severity points: high 3, medium 2, low 1, other 1.
    """
    neg = judgement.get("negative") or {}
    pos = judgement.get("positive") or {}
    issues = neg.get("issues") if isinstance(neg, Mapping) else None
    strengths = pos.get("strengths") if isinstance(pos, Mapping) else None
    severity = sum(SEVERITY_POINTS.get(str(i.get("severity")), 1) if isinstance(i, Mapping) else 1
                   for i in (issues or []))
    return (int(judgement["label"]), -severity, len(strengths or []), -int(judgement["candidate"]))


def _check_slot(slot: str, agent: Agent[Any]) -> None:
    field = _SLOT_FIELDS.get(slot)
    if field and field not in agent.schema.model_fields:
        raise InputError(f"agent {agent.name!r} cannot fill the {slot} slot: its output schema "
                         f"{agent.schema.__name__} has no {field!r} field", field=f"agents.{slot}")
    extra = agent.template.variables() - _SLOT_VARS[slot]
    if extra:
        raise InputError(f"agent {agent.name!r} cannot fill the {slot} slot: its prompt uses variables "
                         f"{sorted(extra)} but the graph provides {sorted(_SLOT_VARS[slot])}",
                         field=f"agents.{slot}")


def _bind(ref: AgentDef[Any] | str | Agent[Any], runtime: Any, slot: str) -> Agent[Any]:
    agent = ref if isinstance(ref, Agent) else get_agent(ref).bind(runtime)
    _check_slot(slot, agent)
    return agent


def _by_candidate(entries: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(e["candidate"]): dict(e) for e in entries}


def _output(entry: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not entry:
        return None
    res = entry.get("result") or {}
    return res.get("output") if res.get("status") == "ok" else None


ExtraNode = Callable[[CurationState], Awaitable[Mapping[str, Any]] | Mapping[str, Any]]


def agent_check_node(agent: AgentDef[Any] | str, runtime: Any, *, veto: Callable[[Any], str | None],
                     name: str | None = None) -> ExtraNode:
    """An extra node that runs ``agent`` on every judged candidate and vetoes some.

    Args:
        agent: Agent called with ``{"query", "response"}`` for each judged candidate.
        runtime: Runtime to bind it to.
        veto: Output → veto reason (the candidate then counts as bad) or ``None`` to let it pass.
        name: Name used in veto and failure records (default: the agent's name).

    A failed check is a failure record for that candidate, which excludes it from pairing (it is
    not known to be safe, and it is not known to be bad either).

    Example:
        >>> # safety = agent_check_node(SAFETY, rt, veto=lambda out: None if out.safe else out.reason)
        >>> # build_curation_graph(rt, extra_nodes={"safety": safety})
    """
    bound = get_agent(agent).bind(runtime) if not isinstance(agent, Agent) else agent
    label = name or bound.name

    async def check(state: CurationState) -> dict[str, Any]:
        judged = sorted({e["candidate"] for e in state.get("verdicts", []) if _output(e) is not None})
        texts = {c["candidate"]: c["text"] for c in state.get("candidates", [])}
        results = await asyncio.gather(*[bound.ainvoke({"query": state["query"], "response": texts[i]})
                                         for i in judged])
        vetoes, failures = [], []
        for i, res in zip(judged, results, strict=True):
            if not res.ok:
                failures.append(_failure(state, label, label, i, _result_record(res)))
                continue
            reason = veto(res.output)
            if reason:
                vetoes.append({"candidate": i, "by": label, "reason": str(reason)})
        return {"vetoes": vetoes, "failures": failures}

    check.__name__ = f"{label}_check"
    return check


def _failure(state: Mapping[str, Any], stage: str, slot: str, candidate: int | None,
             result: Mapping[str, Any]) -> dict[str, Any]:
    return {"item_id": state.get("item_id"), "query": state.get("query"), "stage": stage, "slot": slot,
            "candidate": candidate, "status": result.get("status", "error"),
            "reason": result.get("error"), "raw": result.get("raw"), "attempts": result.get("attempts"),
            "model": result.get("model"), "prompt_version": result.get("prompt_version")}


# --------------------------------------------------------------------------------------------- graph


class CurationGraph(StateGraph):
    """The uncompiled curation graph, plus what its output records need.

    Attributes:
        agents: Bound agents by slot (``writer``, ``positive_critic``...): their models and prompt
            versions go into every record's provenance.
        options: Graph options (candidates, policy, mode...), part of the run fingerprint.
        retriever: The few-shot retriever, or ``None``.
    """

    agents: dict[str, Agent[Any]]
    options: dict[str, Any]
    retriever: Any


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
        The :class:`CurationGraph` builder; ``.compile()`` it, or give it to :func:`curation_job` (the
        runner compiles it with its checkpointer).

    Raises:
        InputError: An agent cannot fill its slot (missing output field, unknown template variable), or
            an option is out of range.

    Example:
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel
        >>> g = build_curation_graph(Runtime.for_testing(FakeChatModel()), reflector=None).compile()
        >>> sorted(g.get_graph().nodes)[:4]
        ['__end__', '__start__', 'dispatch_critics', 'dispatch_judge']
    """
    if pair_policy not in PAIR_POLICIES:
        raise InputError(f"unknown pair policy {pair_policy!r}; choose one of {PAIR_POLICIES}", field="pair_policy")
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; choose one of {MODES}", field="mode")
    if n_candidates < 1:
        raise InputError("must be at least 1", field="n_candidates")
    language = runtime.task.text
    agents: dict[str, Agent[Any]] = {
        "positive_critic": _bind(positive_critic, runtime, "positive_critic"),
        "negative_critic": _bind(negative_critic, runtime, "negative_critic"),
        "judge": _bind(judge, runtime, "judge"),
    }
    if mode == "write":
        agents["writer"] = _bind(writer, runtime, "writer")
    if reflector is not None:
        agents["reflector"] = _bind(reflector, runtime, "reflector")
    if (mode == "write" and n_candidates > 1 and agents["writer"].spec.temperature == 0
            and not (retriever is not None and vary_examples)):
        log.warning("writer temperature is 0 and its prompts do not vary: the %d candidates of a query will "
                    "be identical (no pairs); raise the temperature or give a retriever", n_candidates)
    extras = list(extra_nodes.items()) if isinstance(extra_nodes, Mapping) else list(extra_nodes or [])
    reserved = {"retrieve", "given", "writer", "dispatch_critics", "positive_critic", "negative_critic",
                "dispatch_judge", "judge", "dispatch_reflector", "reflector", "pair"}
    for name, _ in extras:
        if name in reserved:
            raise InputError(f"extra node name {name!r} is taken by the curation graph", field="extra_nodes")
    post = [name for name, _ in extras] + ["pair"]

    g = CurationGraph(CurationState)

    # -- sources ----------------------------------------------------------------------------------
    async def retrieve(state: CurationState) -> dict[str, Any]:
        if retriever is None:
            return {"examples": []}
        if hasattr(retriever, "aretrieve"):
            examples = await retriever.aretrieve(state["query"], k)
        else:
            examples = await asyncio.to_thread(retriever.retrieve, state["query"], k)
        return {"examples": [dict(e) for e in examples]}

    async def write(task: WriteTask) -> dict[str, Any]:
        res = await agents["writer"].ainvoke(
            {"query": task["query"], "examples": format_examples(task["examples"], runtime.task)}, sample=task["sample"])
        text = getattr(res.output, "text", None) if res.ok else None
        return {"candidates": [{"candidate": task["sample"], "text": text, "source": "writer",
                                "result": _result_record(res)}]}

    def given(state: CurationState) -> dict[str, Any]:
        return {"candidates": [{"candidate": i, "text": t, "source": "given", "result": None}
                               for i, t in enumerate(state.get("given") or [])]}

    def to_writers(state: CurationState) -> list[Send]:
        examples = state.get("examples") or []
        return [Send("writer", WriteTask(query=state["query"], sample=i,
                                         examples=nth_permutation(examples, i) if vary_examples else examples))
                for i in range(n_candidates)]

    # -- debate -----------------------------------------------------------------------------------
    def to_critics(state: CurationState) -> list[Send] | str:
        sends = []
        for c in sorted(state.get("candidates", []), key=lambda c: c["candidate"]):
            if c.get("text"):
                task = DebateTask(query=state["query"], candidate=c["candidate"], response=c["text"])
                sends += [Send("positive_critic", task), Send("negative_critic", task)]
        return sends or post[0]

    def critic_node(slot: str, key: str) -> Callable[[DebateTask], Awaitable[dict[str, Any]]]:
        async def critic(task: DebateTask) -> dict[str, Any]:
            res = await agents[slot].ainvoke({"query": task["query"], "response": task["response"]})
            return {key: [{"candidate": task["candidate"], "result": _result_record(res)}]}

        critic.__name__ = slot
        return critic

    def to_judge(state: CurationState) -> list[Send] | str:
        pos, neg = _by_candidate(state.get("positive", [])), _by_candidate(state.get("negative", []))
        texts = {c["candidate"]: c["text"] for c in state.get("candidates", [])}
        sends = []
        for i in sorted(texts):
            p, n = _output(pos.get(i)), _output(neg.get(i))
            if p is None or n is None:
                continue
            sends.append(Send("judge", JudgeTask(query=state["query"], candidate=i, response=texts[i],
                                                 positive=critique_text(p, language),
                                                 negative=critique_text(n, language))))
        return sends or post[0]

    async def judge_node(task: JudgeTask) -> dict[str, Any]:
        res = await agents["judge"].ainvoke({k: task[k] for k in ("query", "response", "positive", "negative")})
        return {"verdicts": [{"candidate": task["candidate"], "result": _result_record(res)}]}

    def to_reflector(state: CurationState) -> list[Send] | str:
        pos, neg = _by_candidate(state.get("positive", [])), _by_candidate(state.get("negative", []))
        texts = {c["candidate"]: c["text"] for c in state.get("candidates", [])}
        sends = []
        for v in sorted(state.get("verdicts", []), key=lambda v: v["candidate"]):
            out = _output(v)
            if out is None:
                continue
            i = v["candidate"]
            sends.append(Send("reflector", ReflectTask(
                query=state["query"], candidate=i, response=texts[i],
                positive=critique_text(_output(pos[i]), language), negative=critique_text(_output(neg[i]), language),
                label=int(out["label"]), reason=str(out.get("reason", "")))))
        return sends or post[0]

    async def reflector_node(task: ReflectTask) -> dict[str, Any]:
        slice_: dict[str, Any] = dict(task)
        res = await agents["reflector"].ainvoke({k: slice_[k] for k in _SLOT_VARS["reflector"]})
        return {"reflections": [{"candidate": task["candidate"], "result": _result_record(res)}]}

    # -- pairing ----------------------------------------------------------------------------------
    def pair(state: CurationState) -> dict[str, Any]:
        judged = judgements_of(state, reflector=reflector is not None)
        pairs, no_pair = make_pairs(state, judged, pair_policy, n_candidates=len(state.get("candidates", [])))
        return {"pairs": pairs, "no_pair": no_pair}

    def barrier(state: CurationState) -> dict[str, Any]:
        # Runs once after all parallel workers of the previous step: the routers below need every
        # result of that step at once.
        return {}

    # -- wiring -----------------------------------------------------------------------------------
    if mode == "write":
        g.add_node("retrieve", retrieve, retry_policy=_TRANSIENT)
        g.add_node("writer", write, input_schema=WriteTask)  # type: ignore[arg-type]  # Send targets take their slice
        g.add_node("dispatch_critics", barrier)
        g.add_edge(START, "retrieve")
        g.add_conditional_edges("retrieve", to_writers, ["writer"])
        g.add_edge("writer", "dispatch_critics")
        g.add_conditional_edges("dispatch_critics", to_critics, ["positive_critic", "negative_critic", post[0]])
    else:
        g.add_node("given", given)
        g.add_edge(START, "given")
        g.add_conditional_edges("given", to_critics, ["positive_critic", "negative_critic", post[0]])
    g.add_node("positive_critic", critic_node("positive_critic", "positive"), input_schema=DebateTask)  # type: ignore[arg-type]  # Send targets take their slice
    g.add_node("negative_critic", critic_node("negative_critic", "negative"), input_schema=DebateTask)  # type: ignore[arg-type]  # Send targets take their slice
    g.add_node("dispatch_judge", barrier)
    g.add_edge("positive_critic", "dispatch_judge")
    g.add_edge("negative_critic", "dispatch_judge")
    g.add_node("judge", judge_node, input_schema=JudgeTask)  # type: ignore[arg-type]  # Send targets take their slice
    g.add_conditional_edges("dispatch_judge", to_judge, ["judge", post[0]])
    if reflector is not None:
        g.add_node("dispatch_reflector", barrier)
        g.add_node("reflector", reflector_node, input_schema=ReflectTask)  # type: ignore[arg-type]  # Send targets take their slice
        g.add_edge("judge", "dispatch_reflector")
        g.add_conditional_edges("dispatch_reflector", to_reflector, ["reflector", post[0]])
        g.add_edge("reflector", post[0])
    else:
        g.add_edge("judge", post[0])
    for (name, fn), nxt in zip(extras, post[1:], strict=True):
        g.add_node(name, fn, retry_policy=_TRANSIENT)  # type: ignore[arg-type]
        g.add_edge(name, nxt)
    g.add_node("pair", pair)
    g.add_edge("pair", END)

    g.agents = agents
    g.options = {"n_candidates": n_candidates, "pair_policy": pair_policy, "mode": mode, "k": k,
                 "reflector": reflector is not None, "extra_nodes": [n for n, _ in extras],
                 "vary_examples": vary_examples}
    g.retriever = retriever
    return g


def nth_permutation(items: Sequence[Any], n: int) -> list[Any]:
    """The ``n``-th permutation (lexicographic by position, modulo ``len(items)!``); 0 is the identity.

    Example:
        >>> [nth_permutation("abc", i) for i in range(3)]
        [['a', 'b', 'c'], ['a', 'c', 'b'], ['b', 'a', 'c']]
    """
    pool = list(items)
    n %= math.factorial(len(pool)) if pool else 1
    out = []
    for j in range(len(pool), 0, -1):
        idx, n = divmod(n, math.factorial(j - 1))
        out.append(pool.pop(idx))
    return out


def judgements_of(state: Mapping[str, Any], *, reflector: bool = True) -> list[dict[str, Any]]:
    """Every fully judged candidate of a final state, with its debate and final label.

    A candidate is judged when the writer (if any), both critics, the judge and (when configured) the
    reflector all succeeded, and no extra node recorded a failure for it.
    """
    pos, neg = _by_candidate(state.get("positive", [])), _by_candidate(state.get("negative", []))
    ver, ref = _by_candidate(state.get("verdicts", [])), _by_candidate(state.get("reflections", []))
    excluded = {f.get("candidate") for f in state.get("failures", []) if f.get("candidate") is not None}
    vetoes: dict[int, list[dict[str, Any]]] = {}
    for v in state.get("vetoes", []):
        vetoes.setdefault(int(v["candidate"]), []).append(dict(v))
    out = []
    for c in sorted(state.get("candidates", []), key=lambda c: c["candidate"]):
        i = c["candidate"]
        p, n, j = _output(pos.get(i)), _output(neg.get(i)), _output(ver.get(i))
        r = _output(ref.get(i)) if reflector else None
        if not c.get("text") or p is None or n is None or j is None or (reflector and r is None) or i in excluded:
            continue
        final = int(r["final_label"]) if r is not None else int(j["label"])
        label = 0 if vetoes.get(i) else final
        out.append({"candidate": i, "response": c["text"], "source": c.get("source"), "positive": p, "negative": n,
                    "judge": j, "reflector": r, "final_label": final, "vetoes": vetoes.get(i, []), "label": label})
    return out


def make_pairs(state: Mapping[str, Any], judged: list[dict[str, Any]], policy: PairPolicy, *,
               n_candidates: int) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Apply a pair policy to judged candidates: (pairs, no_pair reason or ``None``)."""
    good = [j for j in judged if j["label"] == 1]
    bad = [j for j in judged if j["label"] == 0]
    failed = n_candidates - len(judged)
    if len(judged) < 2:
        return [], {"reason_code": "too_few_valid", "reason": f"{len(judged)} of {n_candidates} candidates were "
                    f"judged ({failed} failed); a pair needs two", "judged": len(judged), "candidates": n_candidates}
    if not good or not bad:
        code = "all_good" if not bad else "all_bad"
        return [], {"reason_code": code, "reason": f"all {len(judged)} judged candidates are "
                    f"{'good' if not bad else 'bad'}" + (f" ({failed} failed)" if failed else ""),
                    "judged": len(judged), "candidates": n_candidates}
    if policy == "one":
        combos = [(good[0], bad[0])]
    elif policy == "all":
        combos = [(g, b) for g in good for b in bad]
    else:
        combos = [(max(good, key=rank_key), min(bad, key=rank_key))]
    return [{"chosen": g, "rejected": b} for g, b in combos], None


# -------------------------------------------------------------------------------------- job & outputs


def _meta(j: Mapping[str, Any]) -> dict[str, Any]:
    return {k: j[k] for k in ("candidate", "source", "positive", "negative", "judge", "reflector", "final_label",
                              "vetoes")}


def curation_job(graph: CurationGraph, *, name: str = "curate") -> GraphJob:
    """The :class:`~inkforge.graphs.runner.GraphJob` that runs a curation graph and writes
    ``pairs.jsonl``, ``judgements.jsonl``, ``failures.jsonl`` and ``summary.json``.

    Example:
        >>> # report = run_graph(curation_job(build_curation_graph(rt)), "queries.txt", out_dir="runs/c")
    """
    agents, options, retriever = graph.agents, graph.options, graph.retriever
    models = {slot: a.spec.model for slot, a in agents.items()}
    versions = {slot: a.version for slot, a in agents.items()}
    names = {slot: a.name for slot, a in agents.items()}
    fingerprint = {**options, "agents": names, "prompt_versions": versions, "models": models,
                   "retriever": retriever.fingerprint() if hasattr(retriever, "fingerprint") else
                   (type(retriever).__name__ if retriever is not None else None)}

    def to_input(item: QueryItem) -> dict[str, Any]:
        return {"item_id": item.id, "query": item.query, "given": list(item.responses)}

    def to_records(item: QueryItem, state: dict[str, Any]) -> Records:
        judged = judgements_of(state, reflector=options["reflector"])
        few_shot = [str(e.get("id")) for e in state.get("examples") or []]
        base = {"item_id": item.id, "query": item.query}
        judgements = [{**base, **_meta(j), "response": j["response"], "label": j["label"], "few_shot_ids": few_shot,
                       "models": models, "prompt_versions": versions, **({"meta": dict(item.meta)} if item.meta else {})}
                      for j in judged]
        pairs = [{"prompt": item.query, "chosen": p["chosen"]["response"], "rejected": p["rejected"]["response"],
                  "item_id": item.id, "pair_policy": options["pair_policy"], "few_shot_ids": few_shot,
                  "chosen_meta": _meta(p["chosen"]), "rejected_meta": _meta(p["rejected"]),
                  "models": models, "prompt_versions": versions}
                 for p in state.get("pairs") or []]
        failures = []
        for key, slot in (("candidates", "writer"), ("positive", "positive_critic"), ("negative", "negative_critic"),
                          ("verdicts", "judge"), ("reflections", "reflector")):
            for e in sorted(state.get(key, []), key=lambda e: e["candidate"]):
                res = e.get("result")
                if res is not None and res.get("status") != "ok":
                    failures.append(_failure(state, res.get("agent") or names.get(slot, slot), slot, e["candidate"], res))
        failures += [dict(f) for f in state.get("failures", [])]
        no_pair = state.get("no_pair")
        if no_pair:
            failures.append({**base, "stage": "pair", "slot": "pair", "candidate": None, "status": "no_pair",
                             "reason": no_pair["reason"], "reason_code": no_pair["reason_code"], "raw": None,
                             "judged": no_pair.get("judged"), "candidates": no_pair.get("candidates")})
        return {"pairs": pairs, "judgements": judgements, "failures": failures}

    def progress_fields(records: Records) -> dict[str, int]:
        return {"pairs": len(records.get("pairs", [])),
                "no_pair": sum(1 for f in records.get("failures", []) if f.get("status") == "no_pair")}

    return GraphJob(graph=graph, to_input=to_input, to_records=to_records, outputs=OUTPUTS, name=name,
                    fingerprint=fingerprint, summarize=summarize_curation, progress_fields=progress_fields,
                    mode=options["mode"])


def summarize_curation(out: Path, base: dict[str, Any]) -> dict[str, Any]:
    """``summary.json`` of a curation run, computed by streaming its output files (any size).

    Counts pairs, no-pair reasons, failures by stage and status, label balance of the judged
    candidates, mean lengths of chosen vs rejected and the share of pairs whose chosen text is longer,
    with a warning above :data:`LENGTH_WARNING_SHARE` (a reward model trained on such pairs may learn
    "longer is better").
    """
    n_pairs = chosen_len = rejected_len = longer = 0
    items_with_pairs: set[str] = set()
    for p in _stream(out / "pairs.jsonl"):
        n_pairs += 1
        chosen_len += len(p["chosen"])
        rejected_len += len(p["rejected"])
        longer += int(len(p["chosen"]) > len(p["rejected"]))
        items_with_pairs.add(str(p.get("item_id")))
    good = bad = 0
    for j in _stream(out / "judgements.jsonl"):
        good += int(j.get("label") == 1)
        bad += int(j.get("label") == 0)
    no_pair: dict[str, int] = {}
    failures: dict[str, dict[str, int]] = {}
    for f in _stream(out / "failures.jsonl"):
        if f.get("status") == "no_pair":
            no_pair[f.get("reason_code", "?")] = no_pair.get(f.get("reason_code", "?"), 0) + 1
            continue
        by = failures.setdefault(str(f.get("stage")), {})
        by[str(f.get("status"))] = by.get(str(f.get("status")), 0) + 1
    share = longer / n_pairs if n_pairs else None
    warnings = []
    if share is not None and share > LENGTH_WARNING_SHARE:
        warnings.append(f"chosen is longer than rejected in {share:.0%} of pairs (> {LENGTH_WARNING_SHARE:.0%}): "
                        "a reward model may learn length instead of quality; compare with a length-only "
                        "baseline and a length-controlled slice")
    calls = (base.get("usage") or {}).get("calls")
    return {
        **base,
        "pairs": n_pairs,
        "items_with_pairs": len(items_with_pairs),
        "no_pair": no_pair,
        "failures": failures,
        "labels": {"good": good, "bad": bad, "good_share": round(good / (good + bad), 4) if good + bad else None},
        "lengths": {"chosen_mean": round(chosen_len / n_pairs, 2) if n_pairs else None,
                    "rejected_mean": round(rejected_len / n_pairs, 2) if n_pairs else None,
                    "chosen_longer_share": round(share, 4) if share is not None else None},
        "calls_per_pair": round(calls / n_pairs, 2) if calls and n_pairs else None,
        "warnings": warnings,
    }


def _stream(path: Path) -> Iterable[dict[str, Any]]:
    return read_jsonl(path) if path.is_file() else []


# ------------------------------------------------------------------------------------------ Python API


_SLOTS = ("writer", "positive_critic", "negative_critic", "judge", "reflector")
_DEFAULTS: dict[str, AgentDef[Any]] = {"writer": WRITER, "positive_critic": POSITIVE_CRITIC,
                                       "negative_critic": NEGATIVE_CRITIC, "judge": JUDGE, "reflector": REFLECTOR}


def agents_from_config(runtime: Any, **explicit: Any) -> dict[str, Any]:
    """Agents per slot: explicit arguments, else the config's ``agents:`` mapping, else the shipped ones.

    A config value of ``none`` for ``reflector`` drops it.
    """
    configured = dict(getattr(runtime.config, "agents", {}) or {})
    out: dict[str, Any] = {}
    for slot in _SLOTS:
        if slot in explicit:
            out[slot] = explicit[slot]
        elif slot in configured:
            v = configured[slot]
            out[slot] = None if slot == "reflector" and str(v).lower() in ("none", "") else v
        else:
            out[slot] = _DEFAULTS[slot]
    return out


def _as_runtime(config_or_runtime: Any) -> Any:
    from inkforge.llm.config import InkforgeConfig, load_config
    from inkforge.llm.runtime import Runtime

    if config_or_runtime is None:
        return Runtime(load_config())
    if isinstance(config_or_runtime, InkforgeConfig):
        return Runtime(config_or_runtime)
    if isinstance(config_or_runtime, (str, os.PathLike)):
        return Runtime(load_config(config_or_runtime))
    return config_or_runtime


async def acurate(queries: str | os.PathLike[str] | Iterable[str | Mapping[str, Any]], config: Any = None, *,
                  out_dir: str | os.PathLike[str] | None = None, resume: bool = False, limit: int | None = None,
                  n_candidates: int = 4, pair_policy: PairPolicy = "one", mode: CurationMode = "write",
                  retriever: Any = None, corpus: str | os.PathLike[str] | None = None, k: int = 3,
                  embedding_model: str | None = None,
                  extra_nodes: Mapping[str, ExtraNode] | Sequence[tuple[str, ExtraNode]] | None = None,
                  max_in_flight: int | None = None, durability: Durability = "exit",
                  on_progress: Callable[[RunProgress], None] | None = None,
                  export: Sequence[str] = (), as_records: bool = False, **agents: Any) -> Any:
    """Async :func:`curate`."""
    from inkforge.graphs.export import export_pairs, to_hf_dataset

    runtime = _as_runtime(config)
    if retriever is None and corpus is not None:
        from inkforge.graphs.retrieval import EmbeddingRetriever

        retriever = EmbeddingRetriever(corpus, model=embedding_model)
    unknown = set(agents) - set(_SLOTS)
    if unknown:
        raise TypeError(f"unknown argument(s) {sorted(unknown)}; agent slots are {_SLOTS}")
    graph = build_curation_graph(runtime, **agents_from_config(runtime, **agents), retriever=retriever, k=k,
                                 extra_nodes=extra_nodes, n_candidates=n_candidates, pair_policy=pair_policy,
                                 mode=mode)
    if not isinstance(queries, (str, os.PathLike)) and not isinstance(queries, Sequence):
        queries = list(queries)  # read twice: validation, then the run
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="inkforge-curate-"))
    try:
        report: RunReport = await arun_graph(curation_job(graph), queries, out_dir=out, runtime=runtime,
                                             resume=resume, limit=limit, max_in_flight=max_in_flight,
                                             durability=durability, on_progress=on_progress)
    finally:
        if runtime is not config:  # we opened it: close its cache
            runtime.close()
    log.info("curation outputs in %s: %s pairs", out, report.summary.get("pairs"))
    if export:
        export_pairs(out, export)
    if as_records:
        return list(read_jsonl(out / "pairs.jsonl"))
    return to_hf_dataset(out, provenance=True)


def curate(queries: str | os.PathLike[str] | Iterable[str | Mapping[str, Any]], config: Any = None, **opts: Any) -> Any:
    """Curate preference pairs from queries; the notebook entry point of ``inkforge curate``.

    Args:
        queries: A ``.txt``/``.jsonl`` path or rows (strings or ``{"query", "id", "responses"}`` dicts).
        config: A :class:`~inkforge.llm.runtime.Runtime`, an :class:`~inkforge.llm.config.InkforgeConfig`, a YAML
            path, or ``None`` (environment defaults).
        **opts: ``out_dir`` (default: a temp folder), ``resume``, ``limit``, ``n_candidates``,
            ``pair_policy``, ``mode``, ``retriever`` or ``corpus`` (+ ``embedding_model``), ``k``,
            ``extra_nodes``, ``max_in_flight``, ``durability``, ``on_progress`` (a callback taking
            :class:`~inkforge.graphs.runner.RunProgress`), ``export`` (formats),
            ``as_records`` (list of dicts instead of a Dataset), and agent slots (``writer``,
            ``positive_critic``, ``negative_critic``, ``judge``, ``reflector=None``...).

    Returns:
        A :class:`datasets.Dataset` with ``prompt``, ``chosen``, ``rejected``, ``item_id`` and
        ``provenance`` (JSON string) columns, or a list of :class:`PairRecord` dicts.

    Example:
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel
        >>> from inkforge.graphs.retrieval import SAMPLE_CORPUS, KeywordRetriever
        >>> rt = Runtime.for_testing(FakeChatModel(responder=fake_curation_responder()))
        >>> ds = curate(["给奶奶八十大寿的祝福语", "同事升职了，发一句祝贺"], rt,
        ...             retriever=KeywordRetriever(SAMPLE_CORPUS), pair_policy="best_vs_worst")
        >>> ds.column_names[:3], ds.num_rows
        (['prompt', 'chosen', 'rejected'], 2)
    """
    return run_sync(acurate(queries, config, **opts))


def fake_curation_responder(good: Callable[[str], bool] | None = None) -> Callable[[Any, Any], Any]:
    """A :class:`~inkforge.testing.FakeChatModel` responder that plays every curation agent.

    The writer's text is a function of its prompt's hash (so candidates differ when their prompts do,
    e.g. through ``vary_examples``), with varying lengths; critics, judge and reflector answer by schema. A candidate is good
    when ``good(candidate_text)`` is true (default: its last character code is even), so a query
    usually gets both good and bad candidates. Handy for notebooks and tests.
    """
    good = good or (lambda text: ord(text[-1]) % 2 == 0)

    def respond(messages: Any, schema: Any) -> Any:
        text = "\n".join(str(m.content) for m in messages)
        name = getattr(schema, "__name__", "") if schema is not None else _schema_in(text)
        if name == "WriterOutput":
            h = hashlib.sha256(text.encode()).hexdigest()
            return {"text": "愿你" + "好运常在" * (1 + int(h[0], 16) % 3) + "福乐绵长吉祥如意"[int(h[1], 16) % 8]}
        response = _between(text)
        is_good = good(response) if response else True
        if name == "PositiveCritique":
            return {"strengths": [{"dimension": "sincerity", "comment": "真挚"}] * (2 if is_good else 1),
                    "summary": "有可取之处"}
        if name == "NegativeCritique":
            return {"issues": [] if is_good else [{"dimension": "cliche", "comment": "套话", "severity": "medium"}],
                    "summary": "问题不大" if is_good else "较空泛"}
        if name == "JudgeVerdict":
            return {"reason": "依据双方意见", "label": int(is_good)}
        if name == "ReflectorVerdict":
            return {"agrees": True, "reason": "维持原判", "final_label": int(is_good)}
        raise ValueError(f"fake_curation_responder: no answer for schema {name!r}")

    return respond


def _schema_in(text: str) -> str:
    for name, marker in (("WriterOutput", '"text"'), ("ReflectorVerdict", '"final_label"'),
                         ("JudgeVerdict", '"label"'), ("NegativeCritique", '"issues"'),
                         ("PositiveCritique", '"strengths"')):
        if marker in text:
            return name
    return ""


def _between(text: str) -> str | None:
    """The candidate text from a critic/judge/reflector prompt (the line after the candidate header)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("候选", "Candidate")) and i + 1 < len(lines):
            return lines[i + 1].strip()
    return None


__all__ = ["LENGTH_WARNING_SHARE", "MODES", "OUTPUTS", "PAIR_POLICIES", "CurationGraph", "CurationState", "DebateTask",
           "FailureRecord", "JudgeTask", "PairRecord", "ReflectTask", "WriteTask", "acurate", "agent_check_node",
           "agents_from_config", "build_curation_graph", "critique_text", "curate", "curation_job",
           "fake_curation_responder", "judgements_of", "make_pairs", "nth_permutation", "rank_key",
           "summarize_curation"]
