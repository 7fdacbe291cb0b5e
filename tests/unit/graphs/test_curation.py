"""The curation graph with a scripted fake model: topology, pair policies, failures, custom graphs, resume."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from inkforge.agents import AgentDef
from inkforge.core.errors import InputError
from inkforge.core.tasks import ZH_TEXT
from inkforge.graphs.curation import (
    agent_check_node,
    build_curation_graph,
    critique_text,
    curate,
    curation_job,
    rank_key,
)
from inkforge.graphs.items import read_queries
from inkforge.graphs.retrieval import SAMPLE_CORPUS, KeywordRetriever
from inkforge.graphs.runner import arun_graph, run_graph
from inkforge.llm import ModelSpec, Runtime
from inkforge.testing import FakeCall, FakeChatModel, fake_curation_responder

pytestmark = pytest.mark.timeout(60)

SNAPSHOTS = Path(__file__).parent / "snapshots"

# ----------------------------------------------------------------------------------- scripted agents
# Candidates carry tags that script every agent's answer about them, e.g.
#   "奶奶生日快乐 [good s3]"        judged good, 3 strengths, no issues
#   "生日快乐 [bad high low]"       judged bad, issues of severity high and low
#   "... [fail negative_critic]"    that agent answers garbage (a parse error)
#   "... [raise judge]"             that agent's call raises (an endpoint error)
#   "... [overturn]"                the reflector flips the judge
#   "... [unsafe]"                  the safety checker vetoes it


class SafetyVerdict(BaseModel):
    """Is the greeting safe to show (no taboo, no pressure)?"""

    safe: bool
    reason: str


SAFETY = AgentDef(name="safety", role="judge", schema=SafetyVerdict,
                  prompt="## user\n这条祝福安全吗？\n候选：\n{{ response }}\n请求：{{ query }}")


class StrictCritique(BaseModel):
    """A user's own critic: a score and free notes, no 'summary' field."""

    score: int
    notes: list[str]


STRICT_CRITIC = AgentDef(name="strict_critic", role="negative_critic", schema=StrictCritique,
                         prompt="## user\n严格打分。\n候选：\n{{ response }}\n请求：{{ query }}")

AGENT_OF_SCHEMA = {"PositiveCritique": "positive_critic", "NegativeCritique": "negative_critic",
                   "JudgeVerdict": "judge", "ReflectorVerdict": "reflector", "SafetyVerdict": "safety",
                   "StrictCritique": "strict_critic", "WriterOutput": "writer"}


def tags(candidate: str) -> list[str]:
    m = re.search(r"\[([^\]]*)\]", candidate)
    return m.group(1).split() if m else []


def scripted(call: FakeCall) -> Any:
    # The agent is named by its output schema (as on the wire); the candidate comes from the agent's
    # run metadata (its template variables), not from the prompt text.
    agent = AGENT_OF_SCHEMA[str(call.schema)]
    if agent == "writer":
        return {"text": f"写给{call.text[-6:]}的祝福"}
    t = tags(call.inputs["response"])
    if "fail" in t and t[t.index("fail") + 1] == agent:
        return "我觉得还行吧（不是 JSON）"
    if "raise" in t and t[t.index("raise") + 1] == agent:
        raise RuntimeError("upstream 503")
    good = "good" in t
    if agent == "positive_critic":
        n = next((int(x[1:]) for x in t if re.fullmatch(r"s\d", x)), 1)
        return {"strengths": [{"dimension": "sincerity", "comment": f"优点{i}"} for i in range(n)], "summary": "有优点"}
    if agent == "negative_critic":
        sev = [x for x in t if x in ("high", "medium", "low")]
        return {"issues": [{"dimension": "cliche", "comment": "套话", "severity": s} for s in sev], "summary": "有问题"}
    if agent == "strict_critic":
        return {"score": 9 if good else 3, "notes": ["很具体"] if good else ["太空泛"]}
    if agent == "judge":
        return {"reason": "核对了双方意见", "label": int(good)}
    if agent == "reflector":
        label = int(good)
        return {"agrees": "overturn" not in t, "reason": "复核", "final_label": 1 - label if "overturn" in t else label}
    if agent == "safety":
        return {"safe": "unsafe" not in t, "reason": "含不吉利的字" if "unsafe" in t else "无问题"}
    raise AssertionError(agent)


def runtime(responder: Any = scripted, **kw: Any) -> Runtime:
    return Runtime.for_testing(FakeChatModel(responder=responder, **kw), concurrency=8)


def given_rows(*groups: list[str]) -> list[dict[str, Any]]:
    return [{"id": f"item{i}", "query": f"请求{i}", "responses": g} for i, g in enumerate(groups)]


def run(tmp_path: Path, rows: Any, rt: Runtime | None = None, name: str = "out", **opts: Any) -> dict[str, Any]:
    rt = rt or runtime()
    opts.setdefault("mode", "judge_given")
    graph = build_curation_graph(rt, **opts)
    out = tmp_path / name
    report = run_graph(curation_job(graph), rows, out_dir=out, runtime=rt)
    read = lambda n: [json.loads(x) for x in (out / f"{n}.jsonl").read_text(encoding="utf-8").splitlines()]  # noqa: E731
    return {"pairs": read("pairs"), "judgements": read("judgements"), "failures": read("failures"),
            "summary": report.summary, "report": report, "out": out}


# ------------------------------------------------------------------------------------------- topology


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("INKFORGE_UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"topology changed: INKFORGE_UPDATE_SNAPSHOTS=1 to accept ({path})"


def test_topology_snapshots() -> None:
    rt = runtime()
    write = build_curation_graph(rt).compile().get_graph().draw_mermaid()
    check_snapshot("curation_write.mmd", write)
    given = build_curation_graph(rt, mode="judge_given").compile().get_graph().draw_mermaid()
    check_snapshot("curation_judge_given.mmd", given)
    custom = build_curation_graph(rt, reflector=None, negative_critic=STRICT_CRITIC,
                                  extra_nodes={"safety": agent_check_node(SAFETY, rt, veto=lambda o: None)})
    check_snapshot("curation_custom.mmd", custom.compile().get_graph().draw_mermaid())
    # The parallel structure the design promises, independent of rendering details.
    assert "dispatch_critics -.-> positive_critic" in write and "dispatch_critics -.-> negative_critic" in write
    assert "retrieve -.-> writer" in write and "reflector --> pair" in write
    assert "reflector" not in custom.compile().get_graph().nodes
    assert "judge --> safety" in custom.compile().get_graph().draw_mermaid()


# ---------------------------------------------------------------------------------------- pair policies

POLICY_GROUP = ["甲 [good s1 low]", "乙 [bad medium]", "丙 [good s3]", "丁 [bad high high]", "戊 [good s3 low]"]


def test_policy_one_takes_first_good_and_first_bad(tmp_path: Path) -> None:
    r = run(tmp_path, given_rows(POLICY_GROUP), pair_policy="one")
    assert [(p["chosen"], p["rejected"]) for p in r["pairs"]] == [(POLICY_GROUP[0], POLICY_GROUP[1])]
    p = r["pairs"][0]
    assert p["prompt"] == "请求0" and p["item_id"] == "item0" and p["pair_policy"] == "one"
    assert p["chosen_meta"]["judge"]["label"] == 1 and p["rejected_meta"]["reflector"]["final_label"] == 0
    assert p["rejected_meta"]["negative"]["issues"][0]["severity"] == "medium"
    assert set(p["models"]) == {"positive_critic", "negative_critic", "judge", "reflector"}
    assert all(len(v) == 12 for v in p["prompt_versions"].values())


def test_policy_all_takes_every_good_bad_combination(tmp_path: Path) -> None:
    r = run(tmp_path, given_rows(POLICY_GROUP), pair_policy="all")
    got = {(p["chosen"][0], p["rejected"][0]) for p in r["pairs"]}
    assert got == {(g, b) for g in "甲丙戊" for b in "乙丁"} and len(r["pairs"]) == 6


def test_policy_best_vs_worst_uses_severity_then_strengths(tmp_path: Path) -> None:
    r = run(tmp_path, given_rows(POLICY_GROUP), pair_policy="best_vs_worst")
    # 丙: no issues, 3 strengths beats 戊 (one low issue) and 甲; 丁 (two high issues) is the worst bad.
    assert [(p["chosen"][0], p["rejected"][0]) for p in r["pairs"]] == [("丙", "丁")]
    j = {x["response"][0]: x for x in r["judgements"]}
    assert rank_key(j["丙"]) > rank_key(j["戊"]) > rank_key(j["甲"]) > rank_key(j["乙"]) > rank_key(j["丁"])


def test_alike_candidates_and_failures_give_no_pair_with_reason(tmp_path: Path) -> None:
    r = run(tmp_path, given_rows(["a [good]", "b [good s2]"], ["c [bad low]", "d [bad]"],
                                 ["e [good]", "f [bad fail negative_critic]", "g [bad raise judge]"]))
    assert r["pairs"] == []
    nopair = {f["item_id"]: f for f in r["failures"] if f["status"] == "no_pair"}
    assert nopair["item0"]["reason_code"] == "all_good" and nopair["item1"]["reason_code"] == "all_bad"
    assert nopair["item2"]["reason_code"] == "too_few_valid"
    assert "1 of 3 candidates were judged (2 failed)" in nopair["item2"]["reason"]
    agent_fail = {f["stage"]: f for f in r["failures"] if f["status"] != "no_pair"}
    assert agent_fail["negative_critic"]["status"] == "parse_error" and agent_fail["negative_critic"]["candidate"] == 1
    assert "不是 JSON" in agent_fail["negative_critic"]["raw"]  # the raw output a human needs
    assert agent_fail["judge"]["status"] == "error" and "503" in agent_fail["judge"]["reason"]
    # Failed candidates are not judged, and nothing is defaulted.
    assert sorted(j["response"][0] for j in r["judgements"]) == ["a", "b", "c", "d", "e"]
    assert r["summary"]["no_pair"] == {"all_good": 1, "all_bad": 1, "too_few_valid": 1}
    assert r["summary"]["failures"] == {"negative_critic": {"parse_error": 1}, "judge": {"error": 1}}


def test_reflector_overturns_and_can_be_dropped(tmp_path: Path) -> None:
    rows = given_rows(["a [good]", "b [good overturn]"])
    with_ref = run(tmp_path, rows, name="ref")
    assert [(p["chosen"], p["rejected"]) for p in with_ref["pairs"]] == [("a [good]", "b [good overturn]")]
    assert with_ref["pairs"][0]["rejected_meta"]["reflector"]["agrees"] is False
    fake = FakeChatModel(responder=scripted)
    without = run(tmp_path, rows, rt=Runtime.for_testing(fake), name="noref", reflector=None)
    assert without["pairs"] == [] and without["summary"]["no_pair"] == {"all_good": 1}
    assert not any(c.schema == "ReflectorVerdict" for c in fake.calls)
    assert without["judgements"][0]["reflector"] is None and without["judgements"][0]["final_label"] == 1


# -------------------------------------------------------------------------------------- custom graphs


def test_user_critic_replaces_the_negative_critic(tmp_path: Path) -> None:
    fake = FakeChatModel(responder=scripted)
    r = run(tmp_path, given_rows(["a [good]", "b [bad]"]), rt=Runtime.for_testing(fake), negative_critic=STRICT_CRITIC)
    assert len(r["pairs"]) == 1 and r["pairs"][0]["chosen_meta"]["negative"] == {"score": 9, "notes": ["很具体"]}
    assert r["pairs"][0]["models"]["negative_critic"] == "fake"
    judge_prompts = [c.text for c in fake.calls if c.schema == "JudgeVerdict"]
    assert any('{"score": 3, "notes": ["太空泛"]}' in t for t in judge_prompts)  # no summary: shown as JSON
    assert critique_text({"score": 3}, ZH_TEXT) == '{"score": 3}'


def test_incompatible_replacements_are_refused() -> None:
    class NoLabel(BaseModel):
        verdict: str

    bad_judge = AgentDef(name="bad_judge", role="judge", schema=NoLabel, prompt="## user\n{{ response }}")
    with pytest.raises(InputError, match="no 'label' field"):
        build_curation_graph(runtime(), judge=bad_judge)
    odd_vars = AgentDef(name="odd", role="judge", schema=StrictCritique, prompt="## user\n{{ response }} {{ rubric }}")
    with pytest.raises(InputError, match=r"variables \['rubric'\]"):
        build_curation_graph(runtime(), positive_critic=odd_vars)
    with pytest.raises(InputError, match="pair policy"):
        build_curation_graph(runtime(), pair_policy="best")  # type: ignore[arg-type]


def test_safety_checker_node_vetoes_and_records_its_failures(tmp_path: Path) -> None:
    rt = runtime()
    safety = agent_check_node(SAFETY, rt, veto=lambda out: None if out.safe else out.reason)
    rows = given_rows(["a [good unsafe]", "b [good]", "c [bad]", "d [good fail safety]"])
    r = run(tmp_path, rows, rt=rt, pair_policy="all", extra_nodes={"safety": safety})
    # a: judged good but vetoed -> counts as bad; d: the check failed -> excluded; pairs: b vs a, b vs c.
    assert {(p["chosen"][0], p["rejected"][0]) for p in r["pairs"]} == {("b", "a"), ("b", "c")}
    vetoed = next(j for j in r["judgements"] if j["response"].startswith("a"))
    assert vetoed["final_label"] == 1 and vetoed["label"] == 0 and vetoed["vetoes"][0]["reason"] == "含不吉利的字"
    fail = next(f for f in r["failures"] if f["stage"] == "safety")
    assert fail["candidate"] == 3 and fail["status"] == "parse_error"


# ------------------------------------------------------------------------------------ write mode & API


def test_write_mode_candidates_see_varied_examples(tmp_path: Path) -> None:
    fake = FakeChatModel(responder=fake_curation_responder())
    rt = Runtime.for_testing(fake, concurrency=8)
    r = run(tmp_path, ["给奶奶八十大寿的祝福语", "同事升职了，发一句祝贺"], rt=rt, mode="write", n_candidates=3,
            retriever=KeywordRetriever(SAMPLE_CORPUS), pair_policy="all")
    writer_prompts = [c.text for c in fake.calls if c.schema == "WriterOutput"]
    assert len(writer_prompts) == 6 and len(set(writer_prompts)) == 6  # one ordering of the examples each
    assert r["judgements"] and all(j["source"] == "writer" and len(j["few_shot_ids"]) == 3 for j in r["judgements"])
    assert r["summary"]["usage"]["calls"] == 6 * 5 and r["summary"]["calls_per_pair"]
    accounted = {p["item_id"] for p in r["pairs"]} | {f["item_id"] for f in r["failures"] if f["status"] == "no_pair"}
    assert len(accounted) == 2


def test_curate_api_returns_a_trl_dataset(tmp_path: Path) -> None:
    rt = runtime()
    ds = curate(given_rows(["a [good]", "b [bad]"], ["c [good s2]", "d [bad low]"]), rt, mode="judge_given",
                out_dir=tmp_path / "api")
    assert ds.column_names == ["prompt", "chosen", "rejected", "item_id", "provenance"] and ds.num_rows == 2
    recs = curate(given_rows(["a [good]", "b [bad]"]), rt, mode="judge_given", as_records=True, reflector=None)
    assert recs[0]["chosen"] == "a [good]" and recs[0]["chosen_meta"]["reflector"] is None
    with pytest.raises(TypeError, match="agent slots"):
        curate(["q"], rt, critic=STRICT_CRITIC)


def test_length_shortcut_warning(tmp_path: Path) -> None:
    rows = given_rows(*[["长长长长长长的好祝福 [good]", "短 [bad]"] for _ in range(3)])
    s = run(tmp_path, rows)["summary"]
    assert s["lengths"]["chosen_longer_share"] == 1.0 and "length" in s["warnings"][0]


# ----------------------------------------------------------------------------------- faults & resume


def _flaky_run(tmp_path: Path, *, timeouts: float, garbage: float) -> dict[str, Any]:
    rng = random.Random(7)
    base = fake_curation_responder()

    def flaky(call: FakeCall) -> Any:
        roll = rng.random()
        if roll < timeouts:
            raise TimeoutError("injected timeout")
        if roll < timeouts + garbage:
            return "<<garbage>>"
        return base(call)

    rt = Runtime.for_testing(FakeChatModel(responder=flaky), concurrency=8, spec=ModelSpec(model="fake", max_reasks=0))
    queries = [f"给朋友{i}号的生日祝福" for i in range(20)]
    r = run(tmp_path, queries, rt=rt, mode="write", retriever=KeywordRetriever(SAMPLE_CORPUS), n_candidates=4)
    item_ids = {f["item_id"] for f in r["failures"]} | {p["item_id"] for p in r["pairs"]}
    items = r["summary"]["items"]
    # Every query accounted for: finished (pairs, no pair or permanent failures) or pending (a timeout).
    assert len(item_ids) == items["finished"] and items["finished"] + items["pending"] == 20
    for f in r["failures"]:
        assert f["status"] == "no_pair" or (f["stage"] and f["reason"]), f
    # Only fully judged candidates are in judgements and pairs; none has a defaulted verdict.
    assert all(j["judge"] and j["reflector"] and j["final_label"] in (0, 1) for j in r["judgements"])
    return r


def test_injected_timeouts_leave_items_pending_never_final(tmp_path: Path) -> None:
    r = _flaky_run(tmp_path, timeouts=0.15, garbage=0.0)
    items = r["summary"]["items"]
    assert items["pending"] and items["pending_by_kind"] == {"timeout": items["pending"]}
    assert "timeout" not in {f["status"] for f in r["failures"]}  # a timed-out item is never final


def test_injected_garbage_ends_as_final_parse_errors(tmp_path: Path) -> None:
    r = _flaky_run(tmp_path, timeouts=0.0, garbage=0.3)
    assert r["summary"]["items"]["pending"] == 0
    assert "parse_error" in {f["status"] for f in r["failures"]}


def test_killed_and_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    queries = [f"给同事{i}的新年祝福" for i in range(24)]

    def setup() -> tuple[Runtime, Any]:
        rt = Runtime.for_testing(FakeChatModel(responder=fake_curation_responder(), latency=0.01), concurrency=6)
        g = build_curation_graph(rt, retriever=KeywordRetriever(SAMPLE_CORPUS), n_candidates=3, pair_policy="one")
        return rt, curation_job(g)

    rt, job = setup()
    run_graph(job, queries, out_dir=tmp_path / "straight", runtime=rt)

    async def interrupted() -> None:
        rt, job = setup()
        task: asyncio.Task[Any]

        def on_item(report: Any) -> None:
            if report.processed == 9:
                task.cancel()

        task = asyncio.ensure_future(arun_graph(job, queries, out_dir=tmp_path / "resumed", runtime=rt,
                                                on_item=on_item, max_in_flight=6))
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    partial = (tmp_path / "resumed" / "pairs.jsonl").read_text(encoding="utf-8").splitlines()
    rt, job = setup()
    report = run_graph(job, queries, out_dir=tmp_path / "resumed", runtime=rt, resume=True)
    assert report.skipped == 9 and report.processed == 15 and report.resumed >= 1

    def lines(name: str, folder: str) -> list[str]:
        return sorted((tmp_path / folder / f"{name}.jsonl").read_text(encoding="utf-8").splitlines())

    for name in ("pairs", "judgements", "failures"):
        assert lines(name, "resumed") == lines(name, "straight"), name
    resumed_pairs = lines("pairs", "resumed")
    assert len(resumed_pairs) == len(set(resumed_pairs)) > len(partial)  # no duplicates


def test_english_task_few_shot_examples_carry_english_labels() -> None:
    fake = FakeChatModel(responder=fake_curation_responder())
    rt = Runtime.for_testing(fake, task="poem")
    corpus = [{"id": "e1", "query": "a poem about rain", "response": "Grey lines of rain stitch the street."},
              {"id": "e2", "query": "a poem for my sister", "response": "You kept the porch light on for me."}]
    curate(["a poem about autumn rain"], rt, retriever=KeywordRetriever(corpus), k=2, n_candidates=2,
           as_records=True)
    writer_prompts = [c.text for c in fake.calls if c.schema == "WriterOutput"]
    assert writer_prompts and all("Request: " in p for p in writer_prompts)
    judge_prompts = [c.text for c in fake.calls if c.schema in ("JudgeVerdict", "ReflectorVerdict")]
    assert judge_prompts, "the critiques reached the judge"
    assert not any(zh in p for p in writer_prompts + judge_prompts for zh in ("请求：", "总结：", "（无）"))


@pytest.mark.parametrize("step", [("writer",), ("negative_critic", "positive_critic"), ("judge",), ("reflector",)],
                         ids=["writer", "critics", "judge", "reflector"])
def test_item_stopped_at_the_end_of_a_step_resumes_to_the_uninterrupted_records(
        tmp_path: Path, plant_unfinished_step: Any, step: tuple[str, ...]) -> None:
    """The deterministic form of the kill-and-resume test: the item stopped after the last task of
    ``step`` finished but before the step ended (what Ctrl-C at that moment saves). Its records after a
    resume are those of an uninterrupted run: no candidate silently loses its critique or verdict, and
    the item is never committed with no record at all."""
    queries = [f"给同事{i}的新年祝福" for i in range(3)]

    def setup() -> tuple[Runtime, Any]:
        rt = Runtime.for_testing(FakeChatModel(responder=fake_curation_responder()), concurrency=6)
        return rt, build_curation_graph(rt, retriever=KeywordRetriever(SAMPLE_CORPUS), n_candidates=3)

    rt, graph = setup()
    run_graph(curation_job(graph), queries, out_dir=tmp_path / "straight", runtime=rt)
    rt, graph = setup()
    job = curation_job(graph)
    item = next(read_queries(queries))
    asyncio.run(plant_unfinished_step(tmp_path / "resumed", graph, item, job.to_input(item), step,
                                      context=graph.context))
    report = run_graph(job, queries, out_dir=tmp_path / "resumed", runtime=rt, resume=True)
    assert report.resumed == 1 and report.processed == 3 and report.errors == 0

    def lines(name: str, folder: str) -> list[str]:
        return sorted((tmp_path / folder / f"{name}.jsonl").read_text(encoding="utf-8").splitlines())

    for name in ("pairs", "judgements", "failures"):
        assert lines(name, "resumed") == lines(name, "straight"), name
    judged = [json.loads(x) for x in lines("judgements", "resumed")]
    assert sorted(j["candidate"] for j in judged if j["item_id"] == item.id) == [0, 1, 2]


# ------------------------------------------------------------------------------- nodes and context


def test_nodes_are_module_level_functions_of_state_and_context() -> None:
    from dataclasses import replace

    from langgraph.runtime import Runtime as GraphRuntime

    from inkforge.graphs.curation import graph as curation_graph

    rt = runtime()
    g = build_curation_graph(rt, n_candidates=3, pair_policy="all")
    for name, spec in g.nodes.items():
        fn = spec.runnable.afunc if spec.runnable.func is None else spec.runnable.func  # type: ignore[attr-defined]
        assert fn.__module__ == curation_graph.__name__ and "<locals>" not in fn.__qualname__, name
    for branches in g.branches.values():
        for branch in branches.values():
            fn = branch.path.func or branch.path.afunc  # type: ignore[attr-defined]
            assert fn.__module__ == curation_graph.__name__ and "<locals>" not in fn.__qualname__
    assert g.context.n_candidates == 3 and g.context.pair_policy == "all" and g.context.reflector
    assert dict(g.context.agents) == g.agents and g.context.task is rt.task

    # The same functions, called directly with a context of our own.
    examples = [{"id": "a", "query": "qa", "response": "ra"}, {"id": "b", "query": "qb", "response": "rb"}]
    ctx = replace(g.context, n_candidates=2, vary_examples=True)
    sends = curation_graph.route_to_writers({"query": "q", "examples": examples}, GraphRuntime(context=ctx))
    assert [(s.node, s.arg["sample"], [e["id"] for e in s.arg["examples"]]) for s in sends] == [
        ("writer", 0, ["a", "b"]), ("writer", 1, ["b", "a"])]
    no_vary = replace(ctx, vary_examples=False)
    assert all(s.arg["examples"] == examples for s in
               curation_graph.route_to_writers({"query": "q", "examples": examples}, GraphRuntime(context=no_vary)))
    assert curation_graph.route_to_critics({"query": "q", "candidates": []}, GraphRuntime(context=ctx)) == "pair"
    task = {"query": "请求", "candidate": 4, "response": "好 [good]", "positive": "- 真诚", "negative": "（无）"}
    out = asyncio.run(curation_graph.judge_node(task, GraphRuntime(context=ctx)))  # type: ignore[arg-type]
    [verdict] = out["verdicts"]
    assert verdict["candidate"] == 4 and verdict["result"]["output"]["label"] == 1
    state = {"query": "q", "candidates": [{"candidate": 0, "text": "x", "source": "given", "result": None}]}
    assert curation_graph.pair_node(state, GraphRuntime(context=ctx))["no_pair"]["reason_code"] == "too_few_valid"


def test_a_graph_invoked_without_its_context_says_how_to_fix_it() -> None:
    g = build_curation_graph(runtime(), mode="judge_given")
    with pytest.raises(TypeError, match="context=graph.context"):
        asyncio.run(g.compile().ainvoke({"item_id": "1", "query": "q", "given": ["a [good]", "b [bad]"]}))
    state = asyncio.run(g.compile().ainvoke({"item_id": "1", "query": "q", "given": ["a [good]", "b [bad]"]},
                                            context=g.context))
    assert [(p["chosen"]["response"], p["rejected"]["response"]) for p in state["pairs"]] == [("a [good]", "b [bad]")]


# -------------------------------------------------------------------------------------- the responder


def test_fake_curation_responder_reads_the_candidate_from_call_data_not_the_prompt(tmp_path: Path) -> None:
    """Prompts that never show the candidate under a header (or at all): the responder still tells
    one candidate's story consistently to every agent, from the agent's template variables."""
    from inkforge.agents import JUDGE, NEGATIVE_CRITIC, POSITIVE_CRITIC, REFLECTOR

    def blind(defn: AgentDef[Any]) -> AgentDef[Any]:
        return AgentDef(name=f"blind_{defn.name}", role=defn.role, schema=defn.schema,
                        prompt="## user\nDo your job on the item; answer in JSON.")

    fake = FakeChatModel(responder=fake_curation_responder(good=lambda text: text.startswith("good")))
    rows = given_rows(["good one", "bad one", "good two"])
    r = run(tmp_path, rows, rt=Runtime.for_testing(fake), pair_policy="all", positive_critic=blind(POSITIVE_CRITIC),
            negative_critic=blind(NEGATIVE_CRITIC), judge=blind(JUDGE), reflector=blind(REFLECTOR))
    assert not any("one" in c.text or "two" in c.text for c in fake.calls)  # the prompts never show them
    assert {(p["chosen"], p["rejected"]) for p in r["pairs"]} == {("good one", "bad one"), ("good two", "bad one")}
    for j in r["judgements"]:
        good = j["response"].startswith("good")
        assert j["judge"]["label"] == j["reflector"]["final_label"] == j["label"] == int(good)
        assert (j["negative"]["issues"] == []) is good and len(j["positive"]["strengths"]) == (2 if good else 1)
    # Every critic, judge and reflector call was about one candidate, named in its call data.
    assert {c.inputs["response"] for c in fake.calls} == {"good one", "bad one", "good two"}


def test_fake_curation_responder_refuses_calls_it_cannot_answer() -> None:
    from inkforge.agents import JudgeVerdict

    respond = fake_curation_responder()
    fake = FakeChatModel(responder=respond)
    with pytest.raises(ValueError, match="needs the agent's 'response' input"):
        fake.with_structured_output(JudgeVerdict.model_json_schema()).invoke("a judge call made by hand")
    with pytest.raises(ValueError, match="no answer for schema 'Mystery'"):
        respond(FakeCall([], "Mystery", "json_schema", metadata={"inkforge_inputs": {"response": "x"}}))


# ------------------------------------------------------------------------------------ record shapes


def shape_model(shape: Any) -> Any:
    """A strict pydantic model of a record TypedDict (pydantic takes ``typing.TypedDict`` only from 3.12)."""
    from typing import get_type_hints

    from pydantic import ConfigDict, create_model

    hints = get_type_hints(shape)  # NotRequired[...] stripped; optional keys get a default below
    fields = {k: (tp, ...) if k in shape.__required_keys__ else (tp, None) for k, tp in hints.items()}
    return create_model(shape.__name__, __config__=ConfigDict(extra="forbid", strict=True), **fields)


def test_every_record_written_matches_its_declared_shape(tmp_path: Path) -> None:
    from inkforge.core.types import FailureRecord, JudgementRecord, PairRecord

    rt = runtime()
    safety = agent_check_node(SAFETY, rt, veto=lambda out: None if out.safe else out.reason)
    rows = [*given_rows(POLICY_GROUP, ["a [good]", "b [good]"], ["c [good]", "d [bad fail negative_critic]"],
                        ["e [good unsafe]", "f [bad]", "g [good fail safety]", "h [bad raise judge]"]),
            {"id": "meta", "query": "带元数据", "responses": ["i [good]", "j [bad]"], "source": "forum"}]
    r = run(tmp_path, rows, rt=rt, pair_policy="all", extra_nodes={"safety": safety})
    shapes = {"pairs": PairRecord, "judgements": JudgementRecord, "failures": FailureRecord}
    seen: dict[str, set[str]] = {}
    for name, shape in shapes.items():
        model = shape_model(shape)
        assert r[name], name
        for rec in r[name]:
            keys = set(rec)
            assert shape.__required_keys__ <= keys, (name, shape.__required_keys__ - keys)
            assert keys <= shape.__required_keys__ | shape.__optional_keys__, (name, keys - shape.__annotations__.keys())
            model.model_validate(rec)
            seen.setdefault(name, set()).update(keys)
    # The run covered every kind of line: agent failures, extra-node failures, no-pair lines, row meta.
    assert {f["stage"] for f in r["failures"]} >= {"negative_critic", "judge", "safety", "pair"}
    assert "meta" in seen["judgements"] and {"reason_code", "judged", "attempts"} <= seen["failures"]

    # The runner's own failure line (an item whose graph raised) has the same shape.
    def broken(state: Any) -> dict[str, Any]:
        raise RuntimeError("checker down")

    g = build_curation_graph(rt, mode="judge_given", extra_nodes={"broken": broken})
    report = run_graph(curation_job(g), given_rows(["a [good]", "b [bad]"]), out_dir=tmp_path / "err", runtime=rt)
    [fail] = [json.loads(x) for x in (tmp_path / "err" / "failures.jsonl").read_text(encoding="utf-8").splitlines()]
    assert report.errors == 1 and fail["stage"] == "graph" and "checker down" in fail["reason"]
    shape_model(FailureRecord).model_validate(fail)
    assert set(fail) <= FailureRecord.__required_keys__ | FailureRecord.__optional_keys__
