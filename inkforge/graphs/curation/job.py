"""A curation graph as a runner job: the input of each item, its output records and the run's summary.

:func:`curation_job` turns a :class:`~inkforge.graphs.curation.graph.CurationGraph` into the
:class:`~inkforge.graphs.runner.GraphJob` that :func:`~inkforge.graphs.runner.run_graph` runs over a
dataset. Each finished item writes lines of three files, whose shapes are declared in
:mod:`inkforge.core.types`: ``pairs.jsonl`` (:class:`~inkforge.core.types.PairRecord`),
``judgements.jsonl`` (:class:`~inkforge.core.types.JudgementRecord`) and ``failures.jsonl``
(:class:`~inkforge.core.types.FailureRecord`); :func:`summarize_curation` writes ``summary.json``.

Example:
    >>> from inkforge.graphs.curation import build_curation_graph
    >>> from inkforge.graphs.items import QueryItem
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> job = curation_job(build_curation_graph(Runtime.for_testing(FakeChatModel()), mode="judge_given"))
    >>> job.outputs, job.context.pair_policy
    (('pairs', 'judgements', 'failures'), 'one')
    >>> item = QueryItem(key="k1", id="q1", query="给老师的祝福", responses=("老师辛苦了",))
    >>> job.to_input(item)
    {'item_id': 'q1', 'query': '给老师的祝福', 'given': ['老师辛苦了']}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from inkforge.core.io import read_jsonl
from inkforge.core.types import FailureRecord, JudgementRecord, PairRecord, failure_kind
from inkforge.graphs.curation.graph import CurationGraph
from inkforge.graphs.curation.pairing import judgements_of
from inkforge.graphs.items import QueryItem
from inkforge.graphs.runner import GraphJob, Records

OUTPUTS = ("pairs", "judgements", "failures")
#: Share of pairs whose chosen text is longer above which the summary warns of a length shortcut.
LENGTH_WARNING_SHARE = 0.9

# State list → the graph slot whose agent wrote it.
_RESULT_KEYS = (("candidates", "writer"), ("positive", "positive_critic"), ("negative", "negative_critic"),
                ("verdicts", "judge"), ("reflections", "reflector"))
_META_KEYS = ("candidate", "source", "positive", "negative", "judge", "reflector", "final_label", "vetoes")


def failure_record(state: Mapping[str, Any], stage: str, slot: str, candidate: int | None,
                   result: Mapping[str, Any]) -> FailureRecord:
    """The failure line of one failed agent call (``result`` is an :meth:`AgentResult.to_record` dict).

    Example:
        >>> rec = failure_record({"item_id": "q1", "query": "q"}, "judge", "judge", 2,
        ...                      {"status": "timeout", "error": "timed out", "raw": None, "attempts": 1})
        >>> rec["stage"], rec["candidate"], rec["status"], rec["reason"], rec["kind"]
        ('judge', 2, 'timeout', 'timed out', 'timeout')
    """
    status = result.get("status", "error")
    return FailureRecord(item_id=str(state.get("item_id")), query=str(state.get("query")), stage=stage, slot=slot,
                         candidate=candidate, status=status, reason=result.get("error"),
                         kind=failure_kind(status, result.get("error"), result.get("kind")),
                         raw=result.get("raw"), attempts=result.get("attempts"), model=result.get("model"),
                         prompt_version=result.get("prompt_version"))


def _meta(j: Mapping[str, Any]) -> dict[str, Any]:
    return {k: j[k] for k in _META_KEYS}


def curation_records(item: QueryItem, state: Mapping[str, Any], *, reflector: bool, pair_policy: str,
                     names: Mapping[str, str], models: Mapping[str, str],
                     versions: Mapping[str, str]) -> Records:
    """The output records of one item's final state: pairs, judgements and failures.

    Args:
        item: The input row.
        state: Its final :class:`~inkforge.graphs.curation.graph.CurationState`.
        reflector: Whether the graph had a reflector (a candidate then needs its audit to be judged).
        pair_policy: The policy name recorded with each pair.
        names: Agent name per slot (the ``stage`` of failures).
        models: Model name per slot (provenance).
        versions: Prompt version per slot (provenance).
    """
    judged = judgements_of(state, reflector=reflector)
    few_shot = [str(e.get("id")) for e in state.get("examples") or []]
    judgements: list[JudgementRecord] = []
    for j in judged:
        # Keyword order is the line's key order (unchanged since the first release).
        rec = JudgementRecord(item_id=item.id, query=item.query, candidate=j["candidate"], source=j["source"],
                              positive=j["positive"], negative=j["negative"], judge=j["judge"],
                              reflector=j["reflector"], final_label=j["final_label"], vetoes=j["vetoes"],
                              response=j["response"], label=j["label"], few_shot_ids=few_shot,
                              models=dict(models), prompt_versions=dict(versions))
        if item.meta:
            rec["meta"] = dict(item.meta)
        judgements.append(rec)
    pairs = [PairRecord(prompt=item.query, chosen=p["chosen"]["response"], rejected=p["rejected"]["response"],
                        item_id=item.id, pair_policy=pair_policy, few_shot_ids=few_shot,
                        chosen_meta=_meta(p["chosen"]), rejected_meta=_meta(p["rejected"]), models=dict(models),
                        prompt_versions=dict(versions))
             for p in state.get("pairs") or []]
    failures: list[FailureRecord] = []
    for key, slot in _RESULT_KEYS:
        for e in sorted(state.get(key, []), key=lambda e: e["candidate"]):
            res = e.get("result")
            if res is not None and res.get("status") != "ok":
                failures.append(failure_record(state, res.get("agent") or names.get(slot, slot), slot,
                                               e["candidate"], res))
    failures += [FailureRecord(**f) for f in state.get("failures", [])]  # type: ignore[typeddict-item]
    no_pair = state.get("no_pair")
    if no_pair:
        failures.append(FailureRecord(item_id=item.id, query=item.query, stage="pair", slot="pair", candidate=None,
                                      status="no_pair", reason=no_pair["reason"], reason_code=no_pair["reason_code"],
                                      raw=None, judged=no_pair.get("judged"), candidates=no_pair.get("candidates")))
    # Records are plain dicts for the runner; the TypedDicts above checked their keys.
    return {"pairs": [dict(p) for p in pairs], "judgements": [dict(j) for j in judgements],
            "failures": [dict(f) for f in failures]}


def curation_job(graph: CurationGraph, *, name: str = "curate") -> GraphJob:
    """The :class:`~inkforge.graphs.runner.GraphJob` that runs a curation graph and writes
    ``pairs.jsonl``, ``judgements.jsonl``, ``failures.jsonl`` and ``summary.json``.

    The job carries the graph's context (``job.context``), which the runner passes to every invocation.

    Example::

        report = run_graph(curation_job(build_curation_graph(runtime)), "queries.txt", out_dir="runs/c")
    """
    agents, options, retriever = graph.agents, graph.options, graph.retriever
    models = {slot: a.spec.model for slot, a in agents.items()}
    versions = {slot: a.version for slot, a in agents.items()}
    names = {slot: a.name for slot, a in agents.items()}
    # Every role's model identity, endpoint and sampling settings (never the key): a resume that would
    # mix temperatures or endpoints in one dataset is refused, naming the field.
    endpoints = {slot: {**a.spec.identity(), "structured_output": list(a.spec.structured_output)}
                 for slot, a in agents.items()}
    fingerprint = {**options, "agents": names, "prompt_versions": versions, "models": models, "endpoints": endpoints,
                   "retriever": retriever.fingerprint() if hasattr(retriever, "fingerprint") else
                   (type(retriever).__name__ if retriever is not None else None)}

    def to_input(item: QueryItem) -> dict[str, Any]:
        return {"item_id": item.id, "query": item.query, "given": list(item.responses)}

    def to_records(item: QueryItem, state: dict[str, Any]) -> Records:
        return curation_records(item, state, reflector=options["reflector"], pair_policy=options["pair_policy"],
                                names=names, models=models, versions=versions)

    def progress_fields(records: Records) -> dict[str, int]:
        return {"pairs": len(records.get("pairs", [])),
                "no_pair": sum(1 for f in records.get("failures", []) if f.get("status") == "no_pair")}

    return GraphJob(graph=graph, to_input=to_input, to_records=to_records, outputs=OUTPUTS, name=name,
                    fingerprint=fingerprint, summarize=summarize_curation, progress_fields=progress_fields,
                    mode=options["mode"], context=graph.context)


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
    identical = 0
    for f in _stream(out / "failures.jsonl"):
        if f.get("status") == "no_pair":
            no_pair[f.get("reason_code", "?")] = no_pair.get(f.get("reason_code", "?"), 0) + 1
            continue
        if f.get("status") == "identical":
            identical += 1
            continue
        by = failures.setdefault(str(f.get("stage")), {})
        by[str(f.get("status"))] = by.get(str(f.get("status")), 0) + 1
    share = longer / n_pairs if n_pairs else None
    warnings = []
    if share is not None and share > LENGTH_WARNING_SHARE:
        warnings.append(f"chosen is longer than rejected in {share:.0%} of pairs (> {LENGTH_WARNING_SHARE:.0%}): "
                        "a reward model may learn length instead of quality; compare with a length-only "
                        "baseline and a length-controlled slice")
    if identical:
        warnings.append(f"{identical} candidates were identical to another candidate of their query: they were not "
                        "judged and are never paired; the endpoint may ignore the per-sample seed and temperature")
    fp = base.get("fingerprint") or {}
    if fp.get("n_candidates") == 1 and fp.get("mode") == "write":
        warnings.append("--candidates 1: no pair can form from one candidate per query")
    calls = (base.get("usage") or {}).get("calls")
    return {
        **base,
        "pairs": n_pairs,
        "items_with_pairs": len(items_with_pairs),
        "identical_candidates": identical,
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
