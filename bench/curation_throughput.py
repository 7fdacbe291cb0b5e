"""Curation throughput and memory benchmark against the OpenAI-compatible stub server.

Run 1 (throughput): N queries × C candidates through the full curation graph (writer, two critics,
judge, reflector per candidate) with the stub answering after a fixed latency, at a shared
concurrency limit. The ideal wall time is ``LLM calls × latency / concurrency``; the benchmark prints
the ratio of the measured time to it, the LLM calls per pair and the peak memory.

Run 2 (memory): many queries, one candidate, zero latency; resident memory is sampled after the first
thousand items and at the end, and its growth is printed.

The stub runs in its own process so that its JSON generation does not compete with the client's event
loop for the GIL. ``--transport fake`` replaces HTTP by an in-process fake model with the same latency,
which isolates the graph + runner overhead from the HTTP client's.

Usage::

    python bench/curation_throughput.py                       # both runs, defaults of the issue
    python bench/curation_throughput.py --skip-memory --queries 100
    python bench/curation_throughput.py --transport fake --skip-memory

The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inkforge.cli.display import RunProgressBar  # noqa: E402
from inkforge.graphs.curation import build_curation_graph, curation_job  # noqa: E402
from inkforge.graphs.retrieval import SAMPLE_CORPUS, KeywordRetriever  # noqa: E402
from inkforge.graphs.runner import arun_graph  # noqa: E402
from inkforge.llm import (  # noqa: E402
    InkforgeConfig,
    ModelSpec,
    Runtime,  # noqa: E402
)
from inkforge.testing import fake_curation_responder  # noqa: E402
from inkforge.testing.stub import StubProcess  # noqa: E402

_WHO = ["奶奶", "爷爷", "妈妈", "爸爸", "老师", "同事", "闺蜜", "表弟", "客户", "老同学", "邻居", "师傅", "学长", "儿子", "女儿"]
_WHAT = ["八十大寿", "升职", "考上大学", "结婚", "退休", "开店", "生日", "出院", "乔迁新居", "毕业", "新年", "中秋节",
         "拿到驾照", "第一次登台演出", "喜得贵子", "创业周年"]


def write_queries(path: Path, n: int) -> Path:
    """n distinct synthetic greeting requests (our own words), one JSON object a line."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            who, what = _WHO[i % len(_WHO)], _WHAT[(i // len(_WHO)) % len(_WHAT)]
            f.write(json.dumps({"id": f"q{i}", "query": f"给{who}的{what}祝福（第{i}条）"}, ensure_ascii=False) + "\n")
    return path


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_runtime(args: argparse.Namespace, base_url: str | None, latency: float) -> Runtime:
    """Must be called inside the running loop (HTTP clients belong to one loop)."""
    if args.transport == "fake":
        from inkforge.testing import FakeChatModel

        return Runtime.for_testing(FakeChatModel(responder=fake_curation_responder(), latency=latency),
                                   concurrency=args.concurrency)
    os.environ.setdefault("INKFORGE_BENCH_KEY", "stub-key")
    # --client picks ModelSpec.transport: "langchain" (ChatOpenAI + the OpenAI SDK, the default) or
    # "direct" (inkforge.llm.transport.direct.DirectChatModel: same protocol, a twentieth of the client CPU).
    spec = ModelSpec(model="stub", base_url=base_url, api_key_env="INKFORGE_BENCH_KEY", timeout=60, max_retries=2,
                     transport=args.client)
    cfg = InkforgeConfig(models={"default": spec}, concurrency=args.concurrency, cache=None)
    return Runtime(cfg)


async def close_clients(rt: Runtime) -> None:
    """Close injected HTTP clients (aiohttp warns about unclosed sessions otherwise)."""
    for model in getattr(rt, "_injected", {}).values():
        client = getattr(model, "http_async_client", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()


def llm_calls(rt: Runtime) -> int:
    """Model requests sent (re-asks included)."""
    return sum(u.attempts for u in rt.usage.by_agent.values())


async def throughput(args: argparse.Namespace, work: Path, base_url: str | None) -> dict[str, Any]:
    rt = make_runtime(args, base_url, args.latency)
    retriever = KeywordRetriever(SAMPLE_CORPUS)
    graph = build_curation_graph(rt, retriever=retriever, n_candidates=args.candidates, pair_policy="one")
    queries = write_queries(work / "queries.jsonl", args.queries)
    out = work / "throughput"
    t0, c0 = time.perf_counter(), time.process_time()
    report = await arun_graph(curation_job(graph), queries, out_dir=out, runtime=rt, durability=args.durability,
                              on_progress=RunProgressBar() if args.progress else None)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    await close_clients(rt)
    calls = llm_calls(rt)
    ideal = calls * args.latency / args.concurrency
    pairs = report.summary.get("pairs", 0)
    return {
        "queries": args.queries, "candidates": args.candidates, "concurrency": args.concurrency,
        "latency_s": args.latency, "transport": args.transport, "client": args.client,
        "durability": args.durability,
        "llm_calls": calls, "wall_s": round(wall, 2), "ideal_s": round(ideal, 2),
        "ratio": round(wall / ideal, 3) if ideal else None, "target_ratio": 1.25,
        "pairs": pairs, "calls_per_pair": round(calls / pairs, 2) if pairs else None,
        "failures": report.summary.get("failures"), "no_pair": report.summary.get("no_pair"),
        "peak_calls_in_flight": rt.limiter.peak, "peak_items_in_flight": report.peak_in_flight,
        "client_cpu_s": round(cpu, 2), "client_cpu_ms_per_call": round(1000 * cpu / calls, 2) if calls else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


async def memory(args: argparse.Namespace, work: Path, base_url: str | None) -> dict[str, Any]:
    rt = make_runtime(args, base_url, 0.0)
    graph = build_curation_graph(rt, retriever=KeywordRetriever(SAMPLE_CORPUS), n_candidates=1)
    queries = write_queries(work / "queries_mem.jsonl", args.mem_queries)
    samples: dict[str, float] = {}
    t0 = time.perf_counter()

    def on_item(report: Any) -> None:
        n = report.processed
        if n == args.mem_warmup:
            gc.collect()
            samples["after_warmup"] = rss_mb()
        if n % 2000 == 0:
            print(f"  memory run: {n} items, rss {rss_mb():.1f} MiB, {n / (time.perf_counter() - t0):.1f} items/s",
                  flush=True)

    report = await arun_graph(curation_job(graph), queries, out_dir=work / "memory", runtime=rt,
                              durability=args.durability, on_item=on_item, on_progress=RunProgressBar() if args.progress else None)
    await close_clients(rt)
    gc.collect()
    end = rss_mb()
    growth = end - samples.get("after_warmup", end)
    return {"queries": args.mem_queries, "candidates": 1, "latency_s": 0.0, "processed": report.processed,
            "wall_s": round(time.perf_counter() - t0, 1), "rss_after_first_mb": round(samples.get("after_warmup", 0), 1),
            "rss_end_mb": round(end, 1), "rss_growth_mb": round(growth, 1), "target_growth_mb": 100,
            "ok": growth <= 100}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--candidates", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--durability", choices=("exit", "async", "sync"), default="exit")
    p.add_argument("--transport", choices=("http", "fake"), default="http")
    p.add_argument("--client", choices=("langchain", "direct"), default="langchain",
                   help="ModelSpec.transport of the HTTP runs: langchain (ChatOpenAI) or direct")
    p.add_argument("--mem-queries", type=int, default=20_000)
    p.add_argument("--mem-warmup", type=int, default=1000)
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the output folders")
    args = p.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="inkforge-bench-"))
    result: dict[str, Any] = {"bench": "curation_throughput", "cpus": os.cpu_count()}
    stubs: list[StubProcess] = []
    try:
        if not args.skip_throughput:
            stub = StubProcess(args.latency) if args.transport == "http" else None
            if stub:
                stubs.append(stub)
            r = asyncio.run(throughput(args, work, stub.base_url if stub else None))
            result["throughput"] = r
            print(f"throughput: {r['llm_calls']} LLM calls in {r['wall_s']} s; ideal {r['ideal_s']} s "
                  f"(calls × {args.latency} s / {args.concurrency}); ratio {r['ratio']} (target ≤ 1.25); "
                  f"{r['pairs']} pairs, {r['calls_per_pair']} calls per pair; peak RSS {r['peak_rss_mb']} MiB; "
                  f"client CPU {r['client_cpu_ms_per_call']} ms per call", flush=True)
        if not args.skip_memory:
            stub = StubProcess(0.0) if args.transport == "http" else None
            if stub:
                stubs.append(stub)
            m = asyncio.run(memory(args, work, stub.base_url if stub else None))
            result["memory"] = m
            print(f"memory: {m['processed']} items in {m['wall_s']} s; RSS {m['rss_after_first_mb']} MiB after "
                  f"{args.mem_warmup} items → {m['rss_end_mb']} MiB at the end: growth {m['rss_growth_mb']} MiB "
                  f"(target ≤ 100)", flush=True)
    finally:
        for s in stubs:
            s.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"outputs kept in {work}")
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
