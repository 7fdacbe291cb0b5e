"""State of the judge-refinement graph: the graph state, the ``Send`` payloads and their reducers.

Everything here is JSON-like (rule lists, metrics, indices into the labels), so a checkpoint is
portable and small, and the final state can be written as one JSON line.

Example:
    >>> from typing import get_type_hints
    >>> hints = get_type_hints(RefinementState, include_extras=True)
    >>> sorted(k for k, t in hints.items() if getattr(t, "__metadata__", None))[:3]
    ['adv_results', 'calls', 'hard_negatives']
"""

from __future__ import annotations

import hashlib
import json
import operator
from typing import Annotated, Any, TypedDict

__all__ = ["AdversarialItem", "LabelledItem", "RefinementState", "collect", "digest"]


def collect(left: list[Any] | None, right: list[Any] | None) -> list[Any]:
    """Reducer of per-phase lists: parallel ``Send`` results append; ``None`` empties it (new iteration).

    Example:
        >>> collect([1], [2]), collect([1, 2], None)
        ([1, 2], [])
    """
    if right is None:
        return []
    return [*(left or []), *right]


class RefinementState(TypedDict, total=False):
    """State of the refinement graph. Only JSON-like values, so checkpoints stay portable.

    Inputs are ``labels`` (``{"query", "response", "label"}`` rows) and ``queries``; the first node
    replaces ``labels`` by its de-duplicated rows, which the split's indices refer to.
    """

    labels: list[dict[str, Any]]
    queries: list[str]
    #: De-duplication counts (:meth:`~inkforge.evaluation.labels.LabelDedup.as_dict`).
    label_counts: dict[str, int]
    #: The three splits (indices into ``labels``): reflection rows, gate rows, final-report rows.
    optimize: list[int]
    select: list[int]
    test: list[int]
    #: Length threshold fitted on the optimise and select rows, applied to the test split.
    fitted_threshold: int
    #: S_G, the flaw strategy (not gated).
    strategy: list[str]
    #: The last accepted S_D and its metrics on the select split.
    rubric: list[str]
    rubric_metrics: dict[str, Any]
    #: The accepted S_D with the highest κ (ties keep the earlier one), written to ``rubric.json``.
    best_rubric: list[str]
    best_metrics: dict[str, Any]
    best_kappa: float | None
    best_iteration: int
    initial_metrics: dict[str, Any]
    #: The starting and the best S_D judged on the test split (set by the last node).
    test_report: dict[str, Any] | None
    #: The S_D proposal of the current iteration (``None``: none yet).
    candidate: list[str] | None
    iteration: int
    #: Iterations since the last κ improvement.
    stale: int
    stop_reason: str | None
    adv_batch: list[int]
    refl_batch: list[int]
    tokens_used: Annotated[int, operator.add]
    calls: Annotated[int, operator.add]
    adv_results: Annotated[list[dict[str, Any]], collect]
    refl_results: Annotated[list[dict[str, Any]], collect]
    val_results: Annotated[list[dict[str, Any]], collect]
    #: The optimiser calls behind the current candidate: source, feedback, changes, status.
    proposal: Annotated[list[dict[str, Any]], collect]
    history: Annotated[list[dict[str, Any]], operator.add]
    hard_negatives: Annotated[list[dict[str, Any]], operator.add]


class LabelledItem(TypedDict):
    """``Send`` payload of one labelled row judged with a rule list (the gate and reflection)."""

    i: int
    query: str
    response: str
    label: int
    rules: list[str]


class AdversarialItem(TypedDict):
    """``Send`` payload of one adversarial query."""

    k: int
    query: str
    strategy: list[str]
    rules: list[str]
    sample: int


def digest(value: Any) -> str:
    """SHA-256 of a JSON-like value (keys sorted), hex.

    Example:
        >>> digest({"b": 1, "a": [2]}) == digest({"a": [2], "b": 1})
        True
    """
    blob = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
