"""The bounded HTTP server of inkforge's network services (``inkforge serve-reward``).

:class:`BoundedASGIServer` serves an ASGI application on uvicorn (HTTP/1.1 parsed by h11) in one
event loop, bounded in every resource a client can hold. A slow or stalled client costs a
connection object and a timer, never a thread; the application only sees complete requests.
uvicorn has a keep-alive timeout but no read timeout, no connection cap that spares healthy
clients, and no body cap, so :class:`BoundedH11Protocol` adds them around uvicorn's own protocol
(it never parses a byte itself: h11 does), and a small ASGI middleware reads each body within the
limits. See :class:`~inkforge.core.httpserver.ServerLimits` for the limits and what happens at each.

Why uvicorn rather than aiohttp.web: uvicorn takes its protocol class as a setting, so the limits
are one subclass; aiohttp has neither a read timeout nor a pluggable request handler. Their healthy
p99 on loopback was alike (about 8 and 10 ms idle, 23 and 57 ms beside 300 slowloris clients, one
run each on a shared 2-core machine).

Example:
    >>> ServerLimits(workers=2).workers  # the limits one server runs under; see BoundedASGIServer
    2
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from inkforge.core.httpserver import LogLimiter, ServerLimits, error_body

__all__ = ["READ_DEADLINE", "BoundedASGIServer", "BoundedH11Protocol"]

log = logging.getLogger(__name__)


def _error_headers(body: bytes, close: bool, extra: Iterable[tuple[bytes, bytes]] = ()) -> list[tuple[bytes, bytes]]:
    headers = [(b"Content-Type", b"application/json"), (b"Content-Length", str(len(body)).encode("ascii"))]
    return headers + ([(b"Connection", b"close")] if close else []) + list(extra)


class _QuietLogger:
    """uvicorn's ``logger`` for one connection: its lines rate-limited by text, never a traceback."""

    level = logging.INFO  # above uvicorn's TRACE level: its per-connection trace lines stay off

    def __init__(self, limiter: LogLimiter) -> None:
        self._limiter = limiter

    def log(self, level: int, msg: Any, *args: Any, **_: Any) -> None:  # exc_info and friends are dropped
        if level >= logging.WARNING:
            text = str(msg) % args if args else str(msg)
            self._limiter.log(level, "uvicorn:" + text[:60], "%s", text[:300])

    def debug(self, msg: Any, *args: Any, **kw: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **kw)

    def info(self, msg: Any, *args: Any, **kw: Any) -> None:
        self.log(logging.INFO, msg, *args, **kw)

    def warning(self, msg: Any, *args: Any, **kw: Any) -> None:
        self.log(logging.WARNING, msg, *args, **kw)

    def error(self, msg: Any, *args: Any, **kw: Any) -> None:
        self.log(logging.ERROR, msg, *args, **kw)

    exception = error


class _Bounds:
    """What the connections of one server share: the limits, the counters and the open connections."""

    def __init__(self, limits: ServerLimits) -> None:
        self.limits = limits
        self.stats: collections.Counter[str] = collections.Counter()
        self.conns: set[BoundedH11Protocol] = set()
        # Idle connections, longest idle first: at the cap the first one makes room in O(1), even
        # while thousands of stalled connections arrive.
        self.idle: collections.OrderedDict[BoundedH11Protocol, None] = collections.OrderedDict()
        self.log = LogLimiter(log)
        self.quiet = _QuietLogger(self.log)


class _LingeringTransport:
    """The transport a request/response cycle writes to: its ``close`` lingers while a body still arrives.

    A client that sends a whole refused body (``413``) before reading the answer would see a
    connection reset instead of the ``413`` if the socket closed with its bytes unread. So the
    write side is shut (the client reads the answer and an end of stream) and what still arrives
    is discarded for a few seconds before the close.
    """

    def __init__(self, transport: asyncio.Transport, protocol: BoundedH11Protocol) -> None:
        self._transport, self._protocol = transport, protocol

    def close(self) -> None:
        if self._protocol.conn.their_state is h11.SEND_BODY:
            self._protocol.linger()
        else:
            self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


#: Seconds a connection lingers after a refusal, discarding the rest of a request body.
LINGER_S = 2.0

#: The scope extension holding the loop time by which the request's body must have arrived.
READ_DEADLINE = "inkforge.read_deadline"


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a read timeout, an idle timeout from the first byte, and a connection cap.

    A subclass is made per server (:meth:`for_bounds`), holding that server's :class:`_Bounds`. The
    states it reads are h11's (``their_state``: ``IDLE`` while a request's headers are arriving,
    ``SEND_BODY`` while its body is); every reply it writes itself is an h11 event.
    """

    bounds: ClassVar[_Bounds]

    @classmethod
    def for_bounds(cls, bounds: _Bounds) -> type[BoundedH11Protocol]:
        """A subclass whose connections share ``bounds``."""
        return type("BoundedH11Protocol", (cls,), {"bounds": bounds})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = self.bounds.quiet  # type: ignore[assignment]
        self.access_log = False
        self._read_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._started = self._last = 0.0
        self._lingering = False

    # -- what this connection is doing, for the cap ----------------------------------------------------

    @property
    def phase(self) -> str:
        """``reading`` (a request is arriving), ``busy`` (the application holds it) or ``idle``."""
        cycle = self.cycle
        if self._lingering:
            return "idle"
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            return "busy"
        if self._read_timer is not None:
            # After a 413 h11 discards the rest of the body: the connection is as good as idle.
            draining = cycle is not None and cycle.response_complete and self.conn.their_state is h11.SEND_BODY
            return "idle" if draining else "reading"
        return "busy" if cycle is not None and not cycle.response_complete else "idle"

    def _evict(self) -> bool:
        """Close one connection to make room: the longest idle, else the oldest slow request."""
        b = self.bounds
        victim = next(iter(b.idle), None)
        if victim is None:
            now = self.loop.time()
            slow = [c for c in b.conns if c.phase == "reading" and now - c._started > b.limits.slow_grace]
            if not slow:
                return False
            victim = min(slow, key=lambda c: c._started)
        victim._forget()
        b.stats["evicted"] += 1
        victim.transport.close()
        return True

    def _forget(self) -> None:
        self.bounds.conns.discard(self)
        self.bounds.idle.pop(self, None)

    def _mark_idle(self, idle: bool) -> None:
        if idle:
            self.bounds.idle[self] = None
            self.bounds.idle.move_to_end(self)
        else:
            self.bounds.idle.pop(self, None)

    # -- asyncio.Protocol --------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        b = self.bounds
        b.stats["accepted"] += 1
        self._last = self.loop.time()
        if len(b.conns) >= b.limits.max_connections and not self._evict():
            b.stats["rejected"] += 1
            b.log.warning("cap", "connection cap (%d) reached; refusing %s", b.limits.max_connections, self.client)
            self._reply(503, "overloaded", f"too many open connections (cap {b.limits.max_connections}); "
                        "retry shortly", [(b"Retry-After", b"1")])
            return
        b.conns.add(self)
        self._mark_idle(True)
        # uvicorn arms its keep-alive timer only after a response: a connection that never sends a
        # byte would otherwise stay open forever.
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        self._cancel_read()
        if self._write_timer is not None:
            self._write_timer.cancel()
        super().connection_lost(exc)

    def linger(self) -> None:
        """Shut the write side, discard what still arrives, close after :data:`LINGER_S` seconds."""
        if self._lingering or self.transport.is_closing():
            return
        self._lingering = True
        self._mark_idle(True)
        self._cancel_read()
        try:
            self.transport.write_eof()
        except (OSError, RuntimeError):
            self.transport.close()
            return
        self._read_timer = self.loop.call_later(LINGER_S, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self._lingering:  # the rest of a refused body
            return
        now = self._last = self.loop.time()
        if self._read_timer is None and self.conn.their_state is h11.IDLE:  # the first byte of a request
            self._started = now
            self._read_timer = self.loop.call_at(now + self.bounds.limits.read_timeout, self._on_read_timeout)
            self._mark_idle(False)
        previous = self.cycle
        super().data_received(data)
        if self.cycle is not None and self.cycle is not previous:  # headers in: the body has until the deadline
            self.cycle.transport = _LingeringTransport(self.transport, self)  # type: ignore[assignment]
            self.cycle.scope.setdefault("extensions", {})[READ_DEADLINE] = {  # type: ignore[index]
                "at": self._started + self.bounds.limits.read_timeout}
        self._settle()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._last = self.loop.time()
        self._settle()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.bounds.limits.write_timeout, self._on_write_timeout)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    # -- timers --------------------------------------------------------------------------------------

    def _cancel_read(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _settle(self) -> None:
        """Stop the read timer once a request has fully arrived; keep an idle connection on its idle timer."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self.cycle is not None and self.cycle.response_complete and self in self.bounds.conns:
                self._mark_idle(True)  # answered (413): h11 discards the rest of the body
            return
        if state is h11.IDLE and self.conn.trailing_data[0]:  # part of a pipelined next request
            self._mark_idle(False)
            if self._read_timer is None:
                self._started = self.loop.time()
                self._read_timer = self.loop.call_at(self._started + self.bounds.limits.read_timeout,
                                                     self._on_read_timeout)
            return
        self._cancel_read()
        idle = state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)
        if idle and self in self.bounds.conns:
            self._mark_idle(True)
        if idle and self.timeout_keep_alive_task is None and not self.transport.is_closing():
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                self.timeout_keep_alive_handler)

    def _on_read_timeout(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        limits = self.bounds.limits
        if self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE:  # the headers never completed
            self.bounds.stats["read_timeout"] += 1
            self.bounds.log.warning("read_timeout", "read_timeout from %s: request headers not received within "
                                    "%g s", self.client, limits.read_timeout)
            self._reply(408, "read_timeout", f"request not received within {limits.read_timeout:g} s")
        elif self.cycle is not None and self.cycle.response_started:  # answered (413), the body never ended
            self.transport.close()
        else:  # the application reads the body against the same deadline and answers 408 itself
            self._read_timer = self.loop.call_later(1.0, self._on_read_timeout_grace)

    def _on_read_timeout_grace(self) -> None:
        self._read_timer = None
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            self.transport.close()

    def _on_write_timeout(self) -> None:
        self._write_timer = None
        self.bounds.stats["write_timeout"] += 1
        self.transport.abort()

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing():
            self.bounds.stats["idle_closed"] += 1
        super().timeout_keep_alive_handler()

    def send_400_response(self, msg: str) -> None:
        # What uvicorn answers when h11 cannot parse the request: inkforge's JSON error instead of
        # text, 431 when the headers outgrew the limit.
        limit = self.bounds.limits.max_header_bytes
        if len(self.conn.trailing_data[0]) > limit:
            kind, status, text = "headers_too_large", 431, f"request line and headers exceed {limit} bytes"
        else:
            kind, status, text = "invalid_request", 400, "malformed HTTP request"
        self.bounds.stats[kind] += 1
        self.bounds.log.warning(kind, "%s from %s: %s", kind, self.client, text)
        self._reply(status, kind, text)

    def _reply(self, status: int, kind: str, message: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        """Answer with inkforge's JSON error (written by h11) and close the connection."""
        body = error_body(kind, message)
        try:
            out = self.conn.send(h11.Response(status_code=status, reason=HTTPStatus(status).phrase.encode(),
                                              headers=_error_headers(body, True, headers)))
            out = (out or b"") + (self.conn.send(h11.Data(data=body)) or b"") + \
                (self.conn.send(h11.EndOfMessage()) or b"")
            self.transport.write(out)
        except h11.LocalProtocolError:  # a response is already under way: only closing is left
            pass
        self._cancel_read()
        self.transport.close()


class _CompleteRequests:
    """ASGI middleware: the application is called with a whole body, read within the limits.

    Headers over the cap are answered ``431``, a chunked body ``411``, a ``Content-Length`` over the cap ``413`` (the rest of
    such a body is discarded by h11 while the connection lives), a body not complete by the
    request's read deadline ``408``.
    """

    def __init__(self, app: Callable[..., Any], bounds: _Bounds) -> None:
        self.app, self.bounds = app, bounds

    async def _refuse(self, send: Callable[..., Any], status: int, kind: str, message: str, *, close: bool) -> None:
        self.bounds.stats[kind] += 1
        self.bounds.log.warning(kind, "%s: %s", kind, message)
        body = error_body(kind, message)
        await send({"type": "http.response.start", "status": status, "headers": _error_headers(body, close)})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        limits = self.bounds.limits
        headers = scope["headers"]
        # h11 bounds headers that arrive in pieces (431 from the protocol); a head that arrived in one
        # piece is measured here.
        size = len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) + \
            sum(len(k) + len(v) + 4 for k, v in headers)
        if size > limits.max_header_bytes:
            await self._refuse(send, 431, "headers_too_large", f"request line and headers exceed "
                               f"{limits.max_header_bytes} bytes", close=True)
            return
        if any(k == b"transfer-encoding" for k, _ in headers):
            await self._refuse(send, 411, "length_required", "chunked bodies are not accepted; send Content-Length",
                               close=True)
            return
        length = next((int(v) for k, v in headers if k == b"content-length"), 0)  # h11 validated it
        if length > limits.max_body_bytes:
            await self._refuse(send, 413, "body_too_large", f"body of {length} bytes exceeds the limit of "
                               f"{limits.max_body_bytes} bytes", close=False)
            return
        loop = asyncio.get_running_loop()
        deadline = scope.get("extensions", {}).get(READ_DEADLINE, {}).get("at", loop.time() + limits.read_timeout)
        chunks, more = [], length > 0
        while more:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                await self._refuse(send, 408, "read_timeout", f"request not received within "
                                   f"{limits.read_timeout:g} s", close=True)
                return
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def whole() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        await self.app(scope, whole, send)


class BoundedASGIServer:
    """An ASGI application served by uvicorn in a background thread, bounded as :class:`ServerLimits` says.

    The socket is bound in the constructor (so a port in use is an :class:`OSError` there); the
    event loop runs in a daemon thread from :meth:`start` until :meth:`shutdown`. Refusals the
    server makes itself (``400``, ``408``, ``411``, ``413``, ``431``, ``503``) carry inkforge's
    JSON error body and are counted in :attr:`conn_stats`. No error ever prints a traceback:
    unexpected ones are logged as one line, at most once per kind every 10 seconds.

    Args:
        server_address: ``(host, port)``; port 0 picks a free one.
        app: The ASGI application; it is called only with complete requests.
        limits: The limits; defaults to :class:`ServerLimits` ``()``.

    Raises:
        OSError: The address cannot be bound (in use, not an interface of this machine).

    Example:
        >>> import urllib.request
        >>> async def hello(scope, receive, send):
        ...     await send({"type": "http.response.start", "status": 200, "headers": []})
        ...     await send({"type": "http.response.body", "body": b"hi"})
        >>> with BoundedASGIServer(("127.0.0.1", 0), hello, ServerLimits(workers=2)) as server:
        ...     urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/").read()
        b'hi'
    """

    def __init__(self, server_address: tuple[str, int], app: Callable[..., Any],
                 limits: ServerLimits | None = None) -> None:
        self.limits = limits or ServerLimits()
        self._bounds = _Bounds(self.limits)
        host, port = server_address
        self.socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
            self.socket.listen(1024)
        except OSError:
            self.socket.close()
            raise
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.log = self._bounds.log
        config = uvicorn.Config(_CompleteRequests(app, self._bounds), http=BoundedH11Protocol.for_bounds(self._bounds),
                                loop="asyncio", lifespan="off", ws="none", interface="asgi3", log_config=None,
                                access_log=False, proxy_headers=False, server_header=False, backlog=1024,
                                timeout_keep_alive=self.limits.idle_timeout,  # type: ignore[arg-type]
                                h11_max_incomplete_event_size=self.limits.max_header_bytes,
                                timeout_graceful_shutdown=5)
        self._uvicorn = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    @property
    def conn_stats(self) -> collections.Counter[str]:
        """Connections and refusals by what became of them (accepted, evicted, rejected, read_timeout...)."""
        return self._bounds.stats

    @property
    def open_connections(self) -> int:
        """Connections open now (idle, receiving or being answered)."""
        return len(self._bounds.conns)

    @property
    def slots(self) -> asyncio.Semaphore:
        """The semaphore of ``limits.workers`` requests handled at once (on the server's loop)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limits.workers)
        return self._slots

    # -- lifecycle ----------------------------------------------------------------------------------

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._uvicorn.serve(sockets=[self.socket]))
        except BaseException as e:  # noqa: BLE001 - one line, never a traceback
            self.log.error("loop", "http server stopped: %s: %s", type(e).__name__, e)
        finally:
            loop.close()
            self._done.set()

    def start(self, name: str = "inkforge-http") -> BoundedASGIServer:
        """Serve from a daemon thread; returns once the server accepts connections."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name=name, daemon=True)
            self._thread.start()
            deadline = time.monotonic() + 30
            while not self._uvicorn.started and not self._done.is_set() and time.monotonic() < deadline:
                time.sleep(0.005)
        return self

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown` (or an interrupt of the calling thread)."""
        self.start()
        while not self._done.wait(poll_interval):
            pass

    def shutdown(self) -> None:
        """Stop serving: close every connection (requests in flight get 5 s) and stop the loop."""
        if self._thread is not None:
            self._uvicorn.should_exit = True
            self._done.wait(15)
            self._thread.join(timeout=5)

    def server_close(self) -> None:
        """Stop serving if needed and release the listening socket."""
        if self._closed:
            return
        self._closed = True
        self.shutdown()
        self.socket.close()

    def __enter__(self) -> BoundedASGIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.server_close()
