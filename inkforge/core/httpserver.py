"""The HTTP server bases of inkforge's own services.

* :class:`ConcurrentHTTPServer` serves the loopback test stub: a thread per connection, tuned for
  many concurrent keep-alive clients. The standard library's defaults stall them: a listen backlog
  of 5 makes bursts of connections wait for SYN retries, Nagle's algorithm plus delayed ACKs adds
  ~40 ms to each keep-alive reply, and ``HTTPServer.server_bind`` does a reverse-DNS lookup that can
  hang for seconds on a machine without network.
* :class:`BoundedHTTPServer` serves a network (``inkforge serve-reward``): bounded in every
  resource a client can hold. One selector thread owns every connection while it is idle or still
  sending its request, so a slow or stalled client costs a file descriptor, never a thread; only a
  complete request (headers and body) reaches the fixed pool of worker threads. See
  :class:`ServerLimits` for the limits and what happens at each.

Example:
    >>> from http.server import BaseHTTPRequestHandler
    >>> server = ConcurrentHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    >>> server.request_queue_size
    1024
    >>> server.server_close()
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import logging
import queue
import selectors
import socket
import socketserver
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["BoundedHTTPServer", "ConcurrentHTTPServer", "LogLimiter", "ServerLimits", "error_body"]

log = logging.getLogger(__name__)


class ConcurrentHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer tuned for many concurrent keep-alive clients (see the module docstring)."""

    daemon_threads = True  # a hung handler must never keep the interpreter (or pytest) alive
    request_queue_size = 1024
    allow_reuse_address = True

    def server_bind(self) -> None:
        # Skip HTTPServer's reverse-DNS lookup of the host name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


# --------------------------------------------------------------------------------------------------
# Bounded server
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerLimits:
    """What one client may hold of a :class:`BoundedHTTPServer`, and what happens beyond it.

    Attributes:
        max_connections: Open connections. At the cap, a new connection first evicts the
            connection idle the longest (a keep-alive between requests, or one that never sent a
            byte), then one still sending a request started over ``slow_grace`` seconds ago; only
            when every connection is busy is the new one answered ``503`` and closed.
        workers: Threads that handle complete requests (a fixed pool, not a thread per
            connection); complete requests beyond it wait in line.
        max_body_bytes: Largest request body; a larger ``Content-Length`` is answered ``413``
            before the body is read. A body without ``Content-Length`` is answered ``411``.
        max_header_bytes: Largest request line plus headers (``431`` beyond it).
        read_timeout: Seconds a client has to send a whole request once its first byte arrived
            (``408`` and close after it), however it trickles: it defeats slowloris clients that
            send a byte every few seconds.
        idle_timeout: Seconds a connection may stay open without a request in progress: a new
            connection before its first byte, a keep-alive connection between requests.
        write_timeout: Seconds a send may block on a client that stopped reading.
        slow_grace: Age past which a request still being received may be evicted at the cap.

    Example:
        >>> ServerLimits(max_connections=64).workers
        16
    """

    max_connections: int = 512
    workers: int = 16
    max_body_bytes: int = 16 * 1024 * 1024
    max_header_bytes: int = 32 * 1024
    read_timeout: float = 10.0
    idle_timeout: float = 30.0
    write_timeout: float = 30.0
    slow_grace: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_connections", "workers", "max_body_bytes", "max_header_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("read_timeout", "idle_timeout", "write_timeout", "slow_grace"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


class LogLimiter:
    """One log line per kind of event per ``interval`` seconds, with the count of lines held back.

    A server under attack must not turn each bad request into a line (or a traceback) on stderr.

    Example:
        >>> limiter = LogLimiter(logging.getLogger("demo"), interval=60)
        >>> limiter.warning("timeout", "read timeout from %s", "10.0.0.7"), limiter.warning("timeout", "again")
        (True, False)
    """

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self.logger = logger
        self.interval = float(interval)
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: collections.Counter[str] = collections.Counter()

    def _emit(self, level: int, key: str, msg: str, *args: Any) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -1e9) < self.interval:
                self._held[key] += 1
                return False
            self._last[key] = now
            held, self._held[key] = self._held[key], 0
        suffix = f" ({held} more like it since the last line)" if held else ""
        self.logger.log(level, msg + suffix, *args)
        return True

    def warning(self, key: str, msg: str, *args: Any) -> bool:
        """Log at WARNING unless ``key`` was logged in the last ``interval`` seconds."""
        return self._emit(logging.WARNING, key, msg, *args)

    def error(self, key: str, msg: str, *args: Any) -> bool:
        """Log at ERROR unless ``key`` was logged in the last ``interval`` seconds."""
        return self._emit(logging.ERROR, key, msg, *args)


def error_body(kind: str, message: str, **extra: Any) -> bytes:
    """The JSON error body of inkforge's services: ``{"error": {"type", "message", ...}}``."""
    return json.dumps({"error": {"type": kind, "message": message, **extra}}, ensure_ascii=False).encode("utf-8")


_REASONS = {400: "Bad Request", 408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
            431: "Request Header Fields Too Large", 503: "Service Unavailable"}


def _canned(status: int, kind: str, message: str, extra_headers: str = "") -> bytes:
    body = error_body(kind, message)
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra_headers}\r\n")
    return head.encode("ascii") + body


class _Writer(io.RawIOBase):
    """A handler's ``wfile``: every write is a ``sendall`` (the socket has the write timeout)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self._sock.sendall(b)
        return len(b)


class _Conn:
    __slots__ = ("addr", "buf", "continued", "deadline", "last", "phase", "sock", "started")

    def __init__(self, sock: socket.socket, addr: Any, now: float, idle_timeout: float) -> None:
        self.sock, self.addr = sock, addr
        self.buf = bytearray()
        self.idle(now, idle_timeout)

    def idle(self, now: float, idle_timeout: float) -> None:
        self.phase, self.deadline, self.last, self.started, self.continued = "idle", now + idle_timeout, now, 0.0, False


def _pooled(handler_class: type[BaseHTTPRequestHandler]) -> type[BaseHTTPRequestHandler]:
    """``handler_class`` adapted to handle one fully received request from memory, once."""

    class Pooled(handler_class):  # type: ignore[valid-type,misc]
        def __init__(self, sock: socket.socket, addr: Any, server: Any, raw: bytes) -> None:
            self._raw = raw
            super().__init__(sock, addr, server)

        def setup(self) -> None:
            self.connection = self.request
            self.rfile = io.BytesIO(self._raw)
            self.wfile = _Writer(self.connection)

        def handle(self) -> None:
            self.close_connection = True
            self.handle_one_request()

        def finish(self) -> None:
            self.rfile.close()

    Pooled.__name__ = Pooled.__qualname__ = f"Pooled{handler_class.__name__}"
    return Pooled


class BoundedHTTPServer:
    """An HTTP/1.1 server bounded in connections, threads, bytes and time (see :class:`ServerLimits`).

    The surface is the standard library's: ``serve_forever(poll_interval)``, ``shutdown()``,
    ``server_close()``, ``server_address``; handlers are ordinary
    :class:`~http.server.BaseHTTPRequestHandler` subclasses (``self.server`` is this server), run
    by a worker once their request has fully arrived. Connection-level refusals (``408``,
    ``411``, ``413``, ``431``, ``503``) are answered by the server itself with inkforge's JSON error
    body, and counted in :attr:`conn_stats`. No error ever prints a traceback: unexpected ones are
    logged as one line, at most once per kind every 10 seconds.

    Args:
        server_address: ``(host, port)``; port 0 picks a free one.
        handler_class: The request handler class.
        limits: The limits; defaults to :class:`ServerLimits` ``()``.

    Raises:
        OSError: The address cannot be bound (in use, not an interface of this machine).

    Example:
        >>> from http.server import BaseHTTPRequestHandler
        >>> server = BoundedHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler, ServerLimits(workers=2))
        >>> server.limits.workers, server.server_address[0]
        (2, '127.0.0.1')
        >>> server.server_close()
    """

    def __init__(self, server_address: tuple[str, int], handler_class: type[BaseHTTPRequestHandler],
                 limits: ServerLimits | None = None) -> None:
        self.limits = limits or ServerLimits()
        self.RequestHandlerClass = _pooled(handler_class)
        host, port = server_address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
            self.socket.listen(1024)
        except OSError:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])
        self.log = LogLimiter(log)
        self.conn_stats: collections.Counter[str] = collections.Counter()
        self._stats_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.limits.workers, thread_name_prefix="inkforge-http")
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self.socket, selectors.EVENT_READ, "accept")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._conns: dict[socket.socket, _Conn] = {}  # owned by the loop thread
        self._busy: set[_Conn] = set()  # in a worker
        self._busy_lock = threading.Lock()
        self._returns: queue.SimpleQueue[_Conn] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._closed = False

    # -- counters -----------------------------------------------------------------------------------

    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.conn_stats[key] += n

    @property
    def open_connections(self) -> int:
        """Connections open now (idle, receiving or in a worker)."""
        with self._busy_lock:
            return len(self._conns) + len(self._busy)

    # -- lifecycle ----------------------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown`; returns then (connections stay open until :meth:`server_close`)."""
        self._stop.clear()
        self._stopped.clear()
        try:
            while not self._stop.is_set():
                try:
                    self._step(poll_interval)
                except Exception as e:  # noqa: BLE001 - the loop must survive anything one client does
                    self.log.error("loop", "http server loop error: %s: %s", type(e).__name__, e)
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` and wait for it to return."""
        self._stop.set()
        self._wake()
        self._stopped.wait(10)

    def server_close(self) -> None:
        """Close the listening socket, every connection and the worker pool."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake()
        self._stopped.wait(10)
        for conn in list(self._conns.values()):
            self._close(conn)
        with self._busy_lock:
            busy = list(self._busy)
        for conn in busy:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for s in (self.socket, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError, KeyError, ValueError):
                self._sel.unregister(s)
            s.close()
        self._sel.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # -- the loop -----------------------------------------------------------------------------------

    def _step(self, poll_interval: float) -> None:
        now = time.monotonic()
        nearest = min((c.deadline for c in self._conns.values()), default=now + poll_interval)
        timeout = max(0.0, min(poll_interval, nearest - now))
        for key, _ in self._sel.select(timeout):
            if key.data == "accept":
                self._accept()
            elif key.data == "wake":
                with contextlib.suppress(OSError):
                    while self._wake_r.recv(4096):
                        pass
            else:
                self._read(key.data)
        self._take_returns()
        self._expire(time.monotonic())

    def _accept(self) -> None:
        while True:
            try:
                sock, addr = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # EMFILE and friends: try again on the next loop
                self.log.error("accept", "accept failed: %s", e)
                return
            self._count("accepted")
            if self.open_connections >= self.limits.max_connections and not self._evict(time.monotonic()):
                self._count("rejected")
                self.log.warning("cap", "connection cap (%d) reached; refusing %s", self.limits.max_connections, addr)
                self._refuse(sock, 503, "overloaded", f"too many open connections (cap "
                             f"{self.limits.max_connections}); retry shortly", "Retry-After: 1\r\n")
                sock.close()
                continue
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock, addr, time.monotonic(), self.limits.idle_timeout)
            with self._busy_lock:
                self._conns[sock] = conn
            self._sel.register(sock, selectors.EVENT_READ, conn)

    def _evict(self, now: float) -> bool:
        """Close one connection to make room: the longest idle, else the oldest slow request."""
        idle = [c for c in self._conns.values() if c.phase in ("idle", "draining")]
        if idle:
            victim = min(idle, key=lambda c: c.last)
        else:
            slow = [c for c in self._conns.values() if c.phase == "reading" and now - c.started > self.limits.slow_grace]
            if not slow:
                return False
            victim = min(slow, key=lambda c: c.started)
        self._count("evicted")
        self._close(victim)
        return True

    def _refuse(self, sock: socket.socket, status: int, kind: str, message: str, headers: str = "") -> None:
        with contextlib.suppress(OSError):
            sock.setblocking(False)
            sock.send(_canned(status, kind, message, headers))

    def _close(self, conn: _Conn) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._sel.unregister(conn.sock)
        with self._busy_lock:
            self._conns.pop(conn.sock, None)
        with contextlib.suppress(OSError):
            conn.sock.close()

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        now = time.monotonic()
        if conn.phase == "draining":  # after a 413: swallow the rest so the client reads our answer
            return
        conn.buf += data
        conn.last = now
        if conn.phase == "idle":
            conn.phase, conn.started, conn.deadline = "reading", now, now + self.limits.read_timeout
        self._advance(conn)

    def _fail(self, conn: _Conn, status: int, kind: str, message: str, *, drain: bool = False) -> None:
        self._count(kind)
        self.log.warning(kind, "%s from %s: %s", kind, conn.addr, message)
        self._refuse(conn.sock, status, kind, message)
        if drain:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_WR)
            conn.phase, conn.deadline, conn.buf = "draining", time.monotonic() + 2.0, bytearray()
        else:
            self._close(conn)

    def _advance(self, conn: _Conn) -> None:
        """Dispatch the request in ``conn.buf`` once it is complete; refuse it as soon as it cannot be."""
        end = conn.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(conn.buf) > self.limits.max_header_bytes:
                self._fail(conn, 431, "headers_too_large", f"request line and headers exceed "
                           f"{self.limits.max_header_bytes} bytes")
            return
        if end > self.limits.max_header_bytes:
            self._fail(conn, 431, "headers_too_large", f"request line and headers exceed "
                       f"{self.limits.max_header_bytes} bytes")
            return
        head = bytes(conn.buf[:end]).decode("latin-1")
        fields: dict[str, list[str]] = collections.defaultdict(list)
        for line in head.split("\r\n")[1:]:
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()].append(value.strip())
        if fields.get("transfer-encoding"):
            self._fail(conn, 411, "length_required", "chunked bodies are not accepted; send Content-Length")
            return
        lengths = set(fields.get("content-length", []))
        if len(lengths) > 1 or (lengths and not next(iter(lengths)).isdigit()):
            self._fail(conn, 400, "invalid_request", "invalid Content-Length")
            return
        length = int(next(iter(lengths))) if lengths else 0
        if length > self.limits.max_body_bytes:
            self._fail(conn, 413, "body_too_large", f"body of {length} bytes exceeds the limit of "
                       f"{self.limits.max_body_bytes} bytes", drain=True)
            return
        total = end + 4 + length
        if len(conn.buf) < total:
            if not conn.continued and any(v.lower() == "100-continue" for v in fields.get("expect", [])):
                conn.continued = True
                with contextlib.suppress(OSError):
                    conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        raw, conn.buf = bytes(conn.buf[:total]), conn.buf[total:]
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(conn.sock)
        with self._busy_lock:
            self._conns.pop(conn.sock, None)
            self._busy.add(conn)
        conn.phase = "busy"
        try:
            self._pool.submit(self._work, conn, raw)
        except RuntimeError:  # the pool is shut down: the server is closing
            self._release(conn, keep=False)

    def _take_returns(self) -> None:
        while True:
            try:
                conn = self._returns.get_nowait()
            except queue.Empty:
                return
            if self._closed:
                with contextlib.suppress(OSError):
                    conn.sock.close()
                continue
            conn.idle(time.monotonic(), self.limits.idle_timeout)
            with self._busy_lock:
                self._conns[conn.sock] = conn
            try:
                self._sel.register(conn.sock, selectors.EVENT_READ, conn)
            except (ValueError, OSError):
                self._close(conn)
                continue
            if conn.buf:  # a pipelined next request arrived with the last one
                conn.phase, conn.started = "reading", conn.last
                conn.deadline = conn.last + self.limits.read_timeout
                self._advance(conn)

    def _expire(self, now: float) -> None:
        for conn in [c for c in self._conns.values() if c.deadline <= now]:
            if conn.phase == "reading":
                self._fail(conn, 408, "read_timeout", f"request not received within {self.limits.read_timeout:g} s")
            else:
                if conn.phase == "idle":
                    self._count("idle_closed")
                self._close(conn)

    # -- workers ------------------------------------------------------------------------------------

    def _work(self, conn: _Conn, raw: bytes) -> None:
        keep = False
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(self.limits.write_timeout)
            handler = self.RequestHandlerClass(conn.sock, conn.addr, self, raw)  # type: ignore[call-arg,arg-type]
            keep = not handler.close_connection
        except Exception as e:  # noqa: BLE001 - one line, never a traceback
            if not self._closed:
                self.log.error("handler", "request from %s failed: %s: %s", conn.addr, type(e).__name__,
                               str(e)[:300])
        finally:
            self._release(conn, keep=keep and not self._stop.is_set())

    def _release(self, conn: _Conn, *, keep: bool) -> None:
        with self._busy_lock:
            self._busy.discard(conn)
        if keep:
            with contextlib.suppress(OSError):
                conn.sock.setblocking(False)
                self._returns.put(conn)
                self._wake()
                return
        with contextlib.suppress(OSError):
            conn.sock.close()

    def run_in_thread(self, poll_interval: float = 0.1, name: str = "inkforge-http-loop") -> threading.Thread:
        """Start :meth:`serve_forever` in a daemon thread; returns it."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": poll_interval}, name=name,
                                  daemon=True)
        thread.start()
        return thread

