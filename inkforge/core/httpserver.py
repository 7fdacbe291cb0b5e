"""The threaded HTTP server base of inkforge's own services (reward server, stub server).

The standard library's defaults stall concurrent clients: a listen backlog of 5 makes bursts of
connections wait for SYN retries, Nagle's algorithm plus delayed ACKs adds ~40 ms to each keep-alive
reply (headers and body go out in separate writes), and ``HTTPServer.server_bind`` does a reverse-DNS
lookup that can hang for seconds on a machine without network.

Example:
    >>> from http.server import BaseHTTPRequestHandler
    >>> server = ConcurrentHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    >>> server.request_queue_size
    1024
    >>> server.server_close()
"""

from __future__ import annotations

import socket
import socketserver
from http.server import ThreadingHTTPServer
from typing import Any


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
