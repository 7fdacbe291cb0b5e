"""Model-call errors typed by kind: one exception type, one classifier for every client.

:class:`ModelCallError` is what inkforge's own HTTP transport raises: it carries an
:data:`~inkforge.core.types.ErrorKind` and the HTTP status, if any. :func:`classify_error` maps *any*
exception a chat model may raise (ours, aiohttp's, httpx's, the OpenAI SDK's under ``ChatOpenAI``, a local model's
:class:`~inkforge.llm.transport.local.ContextLengthError`, plain timeouts and socket errors) to a
kind, by type and status code, never by class name, so every transport fails the same way.

Example:
    >>> classify_error(ModelCallError("Error code: 429 - slow down", kind="rate_limited", status_code=429))
    'rate_limited'
    >>> kind_for_status(401), kind_for_status(503), kind_for_status(400, "response_format is not supported")
    ('auth', 'server', 'unsupported')
    >>> classify_error(TimeoutError())
    'timeout'
"""

from __future__ import annotations

import asyncio
from typing import Any

from inkforge.core.types import ErrorKind

__all__ = ["RETRYABLE_KINDS", "ModelCallError", "classify_error", "kind_for_status", "status_code_of"]

#: Kinds a transport retries (with backoff) before giving up: they may pass on their own.
RETRYABLE_KINDS: frozenset[str] = frozenset({"timeout", "rate_limited", "connection", "server"})

# Words by which an endpoint says it does not support a structured-output method (HTTP 400/404/422).
_UNSUPPORTED_WORDS = ("response_format", "json_schema", "json_object", "tool", "function", "not supported",
                      "unsupported")


class ModelCallError(Exception):
    """A model call that failed, with its kind and HTTP status.

    Args:
        message: What happened (already free of secrets: built from redacted upstream text).
        kind: The :data:`~inkforge.core.types.ErrorKind`.
        status_code: The HTTP status, ``None`` when no answer came back.
        retry_after: Seconds the server asked to wait (``Retry-After``), if it said.

    Example:
        >>> e = ModelCallError("Error code: 401 - invalid key; check OPENAI_API_KEY", kind="auth", status_code=401)
        >>> e.kind, e.status_code, e.retryable
        ('auth', 401, False)
    """

    def __init__(self, message: str, *, kind: ErrorKind, status_code: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.status_code = status_code
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether a transport should retry the call."""
        return self.kind in RETRYABLE_KINDS


def kind_for_status(status: int, message: str = "") -> ErrorKind:
    """The kind of an HTTP error status (``message`` tells an unsupported method from a bad request).

    Example:
        >>> [kind_for_status(s) for s in (403, 404, 408, 409, 422, 502)]
        ['permission', 'not_found', 'timeout', 'server', 'bad_request', 'server']
    """
    if status in (400, 404, 422):
        text = message.lower()
        if any(w in text for w in _UNSUPPORTED_WORDS):
            return "unsupported"
        return "not_found" if status == 404 else "bad_request"
    if status == 401:
        return "auth"
    if status == 403:
        return "permission"
    if status == 408:
        return "timeout"
    if status == 429:
        return "rate_limited"
    if status == 409 or status >= 500:  # 409: a conflicting concurrent request; retried like the SDK does
        return "server"
    if status == 413:
        return "context_length"
    return "bad_request" if 400 <= status < 500 else "other"


def status_code_of(e: BaseException) -> int | None:
    """The HTTP status an exception carries (ours, the OpenAI SDK's, httpx's), else ``None``."""
    code = getattr(e, "status_code", None)
    if isinstance(code, int):
        return code
    code = getattr(e, "status", None)  # aiohttp's ClientResponseError
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    response = getattr(e, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def classify_error(e: BaseException) -> ErrorKind:
    """The :data:`~inkforge.core.types.ErrorKind` of an exception raised by a chat-model call.

    By type, then by HTTP status: :class:`ModelCallError` says its own kind; the OpenAI SDK's and
    httpx's timeout and connection errors, and Python's, are ``timeout`` / ``connection``; any error
    with a status code takes :func:`kind_for_status`; the SDK's content-filter and length errors are
    ``content_filter`` / ``parse``; a local prompt too long is ``context_length``;
    ``NotImplementedError`` (a model without that structured-output method) is ``unsupported``.

    Example:
        >>> import httpx
        >>> classify_error(httpx.ReadTimeout("slow")), classify_error(httpx.ConnectError("down"))
        ('timeout', 'connection')
        >>> classify_error(ValueError("?"))
        'other'
    """
    if isinstance(e, ModelCallError):
        return e.kind
    kind = _sdk_kind(e)
    if kind is not None:
        return kind
    import httpx

    if isinstance(e, (httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    code = status_code_of(e)
    if code is not None:
        return kind_for_status(code, _message_of(e))
    if isinstance(e, (httpx.TransportError, ConnectionError, OSError)) or _is_aiohttp_client_error(e):
        return "connection"
    from inkforge.llm.transport.local import ContextLengthError

    if isinstance(e, ContextLengthError):
        return "context_length"
    if isinstance(e, NotImplementedError):
        return "unsupported"
    return "other"


def _is_aiohttp_client_error(e: BaseException) -> bool:
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - a core dependency
        return False
    return isinstance(e, aiohttp.ClientError)


def _message_of(e: BaseException) -> str:
    body = getattr(e, "body", None)
    return f"{e} {body}" if body else str(e)


def _sdk_kind(e: BaseException) -> ErrorKind | None:
    """Kinds of the OpenAI SDK's errors that carry no status (``ChatOpenAI`` raises these)."""
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai (and the SDK) is a core dependency
        return None
    if isinstance(e, openai.APITimeoutError):
        return "timeout"
    if isinstance(e, openai.APIConnectionError):
        return "connection"
    if isinstance(e, openai.ContentFilterFinishReasonError):
        return "content_filter"
    if isinstance(e, openai.LengthFinishReasonError):
        return "parse"
    return None


def describe(e: BaseException) -> dict[str, Any]:
    """``{"kind", "status_code"}`` of an exception, for failure records and logs.

    Example:
        >>> describe(ModelCallError("x", kind="server", status_code=503))
        {'kind': 'server', 'status_code': 503}
    """
    return {"kind": classify_error(e), "status_code": status_code_of(e)}
