"""The few-shot corpus and the :class:`Retriever` protocol every retriever follows."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from inkforge.core.errors import InputError
from inkforge.core.io import iter_json_objects

#: The corpus shipped with the package (our own greetings), for demos.
SAMPLE_CORPUS = Path(__file__).resolve().parents[2] / "data" / "sample_corpus.jsonl"

#: What a corpus argument may be: a ``.jsonl`` path or rows.
CorpusSource = str | os.PathLike[str] | Iterable[Mapping[str, Any]]


@runtime_checkable
class Retriever(Protocol):
    """What the curation graph needs from a retriever.

    ``retrieve`` may block (it runs in a worker thread); an ``async def aretrieve(query, k)`` method,
    when present, is awaited instead. An optional ``fingerprint()`` returning a JSON-ready dict is
    stored with a run, so a resume with a different corpus, model or ranking setting is refused.

    A retriever may return fewer than ``k`` examples (none when no corpus row is relevant): a
    writer is better off with no example than with an unrelated one.
    """

    def retrieve(self, query: str, k: int) -> list[dict[str, Any]]:
        """At most ``k`` examples for ``query``: dicts with ``id``, ``query``, ``response``."""
        ...


def load_corpus(source: CorpusSource, *, popularity_field: str = "popularity") -> list[dict[str, Any]]:
    """Read and validate corpus rows (``id``, ``query``, ``response``[, popularity]).

    Args:
        source: A ``.jsonl`` file or rows.
        popularity_field: Optional non-negative numeric field used for reranking (click counts).

    Returns:
        The rows, each with a string ``id`` (``row<line>`` when the row has none).

    Raises:
        InputError: Missing file, bad JSON, missing/empty ``query`` or ``response``, non-numeric or
            negative popularity (file, line and field named).

    Example:
        >>> [r["id"] for r in load_corpus([{"query": "中秋问候", "response": "中秋快乐"}])]
        ['row1']
    """
    rows: list[dict[str, Any]] = []
    name = str(source) if isinstance(source, (str, os.PathLike)) else "<corpus>"
    if isinstance(source, (str, os.PathLike)):
        # The shared reader: BOM dropped, a non-UTF-8 byte or bad JSON located by line and column.
        raw: list[tuple[int, Any]] = list(iter_json_objects(source, what="corpus file"))
    else:
        raw = list(enumerate(source, 1))
    for i, row in raw:
        if not isinstance(row, Mapping):
            raise InputError("expected a JSON object", file=name, line=i)
        for f in ("query", "response"):
            if not isinstance(row.get(f), str) or not row[f].strip():
                raise InputError("missing or empty", file=name, line=i, field=f)
        pop = row.get(popularity_field)
        if pop is not None:
            if isinstance(pop, bool) or not isinstance(pop, (int, float)):
                raise InputError("must be a number", file=name, line=i, field=popularity_field)
            if not pop >= 0:  # also refuses NaN: log(1 + popularity) must be defined
                raise InputError("must be >= 0", file=name, line=i, field=popularity_field)
        rows.append({**row, "id": str(row.get("id", f"row{i}"))})
    if not rows:
        raise InputError("corpus is empty", file=name)
    return rows


def corpus_hash(rows: Sequence[Mapping[str, Any]], popularity_field: str | None = None) -> str:
    """A short digest of the rows' ids, queries, responses (and popularity when it is used)."""
    h = hashlib.sha256()
    for r in rows:
        item = [r["id"], r["query"], r["response"]]
        if popularity_field is not None:
            item.append(r.get(popularity_field))
        h.update(json.dumps(item, ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:16]
