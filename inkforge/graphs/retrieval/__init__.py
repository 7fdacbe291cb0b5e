"""Few-shot retrieval: the examples the writer sees for each query.

The paper retrieves, for each request, past requests that resemble it and shows their responses as
examples, ranked by similarity and then by how often users picked them (click counts). Here every
retriever scores the corpus rows against the request, then one shared :class:`Ranking` applies a
similarity floor (a zero-similarity row is never an example) and the popularity rerank among the
relevant rows only:

* :class:`LexicalRetriever`: BM25 (bm25s) over analysed terms (character n-grams for Chinese,
  jieba words optionally); offline, no model; the default for languages the default embedder cannot read;
* :class:`EmbeddingRetriever`: sentence-transformers cosine, exact, cached on disk; warns when its
  tokenizer does not know the corpus' language (:attr:`EmbeddingRetriever.unk_rate`);
* :class:`HybridRetriever`: both similarities fused by a weighted mean;
* :class:`KeywordRetriever`: character-bigram overlap, for tests and as the smallest example of the
  :class:`Retriever` protocol.

:func:`build_retriever` makes any of them from :class:`RetrievalSettings` (the user's options) and
the task; :func:`default_retriever` is its ``kind="auto"`` choice by the task's language.

Any object with ``retrieve(query, k) -> list[dict]`` plugs in (a vector database...); each
returned dict needs ``query`` and ``response`` and should have an ``id`` (kept in pair provenance).

Example:
    >>> r = KeywordRetriever([{"id": "a", "query": "祝贺朋友升职", "response": "恭喜升职！"},
    ...                       {"id": "b", "query": "中秋节问候", "response": "中秋快乐"}])
    >>> [e["id"] for e in r.retrieve("同事升职了", k=1)]
    ['a']
"""

from __future__ import annotations

from inkforge.graphs.retrieval.corpus import SAMPLE_CORPUS, Retriever, corpus_hash, load_corpus
from inkforge.graphs.retrieval.embedding import (
    DEFAULT_UNK_WARN_THRESHOLD,
    EmbeddingRetriever,
    default_embedding_model,
    unknown_token_rate,
)
from inkforge.graphs.retrieval.factory import (
    DEFAULT_EMBEDDER_LANGUAGES,
    RETRIEVER_KINDS,
    RetrievalSettings,
    build_retriever,
    default_retriever,
)
from inkforge.graphs.retrieval.hybrid import HybridRetriever
from inkforge.graphs.retrieval.keyword import KeywordRetriever
from inkforge.graphs.retrieval.lexical import (
    ANALYZER_BY_LANGUAGE,
    ANALYZERS,
    LexicalIndex,
    LexicalRetriever,
    analyzer_for,
)
from inkforge.graphs.retrieval.ranking import DEFAULT_POPULARITY_WEIGHT, RERANK_MODES, Ranking
from inkforge.graphs.retrieval.scored import ScoredRetriever

__all__ = ["ANALYZERS", "ANALYZER_BY_LANGUAGE", "DEFAULT_EMBEDDER_LANGUAGES", "DEFAULT_POPULARITY_WEIGHT",
           "DEFAULT_UNK_WARN_THRESHOLD", "RERANK_MODES", "RETRIEVER_KINDS", "SAMPLE_CORPUS", "EmbeddingRetriever",
           "HybridRetriever", "KeywordRetriever", "LexicalIndex", "LexicalRetriever", "Ranking", "RetrievalSettings",
           "Retriever", "ScoredRetriever", "analyzer_for", "build_retriever", "corpus_hash", "default_embedding_model",
           "default_retriever", "load_corpus", "unknown_token_rate"]
