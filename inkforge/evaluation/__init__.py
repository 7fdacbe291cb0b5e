"""Evaluation: judge metrics beside the length-only baseline, human labels, judge evaluation.

Example:
    >>> from inkforge.evaluation import cohen_kappa
    >>> cohen_kappa([1, 0, 1, 0], [1, 0, 0, 0])
    0.5
"""

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

__all__ = [
    "LENGTH_BANDS", "LENGTH_RULE_THRESHOLD", "LENGTH_SLICE", "accuracy", "binary_metrics", "bootstrap_ci",
    "cohen_kappa", "confusion_matrix", "fit_length_threshold", "judge_report", "length_rule", "load_labels",
    "point_biserial", "recall_per_class", "response_length", "validation_metrics",
]
