"""Evaluation: judge metrics beside the length-only baseline, human labels, judge evaluation.

Example:
    >>> from inkforge.evaluation import cohen_kappa
    >>> cohen_kappa([1, 0, 1, 0], [1, 0, 0, 0])
    0.5
"""

from typing import TYPE_CHECKING, Any

from inkforge.evaluation.labels import load_labels
from inkforge.evaluation.metrics import (
    LENGTH_BANDS,
    LENGTH_RULE_THRESHOLD,
    LENGTH_SLICE,
    accuracy,
    binary_metrics,
    bootstrap_ci,
    cohen_kappa,
    confusion_matrix,
    fit_length_threshold,
    judge_report,
    length_rule,
    point_biserial,
    recall_per_class,
    response_length,
    validation_metrics,
)

if TYPE_CHECKING:
    from inkforge.evaluation.judge_eval import aevaluate_judge

__all__ = [
    "LENGTH_BANDS", "LENGTH_RULE_THRESHOLD", "LENGTH_SLICE", "accuracy", "aevaluate_judge", "binary_metrics",
    "bootstrap_ci", "cohen_kappa", "confusion_matrix", "fit_length_threshold", "judge_report", "length_rule",
    "load_labels", "point_biserial", "recall_per_class", "response_length", "validation_metrics",
]


def __getattr__(name: str) -> Any:
    # Lazy: judging needs the agents (LangChain, slow to import); the metrics and labels do not.
    if name == "aevaluate_judge":
        from inkforge.evaluation.judge_eval import aevaluate_judge

        return aevaluate_judge
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
