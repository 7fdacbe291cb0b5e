"""Evaluation: judge metrics beside the length-only baseline, human labels, judge evaluation.

:mod:`~inkforge.evaluation.metrics` (agreement and the length baselines),
:mod:`~inkforge.evaluation.labels` (reading and de-duplicating labels),
:mod:`~inkforge.evaluation.prevalence` (a judge's pass rate corrected for its errors) and
:mod:`~inkforge.evaluation.judge_eval` (judging labelled rows with a rubric).

Example:
    >>> from inkforge.evaluation import cohen_kappa
    >>> cohen_kappa([1, 0, 1, 0], [1, 0, 0, 0])
    0.5
"""

from typing import TYPE_CHECKING, Any

from inkforge.evaluation.labels import LabelDedup, dedupe_labels, load_labels, load_unlabelled
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
from inkforge.evaluation.prevalence import corrected_pass_rate, rogan_gladen

if TYPE_CHECKING:
    from inkforge.evaluation.judge_eval import aevaluate_judge

__all__ = [
    "LENGTH_BANDS", "LENGTH_RULE_THRESHOLD", "LENGTH_SLICE", "LabelDedup", "accuracy", "aevaluate_judge",
    "binary_metrics", "bootstrap_ci", "cohen_kappa", "confusion_matrix", "corrected_pass_rate", "dedupe_labels",
    "fit_length_threshold", "judge_report", "length_rule", "load_labels", "load_unlabelled", "point_biserial",
    "recall_per_class", "response_length", "rogan_gladen", "validation_metrics",
]


def __getattr__(name: str) -> Any:
    # Lazy: judging needs the agents (LangChain, slow to import); the metrics and labels do not.
    if name == "aevaluate_judge":
        from inkforge.evaluation.judge_eval import aevaluate_judge

        return aevaluate_judge
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
