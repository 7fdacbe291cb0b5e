"""``inkforge serve-reward``: one judge behind HTTP for multi-process and multi-node training.

Every training process that builds its own :class:`~inkforge.rewards.judge.JudgeReward` has its own
concurrency limit, cache and failure counts, so judge traffic grows with the number of processes and
nobody sees the whole picture. :class:`RewardServer` puts one judge behind a loopback or cluster
address: it owns the cache, the in-flight limit and the failure status, and every trainer process
talks to it.

Endpoints:

* ``POST /get_reward``: OpenRLHF's remote reward protocol (``--remote_rm_url http://host:port/get_reward``).
  Body ``{"query": [prompt+response...], "prompts": [prompt...], "labels": [...]}``; answer
  ``{"rewards": [...], "scores": [...], "extra_logs": {...}, "status": [...]}``. OpenRLHF cannot
  mask a missing reward, so a failed item gets its group's mean reward (zero advantage, see
  :func:`~inkforge.rewards.outcomes.impute_failures`) and is reported in ``extra_logs.judge_failed``
  and ``status``; ``--on-failure null`` sends ``null`` instead.
* ``POST /score``: the native protocol of :class:`~inkforge.rewards.serving.client.RemoteJudgeReward`
  (TRL and the verl adapter).
  Body ``{"prompts": [...], "completions": [...], "query": [...] (optional)}``; answer
  ``{"rewards": [float | null...], "status": [...], "stats": {...}}``: failures stay ``null``.
* ``GET /health``: ``{"status": "ok" | "degraded", ...}``; degraded while the failure rate over the
  last ``window`` items exceeds ``max_failure_rate``.
* ``GET /metrics``: Prometheus text: requests, items by status, cache hits, fail-fast refusals,
  scoring seconds.

A batch whose failure rate exceeds the judge's ``max_failure_rate`` is answered ``503`` with the
counts, so every client stops (fail fast) instead of training on a broken judge.

Only the standard library serves HTTP: a threading server with a deep listen backlog and
``TCP_NODELAY``, every request handler submitting its batch to the judge's one event loop, so all
processes share one limit.

Example:
    >>> from inkforge.rewards.judge import JudgeReward
    >>> from inkforge.core.rubric import Rubric
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> from inkforge.rewards.serving.client import RemoteJudgeReward
    >>> fake = FakeChatModel(responder=lambda m, s: {"explanation": "好", "verdict": "Good"})
    >>> judge = JudgeReward(Rubric.default(), runtime=Runtime.for_testing(fake))
    >>> with RewardServer(judge) as server:
    ...     RemoteJudgeReward(server.url)(prompts=["中秋祝福"], completions=["月圆人团圆，中秋快乐！"])
    [1.0]
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

from inkforge.core.errors import ConfigError, FailFastError
from inkforge.core.httpserver import ConcurrentHTTPServer
from inkforge.core.types import STATUSES
from inkforge.rewards.judge import JudgeReward
from inkforge.rewards.outcomes import ScoreBatch
from inkforge.rewards.serving.openrlhf import OnFailure, score_openrlhf

__all__ = ["RewardServer"]

log = logging.getLogger(__name__)


class _Metrics:
    def __init__(self, window: int) -> None:
        self.lock = threading.Lock()
        self.requests: collections.Counter[str] = collections.Counter()
        self.items: collections.Counter[str] = collections.Counter()
        self.cached = 0
        self.fail_fast = 0
        self.seconds = 0.0
        self.recent: collections.deque[bool] = collections.deque(maxlen=window)

    def record(self, batch: ScoreBatch) -> None:
        with self.lock:
            for o in batch.outcomes:
                self.items[o.status] += 1
                self.recent.append(o.ok)
            self.cached += batch.stats.get("cached", 0)
            self.seconds += batch.stats.get("seconds", 0.0)

    def recent_failure_rate(self) -> float:
        with self.lock:
            return (len(self.recent) - sum(self.recent)) / len(self.recent) if self.recent else 0.0

    def prometheus(self) -> str:
        with self.lock:
            lines = ["# HELP inkforge_reward_requests_total HTTP requests by endpoint.",
                     "# TYPE inkforge_reward_requests_total counter"]
            lines += [f'inkforge_reward_requests_total{{endpoint="{k}"}} {v}' for k, v in sorted(self.requests.items())]
            lines += ["# HELP inkforge_reward_items_total Scored completions by judge status.",
                      "# TYPE inkforge_reward_items_total counter"]
            lines += [f'inkforge_reward_items_total{{status="{s}"}} {self.items.get(s, 0)}' for s in STATUSES]
            lines += ["# TYPE inkforge_reward_cached_total counter", f"inkforge_reward_cached_total {self.cached}",
                      "# TYPE inkforge_reward_fail_fast_total counter",
                      f"inkforge_reward_fail_fast_total {self.fail_fast}",
                      "# TYPE inkforge_reward_scoring_seconds_total counter",
                      f"inkforge_reward_scoring_seconds_total {self.seconds:.4f}"]
        lines += ["# TYPE inkforge_reward_recent_failure_rate gauge",
                  f"inkforge_reward_recent_failure_rate {self.recent_failure_rate():.6f}"]
        return "\n".join(lines) + "\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: trainers reuse their connection step after step
    server_version = "inkforge-reward/0.1"
    server: RewardServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = payload.encode("utf-8") if isinstance(payload, str) else \
            json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, kind: str, message: str, **extra: Any) -> None:
        self._send(status, {"error": {"type": kind, "message": message, **extra}})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        return json.loads(raw.decode("utf-8") or "null")

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0].rstrip("/")
        srv = self.server
        with srv.metrics.lock:
            srv.metrics.requests[path or "/"] += 1
        if path == "/health":
            self._send(200, srv.health())
        elif path == "/metrics":
            self._send(200, srv.metrics.prometheus(), "text/plain; version=0.0.4")
        else:
            self._error(404, "not_found", f"unknown route GET {path}; try /health, /metrics, POST /get_reward")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0].rstrip("/")
        srv = self.server
        with srv.metrics.lock:
            srv.metrics.requests[path] += 1
        try:
            body = self._body()
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            if path == "/get_reward":
                out = srv.get_reward(body)
            elif path == "/score":
                out = srv.score(body)
            else:
                self._error(404, "not_found", f"unknown route POST {path}; use /get_reward or /score")
                return
        except FailFastError as e:
            with srv.metrics.lock:
                srv.metrics.fail_fast += 1
            self._error(503, "fail_fast", str(e), stats=getattr(e, "stats", None))
            return
        except (ValueError, TypeError, KeyError) as e:
            self._error(400, "invalid_request", f"{type(e).__name__}: {e}")
            return
        except Exception as e:  # noqa: BLE001 - a server bug answers 500 and stays up
            log.exception("reward server failed on %s", path)
            self._error(500, "server_error", f"{type(e).__name__}: {e}")
            return
        self._send(200, out)


class RewardServer(ConcurrentHTTPServer):
    """An HTTP reward service around one judge reward, served from a background thread.

    Args:
        reward: The judge (its runtime's limiter and cache serve every client).
        host: Interface to bind (``0.0.0.0`` to serve other nodes).
        port: Port; ``0`` picks a free one.
        on_failure: What ``/get_reward`` sends for a failed item: ``impute`` (group mean) or ``null``.
        window: Items in the rolling failure rate of ``/health``.

    Example::

        with RewardServer(JudgeReward.from_rubric("rubric.json"), host="0.0.0.0", port=8123) as server:
            server.serve_forever()
    """


    def __init__(self, reward: JudgeReward, host: str = "127.0.0.1", port: int = 0, *,
                 on_failure: OnFailure = "impute", window: int = 1024) -> None:
        if on_failure not in ("impute", "null"):
            raise ConfigError(f"on_failure must be 'impute' or 'null', got {on_failure!r}", field="on_failure")
        super().__init__((host, port), _Handler)
        self.reward = reward
        self.on_failure: OnFailure = on_failure
        self.metrics = _Metrics(window)
        self.started = time.time()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` (append ``/get_reward`` for OpenRLHF)."""
        host = str(self.server_address[0])
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.port}"

    def start(self) -> RewardServer:
        """Serve in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                            name="inkforge-reward-server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()

    def __enter__(self) -> RewardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- endpoints ----------------------------------------------------------------------------------

    def _checked(self, batch: ScoreBatch) -> ScoreBatch:
        self.metrics.record(batch)
        try:
            self.reward.check_failures(batch)
        except FailFastError as e:
            e.stats = batch.stats  # type: ignore[attr-defined]
            raise
        return batch

    def score(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /score``: native batch scoring (failures stay ``null``)."""
        prompts, completions = body.get("prompts"), body.get("completions")
        if not isinstance(prompts, list) or not isinstance(completions, list):
            raise ValueError("'prompts' and 'completions' must be lists")
        queries = body.get("query")
        batch = self._checked(self.reward.score_batch(prompts, completions,
                                                      queries=queries if isinstance(queries, list) else None))
        return {"rewards": batch.rewards, "status": batch.statuses, "stats": batch.stats,
                "outcomes": [{"status": o.status, "label": o.label, "cached": o.cached, "error": o.error}
                             for o in batch.outcomes]}

    def get_reward(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /get_reward``: OpenRLHF's remote reward protocol."""
        queries = body.get("query")
        if not isinstance(queries, list):
            raise ValueError("'query' must be a list of prompt+response texts")

        class _Recording:
            # Route the batch through _checked so /get_reward batches count in the metrics too.
            def __init__(self, srv: RewardServer) -> None:
                self.srv = srv

            def score_batch(self, *a: Any, **kw: Any) -> ScoreBatch:
                return self.srv.reward.score_batch(*a, **kw)

            def check_failures(self, batch: ScoreBatch) -> None:
                self.srv._checked(batch)

        out = score_openrlhf(_Recording(self), queries, body.get("prompts"), body.get("labels"),
                             on_failure=self.on_failure)
        return out

    def health(self) -> dict[str, Any]:
        """``GET /health``: status, judge identity and failure counts."""
        rate = self.metrics.recent_failure_rate()
        r = self.reward
        spec = None
        if r.config is not None:
            s = r.config.spec_for(r.role)
            spec = {"provider": s.provider, "model": s.model, "base_url": s.base_url}
        return {"status": "degraded" if rate > r.max_failure_rate else "ok",
                "rubric_version": r.rubric.version, "task": r.rubric.task, "mode": r.mode,
                "group_mode": r.group_mode, "model": spec, "recent_failure_rate": rate,
                "max_failure_rate": r.max_failure_rate, "items": dict(self.metrics.items),
                "uptime_s": round(time.time() - self.started, 1)}
