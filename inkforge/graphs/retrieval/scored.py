"""The shared half of every shipped retriever: score all corpus rows, then rank them.

A retriever differs from another only in how it scores a request against the corpus rows; the
floor, the rerank, the batched ``retrieve_many`` and the run fingerprint are the same for all and
live here once. A subclass sets :attr:`kind`, calls :meth:`_setup` from its constructor and
implements :meth:`scores` (or :meth:`scores_many`, when batching pays, as for an encoder).

Example:
    >>> import numpy as np
    >>> class Constant(ScoredRetriever):
    ...     kind = "constant"
    ...     def __init__(self, rows):
    ...         self._setup(rows, min_similarity=0.0)
    ...     def scores(self, query):
    ...         return np.array([0.5] * len(self.rows))
    >>> r = Constant([{"id": "a", "query": "升职", "response": "恭喜"}])
    >>> [e["id"] for e in r.retrieve("同事升职", k=1)], r.fingerprint()["kind"]
    (['a'], 'constant')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from inkforge.graphs.retrieval.corpus import CorpusSource, corpus_hash, load_corpus
from inkforge.graphs.retrieval.ranking import DEFAULT_POPULARITY_WEIGHT, Ranking

__all__ = ["ScoredRetriever"]


class ScoredRetriever:
    """Base of retrievers that give every corpus row a similarity (see the module docstring).

    Attributes:
        kind: The retriever's name in run fingerprints.
        rows: The validated corpus rows.
        ranking: The floor and rerank applied to the scores.
    """

    kind: ClassVar[str] = "scored"
    rows: list[dict[str, Any]]
    ranking: Ranking

    def _setup(self, corpus: CorpusSource, *, min_similarity: float, fetch_k: int | None = None,
               rerank: str | None = "popularity", popularity_weight: float = DEFAULT_POPULARITY_WEIGHT,
               popularity_field: str = "popularity", exclude_same_query: bool = True) -> None:
        """Load the corpus and build the ranking (called by subclass constructors)."""
        self.rows = load_corpus(corpus, popularity_field=popularity_field)
        self.ranking = Ranking(min_similarity=min_similarity, fetch_k=fetch_k, rerank=rerank,  # type: ignore[arg-type]
                               popularity_weight=popularity_weight, popularity_field=popularity_field,
                               exclude_same_query=exclude_same_query)
        self._max_pop = self.ranking.max_popularity(self.rows)

    def scores(self, query: str) -> Any:
        """One similarity per corpus row (numpy vector)."""
        return self.scores_many([query])[0]

    def scores_many(self, queries: Sequence[str]) -> Any:
        """Similarities, one row per query and one column per corpus row (numpy matrix)."""
        import numpy as np

        if type(self).scores is ScoredRetriever.scores:  # neither is overridden: no scoring at all
            raise NotImplementedError(f"{type(self).__name__} implements neither scores nor scores_many")
        return np.stack([self.scores(q) for q in queries]) if queries else np.zeros((0, len(self.rows)))

    def retrieve(self, query: str, k: int) -> list[dict[str, Any]]:
        """At most ``k`` examples for ``query``: similarity, floor, rerank (see :class:`Ranking`)."""
        return self.retrieve_many([query], k)[0]

    def retrieve_many(self, queries: Sequence[str], k: int) -> list[list[dict[str, Any]]]:
        """Batched :meth:`retrieve` (one :meth:`scores_many` call for all queries)."""
        sims = self.scores_many(queries)
        return [self.ranking.select(q, s, self.rows, k, max_popularity=self._max_pop)
                for q, s in zip(queries, sims, strict=True)]

    def _fingerprint(self, **identity: Any) -> dict[str, Any]:
        """The run identity: kind, corpus, the subclass' own ``identity`` and every ranking setting."""
        r = self.ranking
        corpus = corpus_hash(self.rows, r.popularity_field if r.uses_popularity else None)
        return {"kind": self.kind, "corpus": corpus, **identity, **r.fingerprint()}

    def fingerprint(self) -> dict[str, Any]:
        """Identity stored with a run, so a resume with another corpus or setting is refused."""
        return self._fingerprint()
