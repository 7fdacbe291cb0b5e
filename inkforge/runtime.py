"""What the agents of one run share: models, one concurrency limit, the cache and usage accounting.

Example:
    >>> from inkforge.models import load_config
    >>> rt = Runtime(load_config(base_url="http://127.0.0.1:9/v1", model="stub", overrides={"cache": None}))
    >>> rt.limit
    16
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from inkforge.cache import ResponseCache
from inkforge.models import InkforgeConfig, ModelSpec, build_chat_model
from inkforge.tasks import TaskSpec, get_task


def sharded_async_client(limit: int, timeout: float, shards: int = 8) -> Any:
    """An ``httpx.AsyncClient`` whose connections are spread over several small pools.

    httpx's pool bookkeeping grows with the square of its size: one pool of 64 connections spends
    more CPU per request than a 200 ms endpoint costs in latency (measured: 256 requests at
    concurrency 64 took 2.4-3.5 s through one pool, 1.1-1.7 s through 8 pools of 8). Requests are
    rotated over the shards; each shard is an ordinary keep-alive pool.
    """
    import itertools

    import httpx

    per = max(1, -(-(limit + 8) // shards))

    class _Sharded(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            lim = httpx.Limits(max_connections=per, max_keepalive_connections=per)
            self._pools = [httpx.AsyncHTTPTransport(limits=lim) for _ in range(shards)]
            self._next = itertools.cycle(self._pools)

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return await next(self._next).handle_async_request(request)

        async def aclose(self) -> None:
            for p in self._pools:
                await p.aclose()

    transport = _Sharded() if limit > 8 else httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=limit + 8, max_keepalive_connections=limit + 8))
    return httpx.AsyncClient(transport=transport, timeout=timeout)


class ConcurrencyLimiter:
    """One in-flight limit shared by every agent of a run, valid on any event loop.

    An ``asyncio.Semaphore`` belongs to the loop it is first used on; notebooks and CLIs call
    ``asyncio.run`` several times, so the limiter keeps one semaphore per running loop.
    It also records the peak number of holders, which tests and benchmarks report.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sems: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary())
        self.in_flight = 0
        self.peak = 0

    def _sem(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._sems.get(loop)
        if sem is None:
            sem = self._sems[loop] = asyncio.Semaphore(self.limit)
        return sem

    async def __aenter__(self) -> ConcurrencyLimiter:
        await self._sem().acquire()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.in_flight -= 1
        self._sem().release()


@dataclass
class AgentUsage:
    """Counters of one agent: calls, cache hits, failures by status, tokens and cost."""

    calls: int = 0
    cached: int = 0
    ok: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0


class UsageTracker:
    """Token, cost and failure accounting per agent (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_agent: dict[str, AgentUsage] = {}

    def record(self, agent: str, *, status: str, cached: bool, attempts: int, input_tokens: int,
               output_tokens: int, cost: float, seconds: float) -> None:
        """Add one finished call."""
        with self._lock:
            u = self.by_agent.setdefault(agent, AgentUsage())
            u.calls += 1
            u.cached += int(cached)
            u.attempts += attempts
            if status == "ok":
                u.ok += 1
            else:
                u.failed[status] = u.failed.get(status, 0) + 1
            u.input_tokens += input_tokens
            u.output_tokens += output_tokens
            u.cost += cost
            u.seconds += seconds

    def totals(self) -> dict[str, Any]:
        """Sums over agents: calls, cached, failed, tokens, cost."""
        with self._lock:
            us = list(self.by_agent.values())
        return {
            "calls": sum(u.calls for u in us), "cached": sum(u.cached for u in us),
            "failed": sum(sum(u.failed.values()) for u in us),
            "input_tokens": sum(u.input_tokens for u in us),
            "output_tokens": sum(u.output_tokens for u in us),
            "tokens": sum(u.input_tokens + u.output_tokens for u in us),
            "cost": round(sum(u.cost for u in us), 6),
        }

    def as_dict(self) -> dict[str, Any]:
        """Per-agent counters and totals, JSON-ready."""
        with self._lock:
            per = {k: asdict(v) for k, v in self.by_agent.items()}
        return {"agents": per, "totals": self.totals()}


class Runtime:
    """Shared services of a run: per-role chat models, limiter, cache, usage, task.

    Args:
        config: The run configuration.
        models: Chat models to use instead of building them from the config, by role (``"default"``
            applies to every role without its own). Tests inject fakes here.
        cache: A :class:`ResponseCache`, ``None`` for no cache, or ``"config"`` (the default) to open
            the file named by ``config.cache``.
        task: Overrides ``config.task``.

    Example:
        >>> from inkforge.testing import FakeChatModel
        >>> rt = Runtime.for_testing(FakeChatModel(responses=['{"label": 1, "reason": "ok"}']))
    """

    def __init__(self, config: InkforgeConfig, *, models: Mapping[str, Any] | None = None,
                 cache: ResponseCache | None | str = "config", task: TaskSpec | str | None = None) -> None:
        self.config = config
        self.task = get_task(task or config.task)
        self.limiter = ConcurrencyLimiter(config.concurrency)
        self.usage = UsageTracker()
        if cache == "config":
            self.cache: ResponseCache | None = ResponseCache(config.cache) if config.cache else None
        else:
            self.cache = cache  # type: ignore[assignment]
        self._injected = dict(models or {})
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
            weakref.WeakKeyDictionary())
        self._local: dict[str, Any] = {}
        #: Structured-output methods an endpoint rejected, so later calls skip straight past them.
        self.rejected_methods: dict[str, set[str]] = {}

    @property
    def limit(self) -> int:
        """The shared concurrency limit."""
        return self.limiter.limit

    @classmethod
    def for_testing(cls, model: Any, *, task: TaskSpec | str = "greeting", concurrency: int = 8,
                    cache: ResponseCache | None = None, spec: ModelSpec | None = None) -> Runtime:
        """A runtime whose every role uses ``model`` (a fake or any chat model); no cache by default."""
        from inkforge.models import InkforgeConfig

        cfg = InkforgeConfig(models={"default": spec or ModelSpec(model="fake")}, concurrency=concurrency,
                             cache=None, task=task if isinstance(task, str) else task.name)
        return cls(cfg, models={"default": model}, cache=cache, task=task)

    def spec_for(self, role: str) -> ModelSpec:
        """The model spec of ``role``."""
        return self.config.spec_for(role)

    def model_for(self, role: str) -> Any:
        """The chat model of ``role`` (built lazily; OpenAI clients one per event loop)."""
        if role in self._injected:
            return self._injected[role]
        if "default" in self._injected and role not in self.config.models:
            return self._injected["default"]
        spec = self.spec_for(role)
        key = spec.model_dump_json()
        if spec.provider == "local":
            if key not in self._local:
                self._local[key] = build_chat_model(spec)
            return self._local[key]
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return build_chat_model(spec)
        models = self._per_loop.setdefault(loop, {})
        if key not in models and spec.transport == "direct":
            from inkforge.transport import DirectChatModel

            if DirectChatModel.supports(spec):  # its pools are per loop already; one instance per spec
                models[key] = self._local.setdefault(key, DirectChatModel(spec))
        if key not in models:
            # Own client per loop: ChatOpenAI's shared cached client dies with the first loop.
            # Pool size follows the shared limit so the limiter, not httpx, is the bottleneck.
            client = sharded_async_client(self.limit, spec.timeout)
            models[key] = build_chat_model(spec, http_async_client=client)
        return models[key]

    def close(self) -> None:
        """Close the cache."""
        if self.cache is not None:
            self.cache.close()
