"""A custom curation graph: our own critic, an extra safety node, and no reflector.

The curation graph takes every agent as an argument and runs extra nodes between the verdicts and
pairing, so changing its shape needs no fork:

* ``negative_critic=STRICT_CRITIC``: our critic (own prompt and schema) in the negative slot;
* ``extra_nodes={"safety": ...}``: a safety checker built from our own agent; a vetoed candidate
  counts as bad, a failed check keeps the candidate out of pairing;
* ``reflector=None``: the judge's label is final.

Run it against an OpenAI-compatible endpoint::

    python examples/custom_graph.py --base-url http://localhost:8000/v1 --model qwen2.5-7b-instruct --out runs/custom

or offline, with a scripted fake model playing every agent (toy answers)::

    INKFORGE_EXAMPLE_OFFLINE=1 python examples/custom_graph.py --out runs/custom
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from inkforge.agents import AgentDef, Issue
from inkforge.graphs.curation import agent_check_node, build_curation_graph, curate
from inkforge.graphs.retrieval import SAMPLE_CORPUS, KeywordRetriever
from inkforge.llm import Runtime, load_config

# ---------------------------------------------------------------------------------------- our agents


class StrictCritique(BaseModel):
    """Argue against the candidate: its real flaws, whether it is a template, and a summary."""

    issues: list[Issue] = Field(default_factory=list, max_length=9)
    generic: bool = Field(description="True when the greeting could be sent to anyone by changing the name.")
    summary: str = Field(min_length=1)


STRICT_CRITIC = AgentDef(
    name="strict_critic", role="negative_critic", schema=StrictCritique,
    description="A picky critic that also flags templated greetings.",
    prompt="""
## system
你是一位挑剔的{{ task.item }}编辑，专门找出候选作品里真实存在的问题。

任务说明：{{ task.description }}

要求：每个问题都要引用原文；不要编造问题；篇幅短本身不是问题。
如果换掉称呼就能发给任何人，说明它是模板，generic 设为 true。

## user
用户请求：{{ query }}

候选{{ task.item }}：
{{ response }}
""")


class SafetyCheck(BaseModel):
    """Is the greeting safe to send: no insult, no taboo for the occasion, no private data?"""

    safe: bool
    reason: str = Field(min_length=1)


SAFETY = AgentDef(
    name="safety", role="judge", schema=SafetyCheck,
    description="Flags greetings that are unsafe to send (offence, taboo, private data).",
    prompt="""
## system
你负责发送前的安全检查：{{ task.item }}不能含有冒犯、与场合相关的禁忌（如寿宴谈“终”“送钟”、婚礼谈“散”）或他人的隐私信息。

## user
用户请求：{{ query }}

候选{{ task.item }}：
{{ response }}
""")


def build(runtime: Any, retriever: Any) -> Any:
    """The custom graph (uncompiled), as ``curate`` will build it from the same arguments."""
    safety = agent_check_node(SAFETY, runtime, veto=lambda out: None if out.safe else out.reason)
    return build_curation_graph(runtime, negative_critic=STRICT_CRITIC, reflector=None,
                                extra_nodes={"safety": safety}, retriever=retriever, n_candidates=4,
                                pair_policy="best_vs_worst")


# ------------------------------------------------------------------------------ offline stand-in model

_DRAFTS = {  # per request keyword: a concrete draft, a stock one, and (for the banquet) a taboo one
    "奶奶": ("奶奶，八十大寿快乐！您种的石榴树又结果了，我们周末都回家陪您。", "愿您晚年安好，终得清闲。",
             "祝您福如东海，寿比南山！", "愿您晚年安好，终得清闲。"),
    "升职": ("恭喜升职！那个难啃的项目是你扛下来的，实至名归。", "恭喜恭喜，步步高升！"),
    "表妹": ("表妹，录取快乐！开学前我带你去把宿舍附近的小吃摊都吃一遍。", "祝你学业有成，前程似锦！"),
    "中秋": ("中秋快乐！感谢这一年的信任，愿您和家人月圆人安。", "中秋快乐，万事如意！"),
}


def offline_runtime() -> Runtime:
    """A scripted fake model plays every agent (toy answers, no network).

    It answers from the call record: ``call.schema`` names the agent's output schema and
    ``call.inputs`` holds the variables the agent was called with (its run metadata), so the request
    and the candidate under review never have to be read back out of the prompt.
    """
    from inkforge.testing import FakeCall, FakeChatModel, fake_curation_responder

    shipped = fake_curation_responder(good=lambda text: len(text) >= 16)

    def responder(call: FakeCall) -> Any:
        if call.schema == "WriterOutput":
            request = str(call.inputs.get("query", ""))
            drafts = next((d for key, d in _DRAFTS.items() if key in request), ("祝你一切顺利，万事如意！",))
            prompt = str(call.messages[-1].content)  # its examples' order varies per sample
            return {"text": drafts[hashlib.sha256(prompt.encode()).digest()[0] % len(drafts)]}
        text = str(call.inputs.get("response", ""))
        if call.schema == "StrictCritique":
            return {"issues": [], "generic": len(text) < 16, "summary": "空泛" if len(text) < 16 else "具体"}
        if call.schema == "SafetyCheck":
            return {"safe": "终" not in text, "reason": "寿宴忌讳“终”字" if "终" in text else "无问题"}
        return shipped(call)

    return Runtime.for_testing(FakeChatModel(responder=responder), concurrency=16)


# ----------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", default=None, help="Queries .txt/.jsonl (default: inkforge's samples)")
    parser.add_argument("--out", type=Path, default=Path("runs/custom-graph"))
    parser.add_argument("--base-url")
    parser.add_argument("--model")
    parser.add_argument("--limit", type=int, default=4)
    args = parser.parse_args()

    if os.environ.get("INKFORGE_EXAMPLE_OFFLINE") == "1":
        runtime = offline_runtime()
    else:
        runtime = Runtime(load_config(base_url=args.base_url, model=args.model, overrides={"cache": None}))
    retriever = KeywordRetriever(SAMPLE_CORPUS)

    print(build(runtime, retriever).compile().get_graph().draw_mermaid())

    queries = args.queries or str(SAMPLE_CORPUS.with_name("sample_queries.txt"))
    safety = agent_check_node(SAFETY, runtime, veto=lambda out: None if out.safe else out.reason)
    pairs = curate(queries, runtime, out_dir=args.out, limit=args.limit, negative_critic=STRICT_CRITIC,
                   reflector=None, extra_nodes={"safety": safety}, retriever=retriever, n_candidates=4,
                   pair_policy="best_vs_worst")

    judged = [json.loads(line) for line in (args.out / "judgements.jsonl").read_text("utf-8").splitlines()]
    vetoed = [j for j in judged if j["vetoes"]]
    summary = json.loads((args.out / "summary.json").read_text("utf-8"))
    print(f"{pairs.num_rows} pairs, {len(judged)} judged candidates, {len(vetoed)} vetoed by the safety node")
    for j in vetoed:
        print(f"  vetoed: {j['response']}  ({j['vetoes'][0]['reason']})")
    for p in pairs.select(range(min(3, pairs.num_rows))):
        print(f"  {p['prompt']}\n    chosen:   {p['chosen']}\n    rejected: {p['rejected']}")
    print(json.dumps({k: summary[k] for k in ("pairs", "no_pair", "failures", "labels")}, ensure_ascii=False))


if __name__ == "__main__":
    main()
