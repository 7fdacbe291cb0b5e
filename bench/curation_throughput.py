"""Curation throughput against the OpenAI-compatible stub: inkforge vs the paper's own shape, per transport.

In one run, on the same stub process, for each setting (latency / concurrency):

* **baseline** — the paper's hand-run shape: stage by stage (all writer calls, then each critic, the
  judge and the reflector), a ``concurrent.futures.ThreadPoolExecutor`` of the same size posting plain
  chat-completions requests with ``httpx.Client``; the same number of calls as inkforge makes;
* **inkforge curate** (in-process API: the curation graph through ``arun_graph``) with the default
  config (``transport: http``) and with ``transport: langchain`` (ChatOpenAI).

Each prints its wall time, its ratio to the ideal bound (``calls × latency / concurrency``) and to the
baseline. Settings: 200 ms / 64 concurrent and 1 s / 256 concurrent (500 queries × 4 candidates, or
``--quick``: 100 × 4), then 0 ms latency: process CPU time per call of the HTTP client + chat-model
layer alone (structured-output calls, no graph, no agent) per transport.

A memory run (``--memory``: many queries, one candidate, zero latency) samples the resident memory
after the first thousand items and at the end. ``--transport fake`` replaces HTTP by an in-process
fake model (graph + runner overhead alone).

Usage::

    python bench/curation_throughput.py            # every setting, every transport, the issue's sizes
    python bench/curation_throughput.py --quick    # 100 queries × 4 candidates
    python bench/curation_throughput.py --settings 0.2:64 --clients http

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
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inkforge.cli.display import RunProgressBar  # noqa: E402
from inkforge.core.aio import run_sync  # noqa: E402
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
    # args.client: "default" (the spec's default transport, http) or a ModelSpec.transport value.
    extra = {} if args.client == "default" else {"transport": args.client}
    spec = ModelSpec(model="stub", base_url=base_url, api_key_env="INKFORGE_BENCH_KEY", timeout=60, max_retries=2,
                     **extra)
    cfg = InkforgeConfig(models={"default": spec}, concurrency=args.concurrency, cache=None)
    return Runtime(cfg)


async def close_clients(rt: Runtime) -> None:
    """Close the HTTP clients of this loop (aiohttp warns about unclosed sessions otherwise)."""
    for model in [*getattr(rt, "_injected", {}).values(), *getattr(rt, "_local", {}).values()]:
        if hasattr(model, "aclose"):
            await model.aclose()
            continue
        client = getattr(model, "http_async_client", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()


def llm_calls(rt: Runtime) -> int:
    """Model requests sent (re-asks included)."""
    return sum(u.attempts for u in rt.usage.by_agent.values())


BASELINE_STAGES = ("writer", "positive_critic", "negative_critic", "judge", "reflector")


def baseline(base_url: str, *, queries: int, candidates: int, concurrency: int, latency: float) -> dict[str, Any]:
    """The paper's shape: stage by stage, a thread pool of ``concurrency`` posting plain requests."""
    import concurrent.futures

    import httpx

    url = base_url.rstrip("/") + "/chat/completions"
    items = queries * candidates
    local = threading.local()  # one keep-alive client per worker thread, as per-thread scripts have
    clients: list[httpx.Client] = []

    def post(stage: str, i: int) -> bool:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=60)
            clients.append(client)
        body = {"model": "stub", "temperature": 0.7, "response_format": {"type": "json_object"},
                "messages": [{"role": "system", "content": f"You are the {stage}. Answer in JSON."},
                             {"role": "user", "content": f"item {i}: 给奶奶的八十大寿祝福"}]}
        try:
            r = client.post(url, json=body, headers={"Authorization": "Bearer stub-key"})
            return r.status_code == 200 and bool(r.json()["choices"][0]["message"]["content"])
        except httpx.HTTPError:
            return False

    t0, c0 = time.perf_counter(), time.process_time()
    ok = 0
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for stage in BASELINE_STAGES:  # each stage waits for the previous one, as the scripts do
            ok += sum(pool.map(lambda i, st=stage: post(st, i), range(items)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    for c in clients:
        c.close()
    calls = items * len(BASELINE_STAGES)
    ideal = calls * latency / concurrency
    return {"run": "baseline", "llm_calls": calls, "ok": ok, "wall_s": round(wall, 2), "ideal_s": round(ideal, 2),
            "ratio": round(wall / ideal, 3) if ideal else None,
            "client_cpu_ms_per_call": round(1000 * cpu / calls, 3)}


async def client_cpu(base_url: str, client: str, *, calls: int, concurrency: int) -> dict[str, Any]:
    """Process CPU per call of the HTTP client + chat-model layer alone (0 ms stub, no graph, no agent)."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from inkforge.agents import JUDGE
    from inkforge.llm.transport import build_chat_model
    from inkforge.llm.transport.openai import sharded_async_client

    extra = {} if client == "default" else {"transport": client}
    spec = ModelSpec(model="stub", base_url=base_url, api_key_env="INKFORGE_BENCH_KEY", **extra)
    if spec.transport == "langchain":
        model = build_chat_model(spec, http_async_client=sharded_async_client(concurrency, 60))
    else:
        model = build_chat_model(spec, limit=concurrency)
    structured = model.with_structured_output(JUDGE.schema.model_json_schema(), method="json_schema",
                                              include_raw=True)
    msgs = [SystemMessage("你是一位严格的评审。"), HumanMessage("请判断这条祝福是否得体：祝奶奶八十大寿福如东海！")]
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> bool:
        async with sem:
            out = await structured.ainvoke(msgs, config={"run_name": "judge", "metadata": {"inkforge_sample": i}})
            return out["parsed"] is not None

    await asyncio.gather(*(one(i) for i in range(concurrency)))  # warm: connections, imports
    t0, c0 = time.perf_counter(), time.process_time()
    ok = sum(await asyncio.gather(*(one(i) for i in range(calls))))
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    if hasattr(model, "aclose"):
        await model.aclose()
    return {"client": client, "transport": spec.transport, "calls": calls, "ok": ok, "wall_s": round(wall, 2),
            "client_cpu_ms_per_call": round(1000 * cpu / calls, 3), "target_ms": 1.5}


async def throughput(args: argparse.Namespace, work: Path, base_url: str | None) -> dict[str, Any]:
    rt = make_runtime(args, base_url, args.latency)
    retriever = KeywordRetriever(SAMPLE_CORPUS)
    graph = build_curation_graph(rt, retriever=retriever, n_candidates=args.candidates, pair_policy="one")
    queries = write_queries(work / "queries.jsonl", args.queries)
    out = work / f"throughput-{args.client}-{args.latency}-{args.concurrency}"
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
        "ratio": round(wall / ideal, 3) if ideal else None,
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


def _target(latency: float) -> float:
    return 1.15 if latency >= 1.0 else 1.10


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--candidates", type=int, default=4)
    p.add_argument("--quick", action="store_true", help="100 queries (× candidates) per setting")
    p.add_argument("--settings", default="0.2:64,1.0:256",
                   help="comma-separated latency:concurrency settings of the throughput runs")
    p.add_argument("--clients", default="default,langchain",
                   help="comma-separated transports: default (the config default, http), http, langchain")
    p.add_argument("--cpu-calls", type=int, default=2000, help="calls of the 0 ms client-CPU run (0: skip)")
    p.add_argument("--durability", choices=("exit", "async", "sync"), default="exit")
    p.add_argument("--transport", choices=("http", "fake"), default="http")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--memory", action="store_true", help="also run the memory-growth run")
    p.add_argument("--mem-queries", type=int, default=20_000)
    p.add_argument("--mem-warmup", type=int, default=1000)
    p.add_argument("--progress", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the output folders")
    args = p.parse_args()
    if args.quick:
        args.queries = min(args.queries, 100)
    settings = [(float(a), int(b)) for a, b in (x.split(":") for x in args.settings.split(",") if x)]
    clients = [c for c in args.clients.split(",") if c]
    if args.transport == "fake":
        clients, args.skip_baseline, args.cpu_calls = ["fake"], True, 0

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("INKFORGE_BENCH_KEY", "stub-key")
    work = Path(tempfile.mkdtemp(prefix="inkforge-bench-"))
    result: dict[str, Any] = {"bench": "curation_throughput", "cpus": os.cpu_count(),
                              "load_avg_at_start": os.getloadavg()[0], "queries": args.queries,
                              "candidates": args.candidates, "settings": [], "client_cpu": []}
    stubs: list[StubProcess] = []
    try:
        for latency, concurrency in settings:
            args.latency, args.concurrency = latency, concurrency
            stub = StubProcess(latency) if args.transport == "http" else None
            if stub:
                stubs.append(stub)
            entry: dict[str, Any] = {"latency_s": latency, "concurrency": concurrency, "runs": []}
            base = None
            if not args.skip_baseline and stub:
                base = baseline(stub.base_url, queries=args.queries, candidates=args.candidates,
                                concurrency=concurrency, latency=latency)
                entry["runs"].append(base)
                print(f"[{latency} s / {concurrency}] baseline (stage by stage, thread pool + httpx): "
                      f"{base['llm_calls']} calls in {base['wall_s']} s, ideal {base['ideal_s']} s, "
                      f"ratio {base['ratio']}", flush=True)
            for client in clients:
                args.client = client
                r = run_sync(throughput(args, work, stub.base_url if stub else None))  # the CLI's loop
                r["run"] = f"inkforge curate ({client})"
                r["target_ratio"] = _target(latency)
                r["vs_baseline"] = round(r["wall_s"] / base["wall_s"], 3) if base else None
                r["meets_target"] = bool(r["ratio"] and r["ratio"] <= r["target_ratio"]
                                         and (base is None or r["wall_s"] < base["wall_s"]))
                entry["runs"].append(r)
                print(f"[{latency} s / {concurrency}] inkforge curate ({client}): {r['llm_calls']} calls in "
                      f"{r['wall_s']} s, ideal {r['ideal_s']} s, ratio {r['ratio']} (target ≤ {r['target_ratio']}), "
                      f"{r['vs_baseline']}× the baseline's time; {r['pairs']} pairs; client CPU "
                      f"{r['client_cpu_ms_per_call']} ms per call (graph included)", flush=True)
            result["settings"].append(entry)
            if stub:
                stub.close()
        if args.cpu_calls:
            stub = StubProcess(0.0)
            stubs.append(stub)
            for client in clients:
                c = run_sync(client_cpu(stub.base_url, client, calls=args.cpu_calls, concurrency=64))
                result["client_cpu"].append(c)
                print(f"[0 s / 64] client CPU ({client}, HTTP client + chat model only): "
                      f"{c['client_cpu_ms_per_call']} ms per call over {c['calls']} calls (target ≤ 1.5)", flush=True)
        if args.memory:
            args.client = clients[0]
            stub = StubProcess(0.0) if args.transport == "http" else None
            if stub:
                stubs.append(stub)
            m = run_sync(memory(args, work, stub.base_url if stub else None))
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
    result["load_avg_at_end"] = os.getloadavg()[0]
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
