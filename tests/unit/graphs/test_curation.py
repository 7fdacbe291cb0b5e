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
    fake_curation_responder,
    rank_key,
)
from inkforge.graphs.retrieval import SAMPLE_CORPUS, KeywordRetriever
from inkforge.graphs.runner import arun_graph, run_graph
from inkforge.llm import ModelSpec, Runtime
from inkforge.testing import FakeChatModel

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


def candidate_of(text: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("候选") and i + 1 < len(lines):
            return lines[i + 1].strip()
    return ""


def tags(candidate: str) -> list[str]:
    m = re.search(r"\[([^\]]*)\]", candidate)
    return m.group(1).split() if m else []


def scripted(messages: Any, schema: Any) -> Any:
    text = "\n".join(str(m.content) for m in messages)
    agent = AGENT_OF_SCHEMA[schema.__name__]
    if agent == "writer":
        return {"text": f"写给{text[-6:]}的祝福"}
    t = tags(candidate_of(text))
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


def test_injected_faults_every_query_ends_as_pairs_no_pair_or_failure(tmp_path: Path) -> None:
    rng = random.Random(7)
    base = fake_curation_responder()

    def flaky(messages: Any, schema: Any) -> Any:
        roll = rng.random()
        if roll < 0.15:
            raise TimeoutError("injected timeout")
        if roll < 0.30:
            return "<<garbage>>"
        return base(messages, schema)

    rt = Runtime.for_testing(FakeChatModel(responder=flaky), concurrency=8, spec=ModelSpec(model="fake", max_reasks=0))
    queries = [f"给朋友{i}号的生日祝福" for i in range(20)]
    r = run(tmp_path, queries, rt=rt, mode="write", retriever=KeywordRetriever(SAMPLE_CORPUS), n_candidates=4)
    item_ids = {f["item_id"] for f in r["failures"]} | {p["item_id"] for p in r["pairs"]}
    assert len(item_ids) == 20  # every query accounted for
    statuses = {f["status"] for f in r["failures"]}
    assert {"timeout", "parse_error"} <= statuses
    for f in r["failures"]:
        assert f["status"] == "no_pair" or (f["stage"] and f["reason"]), f
    # Only fully judged candidates are in judgements and pairs; none has a defaulted verdict.
    assert all(j["judge"] and j["reflector"] and j["final_label"] in (0, 1) for j in r["judgements"])
    assert r["summary"]["items"]["finished"] == 20


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
