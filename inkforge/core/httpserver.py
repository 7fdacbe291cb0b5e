"""The HTTP server bases of inkforge's own services.

* :class:`ConcurrentHTTPServer` serves the loopback test stub: a thread per connection, tuned for
  many concurrent keep-alive clients. The standard library's defaults stall them: a listen backlog
  of 5 makes bursts of connections wait for SYN retries, Nagle's algorithm plus delayed ACKs adds
  ~40 ms to each keep-alive reply, and ``HTTPServer.server_bind`` does a reverse-DNS lookup that can
  hang for seconds on a machine without network.
* :class:`ServerLimits`, :class:`LogLimiter` and :func:`error_body` are what the network server
  (:class:`~inkforge.core.boundedserver.BoundedASGIServer`, ``inkforge serve-reward``) is bounded
  by, logs with and answers refusals with.

Example:
    >>> from http.server import BaseHTTPRequestHandler
    >>> server = ConcurrentHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    >>> server.request_queue_size
    1024
    >>> server.server_close()
"""

from __future__ import annotations

import collections
import json
import logging
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

__all__ = ["ConcurrentHTTPServer", "LogLimiter", "ServerLimits", "error_body"]

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
# Limits of the network server
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerLimits:
    """What one client may hold of a network server, and what happens beyond it.

    The server is :class:`~inkforge.core.boundedserver.BoundedASGIServer`.

    Attributes:
        max_connections: Open connections. At the cap, a new connection first evicts the
            connection idle the longest (a keep-alive between requests, or one that never sent a
            byte), then one still sending a request started over ``slow_grace`` seconds ago; only
            when every connection is busy is the new one answered ``503`` and closed.
        workers: Complete requests the application handles at once (an ``asyncio`` semaphore the
            application takes, see ``BoundedASGIServer.slots``); complete requests beyond
            it wait in line, each a coroutine, never a thread.
        max_body_bytes: Largest request body; a larger ``Content-Length`` is answered ``413``
            before the body is read. A chunked body (no ``Content-Length``) is answered ``411``.
        max_header_bytes: Largest request line plus headers (``431`` beyond it).
        read_timeout: Seconds a client has to send a whole request (headers and body) once its
            first byte arrived (``408`` and close after it), however it trickles: it defeats
            slowloris clients that send a byte every few seconds.
        idle_timeout: Seconds a connection may stay open without a request in progress: a new
            connection before its first byte, a keep-alive connection between requests.
        write_timeout: Seconds a reply may stay stuck in the send buffer of a client that stopped
            reading (the connection is dropped then).
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

    def log(self, level: int, key: str, msg: str, *args: Any) -> bool:
        """Log at ``level`` unless ``key`` was logged in the last ``interval`` seconds."""
        return self._emit(level, key, msg, *args)

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
