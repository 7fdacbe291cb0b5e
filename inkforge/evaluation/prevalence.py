"""The pass rate a judge reports, corrected for the judge's own errors (Rogan–Gladen), with a bootstrap interval.

A judge that calls 70% of a policy's completions good does not mean 70% are good: a lenient judge
over-counts, a strict one under-counts. With the judge's true-positive rate (TPR, recall of *good*)
and true-negative rate (TNR, recall of *bad*) measured on human-labelled rows, the observed pass rate
``p_obs`` on other items corrects to

    θ = (p_obs + TNR − 1) / (TPR + TNR − 1), clipped to [0, 1]

(Rogan & Gladen, 1978; the estimator the ``judgy`` package applies to LLM judges). It is defined only
when the judge beats chance (``TPR + TNR > 1``). The interval is a percentile bootstrap that resamples
both the labelled rows (so TPR and TNR vary) and the scored items (so ``p_obs`` varies); a resample
without both classes, or where the judge falls to chance, is skipped and counted.

Judge failures (``None`` verdicts) are left out of both sides and counted: the estimate is the pass
rate of the items the judge could score.

Example:
    >>> round(rogan_gladen(0.62, tpr=0.9, tnr=0.8), 3)
    0.6
    >>> rogan_gladen(0.5, tpr=0.5, tnr=0.5) is None
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["corrected_pass_rate", "rogan_gladen"]


def rogan_gladen(p_obs: float, tpr: float, tnr: float) -> float | None:
    """The Rogan–Gladen corrected rate ``(p_obs + tnr - 1) / (tpr + tnr - 1)``, clipped to [0, 1].

    Returns:
        The corrected rate, or ``None`` when ``tpr + tnr <= 1`` (a judge at or below chance carries no
        information to correct with).

    Example:
        >>> rogan_gladen(0.95, tpr=0.9, tnr=0.9)
        1.0
    """
    d = tpr + tnr - 1.0
    if d <= 0.0:
        return None
    return min(1.0, max(0.0, (p_obs + tnr - 1.0) / d))


def _rates(y: Sequence[int], p: Sequence[int]) -> tuple[float | None, float | None]:
    pos = [b for a, b in zip(y, p, strict=True) if a == 1]
    neg = [b for a, b in zip(y, p, strict=True) if a == 0]
    tpr = sum(pos) / len(pos) if pos else None
    tnr = sum(1 - b for b in neg) / len(neg) if neg else None
    return tpr, tnr


def corrected_pass_rate(labels: Sequence[int], preds: Sequence[int | None],
                        scored: Sequence[int | None] | None = None, *, n_boot: int = 1000, seed: int = 0,
                        alpha: float = 0.05) -> dict[str, Any]:
    """Estimate the true pass rate of scored items from the judge's verdicts and its measured error rates.

    Args:
        labels: Human labels (1 good, 0 bad) of the labelled rows.
        preds: The judge's verdicts on those rows, ``None`` for a failure.
        scored: The judge's verdicts on the items whose pass rate is wanted (e.g. a policy's
            completions), ``None`` for a failure. ``None`` (the argument): the labelled rows
            themselves, resampled jointly with their labels, and the human pass rate is reported beside.
        n_boot: Bootstrap resamples (0: no interval).
        seed: Seed of the resampling generator.
        alpha: 0.05 gives a 95% interval.

    Returns:
        A JSON-ready dict: ``items`` (``"unlabelled"`` or ``"labelled"``), ``n``, ``judged``, ``failures``
        (of the scored items), ``observed`` (``p_obs``), ``corrected`` (θ, ``None`` with a ``reason``
        when undefined), ``ci`` (``[lo, hi]`` or ``None``), ``tpr``, ``tnr``, ``labelled`` (judged
        labelled rows: ``n``, ``good``, ``bad``, ``failures``), ``human`` (the labelled rows' true pass
        rate when they are the scored items, else ``None``) and ``bootstrap`` (``n_boot``, ``valid``
        resamples, ``seed``, ``alpha``).

    Raises:
        ValueError: ``labels`` and ``preds`` differ in length.

    Example:
        >>> labels = [1, 1, 1, 1, 0, 0, 0, 0]
        >>> preds = [1, 1, 1, 0, 0, 0, 0, 1]
        >>> est = corrected_pass_rate(labels, preds, [1, 1, 0, 1, 0, 1], n_boot=0)
        >>> est["tpr"], est["tnr"], round(est["observed"], 3), round(est["corrected"], 3)
        (0.75, 0.75, 0.667, 0.833)
    """
    import numpy as np

    if len(labels) != len(preds):
        raise ValueError(f"length mismatch: {len(labels)} labels vs {len(preds)} predictions")
    keep = [i for i, p in enumerate(preds) if p is not None]
    y = [int(labels[i]) for i in keep]
    p = [int(preds[i]) for i in keep]  # type: ignore[arg-type]
    joint = scored is None
    s = p if joint else [int(v) for v in scored if v is not None]  # type: ignore[union-attr]
    n_scored = len(preds) if joint else len(scored)  # type: ignore[arg-type]
    tpr, tnr = _rates(y, p)
    observed = sum(s) / len(s) if s else None
    reason = None
    corrected = None
    if tpr is None or tnr is None:
        reason = "the judged labelled rows need both classes to measure TPR and TNR"
    elif observed is None:
        reason = "no scored item was judged"
    else:
        corrected = rogan_gladen(observed, tpr, tnr)
        if corrected is None:
            reason = f"the judge is no better than chance on the labelled rows (TPR {tpr:.3f} + TNR {tnr:.3f} <= 1)"

    ci = None
    valid = 0
    if corrected is not None and n_boot > 0:
        yt = np.asarray(y, dtype=np.float64)
        pt = np.asarray(p, dtype=np.float64)
        st = np.asarray(s, dtype=np.float64)
        rng = np.random.default_rng(seed)
        draws: list[Any] = []
        n, m = len(y), len(s)
        # Chunks keep memory bounded (chunk × rows floats) for large label sets and many scored items.
        for start in range(0, n_boot, 256):
            b = min(256, n_boot - start)
            idx = rng.integers(0, n, size=(b, n))
            yb, pb = yt[idx], pt[idx]
            pos, neg = yb.sum(axis=1), (1 - yb).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                tpr_b = (yb * pb).sum(axis=1) / pos
                tnr_b = ((1 - yb) * (1 - pb)).sum(axis=1) / neg
            p_obs = pb.mean(axis=1) if joint else st[rng.integers(0, m, size=(b, m))].mean(axis=1)
            d = tpr_b + tnr_b - 1.0
            ok = (pos > 0) & (neg > 0) & (d > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                theta = np.clip((p_obs + tnr_b - 1.0) / d, 0.0, 1.0)
            draws.append(theta[ok])
        got = np.concatenate(draws)
        valid = int(got.size)
        if valid:
            lo, hi = np.percentile(got, [100 * alpha / 2, 100 * (1 - alpha / 2)])
            ci = [float(lo), float(hi)]
    return {
        "items": "labelled" if joint else "unlabelled",
        "n": n_scored,
        "judged": len(s),
        "failures": n_scored - len(s),
        "observed": observed,
        "corrected": corrected,
        "ci": ci,
        "reason": reason,
        "tpr": tpr,
        "tnr": tnr,
        "labelled": {"n": len(y), "good": sum(y), "bad": len(y) - sum(y), "failures": len(preds) - len(y)},
        "human": (sum(y) / len(y) if y else None) if joint else None,
        "bootstrap": {"n_boot": n_boot, "valid": valid, "seed": seed, "alpha": alpha},
    }
