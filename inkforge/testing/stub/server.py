"""`StubServer`: the OpenAI-compatible stub on loopback in a background thread, and what it counts.

The server answers ``POST /v1/chat/completions`` in the real OpenAI response shape without any model
(see `inkforge.testing.stub.replies`), injects the faults of its `Faults` and records what it was
sent: request bodies, statuses, seeds and ``n`` values, and the peak number of requests in flight,
which is how tests check a client-side concurrency limit.

Only Chat Completions is served (LangChain uses it unless a model or feature opts into the Responses
API). From a shell, ``inkforge stub`` runs the same server.

Example:
    >>> import httpx
    >>> with StubServer(faults=Faults(latency_s=0.01)) as server:
    ...     reply = httpx.post(
    ...         f"{server.base_url}/chat/completions",
    ...         json={"model": "stub", "messages": [{"role": "user", "content": "写一句祝福"}], "seed": 3},
    ...     ).json()
    >>> reply["choices"][0]["message"]["role"]
    'assistant'
    >>> server.stats.requests, dict(server.stats.seeds)
    (1, {3: 1})
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from inkforge.core.httpserver import ConcurrentHTTPServer
from inkforge.testing.stub.faults import Draw, FaultDrawer, Faults
from inkforge.testing.stub.handler import StubHandler
from inkforge.testing.stub.replies import Responder, request_format

__all__ = ["StubServer", "StubStats"]

logger = logging.getLogger("inkforge.testing.stub")

_DEFAULT_MAX_RECORDED = 10_000


@dataclass(frozen=True)
class StubStats:
    """A snapshot of what the stub has served since start or the last `StubServer.reset_stats`.

    Attributes:
        requests: HTTP requests received (all paths).
        chat_requests: Requests to ``/v1/chat/completions``.
        by_status: Responses sent, by HTTP status code. Dropped connections have no status.
        faults: Injected faults by kind: ``"429"``, ``"500"``, ``"hang"``, ``"malformed"``,
            ``"bad_body"``, ``"fail_first_n"``, ``"status_<code>"`` (from `Faults.status_rates`) and
            ``"reject_<format>"`` (from `Faults.reject_formats`).
        in_flight: Requests being handled at snapshot time.
        max_concurrency: Peak number of requests handled at once: the figure to compare against a
            client-side concurrency limit.
        dropped: Connections closed without a reply (hangs in ``"drop"`` mode).
        seeds: The OpenAI ``seed`` values chat requests carried, with how many carried each (requests
            without one are not counted).
        n: The ``n`` (choices) chat requests asked for, with how many asked for each (1 when absent).
        formats: How chat requests asked for their output, with counts: ``"json_schema"``,
            ``"json_object"``, ``"tool"`` (a forced function tool) or ``"text"``.

    Example:
        >>> StubStats().max_concurrency
        0
    """

    requests: int = 0
    chat_requests: int = 0
    by_status: Mapping[int, int] = field(default_factory=dict)
    faults: Mapping[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_concurrency: int = 0
    dropped: int = 0
    seeds: Mapping[int, int] = field(default_factory=dict)
    n: Mapping[int, int] = field(default_factory=dict)
    formats: Mapping[str, int] = field(default_factory=dict)


class StubServer(ConcurrentHTTPServer):
    """An OpenAI-compatible chat-completions server on 127.0.0.1, run in a background thread.

    One thread per connection with keep-alive, a deep listen backlog and ``TCP_NODELAY``, so many
    concurrent clients at a fixed latency are served in parallel instead of queueing behind each other.

    Args:
        host: Interface to bind; loopback by default so tests never reach the network.
        port: Port to bind; 0 picks a free one (read it back from `base_url` or `port`).
        models: Model names listed by ``GET /v1/models``; the first answers requests without ``model``.
        faults: Failures to inject and answer behaviour; change them later with `set_faults`.
        responder: Optional hook that scripts replies (see `Responder`).
        require_api_key: If set, requests whose ``Authorization`` is not ``Bearer <key>`` get 401.
        max_recorded: How many request bodies `requests` keeps (the most recent ones).

    Example:
        >>> server = StubServer(responder=lambda body: {"label": 1})
        >>> _ = server.start()
        >>> server.base_url.startswith("http://127.0.0.1:")
        True
        >>> server.stop()
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        models: Sequence[str] = ("stub",),
        faults: Faults | None = None,
        responder: Responder | None = None,
        require_api_key: str | None = None,
        max_recorded: int = _DEFAULT_MAX_RECORDED,
    ) -> None:
        if not models:
            raise ValueError("models must name at least one model")
        super().__init__((host, port), StubHandler)
        self.models: tuple[str, ...] = tuple(models)
        self.responder = responder
        self.require_api_key = require_api_key
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._recorded: collections.deque[dict[str, Any]] = collections.deque(maxlen=max_recorded)
        self._drawer = FaultDrawer(faults or Faults())
        self._in_flight = 0
        self._reset_counters()

    # -- lifecycle ----------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self.server_address[1])

    @property
    def base_url(self) -> str:
        """What to pass as an OpenAI client's ``base_url``: ``http://127.0.0.1:PORT/v1``."""
        host = self.server_address[0]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{self.port}/v1"

    def start(self) -> StubServer:
        """Serve in a daemon thread; returns self so ``server = StubServer().start()`` works."""
        if self._stopping.is_set():
            raise RuntimeError("a stopped StubServer cannot be restarted; create a new one")
        if self._thread is None:
            # A short poll interval makes stop() return promptly instead of after up to 0.5 s.
            self._thread = threading.Thread(
                target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="inkforge-stub", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake hanging handlers and close every open connection. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
        with self._lock:
            connections = list(self._connections)
        # Idle keep-alive connections would otherwise keep answering after stop() from their threads.
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server_close()

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- socketserver hooks -------------------------------------------------------------------------
    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        with self._lock:  # tracked so that stop() can close idle keep-alive connections
            self._connections.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or disconnect mid-reply are normal under fault injection: stay quiet.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        logger.exception("inkforge stub: error while handling a request from %s", client_address)

    # -- faults -------------------------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        """The faults now in force."""
        return self._drawer.faults

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> Faults:
        """Replace the injected faults at runtime; reseeds the generator and the `fail_first_n` count.

        Args:
            faults: New faults; None keeps the current ones as the base for `changes`.
            **changes: Fields to override, e.g. ``rate_429=0.5``.

        Returns:
            The faults now in force.

        Example:
            >>> with StubServer() as server:
            ...     server.set_faults(fail_first_n=2).fail_first_n
            2
        """
        with self._lock:
            base = faults if faults is not None else self._drawer.faults
            self._drawer = FaultDrawer(dataclasses.replace(base, **changes) if changes else base)
            return self._drawer.faults

    def _draw(self) -> Draw:
        with self._lock:
            drawer = self._drawer
        draw = drawer.draw()
        if draw.fault is not None:
            self._count_fault(draw.fault)
        return draw

    # -- recording ----------------------------------------------------------------------------------
    @property
    def requests(self) -> list[dict[str, Any]]:
        """Parsed JSON bodies of the chat requests received (most recent `max_recorded`), a copy."""
        with self._lock:
            return list(self._recorded)

    @property
    def stats(self) -> StubStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return StubStats(
                requests=self._requests,
                chat_requests=self._chat_requests,
                by_status=MappingProxyType(dict(self._by_status)),
                faults=MappingProxyType(dict(self._fault_counts)),
                in_flight=self._in_flight,
                max_concurrency=self._max_concurrency,
                dropped=self._dropped,
                seeds=MappingProxyType(dict(self._seeds)),
                n=MappingProxyType(dict(self._n)),
                formats=MappingProxyType(dict(self._formats)),
            )

    def reset_stats(self, *, clear_requests: bool = True) -> None:
        """Zero the counters (peak concurrency restarts from the requests now in flight).

        Args:
            clear_requests: Also forget the recorded request bodies.

        Example:
            >>> with StubServer() as server:
            ...     server.reset_stats()
            ...     server.stats.requests
            0
        """
        with self._lock:
            self._reset_counters()
            self._max_concurrency = self._in_flight
            if clear_requests:
                self._recorded.clear()

    def _reset_counters(self) -> None:
        self._requests = 0
        self._chat_requests = 0
        self._by_status: collections.Counter[int] = collections.Counter()
        self._fault_counts: collections.Counter[str] = collections.Counter()
        self._seeds: collections.Counter[int] = collections.Counter()
        self._n: collections.Counter[int] = collections.Counter()
        self._formats: collections.Counter[str] = collections.Counter()
        self._max_concurrency = 0
        self._dropped = 0

    def _enter(self) -> None:
        with self._lock:
            self._requests += 1
            self._in_flight += 1
            self._max_concurrency = max(self._max_concurrency, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _count_chat(self) -> None:
        with self._lock:
            self._chat_requests += 1

    def _count_status(self, status: int) -> None:
        with self._lock:
            self._by_status[status] += 1

    def _count_fault(self, kind: str) -> None:
        with self._lock:
            self._fault_counts[kind] += 1

    def _count_dropped(self) -> None:
        with self._lock:
            self._dropped += 1

    def _record(self, body: dict[str, Any]) -> None:
        seed, n, fmt = body.get("seed"), body.get("n"), request_format(body)
        with self._lock:
            self._recorded.append(body)
            if isinstance(seed, int) and not isinstance(seed, bool):
                self._seeds[seed] += 1
            self._n[n if isinstance(n, int) and not isinstance(n, bool) else 1] += 1
            self._formats[fmt] += 1

    def _model_card(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 0, "owned_by": "inkforge-stub"}
