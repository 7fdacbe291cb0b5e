"""Human labels: ``{"query", "response", "label"}`` rows, validated before anything runs, and de-duplicated.

Repeated rows are common in collected labels (the same greeting labelled twice, a merge of two
files). Left in, they inflate every figure: a row repeated in a training and a held-out split is
scored on data the judge was tuned on. :func:`dedupe_labels` is the one place that removes them; the
refinement split and ``inkforge eval-judge`` both go through it.

Example:
    >>> rows = [{"query": "q", "response": "a", "label": 1}, {"query": "q", "response": "a", "label": 1},
    ...         {"query": "q", "response": "b", "label": 1}, {"query": "q", "response": "b", "label": 0}]
    >>> d = dedupe_labels(rows)
    >>> len(d.rows), d.duplicates, d.conflicting_pairs, d.conflicting_rows
    (1, 1, 1, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inkforge.core.errors import InputError
from inkforge.core.io import iter_json_objects

__all__ = ["LabelDedup", "dedupe_labels", "load_labels", "load_unlabelled"]


def _read_rows(path: str | Path, *, what: str, labelled: bool) -> list[dict[str, Any]]:
    p = Path(str(path))
    rows: list[dict[str, Any]] = []
    for n, row in iter_json_objects(p, what=what):
        for key in ("query", "response"):
            if key not in row:
                raise InputError("missing", file=str(p), line=n, field=key)
            if not isinstance(row[key], str) or not row[key].strip():
                raise InputError("must be a non-empty string", file=str(p), line=n, field=key)
        if labelled:
            if "label" not in row:
                raise InputError("missing", file=str(p), line=n, field="label")
            label = row["label"]
            # bool is an int subclass; "true" as a label is almost certainly a mistake, so refuse it.
            if isinstance(label, bool) or label not in (0, 1):
                raise InputError(f"must be 0 or 1, got {label!r}", file=str(p), line=n, field="label")
            row = {**row, "label": int(label)}
        rows.append(row)
    if not rows:
        raise InputError(f"no {'labelled ' if labelled else ''}rows", file=str(p))
    return rows


def load_labels(path: str | Path) -> list[dict[str, Any]]:
    """Read human labels: a JSONL file of ``{"query": str, "response": str, "label": 0 | 1}`` rows.

    Blank lines are skipped; other fields are kept. Every problem is reported before anything runs,
    with the file, the line and the field. Repeats are kept here (the file's rows, as written);
    :func:`dedupe_labels` removes them.

    Args:
        path: The JSONL file.

    Returns:
        The rows, in file order, each with at least ``query``, ``response`` and an int ``label``.

    Raises:
        InputError: Missing file, invalid JSON, a missing or mistyped field, a label other than 0/1,
            or no rows at all.

    Example:
        >>> from importlib import resources
        >>> rows = load_labels(resources.files("inkforge.data") / "sample_labels.jsonl")
        >>> sorted({r["label"] for r in rows})
        [0, 1]
    """
    return _read_rows(path, what="labels file", labelled=True)


def load_unlabelled(path: str | Path) -> list[dict[str, Any]]:
    """Read items to score without labels: a JSONL file of ``{"query": str, "response": str}`` rows.

    For estimating the pass rate of, e.g., a policy's completions (``inkforge eval-judge
    --unlabelled``). A ``label`` field, if present, is ignored. Repeats are kept: two equal completions
    of a policy are two samples of its output, not a labelling mistake.

    Raises:
        InputError: Missing file, invalid JSON, a missing or empty ``query``/``response``, or no rows.

    Example:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "completions.jsonl"
        >>> _ = p.write_text('{"query": "q", "response": "r"}\\n', encoding="utf-8")
        >>> load_unlabelled(p)
        [{'query': 'q', 'response': 'r'}]
    """
    return _read_rows(path, what="unlabelled file", labelled=False)


@dataclass(frozen=True)
class LabelDedup:
    """Labels without repeats, and what was removed.

    Attributes:
        rows: One row per distinct (query, response) pair with a single label, in the order of first
            appearance (the first row of each pair is the one kept).
        n_input: Rows before de-duplication.
        duplicates: Extra copies of a pair that always has the same label, removed.
        conflicting_pairs: Pairs labelled both 0 and 1; none of their rows is kept (there is no
            honest way to pick a side).
        conflicting_rows: Rows of those pairs, dropped.
    """

    rows: list[dict[str, Any]]
    n_input: int
    duplicates: int
    conflicting_pairs: int
    conflicting_rows: int

    @property
    def changed(self) -> bool:
        """Whether any row was removed."""
        return len(self.rows) != self.n_input

    def as_dict(self) -> dict[str, int]:
        """The counts, JSON-ready (``summary.json``, the eval-judge report).

        Example:
            >>> dedupe_labels([{"query": "q", "response": "a", "label": 1}]).as_dict()["unique"]
            1
        """
        return {"rows": self.n_input, "unique": len(self.rows), "duplicates_removed": self.duplicates,
                "conflicting_pairs": self.conflicting_pairs, "conflicting_rows_dropped": self.conflicting_rows}

    def message(self) -> str:
        """One line for a log warning; empty when nothing was removed.

        Example:
            >>> rows = [{"query": "q", "response": "a", "label": 1}] * 3
            >>> dedupe_labels(rows).message()
            '2 repeated rows removed (same query and response); 1 of 3 rows kept'
        """
        if not self.changed:
            return ""
        parts = []
        if self.duplicates:
            parts.append(f"{self.duplicates} repeated rows removed (same query and response)")
        if self.conflicting_pairs:
            parts.append(f"{self.conflicting_pairs} pairs with conflicting labels dropped "
                         f"({self.conflicting_rows} rows)")
        return "; ".join(parts) + f"; {len(self.rows)} of {self.n_input} rows kept"


def _key(row: dict[str, Any]) -> tuple[str, str]:
    # Surrounding whitespace is an artefact of collection, not a different response.
    return str(row["query"]).strip(), str(row["response"]).strip()


def dedupe_labels(rows: Sequence[dict[str, Any]]) -> LabelDedup:
    """Remove repeated label rows: one row per (query, response) pair, none for conflicting pairs.

    Two rows are the same pair when their ``query`` and ``response`` are equal after stripping
    surrounding whitespace. A pair labelled consistently keeps its first row; a pair labelled both 0
    and 1 keeps no row and is counted.

    Args:
        rows: Labelled rows (``query``, ``response``, ``label``), e.g. from :func:`load_labels`.

    Returns:
        A :class:`LabelDedup` with the kept rows and the counts.

    Example:
        >>> rows = [{"query": "q", "response": f"r{i % 2}", "label": 1} for i in range(4)]
        >>> d = dedupe_labels(rows)
        >>> [r["response"] for r in d.rows], d.duplicates
        (['r0', 'r1'], 2)
    """
    labels: dict[tuple[str, str], set[int]] = {}
    count: dict[tuple[str, str], int] = {}
    for r in rows:
        k = _key(r)
        labels.setdefault(k, set()).add(int(r["label"]))
        count[k] = count.get(k, 0) + 1
    conflicting = {k for k, v in labels.items() if len(v) > 1}
    kept: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for r in rows:
        k = _key(r)
        if k in conflicting or k in seen:
            continue
        seen.add(k)
        kept.append(r)
    conflicting_rows = sum(count[k] for k in conflicting)
    return LabelDedup(rows=kept, n_input=len(rows), duplicates=len(rows) - len(kept) - conflicting_rows,
                      conflicting_pairs=len(conflicting), conflicting_rows=conflicting_rows)
