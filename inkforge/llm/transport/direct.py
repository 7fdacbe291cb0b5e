"""A lean OpenAI-compatible chat transport for the judge reward's hot path.

During RL training the judge is called for every completion of every step, tens to hundreds at a
time. Through LangChain's ``ChatOpenAI`` and the OpenAI SDK a call costs about 5 ms of client CPU
(request transformation, pydantic models, callbacks, the httpx pool), so 64 concurrent calls keep
one core busy for ~0.3 s: longer than the 200 ms the endpoint itself takes. :class:`DirectChatModel`
speaks the same chat-completions protocol with plain asyncio streams and keep-alive connections
(well under 1 ms per call) and offers exactly the surface :class:`~inkforge.agents.base.Agent` uses
(``ainvoke`` and ``with_structured_output(schema, method, include_raw=True)``), so caching, re-asks,
structured-output fallbacks and failure statuses are unchanged.

Behaviour mirrors the OpenAI client that the rest of inkforge uses: the API key comes from the
spec's environment variable; 408, 409, 429, 5xx, timeouts and dropped connections are retried
``max_retries`` times with jittered exponential backoff (0.5 s doubling to 8 s, or the server's
``Retry-After``); errors carry the OpenAI SDK's class names (``RateLimitError``,
``BadRequestError``...) so the agent classifies them the same way. LangChain callbacks (tracing)
do not see these calls; pass ``transport="langchain"`` to :class:`~inkforge.rewards.judge.JudgeReward`
to keep them.

Example:
    >>> from inkforge.llm.config import ModelSpec
    >>> DirectChatModel.supports(ModelSpec(model="qwen", base_url="http://127.0.0.1:8000/v1"))
    True
    >>> DirectChatModel.supports(ModelSpec(provider="local", model="Qwen/Qwen2.5-0.5B-Instruct"))
    False
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import weakref
import zlib
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from langchain_core.messages import AIMessage, BaseMessage
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

__all__ = ["APIConnectionError", "APIStatusError", "APITimeoutError", "DirectChatModel"]

#: ``ModelSpec.extra`` keys that are plain request-body parameters; any other key (a LangChain
#: constructor option) makes :meth:`DirectChatModel.supports` decline, so the spec keeps ChatOpenAI.
BODY_PARAMS = frozenset({"top_p", "seed", "frequency_penalty", "presence_penalty", "stop", "logit_bias",
                         "reasoning_effort", "service_tier", "user", "top_logprobs", "logprobs", "extra_body",
                         "model_kwargs", "default_headers"})
_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class APIConnectionError(Exception):
    """The endpoint could not be reached or dropped the connection."""


class APITimeoutError(APIConnectionError):
    """No complete answer within the spec's timeout."""


class APIStatusError(Exception):
    """An HTTP error answer (subclasses are named like the OpenAI SDK's, for status classification)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status_code = status
        self.retry_after: str | None = None


def _retryable(e: BaseException) -> bool:
    """Timeouts, dropped connections and 408/409/429/5xx are retried; other answers are final."""
    if isinstance(e, APIConnectionError):
        return True
    return isinstance(e, APIStatusError) and e.status_code in _RETRY_STATUS


_backoff = wait_exponential_jitter(initial=0.5, max=8.0, jitter=0.25)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        try:
            return min(60.0, max(0.0, float(retry_after)))
        except ValueError:
            pass
    return _backoff(state)


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    code: type(name, (APIStatusError,), {"__doc__": f"HTTP {code}."})
    for code, name in ((400, "BadRequestError"), (401, "AuthenticationError"), (403, "PermissionDeniedError"),
                       (404, "NotFoundError"), (409, "ConflictError"), (422, "UnprocessableEntityError"),
                       (429, "RateLimitError"))
}
InternalServerError = type("InternalServerError", (APIStatusError,), {"__doc__": "HTTP 5xx."})


def _status_error(status: int, body: bytes) -> APIStatusError:
    try:
        err = json.loads(body).get("error") or {}
        message = err.get("message") if isinstance(err, dict) else str(err)
    except (ValueError, AttributeError):
        message = body[:500].decode("utf-8", "replace")
    cls = _STATUS_ERRORS.get(status, InternalServerError if status >= 500 else APIStatusError)
    return cls(f"Error code: {status} - {message}", status)


class _Pool:
    """Keep-alive HTTP/1.1 connections to one host, for one event loop."""

    def __init__(self, host: str, port: int, tls: bool) -> None:
        self.host, self.port = host, port
        self.ssl = ssl.create_default_context() if tls else None
        self.idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.ssl, limit=1 << 22)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return reader, writer

    async def request(self, head: bytes, body: bytes) -> tuple[int, dict[str, str], bytes]:
        reused = bool(self.idle)
        while True:
            if self.idle:
                conn = self.idle.pop()
            else:
                try:
                    conn = await self._connect()
                except OSError as e:  # refused, unreachable, DNS: retryable like the OpenAI client's
                    # No "refused" in the text: the agent reads that word as a content refusal.
                    raise APIConnectionError(f"Connection error: cannot reach {self.host}:{self.port} "
                                             f"(errno {e.errno})") from None
            try:
                status, headers, data, keep = await self._exchange(conn, head + body)
            except (ConnectionError, asyncio.IncompleteReadError, OSError) as e:
                conn[1].close()
                if reused:  # the server closed an idle keep-alive connection: one retry on a fresh one
                    reused = False
                    continue
                raise APIConnectionError(f"Connection error: {type(e).__name__.replace('Refused', '')}") from None
            except BaseException:
                conn[1].close()  # cancelled (timeout) mid-answer: the connection is unusable
                raise
            if keep:
                self.idle.append(conn)
            else:
                conn[1].close()
            return status, headers, data

    @staticmethod
    async def _exchange(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                        payload: bytes) -> tuple[int, dict[str, str], bytes, bool]:
        reader, writer = conn
        writer.write(payload)
        await writer.drain()
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        version, status_text = lines[0].split(" ", 1)
        status = int(status_text[:3])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    break
                parts.append(await reader.readexactly(size + 2))
            data = b"".join(p[:-2] for p in parts)
        elif "content-length" in headers:
            data = await reader.readexactly(int(headers["content-length"]))
        else:  # body delimited by connection close
            data = await reader.read()
            headers["connection"] = "close"
        encoding = headers.get("content-encoding", "identity").lower()
        if encoding in ("gzip", "deflate"):
            data = zlib.decompress(data, 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
        keep = headers.get("connection", "").lower() != "close" and version != "HTTP/1.0"
        return status, headers, data, keep

    def close(self) -> None:
        while self.idle:
            self.idle.pop()[1].close()


def _role(m: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}.get(m.type, "user")


def _to_messages(messages: Sequence[BaseMessage] | str) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [{"role": _role(m), "content": m.content} for m in messages]


class _Structured:
    """What ``with_structured_output(..., include_raw=True)`` returns: ``{"raw", "parsed", "parsing_error"}``."""

    def __init__(self, model: DirectChatModel, schema: Mapping[str, Any], method: str) -> None:
        self.model = model
        self.method = method
        name = str(schema.get("title") or "output")
        if method == "json_schema":
            self.extra: dict[str, Any] = {"response_format": {"type": "json_schema", "json_schema": {
                "name": name, "description": schema.get("description", ""), "schema": dict(schema)}}}
        elif method == "json_mode":
            self.extra = {"response_format": {"type": "json_object"}}
        elif method == "function_calling":
            self.extra = {"tools": [{"type": "function", "function": {
                "name": name, "description": schema.get("description", ""), "parameters": dict(schema)}}],
                "tool_choice": {"type": "function", "function": {"name": name}}}
        else:
            raise NotImplementedError(f"structured-output method {method!r}")

    async def ainvoke(self, messages: Sequence[BaseMessage] | str, config: Any = None) -> dict[str, Any]:
        # ``config`` (run name, metadata) is for LangChain callbacks, which this lean client has none of.
        msg = await self.model._chat(messages, self.extra)
        text = json.dumps(msg.tool_calls[0]["args"]) if msg.tool_calls else str(msg.content or "")
        try:
            parsed = json.loads(text)
            return {"raw": msg, "parsed": parsed if isinstance(parsed, dict) else None, "parsing_error": None}
        except ValueError as e:
            return {"raw": msg, "parsed": None, "parsing_error": e}


class DirectChatModel:
    """An OpenAI-compatible chat model on raw asyncio streams (see the module docstring).

    Args:
        spec: The model spec (``provider="openai"``).
    """

    def __init__(self, spec: Any) -> None:
        if not self.supports(spec):
            raise ValueError("DirectChatModel needs an openai-provider spec whose extra keys are body parameters")
        self.spec = spec
        url = urlsplit(spec.base_url or "https://api.openai.com/v1")
        self.tls = url.scheme == "https"
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (443 if self.tls else 80)
        self.path = url.path.rstrip("/") + "/chat/completions"
        extra = dict(spec.extra)
        self.headers = dict(extra.pop("default_headers", None) or {})
        self.body_extra = {**extra.pop("model_kwargs", {}), **extra.pop("extra_body", {}), **extra}
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()

    @staticmethod
    def supports(spec: Any) -> bool:
        """Whether this transport can stand in for ChatOpenAI for ``spec``."""
        return spec.provider == "openai" and set(spec.extra) <= BODY_PARAMS

    def __repr__(self) -> str:
        return f"DirectChatModel(model={self.spec.model!r}, url={'https' if self.tls else 'http'}://{self.host}:{self.port})"

    def _pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _Pool(self.host, self.port, self.tls)
        return pool

    def _head(self, length: int) -> bytes:
        key = os.environ.get(self.spec.api_key_env) or "EMPTY"  # read per call: never stored on the object
        host = self.host if self.port == (443 if self.tls else 80) else f"{self.host}:{self.port}"
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json",
                 f"Content-Length: {length}", f"Authorization: Bearer {key}", "Accept: application/json",
                 "Accept-Encoding: gzip, identity", "User-Agent: inkforge-judge", "Connection: keep-alive",
                 *(f"{k}: {v}" for k, v in self.headers.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        head = self._head(len(body))
        spec = self.spec
        # tenacity does the retrying: jittered exponential backoff (0.5 s doubling to 8 s, like the
        # OpenAI SDK) unless the server's Retry-After says otherwise; the last error is re-raised.
        retrying = AsyncRetrying(stop=stop_after_attempt(spec.max_retries + 1), wait=_wait, reraise=True,
                                 retry=retry_if_exception(_retryable))
        async for attempt in retrying:
            with attempt:
                return await self._attempt(head, body)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _attempt(self, head: bytes, body: bytes) -> dict[str, Any]:
        try:
            status, headers, data = await asyncio.wait_for(self._pool().request(head, body), self.spec.timeout)
        except asyncio.TimeoutError:
            raise APITimeoutError(f"Request timed out after {self.spec.timeout} s") from None
        if status >= 300:
            err = _status_error(status, data)
            err.retry_after = headers.get("retry-after")
            raise err
        try:
            answer: dict[str, Any] = json.loads(data)
        except ValueError as e:
            raise APIConnectionError(f"the answer is not JSON: {e}") from None
        return answer

    async def _chat(self, messages: Sequence[BaseMessage] | str, extra: Mapping[str, Any] | None = None) -> AIMessage:
        spec = self.spec
        payload: dict[str, Any] = {"model": spec.model, "messages": _to_messages(messages),
                                   "temperature": spec.temperature, **self.body_extra}
        if spec.max_tokens is not None:
            payload["max_completion_tokens"] = spec.max_tokens
        if extra:
            payload.update(extra)
        answer = await self._post(payload)
        try:
            choice = answer["choices"][0]
            message = choice.get("message") or {}
        except (KeyError, IndexError, TypeError):
            raise APIConnectionError(f"no choices in the answer: {str(answer)[:300]}") from None
        usage = answer.get("usage") or {}
        tool_calls = []
        content = message.get("content") or ""
        for call in message.get("tool_calls") or []:
            fn = call.get("function") or {}
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                content = fn.get("arguments") or ""  # broken arguments: hand the raw text to the re-ask
                continue
            tool_calls.append({"name": fn.get("name", ""), "args": args, "id": call.get("id"), "type": "tool_call"})
        kwargs = {"refusal": message["refusal"]} if message.get("refusal") else {}
        i, o = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        return AIMessage(content=content, tool_calls=tool_calls, additional_kwargs=kwargs,
                         response_metadata={"finish_reason": choice.get("finish_reason"), "model_name": answer.get("model")},
                         usage_metadata={"input_tokens": i, "output_tokens": o, "total_tokens": i + o})

    async def ainvoke(self, messages: Sequence[BaseMessage] | str, **kwargs: Any) -> AIMessage:
        """One chat completion (the agent's ``prompt`` method)."""
        return await self._chat(messages)

    def with_structured_output(self, schema: Any, *, method: str = "json_schema", include_raw: bool = False,
                               **kwargs: Any) -> _Structured:
        """Structured output like ChatOpenAI's with ``include_raw=True`` (a dict JSON schema is expected)."""
        if not isinstance(schema, Mapping):
            schema = schema.model_json_schema()
        return _Structured(self, schema, method)

    def close(self) -> None:
        """Close idle connections (of every loop)."""
        for pool in list(self._pools.values()):
            pool.close()
