"""Hybrid retrieval: embedding cosine fused with the lexical similarity.

The fused similarity of a row is ``w * max(cosine, 0) + (1 - w) * min(lexical, 1)`` with
``w = embedding_weight`` (default 0.5): both parts are about 1.0 for a row identical to the request,
so the fusion is a plain weighted mean on one scale, the floor and the popularity rerank apply to it
as to any similarity, and an exact lexical match keeps its lead when the embedder reads the
language poorly. Score fusion rather than rank fusion (RRF) because the floor needs a similarity,
not a rank.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from inkforge.graphs.retrieval.corpus import CorpusSource
from inkforge.graphs.retrieval.embedding import DEFAULT_UNK_WARN_THRESHOLD, EmbeddingRetriever
from inkforge.graphs.retrieval.lexical import Analyzer, LexicalRetriever
from inkforge.graphs.retrieval.ranking import DEFAULT_POPULARITY_WEIGHT
from inkforge.graphs.retrieval.scored import ScoredRetriever


class HybridRetriever(ScoredRetriever):
    """Embedding and lexical similarity fused by a weighted mean (see the module docstring).

    Args:
        corpus: Path or rows (see :func:`~inkforge.graphs.retrieval.load_corpus`).
        model: sentence-transformers model (hub id or folder; default:
            :func:`~inkforge.graphs.retrieval.default_embedding_model`).
        analyzer: The lexical analyzer (see :mod:`inkforge.graphs.retrieval.lexical`).
        embedding_weight: ``w`` of the fusion, in [0, 1].
        fetch_k: Candidates taken by fused similarity before the rerank (default ``3 * k``).
        rerank: ``"popularity"``, ``"clicks"`` or ``"none"``/``None``.
        popularity_weight: λ of the ``"popularity"`` rerank.
        min_similarity: Fused-similarity floor (``None``: ``w`` times the embedding floor plus
            ``1 - w`` times the lexical floor, so a row at both floors sits at the fused one).
        popularity_field: Field holding the popularity.
        cache_dir: Embedding-matrix cache folder (see :class:`EmbeddingRetriever`).
        exclude_same_query: Skip corpus rows whose query equals the request.
        device: Torch device for encoding.
        unk_warn_threshold: See :class:`EmbeddingRetriever`.

    Example::

        r = HybridRetriever("corpus.jsonl", model="BAAI/bge-small-zh-v1.5", analyzer="chars")
        r.retrieve("同事升职了", k=3)
    """

    kind = "hybrid"

    def __init__(self, corpus: CorpusSource, *, model: str | None = None, analyzer: str | Analyzer = "words",
                 embedding_weight: float = 0.5, fetch_k: int | None = None, rerank: str | None = "popularity",
                 popularity_weight: float = DEFAULT_POPULARITY_WEIGHT, min_similarity: float | None = None,
                 popularity_field: str = "popularity", cache_dir: str | os.PathLike[str] | None = ".cache/inkforge/index",
                 exclude_same_query: bool = True, device: str | None = "cpu",
                 unk_warn_threshold: float = DEFAULT_UNK_WARN_THRESHOLD) -> None:
        if not 0.0 <= embedding_weight <= 1.0:
            raise ValueError(f"embedding_weight must be in [0, 1], got {embedding_weight}")
        # The parts only score; ranking happens once, on the fused similarity.
        self.embedding = EmbeddingRetriever(corpus, model=model, rerank=None, popularity_field=popularity_field,
                                            cache_dir=cache_dir, device=device, unk_warn_threshold=unk_warn_threshold)
        self.rows = self.embedding.rows
        self.lexical = LexicalRetriever(self.rows, analyzer=analyzer, rerank=None, popularity_field=popularity_field)
        self.embedding_weight = embedding_weight
        if min_similarity is None:
            min_similarity = (embedding_weight * EmbeddingRetriever.DEFAULT_MIN_SIMILARITY
                              + (1 - embedding_weight) * LexicalRetriever.DEFAULT_MIN_SIMILARITY)
        self._setup(self.rows, min_similarity=min_similarity, fetch_k=fetch_k, rerank=rerank,
                    popularity_weight=popularity_weight, popularity_field=popularity_field,
                    exclude_same_query=exclude_same_query)

    @property
    def unk_rate(self) -> float | None:
        """The embedder's unknown-token share over the corpus queries (after :meth:`build`)."""
        return self.embedding.unk_rate

    def build(self) -> None:
        """Build both indexes (thread-safe, once each)."""
        self.embedding.build()
        self.lexical.build()

    def scores_many(self, queries: Sequence[str]) -> Any:
        """Fused similarities, one row per query (numpy matrix)."""
        import numpy as np

        cos = np.clip(self.embedding.scores_many(queries), 0.0, None)
        lex = np.stack([np.minimum(self.lexical.scores(q), 1.0) for q in queries]) if queries else cos
        w = self.embedding_weight
        return w * cos + (1 - w) * lex

    def fingerprint(self) -> dict[str, Any]:
        """Identity stored with a run: both parts, the fusion weight and every ranking setting."""
        emb, lex = self.embedding.fingerprint(), self.lexical.fingerprint()
        return self._fingerprint(model=emb["model"], analyzer=lex["analyzer"], k1=lex["k1"], b=lex["b"],
                                 embedding_weight=self.embedding_weight)
