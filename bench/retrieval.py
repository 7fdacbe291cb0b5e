"""Benchmark few-shot retrieval on the paper's SFT rows: do the examples share the request's occasion?

Usage:
    .venv/bin/python bench/retrieval.py [--data ../shared/data/paper] [--heldout 500] [--out bench/out/retrieval.json]

Setup (all read by path from ``--data``, nothing copied):

* ``sft.jsonl`` (prompt/response rows) is shuffled with a fixed seed; ``--heldout`` rows are the
  queries, the rest is the corpus (``prompt`` → ``query``);
* relevance: an example is relevant when its request has the same *occasion* as the query.
  :data:`OCCASIONS` is an ordered keyword table (first match wins; more specific entries first);
  held-out queries with no recognisable occasion are left out and counted;
* popularity: the corpus has no click counts, so each row gets a synthetic Zipf click count
  (``10000 / rank``) over a seeded random ranking, independent of relevance: what a click-only
  rerank does when clicks say nothing about the request;
* the MiniLM unknown-token share is measured on the corpus queries and on the first 200 lines of
  ``queries.txt``.

Metrics at k = 1, 3, 5 (each retriever may return fewer than k examples):

* ``recall@k``: share of queries with at least one relevant example among the first k (with
  thousands of relevant rows per occasion, the share of all relevant rows retrieved says nothing);
* ``precision@k``: relevant examples / examples returned, over all queries;
* ``filled@k``: examples returned / k;
* ``zero``: share of queries given no example at all;
* ``zero (no rel.)``: the same when no row is relevant: the same scores with every corpus row of
  the query's own occasion hidden, so any example returned is one the writer should not see;
* ``ms/query``: retrieval time per query after the index is built (``build_s`` in the JSON).

Each retriever runs with its default similarity floor and the default popularity rerank. Two
further tables: the rerank options on the default Chinese retriever (similarity only, the λ
popularity rerank, the paper's click order with and without the similarity floor), and a floor
sweep per retriever (in the JSON). The last line printed is a one-line JSON summary.

The relevance proxy matches occasion keywords in the request text, so it favours retrievers that
match characters; read the figures as a comparison on this data, not an absolute quality.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from inkforge.graphs.retrieval import (  # noqa: E402
    EmbeddingRetriever,
    KeywordRetriever,
    LexicalRetriever,
    Ranking,
    default_embedding_model,
    unknown_token_rate,
)
from inkforge.graphs.retrieval.lexical import char_terms, jieba_terms  # noqa: E402

DATA = REPO / ".." / "shared" / "data" / "paper"
DEFAULT = "bm25 chars (zh default)"
KS = (1, 3, 5)
SEED = 0

#: Occasion → request keywords, in priority order (the first occasion with a keyword in the request wins).
OCCASIONS: list[tuple[str, tuple[str, ...]]] = [
    ("结婚纪念日", ("结婚纪念日", "纪念日")),
    ("生日", ("生日", "大寿", "寿辰", "祝寿", "过寿", "周岁")),
    ("新生儿", ("新生儿", "出生", "生儿子", "生女儿", "生了", "喜得", "贵子", "千金", "满月", "百天")),
    ("春节/新年", ("春节", "新年", "过年", "除夕", "拜年", "新春", "元旦", "跨年", "小年", "蛇年", "龙年")),
    ("中秋", ("中秋",)),
    ("端午", ("端午",)),
    ("元宵", ("元宵",)),
    ("七夕", ("七夕", "情人节")),
    ("婚礼/结婚", ("结婚", "婚礼", "新婚", "订婚", "出嫁", "新人", "婚")),
    ("升职", ("升职", "高升", "晋升", "升迁")),
    ("毕业", ("毕业",)),
    ("教师节", ("教师节", "谢师")),
    ("母亲节", ("母亲节",)),
    ("父亲节", ("父亲节",)),
    ("乔迁", ("乔迁", "新居", "新房", "搬家", "入宅", "入伙", "上梁")),
    ("开业", ("开业", "开张", "开店", "开工")),
    ("生病/康复", ("康复", "生病", "住院", "手术", "病")),
    ("考试", ("考试", "高考", "中考", "考研", "升学", "金榜", "考")),
    ("退休", ("退休",)),
    ("成人礼", ("成人礼", "十八岁", "18岁")),
    ("早安", ("早上好", "早安")),
    ("晚安", ("晚安",)),
    ("国庆", ("国庆",)),
    ("圣诞", ("圣诞",)),
    ("重阳", ("重阳",)),
    ("妇女节", ("妇女节", "女神节")),
    ("旅行", ("旅游", "旅行", "一路顺风", "出差")),
]


def occasion(text: str) -> str | None:
    """The first occasion of :data:`OCCASIONS` whose keyword occurs in ``text``, else ``None``."""
    return next((name for name, keys in OCCASIONS if any(k in text for k in keys)), None)


def _jieba_precise(text: str) -> list[str]:
    from inkforge.graphs.retrieval.lexical import _jieba_tokenizer

    return [t for t in (w.strip() for w in _jieba_tokenizer().lcut(text)) if any(c.isalnum() for c in t)]


def _char_bigrams(text: str) -> list[str]:
    return [t for t in char_terms(text) if len(t) == 2]


def _jieba_stop(text: str) -> list[str]:
    from bm25s.stopwords import STOPWORDS_CHINESE

    stop = set(STOPWORDS_CHINESE)
    return [t for t in jieba_terms(text) if t not in stop]


def load(data: Path, heldout: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with (data / "sft.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rng = random.Random(SEED)
    rng.shuffle(rows)
    corpus = [{"id": f"r{i}", "query": r["prompt"], "response": r["response"]} for i, r in enumerate(rows[heldout:])]
    ranks = list(range(1, len(corpus) + 1))
    rng.shuffle(ranks)
    for row, rank in zip(corpus, ranks, strict=True):
        row["popularity"] = int(10000 / rank)
    queries = [{"query": r["prompt"]} for r in rows[:heldout]]
    return corpus, queries


def evaluate(results: list[list[dict[str, Any]]], q_occ: list[str], occ_of: dict[str, str | None],
             seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    n = len(results)
    for k in KS:
        hit = rel = ret = 0
        for exs, occ in zip(results, q_occ, strict=True):
            top = exs[:k]
            r = sum(occ_of[e["id"]] == occ for e in top)
            hit += r > 0
            rel += r
            ret += len(top)
        out[f"recall@{k}"] = round(hit / n, 4)
        out[f"precision@{k}"] = round(rel / ret, 4) if ret else None
        out[f"filled@{k}"] = round(ret / (k * n), 4)
    out["zero"] = round(sum(not exs for exs in results) / n, 4)
    out["ms_per_query"] = round(1000 * seconds / n, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA, help="Folder with sft.jsonl and queries.txt.")
    ap.add_argument("--heldout", type=int, default=500, help="Held-out rows used as queries.")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "retrieval.json")
    ap.add_argument("--no-embedding", action="store_true", help="Skip the MiniLM retrievers.")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not (args.data / "sft.jsonl").is_file():
        sys.exit(f"no sft.jsonl under {args.data} (pass --data)")

    corpus, heldout = load(args.data, args.heldout)
    occ_of = {r["id"]: occasion(r["query"]) for r in corpus}
    evaluated = [q for q in heldout if occasion(q["query"])]
    queries = [q["query"] for q in evaluated]
    q_occ = [occasion(q) for q in queries]
    setup = {"corpus_rows": len(corpus), "heldout": len(heldout), "evaluated": len(evaluated),
             "left_out_no_occasion": len(heldout) - len(evaluated),
             "corpus_rows_with_occasion": sum(o is not None for o in occ_of.values()),
             "query_occasions": dict(Counter(q_occ).most_common())}
    print(f"corpus {len(corpus)} rows; {len(heldout)} held-out queries, {len(evaluated)} with an occasion "
          f"({setup['left_out_no_occasion']} left out)")
    k = max(KS)

    # Scorers: name -> (score function over all queries, build seconds). Scores are computed once; every
    # ranking variant then reuses them through Ranking.select, exactly as the retrievers do.
    scored: dict[str, tuple[Any, float, float]] = {}

    def lexical(name: str, analyzer: Any) -> None:
        t0 = time.perf_counter()
        r = LexicalRetriever(corpus, analyzer=analyzer)
        r.build()
        t1 = time.perf_counter()
        s = np.stack([r.scores(q) for q in queries])
        scored[name] = (s, t1 - t0, time.perf_counter() - t1)

    lexical(DEFAULT, "chars")
    lexical("bm25 char bigram", _char_bigrams)
    lexical("bm25 jieba (search)", "jieba")
    lexical("bm25 jieba+stopwords", _jieba_stop)
    lexical("bm25 jieba (precise)", _jieba_precise)
    lexical("bm25 jieba+chars", lambda t: jieba_terms(t) + char_terms(t))
    t0 = time.perf_counter()
    kw = KeywordRetriever(corpus)
    s = np.stack([kw.scores(q) for q in queries])
    scored["keyword bigram"] = (s, 0.0, time.perf_counter() - t0)

    unk: dict[str, float] = {}
    if not args.no_embedding:
        model = default_embedding_model()
        t0 = time.perf_counter()
        emb = EmbeddingRetriever(corpus, model=model, cache_dir=None)
        emb.build()
        t1 = time.perf_counter()
        cos = emb.scores_many(queries)
        scored["MiniLM cosine"] = (cos, t1 - t0, time.perf_counter() - t1)
        unk["corpus_queries"] = round(emb.unk_rate or 0.0, 4)
        qpath = args.data / "queries.txt"
        if qpath.is_file():
            first = [line.strip() for line in qpath.open(encoding="utf-8") if line.strip()][:200]
            unk["queries_txt_first_200"] = round(unknown_token_rate(emb._load_model().tokenizer, first), 4)
        # HybridRetriever's fusion, on the scores already computed (same formula, no second encoding).
        lex_s, lex_build, lex_t = scored[DEFAULT]
        fused = 0.5 * np.clip(cos, 0, None) + 0.5 * np.minimum(lex_s, 1.0)
        scored["hybrid MiniLM+chars"] = (fused, t1 - t0 + lex_build, scored["MiniLM cosine"][2] + lex_t)

    floors = {"keyword bigram": 0.0, "MiniLM cosine": EmbeddingRetriever.DEFAULT_MIN_SIMILARITY,
              "hybrid MiniLM+chars": 0.5 * EmbeddingRetriever.DEFAULT_MIN_SIMILARITY
              + 0.5 * LexicalRetriever.DEFAULT_MIN_SIMILARITY}  # HybridRetriever's default at w = 0.5

    def run(name: str, ranking: Ranking) -> list[list[dict[str, Any]]]:
        s, top = scored[name][0], ranking.max_popularity(corpus)
        return [ranking.select(q, s[i], corpus, k, max_popularity=top) for i, q in enumerate(queries)]

    def paper_order(s: Any) -> list[list[dict[str, Any]]]:
        # The first release: top 3k by similarity whatever it is (zeros included), then clicks alone.
        out = []
        for row_s in s:
            idx = np.argsort(-row_s, kind="stable")[: 3 * k]
            hits = sorted(((float(row_s[i]), corpus[i]) for i in idx), key=lambda h: -h[1]["popularity"])
            out.append([{"id": r["id"], "score": sim} for sim, r in hits[:k]])
        return out

    table: dict[str, dict[str, Any]] = {}
    rng = random.Random(SEED)
    t0 = time.perf_counter()
    rand = [[{"id": r["id"]} for r in rng.sample(corpus, k)] for _ in queries]
    table["random"] = evaluate(rand, q_occ, occ_of, time.perf_counter() - t0)
    popular = sorted(corpus, key=lambda r: -r["popularity"])[:k]
    table["popularity only"] = evaluate([[{"id": r["id"]} for r in popular] for _ in queries], q_occ, occ_of, 0.0)
    for name, (_, build_s, score_s) in scored.items():
        floor = floors.get(name, LexicalRetriever.DEFAULT_MIN_SIMILARITY)
        t0 = time.perf_counter()
        res = run(name, Ranking(min_similarity=floor))
        table[name] = {**evaluate(res, q_occ, occ_of, score_s + time.perf_counter() - t0),
                       "floor": floor, "build_s": round(build_s, 2)}

    reranks: dict[str, dict[str, Any]] = {}
    base = DEFAULT
    fl = LexicalRetriever.DEFAULT_MIN_SIMILARITY
    variants = {"similarity only": Ranking(min_similarity=fl, rerank="none"),
                "popularity, λ=0.1 (default)": Ranking(min_similarity=fl),
                "popularity, λ=0.3": Ranking(min_similarity=fl, popularity_weight=0.3),
                "clicks (paper order), floor": Ranking(min_similarity=fl, rerank="clicks")}
    for vname, ranking in [*variants.items(), ("clicks, no floor (first release)", None)]:
        res = run(base, ranking) if ranking is not None else paper_order(scored[base][0])
        top1 = [exs[0]["score"] if exs else None for exs in res]
        reranks[vname] = {**evaluate(res, q_occ, occ_of, 0.0),
                          "mean_top1_similarity": round(float(np.mean([t for t in top1 if t is not None])), 4)}

    # No relevant row: the same scores with every row of the query's own occasion hidden, so each example
    # returned is one the writer should not have seen.
    own = np.array([[occ_of[r["id"]] == o for r in corpus] for o in q_occ])

    def hidden(name: str, ranking: Ranking) -> dict[str, Any]:
        s = np.where(own, 0.0, scored[name][0])
        top = ranking.max_popularity(corpus)
        res = [ranking.select(q, s[i], corpus, k, max_popularity=top) for i, q in enumerate(queries)]
        return {"zero": round(sum(not e for e in res) / len(res), 4),
                "examples_per_query": round(sum(len(e[:3]) for e in res) / len(res), 3)}

    sweep: dict[str, dict[str, Any]] = {}
    for name in scored:
        for floor in (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7):
            m = evaluate(run(name, Ranking(min_similarity=floor, rerank="none")), q_occ, occ_of, 0.0)
            h = hidden(name, Ranking(min_similarity=floor, rerank="none"))
            sweep.setdefault(name, {})[str(floor)] = {
                **{key: m[key] for key in ("recall@3", "precision@3", "filled@3", "zero")},
                "no_relevant_zero": h["zero"], "no_relevant_examples@3": h["examples_per_query"]}
    for name in scored:
        table[name].update({f"no_relevant_{key}": v for key, v in
                            hidden(name, Ranking(min_similarity=table[name]["floor"])).items()})

    cols = ["recall@1", "recall@3", "recall@5", "precision@1", "precision@3", "precision@5", "zero",
            "no_relevant_zero", "ms_per_query"]
    heads = ["r@1", "r@3", "r@5", "p@1", "p@3", "p@5", "zero", "zero (no rel.)", "ms/query"]
    print(f"\n{'retriever':<26}" + "".join(f"{c:>15}" for c in heads))
    for name, m in table.items():
        print(f"{name:<26}" + "".join(f"{'' if m.get(c) is None else m[c]:>15}" for c in cols))
    print(f"\nrerank on {base} (synthetic clicks independent of relevance)")
    cols2 = ["recall@1", "recall@3", "precision@1", "precision@3", "zero", "mean_top1_similarity"]
    heads2 = ["r@1", "r@3", "p@1", "p@3", "zero", "top-1 sim."]
    print(f"{'rerank':<34}" + "".join(f"{c:>12}" for c in heads2))
    for name, m in reranks.items():
        print(f"{name:<34}" + "".join(f"{m[c]:>12}" for c in cols2))
    if unk:
        print(f"\nMiniLM unknown-token share: {unk}")

    summary = {"setup": setup, "retrievers": table, "reranks": reranks, "floor_sweep": sweep,
               "minilm_unknown_token_rate": unk, "ks": list(KS), "seed": SEED}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    best = max((n for n in table if n not in ("random", "popularity only")), key=lambda n: table[n]["recall@3"])
    print(json.dumps({"best_recall@3": best, "recall@3": table[best]["recall@3"],
                      "minilm_unk": unk.get("corpus_queries")}, ensure_ascii=False))


if __name__ == "__main__":
    main()
