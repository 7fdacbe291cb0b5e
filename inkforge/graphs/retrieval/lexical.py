"""BM25 over analysed terms: the offline retriever that reads any language, Chinese included.

An *analyzer* turns text into terms:

* ``"chars"``: character unigrams and bigrams, for any script written without spaces; the default
  for Chinese. Short requests are matched on their morphemes (婚 in 结婚 and 婚礼, 寿 in 大寿 and
  寿辰), which a word segmenter splits inconsistently; ``bench/retrieval.py`` compares the two;
* ``"jieba"``: Chinese words from jieba's search mode (a compound also yields its parts:
  生日快乐 → 生日, 快乐, 生日快乐); needs the ``zh`` extra (``pip install 'inkforge[zh]'``);
* ``"words"``: lower-cased words, with runs of CJK characters split as ``"chars"`` does;
* or any callable ``text -> list[str]``.

Punctuation-only terms are dropped. :data:`ANALYZER_BY_LANGUAGE` gives each language's default.

The similarity of a row is its BM25 score (bm25s, Lucene variant) divided by the score the request
would get against itself as a corpus row: about 1.0 for a row that is the request, 0.0 for a row
sharing no term with it. Request terms absent from the corpus count in that denominator, so a
request matched only by a frequent word (祝福语) scores low.

Example:
    >>> r = LexicalRetriever([{"id": "a", "query": "给奶奶的生日祝福", "response": "奶奶生日快乐"},
    ...                       {"id": "b", "query": "中秋节问候客户", "response": "中秋快乐"}], analyzer="chars")
    >>> [e["id"] for e in r.retrieve("外婆生日祝福语", k=2)]
    ['a']
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from inkforge.core.errors import InputError
from inkforge.graphs.retrieval.corpus import CorpusSource
from inkforge.graphs.retrieval.ranking import DEFAULT_POPULARITY_WEIGHT
from inkforge.graphs.retrieval.scored import ScoredRetriever

Analyzer = Callable[[str], list[str]]

# CJK ideographs, kana, hangul and their compatibility/extension blocks: scripts written without spaces.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff]+")
_WORD = re.compile(r"\w+")


def _keep(term: str) -> bool:
    return any(c.isalnum() for c in term)


def char_terms(text: str) -> list[str]:
    """Character unigrams and bigrams of ``text`` (lower-cased, spaces and punctuation left out).

    Example:
        >>> char_terms("中秋 快乐！")
        ['中', '秋', '快', '乐', '中秋', '秋快', '快乐']
    """
    chars = [c for c in text.lower() if c.isalnum()]
    return chars + ["".join(p) for p in zip(chars, chars[1:], strict=False)]


def word_terms(text: str) -> list[str]:
    """Lower-cased words; runs of CJK characters become :func:`char_terms`.

    Example:
        >>> word_terms("Happy birthday, 妈妈!")
        ['happy', 'birthday', '妈', '妈', '妈妈']
    """
    out: list[str] = []
    for m in _WORD.finditer(text.lower()):
        w = m.group()
        pos = 0
        for cjk in _CJK.finditer(w):
            if cjk.start() > pos:
                out.append(w[pos:cjk.start()])
            out.extend(char_terms(cjk.group()))
            pos = cjk.end()
        if pos < len(w):
            out.append(w[pos:])
    return [t for t in out if _keep(t) and t != "_"]


@functools.lru_cache(maxsize=1)
def _jieba_tokenizer() -> Any:
    try:
        import jieba
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise InputError(f"the 'jieba' analyzer needs jieba ({e}): pip install 'inkforge[zh]', or use the "
                         "'chars' analyzer (the default for Chinese, no dependency)", field="analyzer") from None
    # jieba logs its dictionary loading at DEBUG to its own stderr handler on every first use.
    logging.getLogger("jieba").setLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()  # once, here, not inside the first (possibly concurrent) query
    return tok


@functools.lru_cache(maxsize=1)
def _bm25s() -> Any:
    try:
        import bm25s
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise InputError(f"bm25s is needed for lexical retrieval: {e} (pip install bm25s)") from None
    # bm25s sets its logger to DEBUG on import, so every index build would reach the application's
    # handlers ("Building index from tokens"); put it back to the usual threshold.
    logger = logging.getLogger("bm25s")
    if logger.level == logging.DEBUG:
        logger.setLevel(logging.WARNING)
    return bm25s


def jieba_terms(text: str) -> list[str]:
    """Chinese words from jieba's search mode (compounds also yield their parts), lower-cased.

    Example:
        >>> jieba_terms("生日快乐祝福语")
        ['生日', '快乐', '生日快乐', '祝福', '祝福语']
    """
    return [t for t in (w.strip().lower() for w in _jieba_tokenizer().cut_for_search(text)) if _keep(t)]


#: The built-in analyzers by name.
ANALYZERS: dict[str, Analyzer] = {"jieba": jieba_terms, "chars": char_terms, "words": word_terms}
#: The analyzer used for a task's language (its primary subtag); others get ``"words"``.
ANALYZER_BY_LANGUAGE: dict[str, str] = {"zh": "chars", "ja": "chars", "ko": "chars", "th": "chars"}


def analyzer_for(language: str) -> str:
    """The default analyzer name for a language tag (``zh``, ``zh-Hant``, ``en``...).

    Example:
        >>> analyzer_for("zh-Hant"), analyzer_for("en")
        ('chars', 'words')
    """
    return ANALYZER_BY_LANGUAGE.get(language.split("-")[0].lower(), "words")


def resolve_analyzer(analyzer: str | Analyzer) -> tuple[str, Analyzer]:
    """``(name, function)`` of an analyzer given by name or as a callable.

    Raises:
        InputError: An unknown name (the known ones are listed).
    """
    if callable(analyzer):
        return f"{getattr(analyzer, '__module__', '?')}.{getattr(analyzer, '__qualname__', repr(analyzer))}", analyzer
    if analyzer not in ANALYZERS:
        raise InputError(f"unknown analyzer {analyzer!r}; known: {', '.join(ANALYZERS)}", field="analyzer")
    return analyzer, ANALYZERS[analyzer]


class LexicalIndex:
    """A BM25 index of texts with similarities normalised per query (see the module docstring).

    Built once, then read-only: :meth:`scores` is safe from many threads.

    Args:
        texts: The documents.
        analyzer: Function from text to terms.
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
    """

    def __init__(self, texts: list[str], analyzer: Analyzer, *, k1: float = 1.5, b: float = 0.75) -> None:
        bm25s = _bm25s()
        self.analyzer, self.k1, self.b = analyzer, k1, b
        docs = [analyzer(t) for t in texts]
        self.n_docs = len(docs)
        self.avgdl = max(1e-9, sum(len(d) for d in docs) / max(1, len(docs)))
        self.df = Counter(t for d in docs for t in set(d))
        self._bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        # An empty placeholder keeps bm25s happy when every document is empty.
        self._bm25.index([d or [""] for d in docs], show_progress=False)

    def idf(self, term: str) -> float:
        """Lucene's idf, as bm25s computes it (a term absent from the corpus gets the largest)."""
        df = self.df.get(term, 0)
        return math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))

    def scores(self, text: str) -> Any:
        """One similarity per document for ``text`` (numpy vector, 0.0 where no term is shared)."""
        import numpy as np

        terms = self.analyzer(text)
        tf = Counter(terms)
        norm = 1 - self.b + self.b * len(terms) / self.avgdl
        self_score = sum(self.idf(t) * n / (n + self.k1 * norm) for t, n in tf.items())
        ids = self._bm25.get_tokens_ids(list(tf))  # each distinct term once, like the self score
        if not ids or self_score <= 0:
            return np.zeros(self.n_docs, dtype="float64")
        return self._bm25.get_scores_from_ids(ids).astype("float64") / self_score


class LexicalRetriever(ScoredRetriever):
    """BM25 retrieval over analysed request terms: offline, no model, reads Chinese.

    Args:
        corpus: Path or rows (see :func:`~inkforge.graphs.retrieval.load_corpus`).
        analyzer: ``"jieba"``, ``"chars"``, ``"words"`` or a callable (see the module docstring).
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation.
        fetch_k: Candidates taken by similarity before the rerank (default ``3 * k``).
        rerank: ``"popularity"``, ``"clicks"`` or ``"none"``/``None`` (see
            :class:`~inkforge.graphs.retrieval.Ranking`).
        popularity_weight: λ of the ``"popularity"`` rerank.
        min_similarity: Normalised-BM25 floor; rows below it are never examples. The default is a
            low bar that drops rows sharing little more than filler with the request; raise it
            (0.3) to prefer no example over a loosely related one. Small corpora score lower (more
            request terms are absent from them).
        popularity_field: Field holding the popularity.
        exclude_same_query: Skip corpus rows whose query equals the request (no answer leakage).

    Example:
        >>> r = LexicalRetriever([{"id": "a", "query": "祝贺朋友升职", "response": "恭喜升职！"},
        ...                       {"id": "b", "query": "中秋节问候", "response": "中秋快乐"}], analyzer="jieba")
        >>> [(e["id"], e["score"] > 0.3) for e in r.retrieve("朋友升职了", k=2)]
        [('a', True)]
    """

    kind = "lexical"
    #: The floor used by :func:`~inkforge.graphs.retrieval.build_retriever` when none is given.
    DEFAULT_MIN_SIMILARITY = 0.15

    def __init__(self, corpus: CorpusSource, *, analyzer: str | Analyzer = "words", k1: float = 1.5,
                 b: float = 0.75, fetch_k: int | None = None, rerank: str | None = "popularity",
                 popularity_weight: float = DEFAULT_POPULARITY_WEIGHT, min_similarity: float = DEFAULT_MIN_SIMILARITY,
                 popularity_field: str = "popularity", exclude_same_query: bool = True) -> None:
        self._setup(corpus, min_similarity=min_similarity, fetch_k=fetch_k, rerank=rerank,
                    popularity_weight=popularity_weight, popularity_field=popularity_field,
                    exclude_same_query=exclude_same_query)
        self.analyzer_name, self.analyzer = resolve_analyzer(analyzer)
        self.k1, self.b = k1, b
        self._lock = threading.Lock()
        self._index: LexicalIndex | None = None

    def build(self) -> LexicalIndex:
        """Analyse and index the corpus queries (thread-safe, once); returns the index."""
        with self._lock:
            if self._index is None:
                self._index = LexicalIndex([r["query"] for r in self.rows], self.analyzer, k1=self.k1, b=self.b)
            return self._index

    def scores(self, query: str) -> Any:
        """One normalised BM25 similarity per corpus row (numpy vector)."""
        return self.build().scores(query)

    def fingerprint(self) -> dict[str, Any]:
        """Identity stored with a run: corpus, analyzer, BM25 parameters and every ranking setting."""
        return self._fingerprint(analyzer=self.analyzer_name, k1=self.k1, b=self.b)
