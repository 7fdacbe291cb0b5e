"""One constructor for every retriever, from the values a user passes on the command line.

:class:`RetrievalSettings` holds them (frozen, validated); :func:`build_retriever` turns them and
the task into a retriever. ``kind="auto"`` (the default) picks by the task's language:

* a model named (``model=`` or ``INKFORGE_EMBEDDING_MODEL``): ``"hybrid"``, that model's cosine
  fused with the lexical similarity (see :mod:`inkforge.graphs.retrieval.hybrid`);
* no model, and the language is one the default embedder reads (:data:`DEFAULT_EMBEDDER_LANGUAGES`,
  English for all-MiniLM-L6-v2): ``"embedding"`` with that model;
* otherwise ``"lexical"``: BM25 with the language's analyzer (character n-grams for Chinese), offline.

Example:
    >>> from inkforge.core.tasks import get_task
    >>> from inkforge.graphs.retrieval import SAMPLE_CORPUS
    >>> r = build_retriever(SAMPLE_CORPUS, RetrievalSettings(), task=get_task("greeting"))
    >>> type(r).__name__, r.analyzer_name
    ('LexicalRetriever', 'chars')
    >>> [e["query"] for e in r.retrieve("外婆九十大寿", k=3)]
    ['给外婆九十岁生日的祝福']
    >>> r.retrieve("今天天气怎么样", k=3)  # nothing relevant: no example rather than a random one
    []
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inkforge.core.errors import InputError
from inkforge.core.tasks import TaskSpec, get_task
from inkforge.graphs.retrieval.corpus import CorpusSource, load_corpus
from inkforge.graphs.retrieval.embedding import DEFAULT_UNK_WARN_THRESHOLD, EmbeddingRetriever
from inkforge.graphs.retrieval.hybrid import HybridRetriever
from inkforge.graphs.retrieval.keyword import KeywordRetriever
from inkforge.graphs.retrieval.lexical import LexicalRetriever, analyzer_for
from inkforge.graphs.retrieval.ranking import DEFAULT_POPULARITY_WEIGHT

RetrieverKind = Literal["auto", "lexical", "embedding", "hybrid", "keyword"]
RETRIEVER_KINDS: tuple[str, ...] = ("auto", "lexical", "embedding", "hybrid", "keyword")
#: Languages (primary subtags) that the default embedder, all-MiniLM-L6-v2, reads.
DEFAULT_EMBEDDER_LANGUAGES: frozenset[str] = frozenset({"en"})

_FLOORS: dict[str, float | None] = {
    "lexical": LexicalRetriever.DEFAULT_MIN_SIMILARITY,
    "embedding": EmbeddingRetriever.DEFAULT_MIN_SIMILARITY,
    "hybrid": None,  # HybridRetriever derives it from the fusion weight
    "keyword": 0.0,
}


class RetrievalSettings(BaseModel):
    """How few-shot examples are retrieved: one field per user-facing option.

    Attributes:
        kind: ``"auto"`` (by the task's language, see the module docstring), ``"lexical"`` (BM25),
            ``"embedding"`` (sentence-transformers cosine), ``"hybrid"`` (both fused) or
            ``"keyword"`` (character-bigram Jaccard).
        model: Embedding model, hub id or local folder (embedding/hybrid; ``None``:
            ``INKFORGE_EMBEDDING_MODEL`` or the offline all-MiniLM-L6-v2).
        analyzer: Lexical analyzer (``"jieba"``, ``"chars"``, ``"words"``; ``None``: by the task's
            language, see :data:`~inkforge.graphs.retrieval.lexical.ANALYZER_BY_LANGUAGE`).
        k: Examples per query (the graph's ``k``; a retriever may return fewer).
        fetch_k: Candidates taken by similarity before the rerank (``None``: ``3 * k``).
        rerank: ``"popularity"`` (similarity + λ·log(1 + popularity)), ``"clicks"`` (the paper's
            popularity order) or ``"none"``.
        popularity_weight: λ of the popularity rerank.
        min_similarity: Similarity floor (``None``: the kind's default: lexical 0.15, embedding 0.3,
            hybrid the fusion's weighted mean of the two, keyword 0.0; a zero similarity is never used,
            whatever the floor).
        embedding_weight: Weight of the cosine in the hybrid fusion.
        popularity_field: Corpus field holding the popularity.
        cache_dir: Embedding-matrix cache folder (``None``: no cache).
        device: Torch device for the embedder.
        unk_warn_threshold: Embedder unknown-token share above which a warning is logged.

    Example:
        >>> RetrievalSettings(kind="lexical", rerank="clicks").resolve_kind("en")
        'lexical'
        >>> RetrievalSettings().resolve_kind("zh"), RetrievalSettings().resolve_kind("en")
        ('lexical', 'embedding')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: RetrieverKind = "auto"
    model: str | None = None
    analyzer: Literal["jieba", "chars", "words"] | None = None
    k: int = Field(default=3, ge=1)
    fetch_k: int | None = Field(default=None, ge=1)
    rerank: Literal["popularity", "clicks", "none"] = "popularity"
    popularity_weight: float = Field(default=DEFAULT_POPULARITY_WEIGHT, ge=0)
    min_similarity: float | None = None
    embedding_weight: float = Field(default=0.5, ge=0, le=1)
    popularity_field: str = "popularity"
    cache_dir: str | None = ".cache/inkforge/index"
    device: str | None = "cpu"
    unk_warn_threshold: float = Field(default=DEFAULT_UNK_WARN_THRESHOLD, ge=0, le=1)

    @classmethod
    def from_options(cls, **values: Any) -> RetrievalSettings:
        """Validate user values (``None`` means "not given": the default).

        Raises:
            InputError: A bad value, naming the field.
        """
        try:
            return cls(**{k: v for k, v in values.items() if v is not None})
        except ValidationError as e:
            err = e.errors()[0]
            raise InputError(err["msg"], field=".".join(str(p) for p in err["loc"]) or None) from None

    def named_model(self) -> str | None:
        """The embedding model the user named (option or ``INKFORGE_EMBEDDING_MODEL``), else ``None``."""
        return self.model or os.environ.get("INKFORGE_EMBEDDING_MODEL") or None

    def resolve_kind(self, language: str) -> str:
        """The concrete kind for a task language (``kind`` itself unless ``"auto"``)."""
        if self.kind != "auto":
            return self.kind
        if self.named_model():
            return "hybrid"
        if language.split("-")[0].lower() in DEFAULT_EMBEDDER_LANGUAGES:
            return "embedding"
        return "lexical"

    def floor(self, kind: str) -> float | None:
        """The similarity floor given to a ``kind`` retriever (``None``: the retriever's default)."""
        return self.min_similarity if self.min_similarity is not None else _FLOORS[kind]


def build_retriever(corpus: CorpusSource, settings: RetrievalSettings | None = None, *,
                    task: TaskSpec | str, **options: Any) -> Any:
    """The retriever that ``settings`` (and ``options`` over them) describe, for ``task``'s language.

    Args:
        corpus: Path or rows (see :func:`~inkforge.graphs.retrieval.load_corpus`).
        settings: The settings (default: all defaults).
        task: The task (or its registered name): its ``language`` drives ``kind="auto"`` and the
            default analyzer.
        **options: Field overrides of ``settings`` (``None`` values are ignored).

    Returns:
        A :class:`~inkforge.graphs.retrieval.LexicalRetriever`,
        :class:`~inkforge.graphs.retrieval.EmbeddingRetriever`,
        :class:`~inkforge.graphs.retrieval.HybridRetriever` or
        :class:`~inkforge.graphs.retrieval.KeywordRetriever`. Embedding indexes are built lazily:
        call ``build()`` to embed up front (and read ``unk_rate``).

    Raises:
        InputError: A bad option or corpus (located), an unknown task.
    """
    base = (settings or RetrievalSettings()).model_dump()
    s = RetrievalSettings.from_options(**{**base, **{k: v for k, v in options.items() if v is not None}})
    language = get_task(task).language
    kind = s.resolve_kind(language)
    rows = load_corpus(corpus, popularity_field=s.popularity_field)
    ranking: dict[str, Any] = {"fetch_k": s.fetch_k, "rerank": s.rerank, "popularity_weight": s.popularity_weight,
                               "popularity_field": s.popularity_field}
    if s.floor(kind) is not None:
        ranking["min_similarity"] = s.floor(kind)
    analyzer = s.analyzer or analyzer_for(language)
    embedder: dict[str, Any] = {"model": s.named_model(), "cache_dir": s.cache_dir, "device": s.device,
                                "unk_warn_threshold": s.unk_warn_threshold}
    if kind == "keyword":
        return KeywordRetriever(rows, **ranking)
    if kind == "lexical":
        return LexicalRetriever(rows, analyzer=analyzer, **ranking)
    if kind == "embedding":
        return EmbeddingRetriever(rows, **embedder, **ranking)
    return HybridRetriever(rows, analyzer=analyzer, embedding_weight=s.embedding_weight, **embedder, **ranking)


def default_retriever(corpus: CorpusSource, task: TaskSpec | str, *, model: str | None = None,
                      **options: Any) -> Any:
    """The retriever ``kind="auto"`` picks for ``task`` (see the module docstring).

    Args:
        corpus: Path or rows.
        task: The task or its name.
        model: An embedding model to use (makes the choice ``"hybrid"``).
        **options: Other :class:`RetrievalSettings` fields.

    Example:
        >>> from inkforge.graphs.retrieval import SAMPLE_CORPUS
        >>> type(default_retriever(SAMPLE_CORPUS, "greeting")).__name__
        'LexicalRetriever'
    """
    return build_retriever(corpus, RetrievalSettings(kind="auto"), task=task, model=model, **options)


__all__ = ["DEFAULT_EMBEDDER_LANGUAGES", "RETRIEVER_KINDS", "RetrievalSettings", "RetrieverKind",
           "build_retriever", "default_retriever"]
