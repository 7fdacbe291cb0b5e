"""What the agents of one run share: models, one concurrency limit, the cache and usage accounting.

Example:
    >>> from inkforge.llm.config import load_config
    >>> rt = Runtime(load_config(base_url="http://127.0.0.1:9/v1", model="stub", overrides={"cache": None}))
    >>> rt.limit
    16
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from inkforge.core.tasks import TaskSpec, get_task
from inkforge.llm.cache import ResponseCache
from inkforge.llm.config import InkforgeConfig, ModelSpec
from inkforge.llm.transport import build_chat_model, uses_http
from inkforge.llm.transport.openai import sharded_async_client
from inkforge.llm.usage import AgentUsage, UsageTracker  # noqa: F401  (AgentUsage re-exported)


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


class Runtime:
    """Shared services of a run: per-role chat models, limiter, cache, usage, task.

    Args:
        config: The run configuration.
        models: Chat models to use instead of building them from the config, by role (``"default"``
            applies to every role without its own). Tests inject fakes here.
        cache: A :class:`ResponseCache`, ``None`` for no cache, or ``"config"`` (the default) to open
            the file named by ``config.cache``.
        task: Overrides ``config.task``.
        callbacks: LangChain callback handlers given every model call of this runtime's agents
            (``on_chat_model_start``, ``on_llm_end``...), besides any inherited from an enclosing run.

    Example:
        >>> from inkforge.testing import FakeChatModel
        >>> rt = Runtime.for_testing(FakeChatModel(responses=['{"label": 1, "reason": "ok"}']))
    """

    def __init__(self, config: InkforgeConfig, *, models: Mapping[str, Any] | None = None,
                 cache: ResponseCache | None | str = "config", task: TaskSpec | str | None = None,
                 callbacks: Sequence[Any] | None = None) -> None:
        self.config = config
        self.callbacks: list[Any] = list(callbacks or [])
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
        from inkforge.llm.config import InkforgeConfig

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
        if spec.provider == "local" or uses_http(spec):
            # One instance per spec: a local model is loaded once; the http transport keeps its own
            # keep-alive pools per event loop, sized to the shared limit.
            if key not in self._local:
                self._local[key] = build_chat_model(spec, limit=self.limit)
            return self._local[key]
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return build_chat_model(spec)
        models = self._per_loop.setdefault(loop, {})
        if key not in models:
            # Own client per loop: ChatOpenAI's shared cached client dies with the first loop.
            # Pool size follows the shared limit so the limiter, not httpx, is the bottleneck.
            client = sharded_async_client(self.limit, spec.timeout)
            models[key] = build_chat_model(spec, http_async_client=client)
        return models[key]

    def close(self) -> None:
        """Close the cache and the synchronous HTTP clients (per-loop ones close with their loop)."""
        if self.cache is not None:
            self.cache.close()
        for model in self._local.values():
            close = getattr(model, "close", None)
            if callable(close):
                close()
