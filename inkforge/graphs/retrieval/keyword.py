"""Character-bigram overlap: the smallest retriever, no model and no index."""

from __future__ import annotations

from typing import Any

from inkforge.graphs.retrieval.corpus import CorpusSource
from inkforge.graphs.retrieval.ranking import DEFAULT_POPULARITY_WEIGHT
from inkforge.graphs.retrieval.scored import ScoredRetriever


class KeywordRetriever(ScoredRetriever):
    """Character-bigram Jaccard similarity: deterministic, no dependency, for tests and demos.

    A row shares no bigram with the request scores 0.0 and is never an example.

    Args:
        corpus: Path or rows (see :func:`~inkforge.graphs.retrieval.load_corpus`).
        fetch_k: Candidates taken by similarity before the popularity rerank (default ``3 * k``).
        rerank: ``"popularity"`` (similarity plus at most ``popularity_weight`` for popularity),
            ``"clicks"`` (the paper's order: popularity alone) or ``"none"``/``None`` (see
            :class:`~inkforge.graphs.retrieval.Ranking`).
        popularity_weight: λ of the ``"popularity"`` rerank.
        min_similarity: Jaccard floor; rows below it are never examples.
        popularity_field: Field holding the popularity.
        exclude_same_query: Skip corpus rows whose query equals the request (no answer leakage).

    Example:
        >>> r = KeywordRetriever([{"id": "a", "query": "祝贺朋友升职", "response": "恭喜升职！"},
        ...                       {"id": "b", "query": "中秋节问候", "response": "中秋快乐"}])
        >>> [e["id"] for e in r.retrieve("同事升职了", k=2)]
        ['a']
    """

    kind = "keyword"

    def __init__(self, corpus: CorpusSource, *, fetch_k: int | None = None, rerank: str | None = "popularity",
                 popularity_weight: float = DEFAULT_POPULARITY_WEIGHT, min_similarity: float = 0.0,
                 popularity_field: str = "popularity", exclude_same_query: bool = True) -> None:
        self._setup(corpus, min_similarity=min_similarity, fetch_k=fetch_k, rerank=rerank,
                    popularity_weight=popularity_weight, popularity_field=popularity_field,
                    exclude_same_query=exclude_same_query)
        self._grams = [self._bigrams(r["query"]) for r in self.rows]

    @staticmethod
    def _bigrams(text: str) -> set[str]:
        t = "".join(text.split())
        return {t[i:i + 2] for i in range(max(1, len(t) - 1))}

    def scores(self, query: str) -> Any:
        """The Jaccard similarity of ``query``'s bigrams with each row's (a numpy vector)."""
        import numpy as np

        q = self._bigrams(query)
        return np.array([len(q & g) / max(1, len(q | g)) for g in self._grams], dtype="float64")
