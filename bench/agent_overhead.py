"""The framework's own cost per agent call, against the stub server at zero latency.

Three medians over N sequential calls (one at a time, so nothing queues):

* ``bare``: ``ChatOpenAI.with_structured_output(...).ainvoke(messages)`` straight to the stub: the
  HTTP round trip and langchain-openai's own work, which any user pays without inkforge.
* ``inkforge``: the same call as an inkforge agent inside a one-node LangGraph graph: graph step,
  prompt rendering, cache lookup and store (SQLite, a miss every time), parsing and validation, usage
  accounting, the shared limiter.
* ``cached``: the inkforge path on a cache hit (no HTTP at all).

The framework's overhead is ``inkforge - bare``; the target is at most 3 ms at the median on 2 cores.

Run: ``.venv/bin/python bench/agent_overhead.py [--n 300] [--out FILE]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, TypedDict

import httpx
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph

from inkforge.agents import JUDGE, JudgeVerdict
from inkforge.llm import InkforgeConfig, ModelSpec, Runtime
from inkforge.llm.cache import ResponseCache
from inkforge.testing import StubServer

VARS = {"query": "给奶奶的生日祝福", "response": "奶奶生日快乐，愿您身体健康！", "positive": "真挚", "negative": "略短"}


class S(TypedDict, total=False):
    i: int
    verdict: Any


def build_graph(agent: Any) -> Any:
    async def judge(state: S) -> dict[str, Any]:
        return {"verdict": await agent.ainvoke({**VARS, "query": f"{VARS['query']} #{state['i']}"})}

    g = StateGraph(S)
    g.add_node("judge", judge)
    g.add_edge(START, "judge")
    g.add_edge("judge", END)
    return g.compile()


async def timed(fn: Any, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def run(n: int) -> dict[str, Any]:
    with StubServer() as server, tempfile.TemporaryDirectory() as tmp:
        # transport: langchain, so that both paths use the same chat model (ChatOpenAI) and the difference
        # is the framework's; bench/curation_throughput.py compares the transports themselves.
        spec = ModelSpec(model="stub", base_url=server.base_url, structured_output=["json_schema"], max_retries=0,
                         transport="langchain")
        rt = Runtime(InkforgeConfig(models={"default": spec}, cache=None), cache=ResponseCache(Path(tmp) / "c.sqlite"))
        agent = JUDGE.bind(rt)
        graph = build_graph(agent)
        messages = agent.render(VARS)
        client = httpx.AsyncClient()
        bare_model = ChatOpenAI(model="stub", base_url=server.base_url, api_key="x", max_retries=0,
                                http_async_client=client).with_structured_output(
            JudgeVerdict, method="json_schema", include_raw=True)

        async def bare(i: int) -> None:
            msgs = [*messages[:-1], type(messages[-1])(f"{messages[-1].content} #{i}")]
            await bare_model.ainvoke(msgs)

        async def framework(i: int) -> None:
            out = await graph.ainvoke({"i": i})
            assert out["verdict"].ok

        async def framework_cached(i: int) -> None:
            out = await graph.ainvoke({"i": i})
            assert out["verdict"].cached

        await timed(bare, 30)  # warm up connections and code paths
        await timed(framework, 30)
        # Interleave the two so drift (other processes, thermal) hits both alike.
        b, f = [], []
        for _ in range(5):
            b += await timed(bare, n // 5)
            rt.cache = ResponseCache(Path(tmp) / f"c{len(f)}.sqlite")  # fresh cache: every call a miss
            f += await timed(framework, n // 5)
        c = await timed(framework_cached, n // 5)
        await client.aclose()
    med_b, med_f, med_c = statistics.median(b), statistics.median(f), statistics.median(c)
    return {"n": n, "bare_ms": round(med_b, 3), "inkforge_ms": round(med_f, 3), "cached_ms": round(med_c, 3),
            "overhead_ms": round(med_f - med_b, 3), "target_ms": 3.0, "pass": med_f - med_b <= 3.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    res = asyncio.run(run(args.n))
    print(f"bare langchain-openai call   median {res['bare_ms']:.2f} ms")
    print(f"inkforge agent in a graph    median {res['inkforge_ms']:.2f} ms (cache miss + store)")
    print(f"inkforge cache hit           median {res['cached_ms']:.2f} ms")
    print(f"framework overhead per call  median {res['overhead_ms']:.2f} ms (target <= 3 ms): "
          f"{'PASS' if res['pass'] else 'FAIL'}")
    print(json.dumps(res))
    if args.out:
        args.out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
