"""Graph-run inputs: streaming, validated query readers.

Readers never hold a whole dataset in memory: a 20,000-line file is read one line at a time, twice
(a validation pass that fails *before* any output is written, then the real pass).

Input formats:

* ``.txt``: one query a line; blank lines are skipped.
* ``.jsonl``: one JSON object a line with ``query`` (or ``prompt``) as a non-empty string, an optional
  ``id``, and, to judge given responses, ``responses`` (list of strings) or ``response`` (string). Other
  fields are carried along as ``meta`` (a human ``label``, say).

Every problem (missing file, bad JSON, missing or empty field, bytes that are not UTF-8) raises
:class:`~inkforge.core.errors.InputError` naming the file, the line and the field.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "q.txt"
    >>> _ = p.write_text("给外婆的生日祝福\\n\\n祝贺朋友升职\\n", encoding="utf-8")
    >>> [item.query for item in read_queries(p)]
    ['给外婆的生日祝福', '祝贺朋友升职']
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from inkforge.core.errors import InputError
from inkforge.core.io import iter_lines, parse_json_object

Mode = Literal["write", "judge_given"]

#: File extensions :func:`read_queries` accepts.
QUERY_SUFFIXES = (".txt", ".jsonl")


@dataclass(frozen=True)
class QueryItem:
    """One input row, validated.

    Attributes:
        key: Content hash (16 hex chars) of ``id``, ``query`` and ``responses``: the LangGraph thread id
            and the key of the finished-items index, so a resumed run recognises the item even if lines
            moved.
        id: The row's ``id`` field, or ``key`` when the row has none.
        query: The request.
        responses: Given responses (``judge_given`` mode), else empty.
        meta: Other fields of a JSONL row, carried into the judgements.
        line: 1-based line number in the source.
        source: File name (or ``<queries>`` for in-memory input), for messages.
    """

    key: str
    id: str
    query: str
    responses: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0
    source: str = "<queries>"


def item_key(query: str, responses: Iterable[str] = (), item_id: str | None = None) -> str:
    """Content hash of an item: the same row always maps to the same key (and thread id)."""
    blob = json.dumps({"id": item_id, "query": query, "responses": list(responses)}, ensure_ascii=False,
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _make_item(row: Mapping[str, Any], *, mode: Mode, source: str, line: int) -> QueryItem:
    def err(msg: str, fld: str | None) -> InputError:
        return InputError(msg, file=source, line=line, field=fld)

    qfield = "query" if "query" in row else "prompt" if "prompt" in row else None
    if qfield is None:
        raise err("missing (each row needs 'query' or 'prompt')", "query")
    query = row[qfield]
    if not isinstance(query, str):
        raise err(f"must be a string, got {type(query).__name__}", qfield)
    query = query.strip()
    if not query:
        raise err("is empty", qfield)
    responses: tuple[str, ...] = ()
    if "responses" in row or "response" in row:
        rfield = "responses" if "responses" in row else "response"
        value = row[rfield]
        values = [value] if rfield == "response" else value
        if not isinstance(values, list) or not values:
            raise err("must be a non-empty list of strings", rfield)
        for i, v in enumerate(values):
            if not isinstance(v, str) or not v.strip():
                raise err(f"item {i} must be a non-empty string", rfield)
        responses = tuple(v.strip() for v in values)
    elif mode == "judge_given":
        raise err("missing (judge_given mode needs 'responses' or 'response')", "responses")
    raw_id = row.get("id")
    if raw_id is not None and not isinstance(raw_id, (str, int)):
        raise err(f"must be a string or an integer, got {type(raw_id).__name__}", "id")
    item_id = str(raw_id) if raw_id is not None else None
    key = item_key(query, responses, item_id)
    meta = {k: v for k, v in row.items() if k not in ("query", "prompt", "responses", "response", "id")}
    return QueryItem(key=key, id=item_id or key, query=query, responses=responses, meta=meta, line=line,
                     source=source)


def _iter_file(path: Path, *, mode: Mode) -> Iterator[QueryItem]:
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in QUERY_SUFFIXES:
        raise InputError(f"unsupported file type {suffix or '(none)'!r}; use .txt (one query a line) or "
                         ".jsonl (objects with 'query' or 'prompt')", file=source)
    for lineno, text in iter_lines(path):
        if suffix == ".txt":
            if mode == "judge_given":
                raise InputError("judge_given mode needs .jsonl rows with 'responses'", file=source)
            yield _make_item({"query": text}, mode=mode, source=source, line=lineno)
            continue
        row = parse_json_object(text, file=source, line=lineno)
        yield _make_item(row, mode=mode, source=source, line=lineno)


def _iter_memory(rows: Iterable[str | Mapping[str, Any]], *, mode: Mode) -> Iterator[QueryItem]:
    for i, row in enumerate(rows, 1):
        if isinstance(row, str):
            row = {"query": row}
        if not isinstance(row, Mapping):
            raise InputError(f"expected a string or a mapping, got {type(row).__name__}", file="<queries>",
                             line=i)
        yield _make_item(row, mode=mode, source="<queries>", line=i)


def read_queries(source: str | os.PathLike[str] | Iterable[str | Mapping[str, Any]], *, mode: Mode = "write",
                 limit: int | None = None) -> Iterator[QueryItem]:
    """Stream validated items from a ``.txt``/``.jsonl`` file or from in-memory rows.

    Args:
        source: A path, or an iterable of query strings / row mappings (``{"query": ..., "id": ...}``).
        mode: ``judge_given`` requires responses in every row.
        limit: Stop after this many items.

    Yields:
        :class:`QueryItem` in input order.

    Raises:
        InputError: The first bad line (file, line, field).

    Example:
        >>> [i.query for i in read_queries(["给老师的教师节祝福", {"query": "新婚祝福", "id": 7}])]
        ['给老师的教师节祝福', '新婚祝福']
    """
    if isinstance(source, (str, os.PathLike)):
        it = _iter_file(Path(source), mode=mode)
    else:
        it = _iter_memory(source, mode=mode)
    for n, item in enumerate(it):
        if limit is not None and n >= limit:
            return
        yield item


def validate_queries(source: str | os.PathLike[str] | Iterable[str | Mapping[str, Any]], *,
                     mode: Mode = "write", limit: int | None = None) -> int:
    """Read the whole input once (streaming) and return the item count; raise on the first bad line.

    Run this before creating any output so that a typo on line 19,000 fails in seconds, not hours.

    Raises:
        InputError: Bad input, or no items at all.
    """
    n = sum(1 for _ in read_queries(source, mode=mode, limit=limit))
    if n == 0:
        where = str(source) if isinstance(source, (str, os.PathLike)) else "<queries>"
        raise InputError("no queries found", file=where)
    return n
