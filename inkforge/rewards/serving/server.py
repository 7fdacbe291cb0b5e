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
  :func:`~inkforge.rewards.judge.impute_failures`) and is reported in ``extra_logs.judge_failed``
  and ``status``; ``--on-failure null`` sends ``null`` instead.
* ``POST /score``: the native protocol of :class:`RemoteJudgeReward` (TRL and the verl adapter).
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
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from inkforge.core.errors import ConfigError, FailFastError
from inkforge.core.httpserver import ConcurrentHTTPServer
from inkforge.rewards.judge import (
    STATUSES,
    JudgeOutcome,
    JudgeReward,
    ScoreBatch,
    impute_failures,
)

__all__ = [
    "RemoteJudgeReward",
    "RewardServer",
    "reward_from_env",
    "score_openrlhf",
    "split_openrlhf",
]

log = logging.getLogger(__name__)

OnFailure = Literal["impute", "null"]

# End-of-turn markers a decoded OpenRLHF sample may end with (Qwen/ChatML, Llama 2/3, DeepSeek, GLM).
_END_TOKENS = ("<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>", "<|end_of_text|>", "<｜end▁of▁sentence｜>",
               "<|end|>", "<|user|>")
_CHATML_USER = re.compile(r"<\|im_start\|>user\s*\n(.*?)<\|im_end\|>", re.S)
_CHATML_ASSISTANT = re.compile(r"<\|im_start\|>assistant\s*\n(.*?)(?:<\|im_end\|>|$)", re.S)
_LLAMA3_USER = re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\s*(.*?)<\|eot_id\|>", re.S)
_SPECIAL = re.compile(r"<\|[^|>]{1,40}\|>|<｜[^｜]{1,40}｜>")


def _strip_end(text: str) -> str:
    text = text.strip()
    changed = True
    while changed:
        changed = False
        for tok in _END_TOKENS:
            if text.endswith(tok):
                text = text[: -len(tok)].rstrip()
                changed = True
    return text


def label_query(label: Any) -> str | None:
    """The bare request carried by a label: a mapping's or a JSON object's ``query``, or the string itself."""
    if isinstance(label, Mapping):
        q = label.get("query")
        return str(q) if q else None
    if isinstance(label, str) and label.strip():
        s = label.strip()
        if s.startswith("{"):
            try:
                data = json.loads(s)
            except ValueError:
                return s
            return label_query(data)
        return s
    return None


def _request_from_prompt(prompt: str) -> str:
    for pattern in (_CHATML_USER, _LLAMA3_USER):
        found = pattern.findall(prompt)
        if found:
            return found[-1].strip()
    return _SPECIAL.sub("", prompt).strip()


def split_openrlhf(query: str, prompt: str | None = None, label: Any = None) -> tuple[str, str]:
    """Split an OpenRLHF sample into (bare request, completion text).

    OpenRLHF sends ``query`` = prompt (chat template applied) + response, and ``prompts`` = the
    prompt. The request comes from the label when it carries one (``--label_key query``, or a JSON
    object with a ``query`` field), else from the last user turn of the templated prompt.

    Example:
        >>> p = "<|im_start|>user\\n生日祝福<|im_end|>\\n<|im_start|>assistant\\n"
        >>> split_openrlhf(p + "生日快乐！<|im_end|>", p)
        ('生日祝福', '生日快乐！')
    """
    if prompt and query.startswith(prompt):
        completion = query[len(prompt):]
        request = label_query(label) or _request_from_prompt(prompt)
    else:
        turns = _CHATML_ASSISTANT.findall(query)
        completion = turns[-1] if turns else query
        head = query[: query.rfind(completion)] if turns else (prompt or "")
        request = label_query(label) or _request_from_prompt(head or query)
    return request, _strip_end(completion)


def score_openrlhf(reward: Any, queries: Sequence[str], prompts: Sequence[str] | None = None,
                   labels: Sequence[Any] | None = None, *, on_failure: OnFailure = "impute") -> dict[str, Any]:
    """Score an OpenRLHF batch: the body of ``/get_reward`` answers and of the ``reward_func`` adapter.

    Args:
        reward: A :class:`JudgeReward` or :class:`RemoteJudgeReward`.
        queries: Prompt + response texts.
        prompts: Prompt texts (absent in old OpenRLHF versions).
        labels: Labels (``--label_key``); a string or ``{"query": ...}`` is taken as the request.
        on_failure: ``impute`` (group mean, see :func:`impute_failures`) or ``null``.

    Returns:
        ``{"rewards", "scores", "extra_logs", "status", "stats"}`` as plain lists.

    Raises:
        FailFastError: The batch's failure rate exceeds the judge's ``max_failure_rate``.
    """
    n = len(queries)
    prompts = list(prompts) if prompts else [""] * n
    labels = list(labels) if labels else [None] * n
    if len(prompts) != n or len(labels) != n:
        raise ValueError(f"{n} queries but {len(prompts)} prompts and {len(labels)} labels")
    pairs = [split_openrlhf(q, p, lab) for q, p, lab in zip(queries, prompts, labels, strict=True)]
    requests = [r for r, _ in pairs]
    keys = [p or r for p, r in zip(prompts, requests, strict=True)]
    batch = reward.score_batch(keys, [c for _, c in pairs], queries=requests)
    reward.check_failures(batch)
    raw = batch.rewards
    rewards: list[float | None] = list(impute_failures(raw, keys)) if on_failure == "impute" else list(raw)
    scores = [None if r is None else min(1.0, max(0.0, r)) for r in rewards]
    return {
        "rewards": rewards, "scores": scores,
        "extra_logs": {"judge_failed": [0.0 if o.ok else 1.0 for o in batch.outcomes],
                       "judge_cached": [1.0 if o.cached else 0.0 for o in batch.outcomes]},
        "status": batch.statuses, "stats": batch.stats,
    }


# --------------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------------


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

    Example:
        >>> # with RewardServer(JudgeReward.from_rubric("rubric.json"), port=8123) as s: s.serve_forever()
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


# --------------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------------


class RemoteJudgeReward:
    """A TRL reward function that scores through a :class:`RewardServer` (``POST /score``).

    Failures stay ``None``; a server fail-fast (``503``) raises :class:`FailFastError` here, and an
    unreachable server raises after ``max_retries`` attempts (it is never read as a zero reward).

    Args:
        url: The server, ``http://host:port`` (a trailing ``/score`` or ``/get_reward`` is accepted).
        timeout: Seconds per request (a whole batch is scored per request).
        max_retries: Attempts on connection errors and 5xx other than fail-fast.
        name: Reward name (TRL logs ``rewards/<name>/mean``; metrics ``<name>/ok_rate``...).

    Example:
        >>> reward = RemoteJudgeReward("http://judge-node:8123")
        >>> reward.__name__
        'judge'
    """

    def __init__(self, url: str, *, timeout: float = 600.0, max_retries: int = 3, name: str = "judge") -> None:
        base = url.rstrip("/")
        for suffix in ("/score", "/get_reward"):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        self.url = base
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.__name__ = name
        self.max_failure_rate = 1.0  # the server applies the threshold
        self.last_stats: dict[str, Any] = {}
        self.last_outcomes: list[JudgeOutcome] = []

    def __repr__(self) -> str:
        return f"RemoteJudgeReward({self.url!r}, name={self.__name__!r})"

    def _post(self, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        data = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            req = urllib.request.Request(self.url + path, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - URL from config
                    result: dict[str, Any] = json.loads(resp.read().decode("utf-8"))
                    return result
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")
                try:
                    err = json.loads(detail).get("error", {})
                except ValueError:
                    err = {"message": detail}
                if e.code == 503 and err.get("type") == "fail_fast":
                    raise FailFastError(f"reward server {self.url}: {err.get('message')}") from None
                if e.code < 500:
                    raise ValueError(f"reward server {self.url} rejected the batch ({e.code}): "
                                     f"{err.get('message', detail)[:500]}") from None
                last = e
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                last = e
            if attempt < self.max_retries:
                time.sleep(min(8.0, 0.5 * 2 ** attempt))
        raise ConnectionError(f"reward server {self.url} unreachable after {self.max_retries + 1} attempts: "
                              f"{type(last).__name__}: {last}")

    def score_batch(self, prompts: Sequence[Any], completions: Sequence[Any], *,
                    queries: Sequence[Any] | None = None, sample: int | None = None) -> ScoreBatch:
        """Score through the server; returns outcomes and the server's batch statistics."""
        payload: dict[str, Any] = {"prompts": list(prompts), "completions": list(completions)}
        if queries is not None:
            payload["query"] = list(queries)
        out = self._post("/score", payload)
        outcomes = [JudgeOutcome(status=o["status"], reward=r, verdict=r, label=o.get("label"),
                                 cached=bool(o.get("cached")), error=o.get("error"))
                    for r, o in zip(out["rewards"], out["outcomes"], strict=True)]
        return ScoreBatch(outcomes, out.get("stats", {}))

    def check_failures(self, batch: ScoreBatch) -> None:
        """No-op: the server already refused a batch over its threshold (``503``)."""

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        """Score completions (TRL reward-function signature); ``None`` where the judge failed."""
        q = kwargs.get("query")
        batch = self.score_batch(prompts, completions, queries=q if isinstance(q, (list, tuple)) else None)
        self.last_stats, self.last_outcomes = batch.stats, batch.outcomes
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and batch.stats:
            for key in (*(f"{s}_rate" for s in STATUSES), "failure_rate", "cached_rate"):
                if key in batch.stats:
                    log_metric(f"{self.__name__}/{key}", float(batch.stats[key]))
        log_extra = kwargs.get("log_extra")
        if callable(log_extra):
            log_extra(f"{self.__name__}_status", batch.statuses)
        return batch.rewards


# --------------------------------------------------------------------------------------------------
# Configuration from the environment (verl and OpenRLHF load reward files by path, without arguments)
# --------------------------------------------------------------------------------------------------

_ENV_KEYS = ("INKFORGE_REWARD_URL", "INKFORGE_RUBRIC", "INKFORGE_CONFIG", "INKFORGE_BASE_URL", "INKFORGE_MODEL",
             "INKFORGE_CONCURRENCY", "INKFORGE_JUDGE_MODE", "INKFORGE_JUDGE_SCALE", "INKFORGE_GROUP_MODE",
             "INKFORGE_NUM_GENERATIONS", "INKFORGE_MAX_FAILURE_RATE", "INKFORGE_CACHE", "INKFORGE_JUDGE_ROLE")
_FROM_ENV: dict[tuple[str | None, ...], Any] = {}
_FROM_ENV_LOCK = threading.Lock()


def reward_from_env(environ: Mapping[str, str] | None = None) -> JudgeReward | RemoteJudgeReward:
    """The judge reward the ``INKFORGE_*`` environment describes (built once per process and setting).

    Variables: ``INKFORGE_REWARD_URL`` (a ``serve-reward`` server; the others are then ignored), or
    ``INKFORGE_RUBRIC`` (``rubric.json``) with optional ``INKFORGE_CONFIG`` (YAML),
    ``INKFORGE_BASE_URL``, ``INKFORGE_MODEL``, ``INKFORGE_CONCURRENCY``, ``INKFORGE_JUDGE_MODE``
    (``binary``/``graded``), ``INKFORGE_JUDGE_SCALE`` (``1-5``), ``INKFORGE_GROUP_MODE``
    (``pairwise``/``listwise``), ``INKFORGE_NUM_GENERATIONS``, ``INKFORGE_MAX_FAILURE_RATE``,
    ``INKFORGE_CACHE`` (a SQLite path or ``none``) and ``INKFORGE_JUDGE_ROLE``.

    Raises:
        ConfigError: Neither ``INKFORGE_REWARD_URL`` nor ``INKFORGE_RUBRIC`` is set, or a value is invalid.
    """
    env = os.environ if environ is None else environ
    key = tuple(env.get(k) for k in _ENV_KEYS)
    with _FROM_ENV_LOCK:
        if key in _FROM_ENV:
            return _FROM_ENV[key]
        url = env.get("INKFORGE_REWARD_URL")
        reward: JudgeReward | RemoteJudgeReward
        if url:
            reward = RemoteJudgeReward(url)
        else:
            rubric = env.get("INKFORGE_RUBRIC")
            if not rubric:
                raise ConfigError("set INKFORGE_RUBRIC (a rubric.json) or INKFORGE_REWARD_URL (a serve-reward server)",
                                  field="INKFORGE_RUBRIC")
            opts: dict[str, Any] = {}
            try:
                if env.get("INKFORGE_CONCURRENCY"):
                    opts["concurrency"] = int(env["INKFORGE_CONCURRENCY"])
                if env.get("INKFORGE_NUM_GENERATIONS"):
                    opts["num_generations"] = int(env["INKFORGE_NUM_GENERATIONS"])
                if env.get("INKFORGE_MAX_FAILURE_RATE"):
                    opts["max_failure_rate"] = float(env["INKFORGE_MAX_FAILURE_RATE"])
            except ValueError as e:
                raise ConfigError(f"invalid number in the environment: {e}", field="INKFORGE_*") from None
            if env.get("INKFORGE_JUDGE_MODE"):
                opts["mode"] = env["INKFORGE_JUDGE_MODE"]
            if env.get("INKFORGE_JUDGE_SCALE"):
                opts["scale"] = env["INKFORGE_JUDGE_SCALE"]
            if env.get("INKFORGE_GROUP_MODE"):
                opts["group_mode"] = env["INKFORGE_GROUP_MODE"]
            if env.get("INKFORGE_JUDGE_ROLE"):
                opts["role"] = env["INKFORGE_JUDGE_ROLE"]
            cache = env.get("INKFORGE_CACHE")
            if cache:
                opts["cache"] = None if cache.lower() in ("none", "off", "0") else cache
            reward = JudgeReward.from_rubric(rubric, env.get("INKFORGE_CONFIG") or None,
                                             base_url=env.get("INKFORGE_BASE_URL") or None,
                                             model=env.get("INKFORGE_MODEL") or None, **opts)
        _FROM_ENV[key] = reward
        return reward
