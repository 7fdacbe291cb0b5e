"""Lexical retrieval: analyzers, BM25 similarity, quality on our own fixture, thread-safety."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from inkforge.core.errors import InputError
from inkforge.graphs.retrieval import LexicalRetriever, Retriever, analyzer_for
from inkforge.graphs.retrieval import lexical as lexical_mod
from inkforge.graphs.retrieval.lexical import char_terms, jieba_terms, word_terms

pytestmark = pytest.mark.timeout(120)

# Our own greetings, one occasion each (two for weddings and birthdays).
FIXTURE = [
    ("birthday", "给爷爷八十大寿的祝福", "爷爷，八十大寿快乐！"),
    ("birthday", "闺蜜生日快乐的句子", "生日快乐，亲爱的！"),
    ("birthday", "儿子十岁生日寄语", "十岁生日快乐，儿子！"),
    ("wedding", "祝福新人新婚快乐", "新婚快乐，百年好合！"),
    ("wedding", "同学结婚的贺词", "恭喜你们喜结连理！"),
    ("promotion", "恭喜领导升职", "恭喜高升，前程似锦！"),
    ("graduation", "祝贺表妹大学毕业", "毕业快乐，未来可期！"),
    ("midautumn", "中秋节问候长辈", "中秋安康，月圆人圆。"),
    ("newyear", "春节给客户拜年", "新春快乐，生意兴隆！"),
    ("housewarming", "朋友乔迁新居的祝贺", "乔迁之喜，安居乐业！"),
    ("opening", "新店开业大吉", "开业大吉，财源广进！"),
    ("recovery", "祝病人早日康复", "早日康复，身体健康！"),
    ("exam", "高考前给孩子加油", "高考加油，金榜题名！"),
    ("teachers", "教师节感谢老师", "老师您辛苦了，节日快乐！"),
    ("dragonboat", "端午节安康祝福", "端午安康，粽享幸福！"),
]
CORPUS = [{"id": f"{occ}{i}", "query": q, "response": r} for i, (occ, q, r) in enumerate(FIXTURE)]
OCCASION = {row["id"]: occ for row, (occ, _, _) in zip(CORPUS, FIXTURE, strict=True)}
QUERIES = [
    ("奶奶九十大寿祝福语", "birthday"),
    ("好朋友结婚祝福", "wedding"),
    ("同事升职了怎么祝贺", "promotion"),
    ("中秋给爸妈的问候", "midautumn"),
    ("朋友新店开业", "opening"),
    ("乔迁之喜祝福语", "housewarming"),
    ("高考加油的话", "exam"),
    ("祝老师教师节快乐", "teachers"),
    ("端午节祝福语", "dragonboat"),
    ("同事生病住院，祝他早日康复", "recovery"),
    ("妹妹毕业了", "graduation"),
    ("新年拜年的话", "newyear"),
]


def test_analyzers() -> None:
    assert char_terms("喜结 连理！") == ["喜", "结", "连", "理", "喜结", "结连", "连理"]
    assert word_terms("Happy New Year, 老师") == ["happy", "new", "year", "老", "师", "老师"]
    assert jieba_terms("生日快乐祝福语") == ["生日", "快乐", "生日快乐", "祝福", "祝福语"]
    assert jieba_terms("，！") == [] and char_terms("   ") == []
    assert analyzer_for("zh") == "chars" and analyzer_for("ZH-hans") == "chars" and analyzer_for("en") == "words"
    with pytest.raises(InputError, match="unknown analyzer 'stems'; known: jieba, chars, words"):
        LexicalRetriever(CORPUS, analyzer="stems")


@pytest.mark.parametrize(("analyzer", "allowed_misses"), [("chars", 1), ("jieba", 0)])
def test_fixture_queries_find_their_occasion_first(analyzer: str, allowed_misses: int) -> None:
    r = LexicalRetriever(CORPUS, analyzer=analyzer, rerank=None)
    assert isinstance(r, Retriever)
    misses = []
    for query, occasion in QUERIES:
        got = r.retrieve(query, k=3)
        if not got or OCCASION[got[0]["id"]] != occasion:
            misses.append((query, got))
        assert [e["score"] for e in got] == sorted((e["score"] for e in got), reverse=True)
        # Every example passes the floor; an example is never a row sharing nothing.
        assert all(e["score"] >= LexicalRetriever.DEFAULT_MIN_SIMILARITY for e in got)
    # Characters miss 好朋友结婚祝福 (朋友 pulls the housewarming row); jieba reads 结婚 as one word.
    assert len(misses) <= allowed_misses, misses


def test_similarity_is_about_one_for_the_request_itself_and_low_for_a_frequent_word() -> None:
    r = LexicalRetriever(CORPUS, analyzer="chars", exclude_same_query=False, rerank=None, min_similarity=0.0)
    for row in CORPUS:
        top = r.retrieve(row["query"], k=1)[0]
        assert top["id"] == row["id"] and top["score"] == pytest.approx(1.0, abs=0.02)
    # A request whose distinctive words the corpus lacks: its unknown terms weigh in the denominator.
    weak = r.scores("外星人来访的快乐")
    assert 0 < max(weak) < 0.25
    # Nothing in common, or nothing to analyse: no example.
    assert r.retrieve("Happy birthday", k=3) == [] and r.retrieve("！！", k=3) == []


def test_english_words_analyzer() -> None:
    rows = [{"id": "b", "query": "Birthday wishes for Grandma", "response": "Happy birthday!"},
            {"id": "p", "query": "Congrats on the promotion", "response": "Well deserved!"},
            {"id": "g", "query": "Get well soon, friend", "response": "Rest up."}]
    r = LexicalRetriever(rows, analyzer="words")
    assert [e["id"] for e in r.retrieve("birthday wishes for my mother", k=3)] == ["b"]
    assert [e["id"] for e in r.retrieve("congrats on your PROMOTION", k=3)] == ["p"]


def test_index_is_built_once_and_safe_from_many_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    original = lexical_mod.LexicalIndex.__init__

    def counting(self, *a, **kw):  # type: ignore[no-untyped-def]
        built.append(1)
        original(self, *a, **kw)

    monkeypatch.setattr(lexical_mod.LexicalIndex, "__init__", counting)
    queries = [q for q, _ in QUERIES] * 4
    want = [LexicalRetriever(CORPUS, analyzer="chars").retrieve(q, k=3) for q in queries]
    built.clear()
    shared = LexicalRetriever(CORPUS, analyzer="chars")
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda q: shared.retrieve(q, 3), queries))
    assert got == want and len(built) == 1
