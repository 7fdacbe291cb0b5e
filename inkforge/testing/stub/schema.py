"""Schema-valid JSON instances for the stub's structured answers, generated from the request's schema.

`generate_from_schema` builds one instance that validates against a JSON schema (as pydantic's
``model_json_schema()`` writes them), reproducibly from a seed. Strings are assembled from fragments
of Chinese good wishes written for the stub, so generated text looks like the domain and its length
varies from seed to seed.

Example:
    >>> generate_from_schema({"type": "object", "properties": {"n": {"type": "integer", "minimum": 3,
    ...                       "maximum": 3}}, "required": ["n"]})
    {'n': 3}
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["WISHES", "generate_from_schema", "instance_for"]

# Fragments of Chinese good wishes, written for this stub. Strings and plain answers are assembled from
# them so that generated text looks like the domain and its length varies from prompt to prompt.
WISHES: tuple[str, ...] = (
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

_MAX_DEPTH = 8  # Past this nesting depth the generator takes the smallest valid choice (recursive models).



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
            piece = self.rng.choice(WISHES)
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


def instance_for(schema: Mapping[str, Any], rng: random.Random) -> Any:
    """Like `generate_from_schema`, drawing every choice from `rng` (the stub's per-choice generator).

    Example:
        >>> instance_for({"const": 7}, random.Random(0))
        7
    """
    return _Generator(schema, rng).generate(schema)
