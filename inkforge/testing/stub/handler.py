"""The stub's HTTP request handler: routes, authentication, fault injection and the chat endpoint.

It serves ``GET /v1/models``, ``GET /v1/models/NAME``, ``GET /health`` and ``POST /v1/chat/completions``
for a `~inkforge.testing.stub.server.StubServer`, which owns the counters and the faults in force;
replies are built by `inkforge.testing.stub.replies`.

Example:
    >>> import httpx
    >>> from inkforge.testing.stub import StubServer
    >>> with StubServer(models=("judge",)) as server:
    ...     httpx.get(f"{server.base_url}/models").json()["data"][0]["id"]
    'judge'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from inkforge.testing.stub.replies import (
    ClientError,
    ErrorReply,
    build_completion,
    error_reply,
    rejection,
    request_seed,
    sse_stream,
)

if TYPE_CHECKING:
    from inkforge.testing.stub.server import StubServer

__all__ = ["StubHandler"]

logger = logging.getLogger("inkforge.testing.stub")

_ECHO_BODY_CHARS = 200


class StubHandler(BaseHTTPRequestHandler):
    """Answers one connection's requests for a `StubServer` (one thread per connection)."""

    # HTTP/1.1 keeps connections alive, so a pooled client reuses them instead of reconnecting per call.
    protocol_version = "HTTP/1.1"
    server_version = "inkforge-stub/0.2"
    server: StubServer

    # -- plumbing -----------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # Never to stderr (noise under pytest); the request line holds no header, so no key is logged.
        logger.debug("%s - %s", self.address_string(), format % args)

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send_bytes(
            status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json", headers
        )

    def _send_bytes(
        self, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        # Counted before the reply leaves: a client that got it must find it in the stats.
        self.server._count_status(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error_reply(self, reply: ErrorReply) -> None:
        self._send_bytes(reply.status, reply.body, reply.content_type, reply.headers)

    def _send_error(self, status: int, message: str | None = None, *, raw: bytes = b"", **opts: Any) -> None:
        faults = self.server.faults
        echo = self._echo(raw) if faults.echo_request else None
        self._send_error_reply(error_reply(status, faults, message=message, echo=echo, **opts))

    def _echo(self, raw: bytes) -> str:
        # Deliberately leaky, like the gateways this imitates: the point is to test a client's redaction.
        auth = self.headers.get("Authorization") or "(none)"
        excerpt = raw[:_ECHO_BODY_CHARS].decode("utf-8", errors="replace")
        return f"Authorization: {auth}; body: {excerpt}"

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def _authorised(self) -> bool:
        expected = self.server.require_api_key
        if expected is None:
            return True
        return self.headers.get("Authorization", "") == f"Bearer {expected}"

    def _dispatch(self, method: str) -> None:
        server = self.server
        server._enter()
        try:
            body = self._read_body() if method == "POST" else b""
            if not self._authorised():
                # Unless echo_request asks for a leaky gateway, the message never echoes the key it got.
                self._send_error(401, raw=body)
                return
            path = self._path()
            if method == "GET" and path in ("/health", "/v1/health"):
                self._send_json(200, {"status": "ok"})
            elif method == "GET" and path == "/v1/models":
                self._send_json(200, {"object": "list", "data": [server._model_card(m) for m in server.models]})
            elif method == "GET" and path.startswith("/v1/models/"):
                name = path[len("/v1/models/") :]
                if name in server.models:
                    self._send_json(200, server._model_card(name))
                else:
                    self._send_error(404, f"The model '{name}' does not exist.")
            elif method == "POST" and path == "/v1/chat/completions":
                self._chat(body)
            else:
                self._send_error(
                    404,
                    f"Unknown route {method} {path}; the stub serves GET /v1/models "
                    "and POST /v1/chat/completions.",
                    code="unknown_url",
                )
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away (e.g. it timed out on a hang)
        finally:
            server._leave()

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("POST")

    # -- chat completions ---------------------------------------------------------------------------
    def _chat(self, raw: bytes) -> None:
        server = self.server
        server._count_chat()
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            self._send_error(400, f"Request body is not valid JSON: {err}", raw=raw)
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send_error(400, "Request body must be a JSON object with a 'messages' list.", raw=raw)
            return
        server._record(body)

        faults = server.faults
        draw = server._draw()
        if draw.delay_s > 0 and server._stopping.wait(draw.delay_s):
            self.close_connection = True
            return
        if draw.status is not None:
            self._send_error(draw.status, raw=raw, note=f" (injected by inkforge stub: {draw.fault})")
            return
        if draw.fault == "hang":
            server._stopping.wait(faults.hang_s)
            if faults.hang_mode == "drop" or server._stopping.is_set():
                server._count_dropped()
                self.close_connection = True
                return
        if draw.fault == "bad_body":
            # A 200 whose body is cut mid-document: what a proxy that dies half-way looks like.
            self._send_bytes(
                200,
                b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [',
                "application/json",
            )
            return

        # Same seed in "varying" mode too when the request pins one: OpenAI's `seed` contract.
        pinned = faults.sampling == "deterministic" or isinstance(body.get("seed"), int)
        try:
            refused = rejection(body, faults)
            if refused is not None:
                raise refused
            payload = build_completion(
                body,
                server.responder,
                faults,
                answer_seed=request_seed(body) if pinned else draw.answer_seed,
                malformed_rng=draw.rng if draw.fault == "malformed" else None,
                default_model=server.models[0],
            )
        except ClientError as err:
            if err.fault is not None:
                server._count_fault(err.fault)
            self._send_error(err.status, str(err), raw=raw, kind=err.kind, param=err.param)
            return
        except Exception as err:  # a responder bug or an unsupported schema must fail loudly, not hang
            logger.exception("stub failed to build a reply")
            self._send_error(500, f"inkforge stub could not build a reply: {type(err).__name__}: {err}", raw=raw)
            return
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_bytes(
                200, sse_stream(payload, include_usage), "text/event-stream", {"Cache-Control": "no-cache"}
            )
        else:
            self._send_json(200, payload)
