"""Judge metrics, always beside the length-only baseline.

A greeting's length alone predicts its human label about 90% of the time on the paper's data
(``len(response) >= 39`` characters → good). A judge that "agrees with humans 88%" may therefore
have learnt nothing but length. Every figure this module produces sits next to:

* the **length-only baseline** on the same rows: the fixed ``len >= 39`` rule and the best threshold
  fitted on those rows (optimistic by construction, which is the point: it is the bar to clear);
* **how much of the judge's verdicts length explains**: the agreement between the judge's verdicts
  and the best length threshold fitted *to the verdicts*, and the point-biserial correlation of
  verdict and length;
* a **length-controlled slice** (responses of 30–50 characters, where both labels are common).

Parse failures of the judge are counted and reported separately: they are never turned into a
verdict. Metrics "on parsed rows" leave them out; the ``strict`` variants count each failure as a
wrong answer, so a judge that fails often cannot look good (the refinement gate uses those).

Everything here is pure Python plus numpy (for the bootstrap): no model, no network.

Example:
    >>> labels = [1, 1, 0, 0, 1, 0]
    >>> preds = [1, 0, 0, 0, 1, 1]
    >>> round(cohen_kappa(labels, preds), 3)
    0.333
    >>> confusion_matrix(labels, preds)
    {'tn': 2, 'fp': 1, 'fn': 1, 'tp': 2}
    >>> fit_length_threshold([10, 20, 40, 50], [0, 0, 1, 1])
    (40, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: The fixed length rule of the paper's data: ``len(response) >= 39`` characters → good.
LENGTH_RULE_THRESHOLD = 39

#: Inclusive character bounds of the length-controlled slice, where both labels are common.
LENGTH_SLICE: tuple[int, int] = (30, 50)

#: Response-length bands (half-open ``[lo, hi)``; ``None`` = no upper bound) for per-band accuracy.
LENGTH_BANDS: tuple[tuple[int, int | None], ...] = ((0, 20), (20, 30), (30, 40), (40, 50), (50, 70), (70, None))

__all__ = [
    "LENGTH_BANDS", "LENGTH_RULE_THRESHOLD", "LENGTH_SLICE", "accuracy", "binary_metrics", "bootstrap_ci",
    "cohen_kappa", "confusion_matrix", "fit_length_threshold", "judge_report", "length_rule",
    "point_biserial", "recall_per_class", "response_length", "validation_metrics",
]


# ----------------------------------------------------------------------------------------- input


def response_length(response: str) -> int:
    """Length used by every length figure: characters of the response, as the paper's rule counts them."""
    return len(response)


# ------------------------------------------------------------------------------------- metrics


def _check(y_true: Sequence[Any], y_pred: Sequence[Any]) -> None:
    if len(y_true) != len(y_pred):
        raise ValueError(f"length mismatch: {len(y_true)} labels vs {len(y_pred)} predictions")


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Share of equal pairs (0.0 for no rows).

    Example:
        >>> accuracy([1, 0, 1], [1, 1, 1])
        0.6666666666666666
    """
    _check(y_true, y_pred)
    return sum(int(a == b) for a, b in zip(y_true, y_pred, strict=True)) / len(y_true) if y_true else 0.0


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, int]:
    """Counts with *good* (1) as the positive class: ``tn, fp, fn, tp`` (rows: human, columns: judge).

    Example:
        >>> confusion_matrix([1, 0], [1, 1])
        {'tn': 0, 'fp': 1, 'fn': 0, 'tp': 1}
    """
    _check(y_true, y_pred)
    c = {"tn": 0, "fp": 0, "fn": 0, "tp": 0}
    for t, p in zip(y_true, y_pred, strict=True):
        c[("t" if t == p else "f") + ("p" if p == 1 else "n")] += 1
    return c


def cohen_kappa(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Cohen's κ of two binary raters: agreement corrected for chance.

    When chance agreement is total (both raters constant and equal) κ is undefined; 0.0 is returned,
    since such a rater carries no information beyond the base rate.

    Example:
        >>> cohen_kappa([1, 0, 1, 0], [1, 0, 1, 0])
        1.0
        >>> cohen_kappa([1, 0, 1, 0], [1, 1, 1, 1])
        0.0
    """
    _check(y_true, y_pred)
    n = len(y_true)
    if n == 0:
        return 0.0
    po = accuracy(y_true, y_pred)
    pt, pp = sum(y_true) / n, sum(y_pred) / n
    pe = pt * pp + (1 - pt) * (1 - pp)
    if pe >= 1.0:
        return 0.0
    return (po - pe) / (1 - pe)


def recall_per_class(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float | None]:
    """Recall of each class: ``good`` (label 1) and ``bad`` (label 0); ``None`` when a class is absent.

    Example:
        >>> recall_per_class([1, 1, 0], [1, 0, 0])
        {'good': 0.5, 'bad': 1.0}
    """
    c = confusion_matrix(y_true, y_pred)
    good = c["tp"] + c["fn"]
    bad = c["tn"] + c["fp"]
    return {"good": c["tp"] / good if good else None, "bad": c["tn"] / bad if bad else None}


def binary_metrics(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, Any]:
    """``n``, ``accuracy``, ``kappa``, ``confusion``, per-class ``recall`` and the predicted ``positive_rate``.

    Example:
        >>> binary_metrics([1, 0], [1, 0])["kappa"]
        1.0
    """
    n = len(y_true)
    return {
        "n": n,
        "accuracy": accuracy(y_true, y_pred),
        "kappa": cohen_kappa(y_true, y_pred),
        "confusion": confusion_matrix(y_true, y_pred),
        "recall": recall_per_class(y_true, y_pred),
        "positive_rate": sum(y_pred) / n if n else None,
    }


def length_rule(lengths: Sequence[int], threshold: int = LENGTH_RULE_THRESHOLD) -> list[int]:
    """Predictions of the length-only rule: 1 iff ``length >= threshold``.

    Example:
        >>> length_rule([10, 39, 60])
        [0, 1, 1]
    """
    return [int(x >= threshold) for x in lengths]


def fit_length_threshold(lengths: Sequence[int], targets: Sequence[int]) -> tuple[int, float]:
    """The threshold ``t`` for which ``length >= t`` best reproduces ``targets``, and its accuracy.

    Every distinct length (and one past the longest, i.e. "always 0") is tried; ties go to the
    smallest threshold. Fitted and scored on the same rows, so it is an optimistic bar.

    Args:
        lengths: Response lengths.
        targets: 0/1 values to reproduce (human labels, or a judge's verdicts).

    Example:
        >>> fit_length_threshold([5, 8, 30, 31], [0, 1, 1, 1])
        (8, 1.0)
    """
    _check(targets, lengths)
    if not lengths:
        return LENGTH_RULE_THRESHOLD, 0.0
    n = len(lengths)
    pairs = sorted(zip(lengths, targets, strict=True))
    # Sweep thresholds in increasing order: predicting 1 for everything at or above t.
    correct = sum(t for _, t in pairs)  # t = min length: everything predicted 1
    best_t, best_c = pairs[0][0], correct
    i = 0
    while i < n:
        length = pairs[i][0]
        # Move every row of this length from "predicted 1" to "predicted 0".
        while i < n and pairs[i][0] == length:
            correct += 1 if pairs[i][1] == 0 else -1
            i += 1
        t = pairs[i][0] if i < n else length + 1
        if correct > best_c:
            best_t, best_c = t, correct
    return int(best_t), best_c / n


def point_biserial(binary: Sequence[int], values: Sequence[float]) -> float:
    """Point-biserial correlation (Pearson's r of a 0/1 variable and a numeric one); 0.0 if either is constant.

    Example:
        >>> round(point_biserial([0, 0, 1, 1], [10, 12, 40, 44]), 3)
        0.995
    """
    _check(binary, values)
    n = len(binary)
    if n < 2:
        return 0.0
    mb = sum(binary) / n
    mv = sum(values) / n
    cov = sum((b - mb) * (v - mv) for b, v in zip(binary, values, strict=True))
    sb = math.sqrt(sum((b - mb) ** 2 for b in binary))
    sv = math.sqrt(sum((v - mv) ** 2 for v in values))
    if sb == 0 or sv == 0:
        return 0.0
    return cov / (sb * sv)


def bootstrap_ci(y_true: Sequence[int], y_pred: Sequence[int], *, n_boot: int = 1000, seed: int = 0,
                 alpha: float = 0.05) -> dict[str, list[float] | None]:
    """Percentile bootstrap confidence intervals of accuracy and κ (rows resampled with replacement).

    Seeded, so a report is reproducible. ``None`` when there are fewer than two rows or ``n_boot`` is 0.

    Args:
        y_true: Labels.
        y_pred: Predictions.
        n_boot: Resamples.
        seed: Seed of the resampling generator.
        alpha: 0.05 gives 95% intervals.

    Returns:
        ``{"accuracy": [lo, hi], "kappa": [lo, hi]}``.

    Example:
        >>> ci = bootstrap_ci([1, 0, 1, 0, 1], [1, 0, 0, 0, 1], n_boot=200)
        >>> ci["accuracy"][0] <= 0.8 <= ci["accuracy"][1]
        True
    """
    import numpy as np

    _check(y_true, y_pred)
    n = len(y_true)
    if n < 2 or n_boot <= 0:
        return {"accuracy": None, "kappa": None}
    rng = np.random.default_rng(seed)
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    # Chunks keep memory bounded (n_boot × n floats) for large label sets.
    accs: list[Any] = []
    kappas: list[Any] = []
    for start in range(0, n_boot, 256):
        b = min(256, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))
        tb, pb = t[idx], p[idx]
        po = (tb == pb).mean(axis=1)
        pt, pp = tb.mean(axis=1), pb.mean(axis=1)
        pe = pt * pp + (1 - pt) * (1 - pp)
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(pe >= 1.0, 0.0, (po - pe) / np.where(pe >= 1.0, 1.0, 1 - pe))
        accs.append(po)
        kappas.append(k)
    a, k = np.concatenate(accs), np.concatenate(kappas)
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    return {"accuracy": [float(x) for x in np.percentile(a, q)], "kappa": [float(x) for x in np.percentile(k, q)]}


# ----------------------------------------------------------------------------------- composites


def _strict(labels: Sequence[int], preds: Sequence[int | None]) -> list[int]:
    """Predictions with every failure replaced by the wrong answer (1 - label)."""
    return [p if p is not None else 1 - y for y, p in zip(labels, preds, strict=True)]


def _in_slice(length: int, bounds: tuple[int, int]) -> bool:
    return bounds[0] <= length <= bounds[1]


def validation_metrics(labels: Sequence[int], preds: Sequence[int | None], lengths: Sequence[int], *,
                       length_slice: tuple[int, int] = LENGTH_SLICE,
                       threshold: int | None = LENGTH_RULE_THRESHOLD,
                       fitted_threshold: int | None = None) -> dict[str, Any]:
    """The refinement's metrics of one rubric on one split of the labels (flat, JSON-ready).

    ``accuracy``, ``kappa``, ``recall_good``, ``recall_bad``, ``slice_accuracy`` and ``slice_kappa``
    are **strict**: a parse failure counts as a wrong verdict, so a rubric that makes the judge fail
    cannot win the gate. ``accuracy_parsed`` / ``kappa_parsed`` leave failures out; ``parse_failures``
    and ``failure_rate`` say how many there were. The length-only baselines on the same rows sit beside:
    the fixed rule ``len >= threshold`` (``length_baseline_*``; ``None`` when the task has no fixed rule)
    and, when given, a threshold fitted elsewhere (``fitted_baseline_*``; the refinement fits it on
    the optimise and select splits and applies it to the test split).

    Args:
        labels: Human labels.
        preds: Judge verdicts, ``None`` for a failure.
        lengths: Response lengths.
        length_slice: Inclusive bounds of the length-controlled slice.
        threshold: Threshold of the fixed length rule, or ``None`` for none.
        fitted_threshold: A threshold fitted on other rows, or ``None``.

    Example:
        >>> m = validation_metrics([1, 0, 1, 0], [1, 0, None, 0], [40, 20, 45, 35], fitted_threshold=36)
        >>> m["parse_failures"], m["accuracy"], m["accuracy_parsed"], m["fitted_baseline_accuracy"]
        (1, 0.75, 1.0, 1.0)
    """
    _check(labels, preds)
    _check(labels, lengths)
    strict = _strict(labels, preds)
    parsed = [(y, p) for y, p in zip(labels, preds, strict=True) if p is not None]
    fails = len(labels) - len(parsed)
    rec = recall_per_class(labels, strict)
    sl = [i for i, x in enumerate(lengths) if _in_slice(x, length_slice)]
    sl_labels = [labels[i] for i in sl]
    n = len(labels)

    def baseline(t: int | None) -> tuple[float | None, float | None, float | None]:
        if t is None:
            return None, None, None
        base = length_rule(lengths, t)
        return (accuracy(labels, base), cohen_kappa(labels, base),
                accuracy(sl_labels, [base[i] for i in sl]) if sl else None)

    fixed, fitted = baseline(threshold), baseline(fitted_threshold)
    out: dict[str, Any] = {
        "n": n,
        "positives": sum(labels),
        "parse_failures": fails,
        "failure_rate": fails / n if n else 0.0,
        "accuracy": accuracy(labels, strict),
        "kappa": cohen_kappa(labels, strict),
        "recall_good": rec["good"],
        "recall_bad": rec["bad"],
        "accuracy_parsed": accuracy([y for y, _ in parsed], [p for _, p in parsed]) if parsed else None,
        "kappa_parsed": cohen_kappa([y for y, _ in parsed], [p for _, p in parsed]) if parsed else None,
        "slice": list(length_slice),
        "slice_n": len(sl),
        "slice_accuracy": accuracy(sl_labels, [strict[i] for i in sl]) if sl else None,
        "slice_kappa": cohen_kappa(sl_labels, [strict[i] for i in sl]) if sl else None,
        "length_rule_threshold": threshold,
        "length_baseline_accuracy": fixed[0],
        "length_baseline_kappa": fixed[1],
        "slice_length_baseline_accuracy": fixed[2],
    }
    if fitted_threshold is not None:
        out.update(fitted_threshold=fitted_threshold, fitted_baseline_accuracy=fitted[0],
                   fitted_baseline_kappa=fitted[1], slice_fitted_baseline_accuracy=fitted[2])
    return out


def _with_ci(y: Sequence[int], p: Sequence[int], n_boot: int, seed: int) -> dict[str, Any]:
    if not y:  # no rows (e.g. an empty length slice): no figure, rather than a misleading 0.0
        return {"n": 0, "accuracy": None, "kappa": None, "confusion": confusion_matrix([], []),
                "recall": {"good": None, "bad": None}, "positive_rate": None, "ci": None}
    return {**binary_metrics(y, p), "ci": bootstrap_ci(y, p, n_boot=n_boot, seed=seed)}


def _section(labels: list[int], preds: list[int | None], lengths: list[int], statuses: list[str], *,
             threshold: int, fitted: int, n_boot: int, seed: int) -> dict[str, Any]:
    """Judge vs length baselines on one set of rows."""
    keep = [i for i, p in enumerate(preds) if p is not None]
    yj = [labels[i] for i in keep]
    pj = [int(preds[i]) for i in keep]  # type: ignore[arg-type]
    strict = _strict(labels, preds)
    by_status: dict[str, int] = {}
    for p, s in zip(preds, statuses, strict=True):
        if p is None:
            by_status[s] = by_status.get(s, 0) + 1
    n = len(labels)
    fails = n - len(keep)
    return {
        "n": n,
        "positives": sum(labels),
        "parse_failures": {"count": fails, "rate": fails / n if n else 0.0, "by_status": by_status},
        "judge": {
            **_with_ci(yj, pj, n_boot, seed),
            # Same rows as the baselines, failures counted wrong: the fair side-by-side figure.
            "strict": ({"accuracy": accuracy(labels, strict), "kappa": cohen_kappa(labels, strict)} if n
                       else {"accuracy": None, "kappa": None}),
        },
        "length_baseline": {
            "fixed": {"threshold": threshold, **_with_ci(labels, length_rule(lengths, threshold), n_boot, seed)},
            "fitted": {"threshold": fitted, **_with_ci(labels, length_rule(lengths, fitted), n_boot, seed)},
        },
    }


def judge_report(rows: Sequence[dict[str, Any]], preds: Sequence[int | None], *,
                 statuses: Sequence[str] | None = None, n_boot: int = 1000, seed: int = 0,
                 length_slice: tuple[int, int] = LENGTH_SLICE,
                 threshold: int = LENGTH_RULE_THRESHOLD) -> dict[str, Any]:
    """A judge's agreement with human labels, side by side with the length-only baseline.

    Args:
        rows: Labelled rows (``response``, ``label``).
        preds: The judge's verdict per row (1 good, 0 bad), ``None`` where it failed.
        statuses: Failure status per row (``parse_error``, ``timeout``...), for the failure breakdown.
        n_boot: Bootstrap resamples for the confidence intervals (0 to skip).
        seed: Bootstrap seed.
        length_slice: Inclusive bounds of the length-controlled slice.
        threshold: The fixed length rule's threshold.

    Returns:
        A JSON-ready dict: ``overall`` and ``slice`` sections (judge metrics on parsed rows with CIs and
        strict variants, fixed and fitted length baselines with CIs, parse failures),
        ``length_explains_judge`` (agreement of the verdicts with the best length rule fitted to them,
        point-biserial r of verdict and length, and of label and length for reference) and
        ``by_length_band``.

    Example:
        >>> rows = [{"response": "短", "label": 0}, {"response": "长" * 45, "label": 1}]
        >>> rep = judge_report(rows, [0, None], n_boot=0)
        >>> rep["overall"]["parse_failures"]["count"], rep["overall"]["length_baseline"]["fixed"]["accuracy"]
        (1, 1.0)
    """
    if len(rows) != len(preds):
        raise ValueError(f"length mismatch: {len(rows)} rows vs {len(preds)} predictions")
    labels = [int(r["label"]) for r in rows]
    lengths = [response_length(r["response"]) for r in rows]
    stats = list(statuses) if statuses is not None else ["ok" if p is not None else "error" for p in preds]
    fitted, _ = fit_length_threshold(lengths, labels)
    overall = _section(labels, list(preds), lengths, stats, threshold=threshold, fitted=fitted,
                       n_boot=n_boot, seed=seed)

    sl = [i for i, x in enumerate(lengths) if _in_slice(x, length_slice)]
    sl_labels = [labels[i] for i in sl]
    sl_lengths = [lengths[i] for i in sl]
    # The slice gets its own fitted threshold: inside 30–50 chars the global one may be meaningless.
    sl_fitted, _ = fit_length_threshold(sl_lengths, sl_labels)
    slice_sec = _section(sl_labels, [preds[i] for i in sl], sl_lengths, [stats[i] for i in sl],
                         threshold=threshold, fitted=sl_fitted, n_boot=n_boot, seed=seed)
    slice_sec["range"] = list(length_slice)

    keep = [i for i, p in enumerate(preds) if p is not None]
    verdicts = [int(preds[i]) for i in keep]  # type: ignore[arg-type]
    v_lengths = [lengths[i] for i in keep]
    jt, jagree = fit_length_threshold(v_lengths, verdicts)
    explains = {
        "n": len(keep),
        "agreement_with_fixed_rule": accuracy(verdicts, length_rule(v_lengths, threshold)),
        "best_rule_for_verdicts": {"threshold": jt, "agreement": jagree,
                                   "kappa": cohen_kappa(verdicts, length_rule(v_lengths, jt))},
        "point_biserial_verdict_length": point_biserial(verdicts, v_lengths),
        "point_biserial_label_length": point_biserial(labels, lengths),
    }

    bands = []
    base = length_rule(lengths, threshold)
    for lo, hi in LENGTH_BANDS:
        idx = [i for i, x in enumerate(lengths) if x >= lo and (hi is None or x < hi)]
        jk = [i for i in idx if preds[i] is not None]
        bands.append({
            "band": f"{lo}-{hi - 1}" if hi is not None else f"{lo}+",
            "n": len(idx),
            "positive_rate": sum(labels[i] for i in idx) / len(idx) if idx else None,
            "parse_failures": len(idx) - len(jk),
            "judge_accuracy": accuracy([labels[i] for i in jk], [int(preds[i]) for i in jk]) if jk else None,  # type: ignore[arg-type]
            "length_baseline_accuracy": accuracy([labels[i] for i in idx], [base[i] for i in idx]) if idx else None,
        })
    return {
        "overall": overall,
        "slice": slice_sec,
        "length_explains_judge": explains,
        "by_length_band": bands,
        "bootstrap": {"n_boot": n_boot, "seed": seed, "alpha": 0.05},
        "notes": ("judge metrics leave parse failures out (see parse_failures; 'strict' counts them wrong); "
                  "the fitted length threshold is fitted on the same rows, an optimistic bar to clear"),
    }
