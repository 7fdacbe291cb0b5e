"""Tolerant extraction of JSON from model text: fenced blocks, prose around an object, trailing junk.

Example:
    >>> extract_json('Sure! ```json\\n{"label": 1}\\n``` hope this helps')
    {'label': 1}
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)
_THINK = re.compile(r"<think>.*?</think>", re.S)


class ParseError(ValueError):
    """The text holds no JSON that validates against the schema. ``str()`` is the re-ask message."""


def extract_json(text: str) -> Any:
    """Return the first JSON value found in ``text``.

    Tries, in order: the whole text; each fenced code block; every ``{``/``[`` position with a
    streaming decoder (so prose before and after the object is ignored). Reasoning blocks
    (``<think>...</think>``) are dropped first.

    Raises:
        ParseError: No JSON value is found.
    """
    text = _THINK.sub("", text).strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    for block in _FENCE.findall(text):
        try:
            return json.loads(block.strip())
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[{\[]", text):
        try:
            value, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(value, (dict, list)):
            return value
    raise ParseError("no JSON object found in the answer")


def parse_output(text: str, schema: type[T]) -> T:
    """Extract JSON from ``text`` and validate it against ``schema``.

    A bare list is accepted for a schema with a single list field, and a nested
    ``{"<SchemaName>": {...}}`` wrapper is unwrapped: both are common small-model habits.

    Raises:
        ParseError: With a message short enough to send back to the model in a re-ask.

    Example:
        >>> from pydantic import BaseModel
        >>> class V(BaseModel):
        ...     label: int
        >>> parse_output('{"label": 0}', V).label
        0
    """
    value = extract_json(text)
    fields = list(schema.model_fields)
    if isinstance(value, list) and len(fields) == 1:
        value = {fields[0]: value}
    if isinstance(value, dict) and len(value) == 1:
        (k, inner), = value.items()
        if k not in schema.model_fields and isinstance(inner, dict) and k.lower() in {
                schema.__name__.lower(), "output", "result", "answer", "response"}:
            value = inner
    try:
        return schema.model_validate(value)
    except ValidationError as e:
        raise ParseError(summarise_validation_error(e)) from None


def summarise_validation_error(e: ValidationError) -> str:
    """Up to five ``field: reason`` pairs: short enough to send back to a model in a re-ask."""
    parts = []
    for err in e.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
