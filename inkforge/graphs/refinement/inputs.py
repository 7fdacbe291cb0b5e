"""The inputs of a refinement run: queries read from a file, labels checked and split.

Example:
    >>> rows = [{"label": i % 2} for i in range(6)]
    >>> check_inputs(rows, ["q"], RefinementConfig())
    >>> [len(part) for part in split_labels(rows, 0.3, seed=0)]
    [4, 2]
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inkforge.core.errors import InputError
from inkforge.graphs.refinement.config import RefinementConfig

__all__ = ["check_inputs", "load_queries", "split_labels"]


def split_labels(labels: Sequence[dict[str, Any]], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified train/validation split of label rows, by index.

    Each class puts ``round(n_class * val_fraction)`` rows (at least one when it has two or more) into
    validation; the draw is seeded.

    Example:
        >>> rows = [{"label": i % 2} for i in range(10)]
        >>> train, val = split_labels(rows, 0.4, seed=0)
        >>> len(val), sorted({rows[i]["label"] for i in val})
        (4, [0, 1])
    """
    rng = random.Random(f"split:{seed}")
    train: list[int] = []
    val: list[int] = []
    for cls in (0, 1):
        idx = [i for i, r in enumerate(labels) if int(r["label"]) == cls]
        rng.shuffle(idx)
        k = round(len(idx) * val_fraction)
        if len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        val.extend(idx[:k])
        train.extend(idx[k:])
    return sorted(train), sorted(val)


def check_inputs(labels: Sequence[dict[str, Any]], queries: Sequence[str], config: RefinementConfig) -> None:
    """Refuse inputs the loop cannot learn from, before any model call.

    Raises:
        InputError: Too few labels for a split with both classes on each side, or no queries while the
            adversarial phase is on.

    Example:
        >>> try:
        ...     check_inputs([{"label": 1}] * 3, ["q"], RefinementConfig())
        ... except InputError as e:
        ...     print(e.field)
        label
    """
    counts = [sum(1 for r in labels if int(r["label"]) == c) for c in (0, 1)]
    if min(counts) < 2:
        raise InputError(f"labels need at least 2 rows of each class for a train/validation split, got "
                         f"{counts[0]} bad and {counts[1]} good", field="label")
    if config.adversarial and not queries:
        raise InputError("the adversarial phase needs queries", field="queries")


def load_queries(path: str | Path) -> list[str]:
    """Queries from a text file (one per line) or a JSONL file (``query`` or ``prompt`` field).

    Blank lines are skipped and duplicates dropped (first occurrence kept).

    Raises:
        InputError: Missing file, bad JSON or a row without a query (file, line and field named).

    Example:
        >>> from importlib import resources
        >>> len(load_queries(resources.files("inkforge.data") / "sample_queries.txt")) > 5
        True
    """
    from inkforge.graphs.items import read_queries

    out: list[str] = []
    seen: set[str] = set()
    for item in read_queries(Path(str(path))):
        if item.query not in seen:
            seen.add(item.query)
            out.append(item.query)
    if not out:
        raise InputError("no queries", file=str(path))
    return out
