"""From similarity scores to examples: the similarity floor and the popularity rerank.

Every retriever scores each corpus row against the request (a similarity, about 1.0 for a row
identical to the request, 0.0 for one sharing nothing with it) and hands the scores to
:class:`Ranking`, which:

1. takes the ``fetch_k`` most similar rows (default ``3 * k``), leaving out the request itself;
2. drops every row whose similarity is zero or below ``min_similarity``: a request with no
   relevant row gets fewer examples, or none, never unrelated ones;
3. orders the survivors by ``rerank``:

   * ``"popularity"`` (default): ``similarity + λ * log(1 + popularity) / log(1 + max_popularity)``
     with ``λ = popularity_weight`` (default 0.1) and ``max_popularity`` the corpus' largest. The
     popularity term lies in ``[0, λ]`` whatever the click counts, so popularity breaks near-ties
     between relevant rows (a row ten times more clicked than another, out of a maximum of 10 000
     clicks, gains about 0.025) but lifts no row by more than λ: a row is ranked above a better
     match only when its similarity is within λ of it, and unrelated rows are already gone
     (step 2);
   * ``"clicks"``: by popularity alone, as in the paper (the popularity rerank of the top hits);
   * ``"none"``: by similarity alone;

4. keeps the first ``k``.

Example:
    >>> import numpy as np
    >>> rows = [{"id": "a", "query": "升职祝贺", "response": "恭喜", "popularity": 1},
    ...         {"id": "b", "query": "中秋问候", "response": "中秋快乐", "popularity": 9000}]
    >>> [e["id"] for e in Ranking().select("同事升职", np.array([0.6, 0.0]), rows, k=2)]
    ['a']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

RerankMode = Literal["popularity", "clicks", "none"]
RERANK_MODES: tuple[str, ...] = ("popularity", "clicks", "none")
#: λ of the ``"popularity"`` rerank: the most that popularity adds to a similarity.
DEFAULT_POPULARITY_WEIGHT = 0.1


def rerank_mode(value: str | None) -> RerankMode:
    """Normalise a rerank argument (``None`` means ``"none"``).

    Raises:
        ValueError: Not one of :data:`RERANK_MODES`.
    """
    mode = "none" if value is None else value
    if mode not in RERANK_MODES:
        raise ValueError(f"rerank must be one of {', '.join(RERANK_MODES)} (or None), got {value!r}")
    return mode  # type: ignore[return-value]


@dataclass(frozen=True)
class Ranking:
    """The ranking settings shared by every retriever (see the module docstring).

    Attributes:
        min_similarity: Rows scoring below it are never examples (rows scoring 0.0 never are,
            whatever the floor).
        fetch_k: Candidates taken by similarity before the rerank (``None``: ``3 * k``).
        rerank: ``"popularity"``, ``"clicks"`` or ``"none"``.
        popularity_weight: λ of the ``"popularity"`` rerank: the most popularity adds to a similarity.
        popularity_field: The corpus field holding the popularity (missing counts as 0).
        exclude_same_query: Skip corpus rows whose query equals the request (no answer leakage).
    """

    min_similarity: float = 0.0
    fetch_k: int | None = None
    rerank: RerankMode = "popularity"
    popularity_weight: float = DEFAULT_POPULARITY_WEIGHT
    popularity_field: str = "popularity"
    exclude_same_query: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "rerank", rerank_mode(self.rerank))
        if self.fetch_k is not None and self.fetch_k < 1:
            raise ValueError(f"fetch_k must be >= 1, got {self.fetch_k}")
        if not self.popularity_weight >= 0:
            raise ValueError(f"popularity_weight must be >= 0, got {self.popularity_weight}")
        if not math.isfinite(self.min_similarity):
            raise ValueError(f"min_similarity must be a finite number, got {self.min_similarity}")

    @property
    def uses_popularity(self) -> bool:
        """Whether the order depends on the popularity field."""
        return self.rerank != "none"

    def fetch(self, k: int) -> int:
        """How many candidates are taken by similarity for ``k`` examples."""
        return self.fetch_k or 3 * k

    def max_popularity(self, rows: Sequence[Mapping[str, Any]]) -> float:
        """The largest popularity in ``rows`` (0.0 when none has one): the scale of the λ rerank."""
        return max((self._popularity(r) for r in rows), default=0.0)

    def select(self, query: str, scores: Any, rows: Sequence[Mapping[str, Any]], k: int, *,
               max_popularity: float | None = None) -> list[dict[str, Any]]:
        """The examples for ``query`` from one similarity per row.

        Args:
            query: The request (rows with the same query are skipped when ``exclude_same_query``).
            scores: One similarity per row (numpy vector aligned with ``rows``).
            rows: The corpus rows.
            k: The most examples returned.
            max_popularity: :meth:`max_popularity` of ``rows``, when the caller has it (retrievers
                compute it once); computed here otherwise.
        """
        import numpy as np

        if k < 1:
            return []
        scores = np.asarray(scores, dtype="float64")
        fetch = self.fetch(k)
        n = min(len(rows), fetch + (1 if self.exclude_same_query else 0))
        idx = np.argpartition(-scores, n - 1)[:n] if n < len(rows) else np.arange(len(rows))
        # Stable: equal similarity keeps corpus order, so results never depend on the partition.
        idx = idx[np.lexsort((idx, -scores[idx]))]
        q = query.strip()
        hits = [(float(scores[i]), rows[i]) for i in idx
                if not (self.exclude_same_query and rows[i]["query"].strip() == q)][:fetch]
        hits = [(s, r) for s, r in hits if s > 0.0 and s >= self.min_similarity]
        if self.rerank == "popularity" and hits:
            top = self.max_popularity(rows) if max_popularity is None else max_popularity
            lam = self.popularity_weight / math.log1p(top) if top > 0 else 0.0
            hits.sort(key=lambda h: -(h[0] + lam * math.log1p(self._popularity(h[1]))))
        elif self.rerank == "clicks":
            hits.sort(key=lambda h: -self._popularity(h[1]))  # stable: equal clicks keep similarity order
        return [self._example(r, s) for s, r in hits[:k]]

    def _popularity(self, row: Mapping[str, Any]) -> float:
        return float(row.get(self.popularity_field) or 0.0)

    def _example(self, row: Mapping[str, Any], score: float) -> dict[str, Any]:
        ex = {"id": row["id"], "query": row["query"], "response": row["response"], "score": round(score, 4)}
        if row.get(self.popularity_field) is not None:
            ex["popularity"] = row[self.popularity_field]
        return ex

    def fingerprint(self) -> dict[str, Any]:
        """Every setting that changes which examples come back (JSON-ready)."""
        fp = asdict(self)
        if not self.uses_popularity:  # these do not change results then
            fp.pop("popularity_weight")
            fp.pop("popularity_field")
        elif self.rerank == "clicks":
            fp.pop("popularity_weight")
        return fp
