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
  scoring seconds, connections (open, refused, evicted, timed out, too large) and refused requests.

A batch whose failure rate exceeds the judge's ``max_failure_rate`` is answered ``503`` with the
counts, so every client stops (fail fast) instead of training on a broken judge.

Fit for a network: the server is a :class:`~inkforge.core.boundedserver.BoundedASGIServer` (uvicorn
and h11 in one event loop, with read and idle timeouts, a connection cap, a body-size cap answered
``413`` before the body is read, and at most ``workers`` requests scored at once; a stalled client
costs a coroutine, never a thread), requires a bearer token (``auth_token``) on any address other than
loopback, accepts only ``application/json`` bodies of bounded nesting and size (``400``
otherwise), never prints a traceback, and redacts API keys and tokens from every message it
returns or logs (:func:`inkforge.core.secrets.redact`).

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
import hmac
import ipaddress
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inkforge.core.boundedserver import BoundedASGIServer
from inkforge.core.errors import ConfigError, FailFastError
from inkforge.core.httpserver import LogLimiter, ServerLimits, error_body
from inkforge.core.secrets import redact, register_secret
from inkforge.core.types import STATUSES
from inkforge.rewards.judge import JudgeReward
from inkforge.rewards.outcomes import ScoreBatch
from inkforge.rewards.serving.openrlhf import OnFailure, ascore_openrlhf

__all__ = ["MAX_ITEMS", "MAX_JSON_DEPTH", "RewardServer", "is_loopback", "parse_body", "replica_concurrency"]

log = logging.getLogger(__name__)

#: Deepest nesting a request body may have: a conversational batch needs 5 (object, list, message
#: list, message, content blocks); deeper bodies are answered 400 before scoring.
MAX_JSON_DEPTH = 16
#: Most completions one request may carry.
MAX_ITEMS = 4096


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine ("", "0.0.0.0" and "::" do not).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0"), is_loopback("10.1.2.3")
        (True, True, False, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _BadRequest(ValueError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, iteratively (no recursion on hostile input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, d = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, d)
            stack.extend((v, d + 1) for v in item if isinstance(v, (dict, list)))
    return deepest


def parse_body(raw: bytes, content_type: str | None, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """A request body as a JSON object, or :class:`ValueError` with what is wrong (answered 400)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise _BadRequest("invalid_content_type",
                          f"Content-Type must be application/json, got {content_type or 'none'!r}")
    charset = [p.split("=", 1)[1].strip().strip('"').lower() for p in (content_type or "").split(";")[1:]
               if p.strip().lower().startswith("charset=")]
    if charset and charset[0] not in ("utf-8", "utf8"):
        raise _BadRequest("invalid_content_type", f"charset must be utf-8, got {charset[0]!r}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _BadRequest("invalid_json", f"body is not UTF-8 (byte {e.start})") from None
    try:
        body = json.loads(text)
    except RecursionError:
        raise _BadRequest("invalid_json", f"JSON nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as e:
        raise _BadRequest("invalid_json", f"invalid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if not isinstance(body, dict):
        raise _BadRequest("invalid_request", f"the body must be a JSON object, got {type(body).__name__}")
    if _depth(body) > max_depth:
        raise _BadRequest("invalid_json", f"JSON nested deeper than {max_depth} levels")
    return body


def _items(body: Mapping[str, Any], name: str, *, required: bool = True) -> list[Any] | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, list):
        raise _BadRequest("invalid_request", f"{name!r} must be a list")
    if len(value) > MAX_ITEMS:
        raise _BadRequest("invalid_request", f"{name!r} holds {len(value)} items; at most {MAX_ITEMS} per request")
    for i, item in enumerate(value):
        if not isinstance(item, (str, list, dict)) and item is not None:
            raise _BadRequest("invalid_request", f"{name}[{i}] must be a string or chat messages, "
                                                 f"got {type(item).__name__}")
    return value


class _Metrics:
    def __init__(self, window: int) -> None:
        self.lock = threading.Lock()
        self.requests: collections.Counter[str] = collections.Counter()
        self.refused: collections.Counter[str] = collections.Counter()
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

    def prometheus(self, conns: Mapping[str, int], open_now: int) -> str:
        with self.lock:
            lines = ["# HELP inkforge_reward_requests_total HTTP requests by endpoint.",
                     "# TYPE inkforge_reward_requests_total counter"]
            lines += [f'inkforge_reward_requests_total{{endpoint="{k}"}} {v}' for k, v in sorted(self.requests.items())]
            lines += ["# HELP inkforge_reward_refused_total Requests refused before scoring, by reason.",
                      "# TYPE inkforge_reward_refused_total counter"]
            lines += [f'inkforge_reward_refused_total{{reason="{k}"}} {v}' for k, v in sorted(self.refused.items())]
            lines += ["# HELP inkforge_reward_items_total Scored completions by judge status.",
                      "# TYPE inkforge_reward_items_total counter"]
            lines += [f'inkforge_reward_items_total{{status="{s}"}} {self.items.get(s, 0)}' for s in STATUSES]
            lines += ["# TYPE inkforge_reward_cached_total counter", f"inkforge_reward_cached_total {self.cached}",
                      "# TYPE inkforge_reward_fail_fast_total counter",
                      f"inkforge_reward_fail_fast_total {self.fail_fast}",
                      "# TYPE inkforge_reward_scoring_seconds_total counter",
                      f"inkforge_reward_scoring_seconds_total {self.seconds:.4f}"]
        lines += ["# HELP inkforge_reward_connections_total Connections by what became of them.",
                  "# TYPE inkforge_reward_connections_total counter"]
        lines += [f'inkforge_reward_connections_total{{event="{k}"}} {v}' for k, v in sorted(conns.items())]
        lines += ["# TYPE inkforge_reward_connections_open gauge", f"inkforge_reward_connections_open {open_now}",
                  "# TYPE inkforge_reward_recent_failure_rate gauge",
                  f"inkforge_reward_recent_failure_rate {self.recent_failure_rate():.6f}"]
        return "\n".join(lines) + "\n"


class _App:
    """The ASGI application of a :class:`RewardServer`: auth, routing, parsing, scoring, errors.

    Starlette's :class:`~starlette.requests.Request` and responses do the ASGI work; routing is a
    lookup here because every miss must answer inkforge's JSON error (and ``/score/`` is ``/score``).
    """

    def __init__(self, server: RewardServer) -> None:
        self.server = server

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        response = await self.respond(request)
        await response(scope, receive, send)

    def _error(self, status: int, kind: str, message: str, headers: Mapping[str, str] | None = None,
               **extra: Any) -> Response:
        return Response(error_body(kind, self.server.redact(message), **extra), status, headers=headers,
                        media_type="application/json")

    def _refuse(self, request: Request, status: int, kind: str, message: str,
                headers: Mapping[str, str] | None = None) -> Response:
        srv = self.server
        with srv.metrics.lock:
            srv.metrics.refused[kind] += 1
        client = request.client.host if request.client else "?"
        srv.limiter.warning(kind, "refused %s from %s: %s", kind, client, message)
        return self._error(status, kind, message, headers)

    def _authorised(self, request: Request) -> bool:
        token = self.server.auth_token
        if token is None:
            return True
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode("utf-8", "replace"), f"Bearer {token}".encode())

    async def respond(self, request: Request) -> Response:
        srv = self.server
        if not self._authorised(request):
            return self._refuse(request, 401, "unauthorized", "missing or wrong bearer token (send "
                                "'Authorization: Bearer <token>')", {"WWW-Authenticate": 'Bearer realm="inkforge-reward"'})
        path, method = request.url.path.rstrip("/") or "/", request.method
        if method == "GET" and path in ("/health", "/metrics"):
            with srv.metrics.lock:
                srv.metrics.requests[path] += 1
            if path == "/health":
                return JSONResponse(srv.health())
            return Response(srv.metrics.prometheus(srv.conn_stats, srv.open_connections),
                            media_type="text/plain; version=0.0.4")
        if method != "POST" or path not in ("/get_reward", "/score"):
            return self._error(404, "not_found", f"unknown route {method} {path}; try GET /health, GET /metrics, "
                               "POST /get_reward or POST /score")
        with srv.metrics.lock:
            srv.metrics.requests[path] += 1
        try:
            body = parse_body(await request.body(), request.headers.get("content-type"), srv.max_json_depth)
            out = await (srv.aget_reward(body) if path == "/get_reward" else srv.ascore(body))
        except _BadRequest as e:
            return self._refuse(request, 400, e.kind, str(e))
        except FailFastError as e:
            with srv.metrics.lock:
                srv.metrics.fail_fast += 1
            srv.limiter.warning("fail_fast", "fail fast on %s: %s", path, srv.redact(str(e))[:300])
            return self._error(503, "fail_fast", str(e), stats=getattr(e, "stats", None))
        except (ValueError, TypeError, KeyError) as e:
            return self._refuse(request, 400, "invalid_request", f"{type(e).__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - a server bug answers 500, logs one line and stays up
            srv.limiter.error("server_error", "reward server failed on %s: %s: %s", path, type(e).__name__,
                              srv.redact(str(e))[:300])
            return self._error(500, "server_error", f"{type(e).__name__}: {e}")
        return JSONResponse(out)


class RewardServer(BoundedASGIServer):
    """An HTTP reward service around one judge reward, served from a background thread.

    Args:
        reward: The judge (its runtime's limiter and cache serve every client).
        host: Interface to bind (``0.0.0.0`` to serve other nodes; needs ``auth_token``).
        port: Port; ``0`` picks a free one.
        on_failure: What ``/get_reward`` sends for a failed item: ``impute`` (group mean) or ``null``.
        window: Items in the rolling failure rate of ``/health``.
        auth_token: Bearer token every request must carry (``Authorization: Bearer <token>``);
            required unless ``host`` is loopback. Compared in constant time, never logged.
        limits: Connection, concurrency, size and time limits (:class:`~inkforge.core.httpserver.ServerLimits`).
        max_json_depth: Deepest nesting of a request body.
        replicas: How many replicas of this server share one judge endpoint: reported by
            ``/health`` beside the per-replica concurrency, so a global limit can be checked.

    Raises:
        ConfigError: A non-loopback ``host`` without ``auth_token``, or a bad ``on_failure``.
        OSError: The address cannot be bound (the port is in use).

    Example::

        with RewardServer(JudgeReward.from_rubric("rubric.json"), host="0.0.0.0", port=8123,
                          auth_token=os.environ["INKFORGE_REWARD_TOKEN"]) as server:
            server.serve_forever()
    """

    def __init__(self, reward: JudgeReward, host: str = "127.0.0.1", port: int = 0, *,
                 on_failure: OnFailure = "impute", window: int = 1024, auth_token: str | None = None,
                 limits: ServerLimits | None = None, max_json_depth: int = MAX_JSON_DEPTH, replicas: int = 1) -> None:
        if on_failure not in ("impute", "null"):
            raise ConfigError(f"on_failure must be 'impute' or 'null', got {on_failure!r}", field="on_failure")
        if auth_token is not None and not auth_token.strip():
            raise ConfigError("the auth token is empty", field="auth_token")
        if not is_loopback(host) and auth_token is None:
            raise ConfigError(f"refusing to serve on {host!r} without a bearer token: anyone who can reach the "
                              "port could spend the judge's budget; set one with --auth-token-env NAME, or bind "
                              "127.0.0.1", field="--host")
        if replicas < 1:
            raise ConfigError(f"replicas must be >= 1, got {replicas}", field="replicas")
        super().__init__((host, port), _App(self), limits)
        self.reward = reward
        self.on_failure: OnFailure = on_failure
        self.auth_token = auth_token
        if auth_token:
            register_secret(auth_token)
        self.max_json_depth = int(max_json_depth)
        self.replicas = int(replicas)
        self.metrics = _Metrics(window)
        self.limiter = LogLimiter(log)
        self.started = time.time()

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` (append ``/get_reward`` for OpenRLHF)."""
        host = str(self.server_address[0])
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '', '::') else host}:{self.port}"

    def redact(self, text: str) -> str:
        """``text`` without the judge's API key, this server's token or any other credential."""
        names: list[str] = []
        cfg = self.reward.config
        if cfg is not None:
            names.append(cfg.spec_for(self.reward.role).api_key_env)
        return redact(text, env_names=names, secrets=[self.auth_token] if self.auth_token else ())

    def start(self, name: str = "inkforge-reward-server") -> RewardServer:
        """Serve from a daemon thread; returns self once it accepts connections."""
        super().start(name)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server_close()

    def __enter__(self) -> RewardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- endpoints ----------------------------------------------------------------------------------

    def _checked(self, batch: ScoreBatch) -> ScoreBatch:
        self.check_failures(batch)
        return batch

    async def ascore_batch(self, prompts: Sequence[Any], completions: Sequence[Any], *,
                           queries: Sequence[Any] | None = None) -> ScoreBatch:
        """Score with the judge, at most ``limits.workers`` requests at once (the rest wait, as coroutines)."""
        async with self.slots:
            return await self.reward.ascore_batch(prompts, completions, queries=queries)

    def check_failures(self, batch: ScoreBatch) -> None:
        """Count the batch in the metrics; :class:`FailFastError` (with the batch's stats) past the threshold."""
        self.metrics.record(batch)
        try:
            self.reward.check_failures(batch)
        except FailFastError as e:
            e.stats = batch.stats  # type: ignore[attr-defined]
            raise

    async def ascore(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /score``: native batch scoring (failures stay ``null``; errors redacted)."""
        prompts, completions = _items(body, "prompts"), _items(body, "completions")
        queries = _items(body, "query", required=False)
        assert prompts is not None and completions is not None
        batch = await self.ascore_batch(prompts, completions, queries=queries)
        self.check_failures(batch)
        return {"rewards": batch.rewards, "status": batch.statuses, "stats": batch.stats,
                "outcomes": [{"status": o.status, "label": o.label, "cached": o.cached,
                              "error": self.redact(o.error) if o.error else o.error} for o in batch.outcomes]}

    async def aget_reward(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /get_reward``: OpenRLHF's remote reward protocol."""
        queries = _items(body, "query")
        prompts, labels = _items(body, "prompts", required=False), body.get("labels")
        assert queries is not None
        if any(not isinstance(q, str) for q in queries):
            raise _BadRequest("invalid_request", "'query' must be a list of prompt+response texts")
        if labels is not None and not isinstance(labels, list):
            raise _BadRequest("invalid_request", "'labels' must be a list")
        return await ascore_openrlhf(self, queries, prompts, labels, on_failure=self.on_failure)

    def health(self) -> dict[str, Any]:
        """``GET /health``: status, judge identity, concurrency and failure counts."""
        rate = self.metrics.recent_failure_rate()
        r = self.reward
        spec, concurrency = None, None
        if r.config is not None:
            s = r.config.spec_for(r.role)
            spec = {"provider": s.provider, "model": s.model, "base_url": s.base_url}
            concurrency = r.config.concurrency
        return {"status": "degraded" if rate > r.max_failure_rate else "ok",
                "rubric_version": r.rubric.version, "task": r.rubric.task, "mode": r.mode,
                "group_mode": r.group_mode, "model": spec, "concurrency": concurrency, "replicas": self.replicas,
                "global_concurrency": concurrency * self.replicas if concurrency else None,
                "recent_failure_rate": rate, "max_failure_rate": r.max_failure_rate,
                "items": dict(self.metrics.items), "uptime_s": round(time.time() - self.started, 1)}


def replica_concurrency(global_concurrency: int, replicas: int) -> int:
    """Per-replica judge concurrency that keeps ``replicas`` servers within one global limit.

    The floor of the share, at least 1: ``replicas`` servers never exceed the global limit (unless
    there are more replicas than the limit allows, when each still gets one call).

    Example:
        >>> replica_concurrency(128, 3), replica_concurrency(128, 4), replica_concurrency(2, 4)
        (42, 32, 1)
    """
    if global_concurrency < 1 or replicas < 1:
        raise ConfigError(f"need global concurrency >= 1 and replicas >= 1, got {global_concurrency}, {replicas}",
                          field="--replicas")
    return max(1, global_concurrency // replicas)

