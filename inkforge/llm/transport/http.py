"""The default transport of endpoint specs: chat completions over aiohttp, as a LangChain chat model.

:class:`HttpChatModel` is a :class:`~langchain_core.language_models.BaseChatModel`, so LangChain
callbacks and LangSmith tracing see every call (``on_chat_model_start`` / ``on_llm_end`` with the token
usage), and it speaks the OpenAI chat-completions protocol through one ``aiohttp.ClientSession`` per event
loop (synchronous calls: one ``httpx.Client``): keep-alive pools sized to the run's concurrency,
``HTTPS_PROXY`` / ``NO_PROXY`` honoured (``trust_env``), TLS verified. Per call it costs a fraction of ``ChatOpenAI``'s
client CPU (no OpenAI SDK request models in between), which matters when one small machine drives 64
to 256 concurrent calls against a self-hosted server.

Behaviour, per call:

* The API key is read from ``spec.api_key_env`` at each request (never stored on the object, never in
  a message: upstream error text is passed through :func:`~inkforge.core.secrets.redact`).
* Timeouts, dropped connections, 408, 409, 429 and 5xx are retried ``spec.max_retries`` times by
  tenacity with jittered exponential backoff (0.5 s doubling to 8 s) or the server's ``Retry-After``.
  What survives is a :class:`~inkforge.llm.errors.ModelCallError` with its kind and status.
* ``spec.extra`` keys are request-body parameters (``top_p``, ``seed``, ``stop``...; ``extra_body`` and
  ``model_kwargs`` are merged in, ``default_headers`` become headers); call keyword arguments
  (``seed=3``, ``response_format=...``) override them for that call.
* :meth:`HttpChatModel.with_structured_output` supports ``json_schema``, ``json_mode`` and
  ``function_calling`` with ``include_raw``; the request part is built once per schema.

Example:
    >>> from inkforge.llm.config import ModelSpec
    >>> m = HttpChatModel(spec=ModelSpec(model="qwen", base_url="http://127.0.0.1:8000/v1"))
    >>> m.url, m._llm_type
    ('http://127.0.0.1:8000/v1/chat/completions', 'inkforge-http')
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import aiohttp
import httpx
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, ConfigDict, PrivateAttr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from inkforge.core.secrets import redact
from inkforge.llm.config import ModelSpec
from inkforge.llm.errors import ModelCallError, classify_error, kind_for_status

__all__ = ["DirectChatModel", "HttpChatModel"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function"}
_backoff = wait_exponential_jitter(initial=0.5, max=8.0, jitter=0.25)
#: ``ModelSpec.extra`` keys that configure ChatOpenAI's client rather than the request body: a spec
#: naming one keeps ChatOpenAI (:meth:`HttpChatModel.supports`); any other key is a body parameter.
CLIENT_OPTIONS = frozenset({
    "streaming", "organization", "openai_organization", "openai_proxy", "http_client", "http_async_client",
    "default_query", "tiktoken_model_name", "use_responses_api", "output_version", "stream_usage",
    "disabled_params", "include_response_headers", "request_timeout", "openai_api_base", "openai_api_key",
    "api_key", "base_url", "timeout", "max_retries", "verbose", "callbacks", "tags", "metadata", "cache",
    "rate_limiter", "custom_get_token_ids", "use_previous_response_id", "root_client", "root_async_client",
})


def _retryable(e: BaseException) -> bool:
    return isinstance(e, ModelCallError) and e.retryable


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    after = getattr(exc, "retry_after", None)
    if after is not None:
        return min(60.0, max(0.0, float(after)))
    return float(_backoff(state))


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:  # an HTTP date: rare from model servers; fall back to the backoff
        return None


def _discard(session: aiohttp.ClientSession) -> None:
    """Drop a session whose event loop has ended (``asyncio.run`` returned): it can no longer be awaited
    on its own loop, and aiohttp warns about every session garbage-collected unclosed."""
    connector = session.connector
    session.detach()
    if connector is not None:
        # On a closed loop ``close()`` only marks the connector closed and never suspends: drive the
        # coroutine by hand (no loop can run it).
        closing: Any = connector.close()
        try:
            closing.send(None)
        except StopIteration:
            pass
        else:  # pragma: no cover - it suspended after all: give up quietly
            closing.close()


def _discard_ended(sessions: Any) -> None:
    for loop, session in list(sessions.items()):
        if loop.is_closed():
            sessions.pop(loop, None)
            _discard(session)


def _close_all(sessions: Any) -> None:
    """The model is gone: close its sessions, on their loops where those still run."""
    _discard_ended(sessions)
    for loop, session in list(sessions.items()):
        sessions.pop(loop, None)
        try:
            loop.call_soon_threadsafe(lambda lp=loop, s=session: lp.create_task(s.close()))
        except RuntimeError:  # the loop closed meanwhile
            _discard(session)


def _message(m: BaseMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": _ROLES.get(m.type, "user"), "content": m.content}
    if m.type == "ai" and getattr(m, "tool_calls", None):
        out["tool_calls"] = [{"id": c.get("id"), "type": "function", "function": {
            "name": c["name"], "arguments": json.dumps(c["args"], ensure_ascii=False)}} for c in m.tool_calls]  # type: ignore[attr-defined]
    if m.type == "tool":
        out["tool_call_id"] = getattr(m, "tool_call_id", None)
    return out


class HttpChatModel(BaseChatModel):
    """An OpenAI-compatible chat model on aiohttp (see the module docstring).

    Args:
        spec: The model spec (``provider="openai"``).
        limit: Connections to keep per event loop: the run's concurrency limit, so that the limiter,
            not the pool, decides how many calls are in flight.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    spec: ModelSpec
    limit: int = 64

    _clients: Any = PrivateAttr(default=None)
    _sync: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default=None)
    _body: dict[str, Any] = PrivateAttr(default_factory=dict)
    _headers: dict[str, str] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any) -> None:
        if not self.supports(self.spec):
            raise ValueError("HttpChatModel needs a provider: openai spec whose extra keys are request-body "
                             f"parameters (not {sorted(set(self.spec.extra) & CLIENT_OPTIONS)})")
        extra = dict(self.spec.extra)
        self._headers = {"Accept": "application/json", **(extra.pop("default_headers", None) or {})}
        body: dict[str, Any] = {"model": self.spec.model, "temperature": self.spec.temperature}
        if self.spec.max_tokens is not None:
            body["max_completion_tokens"] = self.spec.max_tokens
        self._body = {**body, **extra.pop("model_kwargs", {}), **extra.pop("extra_body", {}), **extra}
        self._clients = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        weakref.finalize(self, _close_all, self._clients)

    @staticmethod
    def supports(spec: ModelSpec) -> bool:
        """Whether this transport serves ``spec``: an endpoint spec whose ``extra`` holds body parameters.

        Example:
            >>> HttpChatModel.supports(ModelSpec(model="m", extra={"top_p": 0.9, "seed": 1, "top_k": 20}))
            True
            >>> HttpChatModel.supports(ModelSpec(model="m", extra={"streaming": True}))
            False
        """
        return spec.provider == "openai" and not (set(spec.extra) & CLIENT_OPTIONS)

    @property
    def url(self) -> str:
        """The chat-completions URL."""
        base = self.spec.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        return base.rstrip("/") + "/chat/completions"

    @property
    def _llm_type(self) -> str:
        return "inkforge-http"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.spec.model, "base_url": self.spec.base_url}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "openai"
        params["ls_model_name"] = self.spec.model
        params["ls_temperature"] = kwargs.get("temperature", self.spec.temperature)
        return params

    # -- HTTP ------------------------------------------------------------------------------------------

    def _request_headers(self) -> dict[str, str]:
        key = os.environ.get(self.spec.api_key_env) or "EMPTY"  # read per call: never stored on the object
        return {**self._headers, "Authorization": f"Bearer {key}"}

    def _client_kwargs(self, size: int) -> dict[str, Any]:
        return {"timeout": httpx.Timeout(self.spec.timeout), "trust_env": True,
                "headers": {"Content-Type": "application/json"},
                "limits": httpx.Limits(max_connections=size, max_keepalive_connections=size)}

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._clients.get(loop)
        if session is None or session.closed:
            _discard_ended(self._clients)  # sessions of loops that have ended since
            # One keep-alive session per loop (its connections belong to the loop that opened them),
            # sized to the run's limit. aiohttp, not httpx, on this hot path: measured on the loopback
            # stub at 0 ms latency, 64 in flight, 0.36-0.47 ms of client CPU per request against httpx's
            # 1.76-1.83 ms (a 2-core machine). trust_env: HTTP(S)_PROXY, NO_PROXY and .netrc are honoured.
            connector = aiohttp.TCPConnector(limit=self.limit + 4, limit_per_host=self.limit + 4, ttl_dns_cache=300)
            session = self._clients[loop] = aiohttp.ClientSession(
                connector=connector, trust_env=True, timeout=aiohttp.ClientTimeout(total=self.spec.timeout),
                skip_auto_headers=("User-Agent",), headers={"User-Agent": "inkforge", "Content-Type": "application/json"})
        return session  # type: ignore[no-any-return]

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._sync is None:
                self._sync = httpx.Client(**self._client_kwargs(self.limit + 4))
            return self._sync  # type: ignore[no-any-return]

    def _payload(self, messages: Sequence[BaseMessage], stop: list[str] | None, kwargs: Mapping[str, Any]) -> bytes:
        payload = {**self._body, "messages": [_message(m) for m in messages], **kwargs}
        if stop:
            payload["stop"] = stop
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")

    def _error(self, e: BaseException) -> ModelCallError:
        kind = classify_error(e)
        if kind == "timeout":
            return ModelCallError(f"Request timed out after {self.spec.timeout} s ({type(e).__name__})", kind=kind)
        # No "refused" in the text: agents read that word as a content refusal.
        where = httpx.URL(self.url)
        return ModelCallError(f"Connection error: cannot reach {where.host}:{where.port or ''} ({type(e).__name__})",
                              kind=kind)

    def _answer(self, status: int, content: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        if status >= 300:
            text = content[:1000].decode("utf-8", "replace")
            try:
                err = json.loads(text).get("error") or {}
                message = err.get("message") if isinstance(err, dict) else str(err)
            except (ValueError, AttributeError):
                message = text[:500]
            message = redact(str(message), env_names=(self.spec.api_key_env,))
            kind = kind_for_status(status, message)
            hint = f" (the key is read from ${self.spec.api_key_env})" if kind in ("auth", "permission") else ""
            raise ModelCallError(f"Error code: {status} - {message}{hint}", kind=kind, status_code=status,
                                 retry_after=_retry_after(headers))
        try:
            answer: dict[str, Any] = json.loads(content)
        except ValueError as e:
            raise ModelCallError(f"the answer is not JSON: {e}", kind="server", status_code=status) from None
        return answer

    async def _apost(self, content: bytes) -> dict[str, Any]:
        async def attempt() -> dict[str, Any]:
            try:
                # ClientTimeout(total=spec.timeout): one deadline for the whole exchange.
                async with self._session().post(self.url, data=content, headers=self._request_headers()) as r:
                    body = await r.read()
                    status, headers = r.status, r.headers
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                raise self._error(e) from None
            return self._answer(status, body, headers)

        retrying = AsyncRetrying(stop=stop_after_attempt(self.spec.max_retries + 1), wait=_wait, reraise=True,
                                 retry=retry_if_exception(_retryable))
        return await retrying(attempt)  # type: ignore[no-any-return]

    def _post(self, content: bytes) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            try:
                response = self._sync_client().post(self.url, content=content, headers=self._request_headers())
            except (httpx.HTTPError, OSError) as e:
                raise self._error(e) from None
            return self._answer(response.status_code, response.content, response.headers)

        retrying = Retrying(stop=stop_after_attempt(self.spec.max_retries + 1), wait=_wait, reraise=True,
                            retry=retry_if_exception(_retryable))
        return retrying(attempt)  # type: ignore[no-any-return]

    # -- LangChain -------------------------------------------------------------------------------------

    def _result(self, answer: Mapping[str, Any]) -> ChatResult:
        try:
            choice = answer["choices"][0]
            message = choice.get("message") or {}
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ModelCallError(f"no choices in the answer: {str(answer)[:300]}", kind="server") from None
        content = message.get("content") or ""
        tool_calls = []
        for call in message.get("tool_calls") or []:
            fn = call.get("function") or {}
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                content = fn.get("arguments") or ""  # broken arguments: hand the raw text to the re-ask
                continue
            tool_calls.append({"name": fn.get("name", ""), "args": args, "id": call.get("id"), "type": "tool_call"})
        usage = answer.get("usage") or {}
        i, o = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        kwargs = {"refusal": message["refusal"]} if message.get("refusal") else {}
        meta = {"finish_reason": choice.get("finish_reason"), "model_name": answer.get("model")}
        msg = AIMessage(content=content, tool_calls=tool_calls, additional_kwargs=kwargs, response_metadata=meta,
                        usage_metadata={"input_tokens": i, "output_tokens": o, "total_tokens": i + o},
                        id=answer.get("id"))
        return ChatResult(generations=[ChatGeneration(message=msg, generation_info={"finish_reason": meta["finish_reason"]})],
                          llm_output={"token_usage": usage, "model_name": answer.get("model")})

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return self._result(await self._apost(self._payload(messages, stop, kwargs)))

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return self._result(self._post(self._payload(messages, stop, kwargs)))

    def with_structured_output(self, schema: Any, *, method: str = "json_schema", include_raw: bool = False,
                               **kwargs: Any) -> Runnable[Any, Any]:
        """Structured output like ChatOpenAI's: ``json_schema``, ``json_mode`` or ``function_calling``.

        Args:
            schema: A JSON-schema dict (its ``title`` names it) or a pydantic class.
            method: How the endpoint is asked for JSON.
            include_raw: Return ``{"raw", "parsed", "parsing_error"}`` instead of the parsed value.

        Example:
            >>> from inkforge.llm.config import ModelSpec
            >>> m = HttpChatModel(spec=ModelSpec(model="m", base_url="http://127.0.0.1:9/v1"))
            >>> s = m.with_structured_output({"title": "Verdict", "type": "object"}, include_raw=True)
            >>> s.request["response_format"]["json_schema"]["name"]
            'Verdict'
        """
        return _Structured(self, schema, method, include_raw)

    def close(self) -> None:
        """Close the synchronous client; the per-loop clients close with their loops."""
        with self._lock:
            sync, self._sync = self._sync, None
        if sync is not None:
            sync.close()

    async def aclose(self) -> None:
        """Close this loop's session (and the synchronous client)."""
        session = self._clients.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()
        self.close()


class _Structured(Runnable[Any, Any]):
    """What :meth:`HttpChatModel.with_structured_output` returns; the request part is built once."""

    def __init__(self, model: HttpChatModel, schema: Any, method: str, include_raw: bool) -> None:
        self.model = model
        self.method = method
        self.include_raw = include_raw
        self.pydantic = schema if isinstance(schema, type) and issubclass(schema, BaseModel) else None
        js: dict[str, Any] = self.pydantic.model_json_schema() if self.pydantic else dict(schema)
        name = str(js.get("title") or "output")
        desc = str(js.get("description") or "")
        if method == "json_schema":
            self.request: dict[str, Any] = {"response_format": {"type": "json_schema", "json_schema": {
                "name": name, "description": desc, "schema": js}}}
        elif method == "json_mode":
            self.request = {"response_format": {"type": "json_object"}}
        elif method == "function_calling":
            self.request = {"tools": [{"type": "function", "function": {
                "name": name, "description": desc, "parameters": js}}],
                "tool_choice": {"type": "function", "function": {"name": name}}}
        else:
            raise NotImplementedError(f"structured-output method {method!r}")

    def _parse(self, msg: AIMessage) -> Any:
        text = json.dumps(msg.tool_calls[0]["args"]) if msg.tool_calls else str(msg.content or "")
        try:
            parsed: Any = json.loads(text)
            if not isinstance(parsed, dict):
                raise ValueError(f"expected a JSON object, got {type(parsed).__name__}")
            if self.pydantic is not None:
                parsed = self.pydantic.model_validate(parsed)
            error = None
        except ValueError as e:  # pydantic's ValidationError is a ValueError too
            parsed, error = None, e
        if self.include_raw:
            return {"raw": msg, "parsed": parsed, "parsing_error": error}
        if error is not None:
            raise error
        return parsed

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._parse(self.model.invoke(input, config, **self.request, **kwargs))  # type: ignore[arg-type]

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._parse(await self.model.ainvoke(input, config, **self.request, **kwargs))  # type: ignore[arg-type]

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        yield self.invoke(input, config, **kwargs)


def DirectChatModel(spec: ModelSpec, **kwargs: Any) -> HttpChatModel:  # noqa: N802 - the former class name
    """Deprecated: the former asyncio client's constructor, now an :class:`HttpChatModel`."""
    return HttpChatModel(spec=spec, **kwargs)
