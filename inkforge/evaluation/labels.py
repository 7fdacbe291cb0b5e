"""Human labels: ``{"query", "response", "label"}`` rows, validated before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inkforge.core.errors import InputError
from inkforge.core.io import iter_json_objects


def load_labels(path: str | Path) -> list[dict[str, Any]]:
    """Read human labels: a JSONL file of ``{"query": str, "response": str, "label": 0 | 1}`` rows.

    Blank lines are skipped; other fields are kept. Every problem is reported before anything runs,
    with the file, the line and the field.

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
    p = Path(str(path))
    rows: list[dict[str, Any]] = []
    for n, row in iter_json_objects(p, what="labels file"):
        for key in ("query", "response"):
            if key not in row:
                raise InputError("missing", file=str(p), line=n, field=key)
            if not isinstance(row[key], str) or not row[key].strip():
                raise InputError("must be a non-empty string", file=str(p), line=n, field=key)
        if "label" not in row:
            raise InputError("missing", file=str(p), line=n, field="label")
        label = row["label"]
        # bool is an int subclass; "true" as a label is almost certainly a mistake, so refuse it.
        if isinstance(label, bool) or label not in (0, 1):
            raise InputError(f"must be 0 or 1, got {label!r}", file=str(p), line=n, field="label")
        rows.append({**row, "label": int(label)})
    if not rows:
        raise InputError("no labelled rows", file=str(p))
    return rows
