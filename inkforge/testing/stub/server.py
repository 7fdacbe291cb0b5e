"""An OpenAI-compatible chat-completions server on loopback, for tests, benchmarks and dry runs.

`StubServer` answers `POST /v1/chat/completions` in the real OpenAI response shape without any model:
structured requests (`response_format` of type `json_schema`, or a forced function tool as LangChain's
``method="function_calling"`` sends) get a JSON instance generated from the request's own schema, and
plain requests get a short Chinese greeting. Every choice is seeded by a hash of the request's messages,
so the same prompt always gets the same answer while different prompts get different ones.

It also injects the faults a production endpoint shows (latency, 429, 500, hangs, malformed JSON, a
broken HTTP body) at configurable rates from a seeded generator, records what it was sent and counts
the peak number of requests in flight, which is how tests check a client-side concurrency limit.

Only Chat Completions is served (LangChain uses it unless a model or feature opts into the Responses
API). Only the standard library is used, so the server also runs from a bare interpreter::

    python -m inkforge.testing.stub.server --port 8000 --latency 0.2 --rate-429 0.1

Example:
    >>> import httpx
    >>> from inkforge.testing.stub.server import Faults, StubServer
    >>> with StubServer(faults=Faults(latency_s=0.01)) as server:
    ...     reply = httpx.post(
    ...         f"{server.base_url}/chat/completions",
    ...         json={"model": "stub", "messages": [{"role": "user", "content": "写一句祝福"}]},
    ...     ).json()
    >>> reply["choices"][0]["message"]["role"]
    'assistant'
    >>> server.stats.requests
    1
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import MappingProxyType
from typing import Any, Literal

from inkforge.core.httpserver import ConcurrentHTTPServer

__all__ = [
    "Faults",
    "Responder",
    "StubServer",
    "StubStats",
    "generate_from_schema",
    "main",
]

logger = logging.getLogger(__name__)

Responder = Callable[[dict[str, Any]], "str | dict[str, Any] | None"]
"""Scripted behaviour: gets the parsed request body, returns the reply.

A `str` is used verbatim (message content, or tool-call arguments when a tool call is forced); a `dict`
is JSON-encoded into the same place; `None` falls back to the default generation. An exception becomes
an HTTP 500 whose message names it, so a broken responder fails the test loudly.
"""

HangMode = Literal["drop", "late"]

# Fragments of Chinese good wishes, written for this stub. Strings and plain answers are assembled from
# them so that generated text looks like the domain and its length varies from prompt to prompt.
_WISHES: tuple[str, ...] = (
    "新春快乐",
    "万事如意",
    "身体健康",
    "阖家幸福",
    "心想事成",
    "前程似锦",
    "步步高升",
    "笑口常开",
    "岁岁平安",
    "好运连连",
    "学业有成",
    "工作顺利",
    "福气满满",
    "平安喜乐",
    "事业兴旺",
    "年年有余",
)
_RECIPIENTS: tuple[str, ...] = ("亲爱的朋友", "敬爱的老师", "亲爱的家人", "各位同事", "老同学", "小伙伴们")
_OPENERS: tuple[str, ...] = ("祝你", "愿你", "恭祝您", "祝福你", "愿您")

_MAX_DEPTH = 8  # Past this nesting depth the generator takes the smallest valid choice (recursive models).
_DEFAULT_MAX_RECORDED = 10_000


# --------------------------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Faults:
    """Which failures the stub injects into chat completions, and how often.

    One uniform draw per request picks at most one of the rate-based faults, so the rates must sum to at
    most 1. Draws come from a `random.Random(seed)` behind a lock: the sequence of faults is reproducible
    (which concurrent request receives which fault depends on arrival order).

    Attributes:
        latency_s: Fixed delay before every chat answer, faults included.
        jitter_s: Extra delay drawn uniformly from ``[0, jitter_s]`` per request.
        rate_429: Share of requests answered 429 with ``Retry-After: 0`` and an OpenAI error body.
        rate_500: Share of requests answered 500 with an OpenAI error body.
        rate_hang: Share of requests that stall for `hang_s` (longer than a client timeout should be).
        hang_s: How long a hanging request stalls.
        hang_mode: After the stall, ``"drop"`` closes the connection without a reply; ``"late"`` sends the
            normal answer.
        rate_malformed: Share of requests answered HTTP 200 whose *content* (or tool arguments) is broken
            JSON: truncated, wrapped in prose, or prose only. What a parser and its re-ask must survive.
        rate_bad_body: Share of requests answered HTTP 200 whose *HTTP body* is not valid JSON.
        fail_first_n: The first N chat requests after these faults are set fail with 500, whatever the
            rates; deterministic input for retry tests.
        seed: Seed of the fault generator.

    Example:
        >>> Faults(rate_429=0.1, rate_500=0.05, latency_s=0.2).rate_429
        0.1
    """

    latency_s: float = 0.0
    jitter_s: float = 0.0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_hang: float = 0.0
    hang_s: float = 30.0
    hang_mode: HangMode = "drop"
    rate_malformed: float = 0.0
    rate_bad_body: float = 0.0
    fail_first_n: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("latency_s", "jitter_s", "hang_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"Faults.{name} must be >= 0, got {getattr(self, name)}")
        rates = self._rates()
        for name, rate in rates:
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"Faults.{name} must lie in [0, 1], got {rate}")
        total = sum(rate for _, rate in rates)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates must sum to at most 1, got {total:.3f}")
        if self.hang_mode not in ("drop", "late"):
            raise ValueError(f"Faults.hang_mode must be 'drop' or 'late', got {self.hang_mode!r}")
        if self.fail_first_n < 0:
            raise ValueError(f"Faults.fail_first_n must be >= 0, got {self.fail_first_n}")

    def _rates(self) -> list[tuple[str, float]]:
        # The order fixes which slice of [0, 1) each fault owns; keep it stable for reproducibility.
        return [
            ("rate_429", self.rate_429),
            ("rate_500", self.rate_500),
            ("rate_hang", self.rate_hang),
            ("rate_malformed", self.rate_malformed),
            ("rate_bad_body", self.rate_bad_body),
        ]


@dataclass(frozen=True)
class StubStats:
    """A snapshot of what the stub has served since start or the last `StubServer.reset_stats`.

    Attributes:
        requests: HTTP requests received (all paths).
        chat_requests: Requests to ``/v1/chat/completions``.
        by_status: Responses sent, by HTTP status code. Dropped connections have no status.
        faults: Injected faults by kind: ``"429"``, ``"500"``, ``"hang"``, ``"malformed"``,
            ``"bad_body"``, ``"fail_first_n"``.
        in_flight: Requests being handled at snapshot time.
        max_concurrency: Peak number of requests handled at once: the figure to compare against a
            client-side concurrency limit.
        dropped: Connections closed without a reply (hangs in ``"drop"`` mode).

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


# ------------------------------------------------------------------------------- schema generation


def _resolve_pointer(root: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        raise ValueError(f"only local $ref is supported, got {ref!r}")
    node: Any = root
    for part in ref.lstrip("#").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _types_of(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [t for t in declared if isinstance(t, str)]
    # No explicit type: infer from the keywords present, as JSON Schema validators effectively do.
    if "properties" in schema or "additionalProperties" in schema or "required" in schema:
        return ["object"]
    if "items" in schema or "prefixItems" in schema:
        return ["array"]
    return []


class _Generator:
    """Builds one JSON instance valid against a schema; all choices come from `rng`."""

    def __init__(self, root: Mapping[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def generate(self, schema: Any, depth: int = 0) -> Any:
        if schema is True or schema is None or schema == {}:
            return self._text(0, None)
        if schema is False:
            raise ValueError("no instance satisfies the schema `false`")
        if not isinstance(schema, Mapping):
            raise ValueError(f"not a JSON schema: {schema!r}")
        if "$ref" in schema:
            target = _resolve_pointer(self.root, schema["$ref"])
            # Keywords beside $ref (pydantic puts `description`/`default` there) only narrow or annotate.
            merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            return self.generate(merged, depth + 1)
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                if isinstance(part, Mapping) and "$ref" in part:
                    part = {**_resolve_pointer(self.root, part["$ref"]), **part}
                    part.pop("$ref", None)
                merged = _merge(merged, part)
            return self.generate(merged, depth)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = list(schema["enum"])
            non_null = [o for o in options if o is not None]
            return self.rng.choice(non_null or options)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.generate(self._pick_branch(schema, key, depth), depth + 1)

        types = _types_of(schema)
        non_null = [t for t in types if t != "null"]
        if not types:
            return self._text(0, None)
        if not non_null:
            return None
        kind = non_null[0]
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "string":
            return self._string(schema)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return self.rng.random() < 0.5
        raise ValueError(f"unsupported JSON schema type {kind!r}")

    def _pick_branch(self, schema: Mapping[str, Any], key: str, depth: int) -> Any:
        branches = list(schema[key])
        siblings = {k: v for k, v in schema.items() if k != key}

        def is_null(branch: Any) -> bool:
            return isinstance(branch, Mapping) and branch.get("type") == "null"

        # Too deep in a recursive structure: stop at null when the schema allows it.
        if depth >= _MAX_DEPTH and any(is_null(b) for b in branches):
            return {"type": "null"}
        chosen = next((b for b in branches if not is_null(b)), branches[0])
        return _merge(siblings, chosen) if siblings and isinstance(chosen, Mapping) else chosen

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties") or {}
        required = list(schema.get("required") or [])
        out: dict[str, Any] = {}
        # Every declared property is filled (as OpenAI's strict mode does) unless we are deep in a
        # recursive structure, where only required ones are, so that generation terminates.
        names = list(properties) if depth < _MAX_DEPTH else [n for n in properties if n in required]
        for name in names:
            out[name] = self.generate(properties[name], depth + 1)
        for name in required:
            if name not in out:
                extra = schema.get("additionalProperties")
                out[name] = self.generate(extra if isinstance(extra, Mapping) else {}, depth + 1)
        extra = schema.get("additionalProperties")
        min_props = int(schema.get("minProperties", 0))
        if isinstance(extra, Mapping) and not properties:
            # A free-form map such as dict[str, int]: a couple of entries show its shape.
            wanted = max(min_props, 1 if depth < _MAX_DEPTH else 0)
            max_props = schema.get("maxProperties")
            if max_props is not None:
                wanted = min(wanted, int(max_props))
            for i in range(len(out), wanted):
                out[f"key_{i}"] = self.generate(extra, depth + 1)
        return out

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        prefix = list(schema.get("prefixItems") or [])
        items = schema.get("items", {} if not prefix else False)
        lo = int(schema.get("minItems", 0))
        hi_raw = schema.get("maxItems")
        if prefix and items is False:
            hi_raw = len(prefix) if hi_raw is None else min(int(hi_raw), len(prefix))
        if depth >= _MAX_DEPTH:
            count = max(lo, len(prefix) if items is False else 0)
        else:
            hi = int(hi_raw) if hi_raw is not None else max(lo, 3)
            count = self.rng.randint(max(lo, min(1, hi)), max(lo, hi))
        out: list[Any] = []
        for i in range(count):
            item_schema = prefix[i] if i < len(prefix) else items
            value = self.generate(item_schema, depth + 1)
            if schema.get("uniqueItems"):
                # Best effort: a few redraws, then give up on this slot if the minimum is already met.
                for _ in range(8):
                    if value not in out:
                        break
                    value = self.generate(item_schema, depth + 1)
                if value in out and len(out) >= lo:
                    continue
            out.append(value)
        return out

    def _string(self, schema: Mapping[str, Any]) -> str:
        fmt = schema.get("format")
        token = self.rng.getrandbits(32)
        if fmt == "date-time":
            return f"2025-01-{1 + token % 28:02d}T08:00:00Z"
        if fmt == "date":
            return f"2025-01-{1 + token % 28:02d}"
        if fmt == "time":
            return f"{token % 24:02d}:00:00"
        if fmt == "email":
            return f"user{token % 1000}@example.com"
        if fmt in ("uri", "url"):
            return f"https://example.com/{token % 1000}"
        if fmt == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        # `pattern` is not honoured: generating from arbitrary regexes is out of scope for a stub.
        lo = int(schema.get("minLength", 0))
        hi = schema.get("maxLength")
        return self._text(lo, int(hi) if hi is not None else None)

    def _text(self, lo: int, hi: int | None) -> str:
        if hi is None:
            base = max(lo, 6)
            target = self.rng.randint(base, base + 18)
        else:
            target = self.rng.randint(min(lo, hi), hi) if hi > 0 else 0
            if hi >= 6 and lo < 6:
                target = max(target, 6)  # avoid near-empty strings when the schema allows more
        text = ""
        while len(text) < target:
            piece = self.rng.choice(_WISHES)
            text = f"{text}，{piece}" if text else piece
        return text[:target]

    def _integer(self, schema: Mapping[str, Any]) -> int:
        lo, hi = _bounds(schema, integer=True)
        step = schema.get("multipleOf")
        if step:
            k_lo, k_hi = math.ceil(lo / step), math.floor(hi / step)
            return int(self.rng.randint(k_lo, max(k_lo, k_hi)) * step)
        return self.rng.randint(int(lo), int(max(lo, hi)))

    def _number(self, schema: Mapping[str, Any]) -> float:
        lo, hi = _bounds(schema, integer=False)
        step = schema.get("multipleOf")
        if step:
            k_lo, k_hi = math.ceil(lo / step), math.floor(hi / step)
            # Rounding removes float noise such as 0.30000000000000004 that a multipleOf check rejects.
            return round(self.rng.randint(k_lo, max(k_lo, k_hi)) * step, 10)
        value = round(self.rng.uniform(lo, hi), 3)
        if not _within(value, schema):
            value = (lo + hi) / 2
        return value


def _bounds(schema: Mapping[str, Any], *, integer: bool) -> tuple[float, float]:
    lo: float | None = schema.get("minimum")
    hi: float | None = schema.get("maximum")
    ex_lo, ex_hi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    # Draft-4 style booleans (`exclusiveMinimum: true` beside `minimum`) and draft-6+ numbers both occur.
    nudge = 1 if integer else 1e-3
    if isinstance(ex_lo, bool):
        if ex_lo and lo is not None:
            lo = lo + nudge
    elif ex_lo is not None:
        lo = ex_lo + nudge if lo is None else max(lo, ex_lo + nudge)
    if isinstance(ex_hi, bool):
        if ex_hi and hi is not None:
            hi = hi - nudge
    elif ex_hi is not None:
        hi = ex_hi - nudge if hi is None else min(hi, ex_hi - nudge)
    if integer:
        lo = math.ceil(lo) if lo is not None else None
        hi = math.floor(hi) if hi is not None else None
    if lo is None and hi is None:
        lo, hi = 0, 10
    elif lo is None:
        assert hi is not None
        lo = hi - 10
    elif hi is None:
        hi = lo + 10
    return lo, max(lo, hi)


def _within(value: float, schema: Mapping[str, Any]) -> bool:
    checks = [
        ("minimum", lambda b: value >= b),
        ("maximum", lambda b: value <= b),
        ("exclusiveMinimum", lambda b: value > b),
        ("exclusiveMaximum", lambda b: value < b),
    ]
    return all(fn(schema[key]) for key, fn in checks if key in schema and not isinstance(schema[key], bool))


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if key == "properties" and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        elif key == "required" and isinstance(merged.get(key), list):
            merged[key] = list(dict.fromkeys([*merged[key], *value]))
        else:
            merged[key] = value
    return merged


def generate_from_schema(schema: Mapping[str, Any], seed: int | str = 0) -> Any:
    """Generate a JSON instance that validates against `schema`, reproducibly from `seed`.

    Supported: objects (``properties``, ``required``, ``additionalProperties``), strings (``minLength``,
    ``maxLength``, ``enum``, ``const``, common ``format`` values), integers and numbers (inclusive and
    exclusive bounds, ``multipleOf``), booleans, null, arrays (``items``, ``prefixItems``, ``minItems``,
    ``maxItems``, best-effort ``uniqueItems``), ``anyOf``/``oneOf`` (first non-null branch), ``allOf``, and
    local ``$ref`` into ``$defs``/``definitions``; recursive models terminate. ``pattern`` is ignored.

    Args:
        schema: A JSON schema, e.g. a pydantic model's ``model_json_schema()``.
        seed: Anything hashable into a `random.Random` seed; equal seeds give equal instances.

    Returns:
        The generated instance (plain JSON types).

    Example:
        >>> generate_from_schema({"type": "string", "enum": ["a", "b"]}, seed=1) in {"a", "b"}
        True
    """
    return _Generator(schema, random.Random(seed)).generate(schema)


# ----------------------------------------------------------------------------------- reply building


def _request_seed(body: Mapping[str, Any]) -> int:
    # Hash the messages (and OpenAI's own `seed` parameter) so answers vary with the prompt but repeat.
    canonical = json.dumps(
        [body.get("messages"), body.get("seed")], sort_keys=True, ensure_ascii=False, default=str
    )
    return int.from_bytes(hashlib.sha256(canonical.encode("utf-8")).digest()[:8], "big")


def _greeting(rng: random.Random) -> str:
    wishes = rng.sample(_WISHES, rng.randint(1, 4))
    return f"{rng.choice(_RECIPIENTS)}，{rng.choice(_OPENERS)}{'，'.join(wishes)}！"


def _count_tokens(text: str) -> int:
    # Roughly two characters per token: good enough for usage accounting in tests and cost estimates.
    return max(1, math.ceil(len(text) / 2))


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


def _break_json(text: str, rng: random.Random) -> str:
    """Damage a JSON document the ways real models do: truncation, prose around it, prose only."""
    variant = rng.randrange(3)
    if variant == 0:
        cut = max(1, len(text) // 2)
        return text[:cut]
    if variant == 1:
        return f"好的，以下是结果：\n```json\n{text}\n```\n希望对你有帮助。"
    return "抱歉，我无法按要求的格式回答，但我觉得这段祝福写得很温暖。"


@dataclass
class _Reply:
    content: str | None
    tool_call: tuple[str, str] | None  # (function name, arguments JSON)


def _build_reply(body: Mapping[str, Any], responder: Responder | None, rng: random.Random) -> _Reply:
    scripted = responder(dict(body)) if responder is not None else None
    tool = _forced_tool(body)
    if tool is not None:
        function = tool["function"]
        if scripted is None:
            params = function.get("parameters") or {"type": "object", "properties": {}}
            arguments = json.dumps(_Generator(params, rng).generate(params), ensure_ascii=False)
        else:
            arguments = scripted if isinstance(scripted, str) else json.dumps(scripted, ensure_ascii=False)
        return _Reply(content=None, tool_call=(str(function.get("name", "tool")), arguments))
    if scripted is not None:
        return _Reply(
            content=scripted if isinstance(scripted, str) else json.dumps(scripted, ensure_ascii=False),
            tool_call=None,
        )
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema") or {"type": "object", "properties": {}}
        return _Reply(
            content=json.dumps(_Generator(schema, rng).generate(schema), ensure_ascii=False), tool_call=None
        )
    # json_mode and plain prompts carry the schema in the prompt text (inkforge appends it after
    # "JSON schema:"); answer from it like a model that follows instructions would.
    prompt_schema = _schema_in_prompt(body)
    if prompt_schema is not None:
        return _Reply(content=json.dumps(_Generator(prompt_schema, rng).generate(prompt_schema),
                                         ensure_ascii=False), tool_call=None)
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_object":
        return _Reply(content=json.dumps({"text": _greeting(rng)}, ensure_ascii=False), tool_call=None)
    return _Reply(content=_greeting(rng), tool_call=None)


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


class _ClientError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


# ------------------------------------------------------------------------------------------ server


class _StubHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, so a pooled client reuses them instead of reconnecting per call.
    protocol_version = "HTTP/1.1"
    server_version = "inkforge-stub/0.1"
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
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.server._count_status(status)

    def _send_error_json(
        self,
        status: int,
        message: str,
        kind: str,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        error = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        self._send_json(status, error, headers)

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
        self.server._enter()
        try:
            body = self._read_body() if method == "POST" else b""
            if not self._authorised():
                # The message never echoes the key it received: test logs must not carry secrets.
                self._send_error_json(
                    401, "Incorrect API key provided.", "authentication_error", "invalid_api_key"
                )
                return
            path = self._path()
            if method == "GET" and path in ("/health", "/v1/health"):
                self._send_json(200, {"status": "ok"})
            elif method == "GET" and path == "/v1/models":
                self._send_json(
                    200, {"object": "list", "data": [self.server._model_card(m) for m in self.server.models]}
                )
            elif method == "GET" and path.startswith("/v1/models/"):
                name = path[len("/v1/models/") :]
                if name in self.server.models:
                    self._send_json(200, self.server._model_card(name))
                else:
                    self._send_error_json(
                        404, f"The model '{name}' does not exist.", "invalid_request_error", "model_not_found"
                    )
            elif method == "POST" and path == "/v1/chat/completions":
                self._chat(body)
            else:
                self._send_error_json(
                    404,
                    f"Unknown route {method} {path}; the stub serves GET /v1/models "
                    "and POST /v1/chat/completions.",
                    "invalid_request_error",
                    "unknown_url",
                )
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away (e.g. it timed out on a hang)
        finally:
            self.server._leave()

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
            self._send_error_json(400, f"Request body is not valid JSON: {err}", "invalid_request_error")
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send_error_json(
                400, "Request body must be a JSON object with a 'messages' list.", "invalid_request_error"
            )
            return
        server._record(body)

        fault, delay, fault_rng = server._draw_fault()
        if delay > 0 and server._stopping.wait(delay):
            self.close_connection = True
            return
        if fault == "429":
            self._send_error_json(
                429,
                "Rate limit reached (injected by inkforge stub).",
                "rate_limit_error",
                "rate_limit_exceeded",
                headers={"Retry-After": "0"},
            )
            return
        if fault in ("500", "fail_first_n"):
            self._send_error_json(
                500,
                "The server had an error while processing your request "
                f"(injected by inkforge stub: {fault}).",
                "server_error",
            )
            return
        if fault == "hang":
            server._stopping.wait(server.faults.hang_s)
            if server.faults.hang_mode == "drop" or server._stopping.is_set():
                server._count_dropped()
                self.close_connection = True
                return
        if fault == "bad_body":
            # A 200 whose body is cut mid-document: what a proxy that dies half-way looks like.
            self._send_bytes(
                200,
                b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [',
                "application/json",
            )
            return

        try:
            payload = self._completion(body, malformed_rng=fault_rng if fault == "malformed" else None)
        except _ClientError as err:
            self._send_error_json(err.status, str(err), err.kind)
            return
        except Exception as err:  # a responder bug or an unsupported schema must fail loudly, not hang
            logger.exception("stub failed to build a reply")
            self._send_error_json(
                500, f"inkforge stub could not build a reply: {type(err).__name__}: {err}", "server_error"
            )
            return
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_bytes(
                200, _sse_stream(payload, include_usage), "text/event-stream", {"Cache-Control": "no-cache"}
            )
        else:
            self._send_json(200, payload)

    def _completion(self, body: dict[str, Any], malformed_rng: random.Random | None) -> dict[str, Any]:
        server = self.server
        n = body.get("n") or 1
        if not isinstance(n, int) or not 1 <= n <= 16:
            raise _ClientError(400, f"'n' must be an integer in [1, 16], got {n!r}")
        seed = _request_seed(body)
        model = str(body.get("model") or server.models[0])
        choices = []
        completion_tokens = 0
        for index in range(n):
            rng = random.Random(seed + index)
            reply = _build_reply(body, server.responder, rng)
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


def _sse_stream(payload: Mapping[str, Any], include_usage: bool) -> bytes:
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
                events.append(
                    chunk(
                        index,
                        {
                            "tool_calls": [
                                {
                                    "index": position,
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {"name": call["function"]["name"], "arguments": ""},
                                }
                            ]
                        },
                    )
                )
                arguments = call["function"]["arguments"]
                for start in range(0, len(arguments), 16):
                    events.append(
                        chunk(
                            index,
                            {
                                "tool_calls": [
                                    {
                                        "index": position,
                                        "function": {"arguments": arguments[start : start + 16]},
                                    }
                                ]
                            },
                        )
                    )
        else:
            content = message.get("content") or ""
            for start in range(0, len(content), 8):
                events.append(chunk(index, {"content": content[start : start + 8]}))
        events.append(chunk(index, {}, choice["finish_reason"]))
    if include_usage:
        events.append({**base, "object": "chat.completion.chunk", "choices": [], "usage": payload["usage"]})
    lines = [f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events] + ["data: [DONE]\n\n"]
    return "".join(lines).encode("utf-8")


class StubServer(ConcurrentHTTPServer):
    """An OpenAI-compatible chat-completions server on 127.0.0.1, run in a background thread.

    One thread per connection with keep-alive, a deep listen backlog and ``TCP_NODELAY``: 64 concurrent
    clients at 200 ms latency are served in parallel instead of queueing behind each other.

    Args:
        host: Interface to bind; loopback by default so tests never reach the network.
        port: Port to bind; 0 picks a free one (read it back from `base_url` or `port`).
        models: Model names listed by ``GET /v1/models``; the first answers requests without ``model``.
        faults: Failures to inject; change them later with `set_faults`.
        responder: Optional hook that scripts replies (see `Responder`).
        require_api_key: If set, requests whose ``Authorization`` is not ``Bearer <key>`` get 401.
        max_recorded: How many request bodies `requests` keeps (the most recent ones).

    Example:
        >>> from inkforge.testing.stub.server import StubServer
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
        super().__init__((host, port), _StubHandler)
        self.models: tuple[str, ...] = tuple(models)
        self.responder = responder
        self.require_api_key = require_api_key
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._recorded: collections.deque[dict[str, Any]] = collections.deque(maxlen=max_recorded)
        self._faults = faults or Faults()
        self._fault_rng = random.Random(self._faults.seed)
        self._failed_first = 0
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
        return self._faults

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
            base = faults if faults is not None else self._faults
            self._faults = dataclasses.replace(base, **changes) if changes else base
            self._fault_rng = random.Random(self._faults.seed)
            self._failed_first = 0
            return self._faults

    def _draw_fault(self) -> tuple[str | None, float, random.Random]:
        with self._lock:
            faults, rng = self._faults, self._fault_rng
            delay = faults.latency_s + (rng.uniform(0.0, faults.jitter_s) if faults.jitter_s else 0.0)
            # Malformed answers need their own randomness; derive it here so it follows the fault seed.
            sub_rng = random.Random(rng.getrandbits(64))
            fault: str | None = None
            if self._failed_first < faults.fail_first_n:
                self._failed_first += 1
                fault = "fail_first_n"
            else:
                draw, edge = rng.random(), 0.0
                for name, rate in faults._rates():
                    edge += rate
                    if rate > 0 and draw < edge:
                        fault = {
                            "rate_429": "429",
                            "rate_500": "500",
                            "rate_hang": "hang",
                            "rate_malformed": "malformed",
                            "rate_bad_body": "bad_body",
                        }[name]
                        break
            if fault is not None:
                self._fault_counts[fault] += 1
        return fault, delay, sub_rng

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
            )

    def reset_stats(self, *, clear_requests: bool = True) -> None:
        """Zero the counters (peak concurrency restarts from the requests now in flight).

        Args:
            clear_requests: Also forget the recorded request bodies.
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

    def _count_dropped(self) -> None:
        with self._lock:
            self._dropped += 1

    def _record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self._recorded.append(body)

    def _model_card(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 0, "owned_by": "inkforge-stub"}


# --------------------------------------------------------------------------------------------- CLI


def main(argv: Iterable[str] | None = None) -> int:
    """Run the stub from the command line until Ctrl-C.

    Args:
        argv: Arguments without the program name; None reads ``sys.argv``.

    Returns:
        The process exit code.

    Example:
        ``python -m inkforge.testing.stub.server --port 8000 --latency 0.2 --rate-429 0.1``
    """
    parser = argparse.ArgumentParser(
        prog="python -m inkforge.testing.stub.server",
        description="OpenAI-compatible stub for inkforge: schema-valid answers and injected faults.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--model", action="append", dest="models", help="served model name (repeatable)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    parser.add_argument("--jitter", type=float, default=0.0, help="extra uniform delay in [0, jitter]")
    parser.add_argument("--rate-429", type=float, default=0.0)
    parser.add_argument("--rate-500", type=float, default=0.0)
    parser.add_argument("--rate-hang", type=float, default=0.0)
    parser.add_argument("--hang-s", type=float, default=30.0)
    parser.add_argument("--hang-mode", choices=("drop", "late"), default="drop")
    parser.add_argument("--rate-malformed", type=float, default=0.0)
    parser.add_argument("--rate-bad-body", type=float, default=0.0)
    parser.add_argument("--fail-first-n", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--api-key-env",
        default=None,
        help="require 'Authorization: Bearer $VAR' where VAR names an environment variable (keys stay "
        "out of the command line and process list)",
    )
    args = parser.parse_args(None if argv is None else list(argv))

    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            parser.error(f"environment variable {args.api_key_env} is empty or unset")
    try:
        faults = Faults(
            latency_s=args.latency,
            jitter_s=args.jitter,
            rate_429=args.rate_429,
            rate_500=args.rate_500,
            rate_hang=args.rate_hang,
            hang_s=args.hang_s,
            hang_mode=args.hang_mode,
            rate_malformed=args.rate_malformed,
            rate_bad_body=args.rate_bad_body,
            fail_first_n=args.fail_first_n,
            seed=args.seed,
        )
    except ValueError as err:
        parser.error(str(err))
    server = StubServer(
        args.host, args.port, models=args.models or ("stub",), faults=faults, require_api_key=api_key
    )
    # Explicit handlers rather than KeyboardInterrupt: a process started in the background by a
    # non-interactive shell inherits SIGINT as *ignored*, and SIGTERM is what supervisors send.
    stop_requested = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop_requested.set())
    server.start()
    print(
        f"inkforge stub serving {', '.join(server.models)} at {server.base_url} (Ctrl-C to stop)", flush=True
    )
    try:
        while not stop_requested.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        stats = server.stats
        print(
            f"served {stats.requests} requests, statuses {dict(stats.by_status)}, "
            f"peak concurrency {stats.max_concurrency}",
            flush=True,
        )
    return 0


class StubProcess:
    """The stub server in a child process (``python -m inkforge.testing.stub.server``).

    Benchmarks use it so that the stub's JSON generation does not compete with the measured client for
    the GIL. Ready when its ``/v1/models`` answers.

    Args:
        latency: Seconds before each chat answer.
        timeout: Seconds to wait for the process to start.

    Example:
        >>> with StubProcess(latency=0.2) as stub:  # doctest: +SKIP
        ...     print(stub.base_url)
    """

    def __init__(self, latency: float = 0.0, *, timeout: float = 30.0) -> None:
        import subprocess
        import sys
        import urllib.request

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inkforge.testing.stub.server", "--port", str(self.port), "--latency", str(latency)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.base_url}/models", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        self.proc.kill()
        raise RuntimeError("the stub server did not start")

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        """Terminate the process."""
        self.proc.terminate()
        self.proc.wait(timeout=10)

    close = stop

    def __enter__(self) -> StubProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    raise SystemExit(main())
