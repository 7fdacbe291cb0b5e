"""Diversity and length statistics of generated texts (character level, so they work for Chinese).

Example:
    >>> distinct_n(["新年快乐", "新年好"], 1)
    0.7142857142857143
    >>> round(self_bleu(["祝你生日快乐", "祝你生日快乐"]), 3)
    1.0
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence

__all__ = ["distinct_n", "length_stats", "self_bleu"]


def _ngrams(text: str, n: int) -> list[str]:
    return [text[i : i + n] for i in range(len(text) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Corpus-level distinct-n: unique character n-grams over all n-grams, across all texts.

    Args:
        texts: Generated texts.
        n: n-gram order.

    Returns:
        A ratio in [0, 1]; ``0.0`` when there are no n-grams at all.
    """
    grams = [g for text in texts for g in _ngrams(text, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(texts: Sequence[str], max_n: int = 4) -> float:
    """Self-BLEU: mean BLEU of each text against all the others as references (character n-grams).

    High self-BLEU means the texts resemble each other: a policy collapsing onto one template.
    Orders above 1 use add-one smoothing so short texts do not zero the geometric mean.

    Args:
        texts: Generated texts (at least two non-empty ones for a meaningful value).
        max_n: Highest n-gram order.

    Returns:
        A value in [0, 1]; ``0.0`` with fewer than two non-empty texts.
    """
    texts = [t for t in texts if t]
    if len(texts) < 2:
        return 0.0
    counts = [[Counter(_ngrams(t, n)) for n in range(1, max_n + 1)] for t in texts]
    scores = []
    for i, hyp in enumerate(texts):
        log_precision = 0.0
        for k in range(max_n):
            hyp_counts = counts[i][k]
            max_ref: Counter[str] = Counter()
            for j in range(len(texts)):
                if j != i:
                    max_ref |= counts[j][k]
            total = sum(hyp_counts.values())
            clipped = sum(min(c, max_ref[g]) for g, c in hyp_counts.items())
            if k == 0:
                if clipped == 0:
                    log_precision = -math.inf
                    break
                log_precision += math.log(clipped / total)
            else:
                log_precision += math.log((clipped + 1) / (total + 1))
        if log_precision == -math.inf:
            scores.append(0.0)
            continue
        closest = min((len(t) for j, t in enumerate(texts) if j != i), key=lambda r: (abs(r - len(hyp)), r))
        brevity = 1.0 if len(hyp) > closest else math.exp(1 - closest / max(len(hyp), 1))
        scores.append(brevity * math.exp(log_precision / max_n))
    return sum(scores) / len(scores)


def length_stats(texts: Sequence[str]) -> dict[str, float]:
    """Character-length statistics.

    Args:
        texts: Texts.

    Returns:
        ``mean``, ``median``, ``p10``, ``p90``, ``min``, ``max`` (all ``0.0`` for no texts).
    """
    lengths = sorted(len(t) for t in texts)
    if not lengths:
        return dict.fromkeys(("mean", "median", "p10", "p90", "min", "max"), 0.0)

    def pct(q: float) -> float:
        return float(lengths[min(len(lengths) - 1, int(q * (len(lengths) - 1) + 0.5))])

    return {
        "mean": float(statistics.fmean(lengths)),
        "median": float(statistics.median(lengths)),
        "p10": pct(0.1),
        "p90": pct(0.9),
        "min": float(lengths[0]),
        "max": float(lengths[-1]),
    }
