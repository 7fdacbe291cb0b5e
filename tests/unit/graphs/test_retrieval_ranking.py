"""The shared ranking: similarity floor, λ popularity rerank, the paper's click order, fingerprints."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from inkforge.graphs.retrieval import KeywordRetriever, LexicalRetriever, Ranking

ROWS = [
    {"id": "exact", "query": "给奶奶的八十大寿祝福", "response": "奶奶寿比南山！", "popularity": 0},
    {"id": "near", "query": "给外婆的八十大寿祝福", "response": "外婆福如东海！", "popularity": 3},
    {"id": "viral", "query": "最火的祝福语", "response": "万事如意！", "popularity": 10**9},
    {"id": "far", "query": "中秋节问候客户", "response": "中秋快乐", "popularity": 500},
    {"id": "other", "query": "新店开业大吉", "response": "生意兴隆", "popularity": 80},
    {"id": "t", "query": "给老师的教师节祝福语", "response": "老师辛苦了", "popularity": 40},
    {"id": "m", "query": "给妈妈的母亲节祝福语", "response": "妈妈节日快乐", "popularity": 60},
    {"id": "n", "query": "给同事的新年祝福语", "response": "新年快乐", "popularity": 20},
]


def ids(examples: list[dict]) -> list[str]:
    return [e["id"] for e in examples]


def test_zero_and_below_floor_similarities_are_never_examples() -> None:
    rows = ROWS[:5]
    scores = np.array([0.9, 0.3, 0.0, -0.2, 0.05])
    # With no floor, zero and negative similarities are still left out: fewer than k come back.
    assert ids(Ranking(min_similarity=0.0, rerank="none").select("q", scores, rows, k=5)) == ["exact", "near", "other"]
    assert ids(Ranking(min_similarity=0.25, rerank="none").select("q", scores, rows, k=5)) == ["exact", "near"]
    # Nothing relevant: no example at all, whatever the rerank (a huge popularity does not help).
    for rerank in ("none", "popularity", "clicks"):
        assert Ranking(rerank=rerank).select("q", np.zeros(len(rows)), rows, k=3) == []  # type: ignore[arg-type]
    # A negative floor cannot bring zero-similarity rows back.
    assert "viral" not in ids(Ranking(min_similarity=-1.0).select("q", scores, rows, k=5))


@pytest.mark.parametrize("make", [lambda: KeywordRetriever(ROWS, min_similarity=0.0),
                                  lambda: LexicalRetriever(ROWS, analyzer="chars", min_similarity=0.0)])
def test_retrievers_never_return_zero_similarity_rows(make) -> None:  # type: ignore[no-untyped-def]
    r = make()
    got = r.retrieve("奶奶八十寿辰", k=5)
    assert ids(got) == ["exact", "near"] and all(e["score"] > 0 for e in got)
    assert r.retrieve("端午安康", k=3) == []  # no shared character with any row


def test_a_popular_irrelevant_row_never_displaces_an_exact_match() -> None:
    query = "给奶奶的八十大寿祝福语"
    scores = LexicalRetriever(ROWS, analyzer="chars").scores(query)
    exact, near, viral = scores[0], scores[1], scores[2]
    # 'viral' (10^9 clicks) shares only 的/祝福/语 with the request.
    assert 0 < viral < 0.2 < near < exact - 0.3
    for lam in (0.0, 0.1, 0.3, 10.0):
        got = ids(LexicalRetriever(ROWS, analyzer="chars", popularity_weight=lam).retrieve(query, k=3))
        # The popularity term is at most λ: the exact match stays first unless λ outweighs its lead over
        # another candidate (only the absurd λ = 10 does), and the viral row never outranks it otherwise.
        assert (got[0] == "exact") == (lam < exact - near), (lam, got)
        if lam < exact - viral:
            assert got[0] != "viral" and (got.index("viral") if "viral" in got else 3) > got.index("exact")
        # Below a floor it is never a candidate, whatever λ.
        floored = ids(LexicalRetriever(ROWS, analyzer="chars", popularity_weight=lam, min_similarity=0.2)
                      .retrieve(query, k=3))
        assert "viral" not in floored and set(floored) <= {"exact", "near"}
    # The paper's click order puts it first: the failure the floor and λ guard against.
    paper = LexicalRetriever(ROWS, analyzer="chars", rerank="clicks", min_similarity=0.0)
    assert paper.retrieve(query, k=3)[0]["id"] == "viral"


def test_popularity_adds_at_most_lambda() -> None:
    rows = [{"id": f"r{i}", "query": f"q{i}", "response": "x", "popularity": p}
            for i, p in enumerate((0, 5, 50, 10**12))]
    # Similarities 0.12 apart: the most popular row (+0.1 at most) cannot pass the one above it...
    scores = np.array([0.9, 0.78, 0.66, 0.54])
    assert ids(Ranking(popularity_weight=0.1).select("q", scores, rows, k=4)) == ["r0", "r1", "r2", "r3"]
    # ...but does once λ exceeds the gap.
    assert ids(Ranking(popularity_weight=0.5).select("q", scores, rows, k=4))[0] == "r3"


def test_lambda_breaks_near_ties_between_relevant_rows() -> None:
    scores = np.array([0.80, 0.78, 0.0, 0.0, 0.0])
    rows = [dict(ROWS[0], popularity=1), dict(ROWS[1], popularity=1000)]
    scores = scores[:2]
    # 0.78 + 0.1 (the most popular) beats 0.80 + 0.1·log(2)/log(1001) = 0.81: popularity decides a near-tie...
    assert ids(Ranking().select("q", scores, rows, k=2)) == ["near", "exact"]
    # ...but not a clear gap, and not with λ = 0 (pure similarity).
    assert ids(Ranking().select("q", np.array([0.9, 0.4]), rows, k=2)) == ["exact", "near"]
    assert ids(Ranking(popularity_weight=0.0).select("q", scores, rows, k=2)) == ["exact", "near"]
    # The score reported is the similarity, not the rerank key.
    assert [e["score"] for e in Ranking().select("q", scores, rows, k=2)] == [0.78, 0.8]


def test_clicks_option_reproduces_the_paper_order() -> None:
    rng = np.random.default_rng(0)
    rows = [{"id": f"r{i}", "query": f"q{i}", "response": "x", "popularity": int(p)}
            for i, p in enumerate(rng.integers(0, 1000, size=40))]
    scores = rng.random(40)
    for fetch_k, k in ((None, 3), (10, 3), (5, 5), (2, 4)):
        got = ids(Ranking(fetch_k=fetch_k, rerank="clicks").select("q", scores, rows, k=k))
        # The paper: the top fetch_k (default 3k) by similarity, then sorted by clicks alone.
        top = sorted(range(40), key=lambda i: -scores[i])[: fetch_k or 3 * k]
        want = [rows[i]["id"] for i in sorted(top, key=lambda i: -rows[i]["popularity"])][:k]
        assert got == want


def test_request_itself_is_skipped_and_ties_keep_corpus_order() -> None:
    rows = [{"id": i, "query": q, "response": "r"} for i, q in (("a", "同一句"), ("b", "另一句"), ("c", "再一句"))]
    scores = np.array([1.0, 0.5, 0.5])
    assert ids(Ranking(rerank="none").select(" 同一句 ", scores, rows, k=3)) == ["b", "c"]
    assert ids(Ranking(rerank="none", exclude_same_query=False).select("同一句", scores, rows, k=3)) == ["a", "b", "c"]


def test_ranking_validates_its_settings() -> None:
    with pytest.raises(ValueError, match="rerank must be one of"):
        Ranking(rerank="stars")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="popularity_weight"):
        Ranking(popularity_weight=-0.1)
    with pytest.raises(ValueError, match="fetch_k"):
        Ranking(fetch_k=0)
    with pytest.raises(ValueError, match="min_similarity"):
        Ranking(min_similarity=math.nan)
    assert Ranking(rerank=None).rerank == "none"  # type: ignore[arg-type]


def test_fingerprint_names_every_setting_that_changes_results() -> None:
    base = LexicalRetriever(ROWS, analyzer="chars")
    fp = base.fingerprint()
    assert json.dumps(fp)
    variants = [dict(analyzer="words"), dict(k1=1.2), dict(b=0.5), dict(fetch_k=4), dict(rerank="clicks"),
                dict(rerank="none"), dict(popularity_weight=0.3), dict(min_similarity=0.4),
                dict(exclude_same_query=False), dict(popularity_field="clicks")]
    for v in variants:
        assert LexicalRetriever(ROWS, **{"analyzer": "chars", **v}).fingerprint() != fp, v  # type: ignore[arg-type]
    # Popularity values matter only when the rerank reads them.
    bumped = [dict(r, popularity=r["popularity"] + 1) for r in ROWS]
    assert LexicalRetriever(bumped, analyzer="chars").fingerprint() != fp
    plain = LexicalRetriever(ROWS, analyzer="chars", rerank="none").fingerprint()
    assert LexicalRetriever(bumped, analyzer="chars", rerank="none").fingerprint() == plain
    assert LexicalRetriever(ROWS, analyzer="chars", rerank="none", popularity_weight=1.0).fingerprint() == plain
    # The keyword retriever too.
    kw = KeywordRetriever(ROWS).fingerprint()
    assert KeywordRetriever(ROWS, min_similarity=0.2).fingerprint() != kw
    assert KeywordRetriever(ROWS, popularity_weight=0.3).fingerprint() != kw
