"""Load-test ``serve-reward`` on loopback: healthy latency beside slow and stalled clients.

Usage:
    .venv/bin/python bench/reward_server.py [--slow 300] [--stalled 2000] [--requests 200] [--out PATH]

A :class:`~inkforge.rewards.serving.server.RewardServer` (uvicorn + starlette, one event loop)
with an instant fake judge (so the figures are the server's, not a model's) is measured in four
phases, each with ``--requests`` healthy ``POST /score`` calls from one client opening a fresh
connection per call (what ``RemoteJudgeReward`` does):

1. **baseline**: nothing else connected;
2. **slow clients**: ``--slow`` connections send request headers one byte every 0.2 s
   (slowloris) during the phase;
3. **stalled**: ``--stalled`` connections are opened and send nothing, then the healthy calls run
   while they are still open (the connection cap evicts the longest idle);
4. **after**: every bad connection is gone.

Printed per phase: p50, p99 and max latency, failures; and the server's connection counters
(evicted, refused, read timeouts). Written to ``bench/out/reward_server.json``. Bounded: under a
minute on two cores (about 15 s).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inkforge.core.httpserver import ServerLimits  # noqa: E402
from inkforge.core.rubric import Rubric  # noqa: E402
from inkforge.llm.runtime import Runtime  # noqa: E402
from inkforge.rewards.judge import JudgeReward  # noqa: E402
from inkforge.rewards.serving.server import RewardServer  # noqa: E402
from inkforge.testing import FakeChatModel  # noqa: E402

OUT = REPO / "bench" / "out" / "reward_server.json"
BODY = json.dumps({"prompts": ["生日祝福"], "completions": ["祝你生日快乐，天天开心！"]}).encode()


def healthy(url: str, n: int, timeout: float = 30.0) -> dict[str, Any]:
    """``n`` sequential healthy calls; latency percentiles in milliseconds."""
    latencies, failures = [], 0
    for _ in range(n):
        req = urllib.request.Request(url + "/score", data=BODY, method="POST",
                                     headers={"Content-Type": "application/json"})
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                resp.read()
        except (urllib.error.URLError, OSError):
            failures += 1
            continue
        latencies.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    return {"requests": n, "failures": failures, "p50_ms": round(q[49], 2), "p99_ms": round(q[98], 2),
            "max_ms": round(max(latencies), 2) if latencies else None}


class Slowloris:
    """``n`` connections sending request headers one byte every ``interval`` seconds, from one thread."""

    def __init__(self, port: int, n: int, interval: float = 0.2) -> None:
        self.port, self.n, self.interval = port, n, interval
        self.stop = threading.Event()
        self.opened = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        head = b"POST /score HTTP/1.1\r\nHost: bench\r\nX-Padding: " + b"z" * 100_000
        socks: list[tuple[socket.socket, int]] = []
        for _ in range(self.n):
            try:
                socks.append((socket.create_connection(("127.0.0.1", self.port), timeout=5), 0))
                self.opened += 1
            except OSError:
                pass
        while not self.stop.is_set() and socks:
            alive = []
            for s, i in socks:
                try:
                    s.send(head[i:i + 1])
                    alive.append((s, i + 1))
                except OSError:
                    s.close()
            socks = alive
            self.stop.wait(self.interval)
        for s, _ in socks:
            s.close()

    def __enter__(self) -> Slowloris:
        self.thread.start()
        deadline = time.monotonic() + 30
        while self.opened < self.n and time.monotonic() < deadline and self.thread.is_alive():
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slow", type=int, default=300, help="slowloris connections in phase 2")
    parser.add_argument("--stalled", type=int, default=2000, help="silent connections in phase 3")
    parser.add_argument("--requests", type=int, default=200, help="healthy calls per phase")
    parser.add_argument("--workers", type=int, default=16, help="requests scored at once")
    parser.add_argument("--max-connections", type=int, default=512)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    fake = FakeChatModel(responder=lambda m, s: {"explanation": "好", "verdict": "Good"})
    judge = JudgeReward(Rubric.default("greeting"), runtime=Runtime.for_testing(fake, concurrency=32))
    limits = ServerLimits(workers=args.workers, max_connections=args.max_connections, read_timeout=10.0,
                          idle_timeout=30.0)
    server = RewardServer(judge, limits=limits).start()
    results: dict[str, Any] = {"limits": {"workers": limits.workers, "max_connections": limits.max_connections,
                                          "read_timeout_s": limits.read_timeout, "idle_timeout_s": limits.idle_timeout},
                               "slow_clients": args.slow, "stalled_connections": args.stalled}
    t_start = time.perf_counter()
    try:
        healthy(server.url, 20)  # warm up
        results["baseline"] = healthy(server.url, args.requests)
        with Slowloris(server.port, args.slow) as slow:
            time.sleep(0.5)  # let the server accept them (the client side connects from the listen backlog)
            results["slow_clients_connected"] = slow.opened
            results["open_during_slow"] = server.open_connections
            results["with_slow_clients"] = healthy(server.url, args.requests)
        stalled: list[socket.socket] = []
        for _ in range(args.stalled):
            try:
                stalled.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            except OSError:
                break
        time.sleep(0.5)  # let the server accept (and evict) them
        results["stalled_opened"] = len(stalled)
        results["open_with_stalled"] = server.open_connections
        results["with_stalled"] = healthy(server.url, args.requests)
        for s in stalled:
            s.close()
        time.sleep(0.5)
        results["after"] = healthy(server.url, args.requests)
        results["server_connections"] = dict(server.conn_stats)
    finally:
        server.stop()
        judge.close()
    results["wall_s"] = round(time.perf_counter() - t_start, 1)

    print(f"{'phase':<22}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'failed':>8}")
    for phase in ("baseline", "with_slow_clients", "with_stalled", "after"):
        r = results[phase]
        print(f"{phase:<22}{r['p50_ms']:>9}{r['p99_ms']:>9}{r['max_ms']:>9}{r['failures']:>8}")
    print(f"slow clients connected {results['slow_clients_connected']}/{args.slow} "
          f"(open during: {results['open_during_slow']}); stalled opened {results['stalled_opened']} "
          f"(open with them: {results['open_with_stalled']}, cap {limits.max_connections})")
    print(f"server connection counters: {results['server_connections']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: results[k]["p99_ms"] for k in ("baseline", "with_slow_clients", "with_stalled", "after")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
