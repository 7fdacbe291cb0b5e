"""The inputs of a refinement run: queries read from a file, labels de-duplicated, checked and split three ways.

Example:
    >>> rows = [{"query": "q", "response": f"r{i}", "label": i % 2} for i in range(6)]
    >>> check_inputs(rows, ["q"], RefinementConfig())
    >>> [len(part) for part in split_labels(rows, 0.3, 0.2, seed=0)]
    [2, 2, 2]
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from inkforge.core.errors import InputError
from inkforge.evaluation.labels import LabelDedup, dedupe_labels
from inkforge.graphs.refinement.config import RefinementConfig

__all__ = ["LabelSplit", "check_inputs", "load_queries", "prepare_labels", "split_labels"]

#: Rows of each class needed for a split with both classes in each of its three parts.
MIN_PER_CLASS = 3


class LabelSplit(NamedTuple):
    """Indices of the three splits of the labels (sorted, disjoint, covering every row).

    Attributes:
        optimize: The reflection phase's rows.
        select: The gate's rows: accepting candidates and picking the best.
        test: Judged once at the end, with the starting and the best rubric; no decision uses them.
    """

    optimize: list[int]
    select: list[int]
    test: list[int]

    def sizes(self) -> dict[str, int]:
        """Rows per split.

        Example:
            >>> LabelSplit([0, 1], [2], [3]).sizes()
            {'optimize': 2, 'select': 1, 'test': 1}
        """
        return {"optimize": len(self.optimize), "select": len(self.select), "test": len(self.test)}


def _share(n: int, fraction: float) -> int:
    return int(n * fraction + 0.5)  # half up, unlike round()'s half to even: 2.5 rows → 3


def split_labels(labels: Sequence[dict[str, Any]], val_fraction: float = 0.3, test_fraction: float = 0.2,
                 seed: int = 0) -> LabelSplit:
    """Stratified three-way split of label rows, by index: optimise, select (``val_fraction``), test.

    Within each class, ``test_fraction`` and ``val_fraction`` of its rows (rounded half up) go to the
    test and select splits, each at least one row and leaving at least one for the optimise split,
    which gets the rest; the draw is seeded. A class with fewer than three rows cannot fill all three
    (:func:`check_inputs` refuses such labels); its rows go to test, then select.

    Example:
        >>> rows = [{"label": i % 2} for i in range(20)]
        >>> opt, sel, test = split_labels(rows, 0.3, 0.2, seed=0)
        >>> len(opt), len(sel), len(test), sorted({rows[i]["label"] for i in test})
        (10, 6, 4, [0, 1])
    """
    rng = random.Random(f"split:{seed}")
    parts: tuple[list[int], list[int], list[int]] = ([], [], [])
    for cls in (0, 1):
        idx = [i for i, r in enumerate(labels) if int(r["label"]) == cls]
        rng.shuffle(idx)
        n = len(idx)
        if n >= MIN_PER_CLASS:
            k_test = min(max(_share(n, test_fraction), 1), n - 2)
            k_sel = min(max(_share(n, val_fraction), 1), n - k_test - 1)
        else:
            k_test, k_sel = min(n, 1), max(n - 1, 0)
        parts[2].extend(idx[:k_test])
        parts[1].extend(idx[k_test:k_test + k_sel])
        parts[0].extend(idx[k_test + k_sel:])
    return LabelSplit(*(sorted(p) for p in parts))


def prepare_labels(labels: Sequence[dict[str, Any]], config: RefinementConfig) -> tuple[LabelDedup, LabelSplit]:
    """De-duplicate the labels, check that every split gets both classes, and split them.

    The split's indices refer to the de-duplicated rows (``dedup.rows``).

    Raises:
        InputError: Too few rows of a class after de-duplication (field ``label``).

    Example:
        >>> rows = [{"query": "q", "response": f"r{i}", "label": i % 2} for i in range(8)]
        >>> dedup, split = prepare_labels(rows + rows[:2], RefinementConfig())
        >>> dedup.duplicates, split.sizes()
        (2, {'optimize': 4, 'select': 2, 'test': 2})
    """
    dedup = dedupe_labels(labels)
    rows = dedup.rows
    counts = [sum(1 for r in rows if int(r["label"]) == c) for c in (0, 1)]
    if min(counts) < MIN_PER_CLASS:
        removed = f" ({dedup.message()})" if dedup.changed else ""
        raise InputError(
            f"labels need at least {MIN_PER_CLASS} rows of each class after de-duplication{removed}, got "
            f"{counts[0]} bad and {counts[1]} good: the optimise, select (val_fraction={config.val_fraction}) and "
            f"test (test_fraction={config.test_fraction}) splits each need both classes", field="label")
    return dedup, split_labels(rows, config.val_fraction, config.test_fraction, config.seed)


def check_inputs(labels: Sequence[dict[str, Any]], queries: Sequence[str], config: RefinementConfig) -> None:
    """Refuse inputs the loop cannot learn from, before any model call.

    Raises:
        InputError: Too few labels (after de-duplication) for a three-way split with both classes in
            each part, or no queries while the adversarial phase is on.

    Example:
        >>> rows = [{"query": "q", "response": f"r{i}", "label": 1} for i in range(3)]
        >>> try:
        ...     check_inputs(rows, ["q"], RefinementConfig())
        ... except InputError as e:
        ...     print(e.field)
        label
    """
    prepare_labels(labels, config)
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
