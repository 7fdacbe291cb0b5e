"""What the stub answers: chat completions in OpenAI's shape, their streamed form, and error bodies.

Structured requests (``response_format`` of type ``json_schema``, or a forced function tool as
LangChain's ``method="function_calling"`` sends) get a JSON instance generated from the request's own
schema; ``json_object`` requests and plain requests whose prompt embeds a schema get JSON or prose as
`Faults.json_answers` says; other plain requests get a short Chinese greeting. Each choice's randomness
comes from one seed per request (`Faults.sampling` says how it is chosen) plus the choice's index.

Example:
    >>> body = {"model": "stub", "messages": [{"role": "user", "content": "写一句祝福"}]}
    >>> reply = build_completion(body, None, Faults(), answer_seed=request_seed(body))
    >>> reply["choices"][0]["finish_reason"], reply["object"]
    ('stop', 'chat.completion')
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from inkforge.testing.stub.faults import Faults
from inkforge.testing.stub.schema import WISHES, instance_for

__all__ = ["ClientError", "ErrorReply", "Responder", "build_completion", "error_reply", "rejection",
           "request_format", "request_seed", "sse_stream"]

Responder = Callable[[dict[str, Any]], "str | dict[str, Any] | None"]
"""Scripted behaviour: gets the parsed request body, returns the reply.

A `str` is used verbatim (message content, or tool-call arguments when a tool call is forced); a `dict`
is JSON-encoded into the same place; `None` falls back to the default generation. An exception becomes
an HTTP 500 whose message names it, so a broken responder fails the test loudly.
"""

_RECIPIENTS: tuple[str, ...] = ("亲爱的朋友", "敬爱的老师", "亲爱的家人", "各位同事", "老同学", "小伙伴们")
_OPENERS: tuple[str, ...] = ("祝你", "愿你", "恭祝您", "祝福你", "愿您")
_MAX_N = 16
_REDRAWS = 8  # attempts at making a choice differ from the request's earlier choices


class ClientError(Exception):
    """A request the stub refuses with a 4xx, as a real endpoint would (bad ``n``, rejected format)."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", *,
                 param: str | None = None, fault: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.param = param
        self.fault = fault  # the fault kind to count, when the refusal is one `Faults` asked for


# -------------------------------------------------------------------------------------- requests


def request_seed(body: Mapping[str, Any]) -> int:
    """A seed from the request's messages and its OpenAI ``seed`` parameter: equal requests, equal seed.

    Example:
        >>> a = {"messages": [{"role": "user", "content": "hi"}]}
        >>> request_seed(a) == request_seed(dict(a)) != request_seed({**a, "seed": 1})
        True
    """
    canonical = json.dumps(
        [body.get("messages"), body.get("seed")], sort_keys=True, ensure_ascii=False, default=str
    )
    return int.from_bytes(hashlib.sha256(canonical.encode("utf-8")).digest()[:8], "big")


def request_format(body: Mapping[str, Any]) -> str:
    """How the request asks for its output: ``tool`` (forced), ``json_schema``, ``json_object`` or ``text``.

    Example:
        >>> request_format({"response_format": {"type": "json_object"}})
        'json_object'
    """
    if _forced_tool(body) is not None:
        return "tool"
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    return str(kind) if kind in ("json_schema", "json_object") else "text"


def rejection(body: Mapping[str, Any], faults: Faults) -> ClientError | None:
    """The 400 an endpoint that lacks a feature answers, if `faults.reject_formats` names one the request uses.

    The messages read like those of real servers and name ``response_format`` or the tools, which is
    what a client's fallback to the next structured-output method keys on.

    Example:
        >>> body = {"messages": [], "response_format": {"type": "json_schema", "json_schema": {}}}
        >>> rejection(body, Faults(reject_formats=("json_schema",))).status
        400
    """
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind in ("json_schema", "json_object") and kind in faults.reject_formats:
        return ClientError(400, f"This response_format type is unavailable now: '{kind}' is not supported "
                           "by this endpoint.", param="response_format", fault=f"reject_{kind}")
    if body.get("tools") and "tools" in faults.reject_formats:
        return ClientError(400, "This model does not support tools (function calling).", param="tools",
                           fault="reject_tools")
    return None


def _message_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    chunks: list[str] = []
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        content = message.get("content")
        if isinstance(content, str):
            chunks.append(content)
        elif isinstance(content, list):
            chunks.extend(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return "\n".join(chunks)


def _forced_tool(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The function tool the request forces, as LangChain's ``method="function_calling"`` does."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping) and t.get("type") == "function"]
    if not tools:
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping):
        name = (choice.get("function") or {}).get("name")
        return next((t for t in tools if t["function"].get("name") == name), None)
    if choice == "required":
        return tools[0]
    # "auto", "none" or absent: a text answer, which is always a valid reply to such a request.
    return None


def _schema_in_prompt(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a prompt embeds after the words ``JSON schema:``, if any."""
    text = _message_text(body.get("messages"))
    marker = text.rfind("JSON schema:")
    if marker < 0:
        return None
    start = text.find("{", marker)
    if start < 0:
        return None
    try:
        schema, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return None
    return schema if isinstance(schema, dict) else None


# -------------------------------------------------------------------------------------- answers


def _greeting(rng: random.Random) -> str:
    wishes = rng.sample(WISHES, rng.randint(1, 4))
    return f"{rng.choice(_RECIPIENTS)}，{rng.choice(_OPENERS)}{'，'.join(wishes)}！"


def _count_tokens(text: str) -> int:
    # Roughly two characters per token: good enough for usage accounting in tests and cost estimates.
    return max(1, math.ceil(len(text) / 2))


def _break_json(text: str, rng: random.Random) -> str:
    """Damage a JSON document the ways real models do: truncation, prose around it, prose only."""
    variant = rng.randrange(3)
    if variant == 0:
        cut = max(1, len(text) // 2)
        return text[:cut]
    if variant == 1:
        return f"好的，以下是结果：\n```json\n{text}\n```\n希望对你有帮助。"
    return "抱歉，我无法按要求的格式回答，但我觉得这段祝福写得很温暖。"


def _chatty(document: str, rng: random.Random) -> str:
    """What a chat model writes when a prompt only *describes* the JSON it wants (`json_answers="when_asked"`)."""
    variant = rng.randrange(3)
    if variant == 0:
        return f"好的，按照您给的格式，结果如下：\n\n```json\n{document}\n```\n\n如需调整，请告诉我。"
    if variant == 1:
        return f"根据要求，我的回答是 {document} ，希望符合您的需要。"
    return f"这条祝福写得很用心。{_greeting(rng)}"


@dataclass
class _Reply:
    content: str | None
    tool_call: tuple[str, str] | None  # (function name, arguments JSON)
    scripted: bool  # a responder wrote it: redrawing would not change it


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _build_reply(body: Mapping[str, Any], responder: Responder | None, faults: Faults,
                 rng: random.Random) -> _Reply:
    scripted = responder(dict(body)) if responder is not None else None
    tool = _forced_tool(body)
    if tool is not None:
        function = tool["function"]
        if scripted is None:
            params = function.get("parameters") or {"type": "object", "properties": {}}
            arguments = _dump(instance_for(params, rng))
        else:
            arguments = scripted if isinstance(scripted, str) else _dump(scripted)
        return _Reply(None, (str(function.get("name", "tool")), arguments), scripted is not None)
    if scripted is not None:
        return _Reply(scripted if isinstance(scripted, str) else _dump(scripted), None, True)
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if isinstance(fmt, Mapping) and kind == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema") or {"type": "object", "properties": {}}
        return _Reply(_dump(instance_for(schema, rng)), None, False)
    # json_mode and plain prompts carry the schema in the prompt text (inkforge appends it after
    # "JSON schema:"); answer from it as the configured kind of model would.
    prompt_schema = _schema_in_prompt(body)
    if prompt_schema is not None:
        document = _dump(instance_for(prompt_schema, rng))
        if kind == "json_object" or faults.json_answers == "always":
            return _Reply(document, None, False)
        return _Reply(_chatty(document, rng), None, False)
    if kind == "json_object":
        return _Reply(_dump({"text": _greeting(rng)}), None, False)
    return _Reply(_greeting(rng), None, False)


def build_completion(body: Mapping[str, Any], responder: Responder | None, faults: Faults, *,
                     answer_seed: int, malformed_rng: random.Random | None = None,
                     default_model: str = "stub") -> dict[str, Any]:
    """The ``chat.completion`` payload for a request.

    Args:
        body: The parsed request body.
        responder: Optional hook that scripts replies (see `Responder`).
        faults: The faults in force (`Faults.json_answers` shapes plain answers).
        answer_seed: The request's seed; choice ``i`` draws from ``Random(answer_seed + i)``.
        malformed_rng: When set, each choice's content (or tool arguments) is broken JSON.
        default_model: The ``model`` of the reply when the request names none.

    Returns:
        The payload, with ``n`` choices that differ from each other wherever the schema leaves room.

    Raises:
        ClientError: ``n`` is not an integer in [1, 16].
    """
    n = body.get("n") or 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= _MAX_N:
        raise ClientError(400, f"'n' must be an integer in [1, {_MAX_N}], got {n!r}", param="n")
    model = str(body.get("model") or default_model)
    choices = []
    seen: set[tuple[str | None, str | None]] = set()
    completion_tokens = 0
    for index in range(n):
        for attempt in range(_REDRAWS):
            # Attempt 0 keeps the historical seed of each index; later ones only run on a collision.
            rng = random.Random(answer_seed + index + attempt * 1_000_003)
            reply = _build_reply(body, responder, faults, rng)
            key = (reply.content, reply.tool_call[1] if reply.tool_call else None)
            if reply.scripted or key not in seen:
                break
        seen.add(key)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        if reply.tool_call is not None:
            name, arguments = reply.tool_call
            if malformed_rng is not None:
                arguments = _break_json(arguments, malformed_rng)
            message["tool_calls"] = [
                {
                    "id": f"call_{rng.getrandbits(64):016x}",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ]
            completion_tokens += _count_tokens(arguments)
            finish = "tool_calls"
        else:
            content = reply.content or ""
            if malformed_rng is not None:
                content = _break_json(content, malformed_rng)
            message["content"] = content
            completion_tokens += _count_tokens(content)
            finish = "stop"
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": finish})
    prompt_tokens = _count_tokens(_message_text(body.get("messages")))
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_inkforge_stub",
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def sse_stream(payload: Mapping[str, Any], include_usage: bool) -> bytes:
    """Render a finished completion as the chunk events OpenAI streams, ending with ``[DONE]``."""
    base = {k: payload[k] for k in ("id", "created", "model", "system_fingerprint")}
    events: list[dict[str, Any]] = []

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "object": "chat.completion.chunk", "choices": [choice]}

    for choice in payload["choices"]:
        index, message = choice["index"], choice["message"]
        events.append(chunk(index, {"role": "assistant", "content": ""}))
        if message.get("tool_calls"):
            for position, call in enumerate(message["tool_calls"]):
                head = {"index": position, "id": call["id"], "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": ""}}
                events.append(chunk(index, {"tool_calls": [head]}))
                arguments = call["function"]["arguments"]
                for start in range(0, len(arguments), 16):
                    piece = {"index": position, "function": {"arguments": arguments[start : start + 16]}}
                    events.append(chunk(index, {"tool_calls": [piece]}))
        else:
            content = message.get("content") or ""
            for start in range(0, len(content), 8):
                events.append(chunk(index, {"content": content[start : start + 8]}))
        events.append(chunk(index, {}, choice["finish_reason"]))
    if include_usage:
        events.append({**base, "object": "chat.completion.chunk", "choices": [], "usage": payload["usage"]})
    lines = [f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events] + ["data: [DONE]\n\n"]
    return "".join(lines).encode("utf-8")


# ----------------------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class ErrorReply:
    """An error response: status, body bytes, content type and extra headers."""

    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str]


# status → (error type, error code, message) as OpenAI-compatible endpoints write them.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("authentication_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", "permission_denied", "You are not allowed to use this model with this API key."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    408: ("timeout_error", "request_timeout", "Request timed out."),
    413: ("invalid_request_error", "request_too_large", "Request too large."),
    422: ("invalid_request_error", "unprocessable_entity", "Unprocessable request."),
    429: ("rate_limit_error", "rate_limit_exceeded", "Rate limit reached."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", "service_unavailable", "The server is overloaded or not ready yet."),
}
# A reverse proxy in front of the model server writes these, as HTML: clients must not assume JSON.
_PROXY_PAGES = {502: "Bad Gateway", 504: "Gateway Time-out"}


def error_reply(status: int, faults: Faults, *, message: str | None = None, kind: str | None = None,
                code: str | None = None, param: str | None = None, note: str = "",
                echo: str | None = None) -> ErrorReply:
    """The body an endpoint sends with `status`: OpenAI's ``{"error": {...}}``, or a proxy's HTML page.

    Args:
        status: HTTP status.
        faults: The faults in force (``Retry-After`` on 429 and 503).
        message: The error message; defaults to the usual one for `status`.
        kind: The error ``type``; defaults to the usual one for `status`.
        code: The error ``code``; defaults to the usual one for `status`.
        param: The error ``param``.
        note: Appended to the message (``(injected by inkforge stub: ...)``).
        echo: Request data to echo into the message (`Faults.echo_request`), or None.

    Example:
        >>> reply = error_reply(503, Faults(retry_after_s=2))
        >>> reply.status, dict(reply.headers), json.loads(reply.body)["error"]["code"]
        (503, {'Retry-After': '2'}, 'service_unavailable')
    """
    headers = {"Retry-After": str(faults.retry_after_s)} if status in (429, 503) else {}
    echoed = f" Request: {echo}" if echo else ""
    if status in _PROXY_PAGES and message is None:
        title = f"{status} {_PROXY_PAGES[status]}"
        extra = f"<p>{echoed.strip()}</p>\r\n" if echoed else ""
        page = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>"
                f"\r\n{extra}<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
        return ErrorReply(status, page.encode("utf-8"), "text/html", headers)
    default_kind = "server_error" if status >= 500 else "invalid_request_error"
    d_kind, d_code, d_message = _ERRORS.get(status, (default_kind, None, f"HTTP {status}."))
    text = f"{message or d_message}{note}{echoed}"
    error = {"message": text, "type": kind or d_kind, "param": param, "code": code or d_code}
    data = json.dumps({"error": error}, ensure_ascii=False).encode("utf-8")
    return ErrorReply(status, data, "application/json", headers)
