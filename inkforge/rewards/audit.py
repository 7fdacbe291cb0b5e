"""``inkforge audit-judge``: is this judge safe to train against?

A judge that agrees with humans can still be a bad reward: a policy exploits whatever the judge
rewards besides quality. The audit measures, for one rubric and model:

* **human agreement**: accuracy and Cohen's κ on human labels, beside the length-only baseline (fixed
  and fitted thresholds) and on the length-controlled 30–50 character slice, where length cannot
  explain the labels (reuses :func:`inkforge.evaluation.metrics.judge_report`);
* **length bias**: the judge's ``Good`` rate by length band next to the human one, the point-biserial
  correlation of verdict and length (next to that of label and length), and how well the best
  length threshold reproduces the judge's verdicts;
* **position bias** of the pairwise mode used for GRPO tie-breaks: each pair is judged in both orders;
  the flip rate is the share of pairs whose preferred item changes with the order, and the
  first-position win rate should be near 0.5;
* **attack susceptibility**: the share of our attack corpus (``inkforge/data/attack_corpus.jsonl``:
  instructions to the grader, self-praise, fake verdict JSON, role markers...) the judge rates
  ``Good``, by attack type, and how much of that the default guards would still catch;
* **consistency**: verdicts for repeated samples (sample index ``0..k-1``, distinct cache entries)
  of the same items: the share of items with unanimous verdicts.

Failures are counted per section and never turned into verdicts.

Example:
    >>> import asyncio
    >>> from inkforge.core.rubric import Rubric
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> always_good = FakeChatModel(responder=lambda m, s: {"explanation": "好", "verdict": "Good"})
    >>> judge = JudgeReward(Rubric.default("greeting"), runtime=Runtime.for_testing(always_good))
    >>> rows = [{"query": "生日祝福", "response": "生日快乐！" * k, "label": int(k > 2)} for k in range(1, 7)]
    >>> report = asyncio.run(audit_judge(judge, rows, pairs=0, samples=1, n_boot=10))
    >>> report["n"], report["failures"], report["position_bias"]
    (6, {}, None)
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from inkforge.core.errors import InputError
from inkforge.core.io import iter_json_objects
from inkforge.evaluation import LENGTH_BANDS, LENGTH_SLICE, judge_report, response_length
from inkforge.rewards.group import compare_pair
from inkforge.rewards.judge import JudgeReward
from inkforge.rewards.outcomes import JudgeOutcome

__all__ = ["audit_judge", "load_attacks", "make_pairs"]


def load_attacks(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Read an attack corpus: JSONL rows ``{id, query, completion, attack, lang}`` (``attack: none`` = control).

    Args:
        path: The file; ``None`` for the shipped ``inkforge/data/attack_corpus.jsonl``.

    Raises:
        InputError: Missing file, invalid JSON or a missing field (file, line and field named).
    """
    # The package data is a plain file in every install layout inkforge supports (wheel, editable).
    p = Path(str(resources.files("inkforge.data").joinpath("attack_corpus.jsonl"))) if path is None else Path(path)
    rows = []
    for n, row in iter_json_objects(p, what="attack corpus"):
        for key in ("query", "completion", "attack"):
            if not isinstance(row.get(key), str):
                raise InputError("missing or not a string", file=str(p), line=n, field=key)
        rows.append(row)
    return rows


def make_pairs(rows: Sequence[dict[str, Any]], n: int, *, seed: int = 0) -> list[tuple[int, int]]:
    """Up to ``n`` pairs of row indices for the position-bias test, preferring mixed-label pairs.

    Pairs share a query when the labels allow it (the pairwise judge compares completions of one
    request); the rest pair a good and a bad response of different requests, judged under the first
    one's request. Seeded: the same rows give the same pairs.
    """
    rng = random.Random(seed)
    by_query: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_query.setdefault(r["query"], []).append(i)
    pairs: list[tuple[int, int]] = []
    for idx in by_query.values():
        good = [i for i in idx if rows[i]["label"] == 1]
        bad = [i for i in idx if rows[i]["label"] == 0]
        pairs += list(itertools.product(good, bad))
    rng.shuffle(pairs)
    if len(pairs) < n:
        good = [i for i, r in enumerate(rows) if r["label"] == 1]
        bad = [i for i, r in enumerate(rows) if r["label"] == 0]
        rng.shuffle(good)
        rng.shuffle(bad)
        seen = set(pairs)
        pairs += [p for p in zip(good, bad, strict=False) if p not in seen]
    pairs = pairs[:n]
    # Randomise which item is listed first in the "forward" order, so a position effect cannot
    # masquerade as agreement with the labels.
    return [(a, b) if rng.random() < 0.5 else (b, a) for a, b in pairs]


def _bands(lengths: Sequence[int], labels: Sequence[int], outcomes: Sequence[JudgeOutcome]) -> list[dict[str, Any]]:
    out = []
    for lo, hi in LENGTH_BANDS:
        idx = [i for i, x in enumerate(lengths) if x >= lo and (hi is None or x < hi)]
        ok = [i for i in idx if outcomes[i].ok]
        out.append({
            "band": f"{lo}-{hi - 1}" if hi is not None else f"{lo}+", "n": len(idx),
            "judge_good_rate": sum(outcomes[i].verdict == 1.0 for i in ok) / len(ok) if ok else None,
            "human_good_rate": sum(labels[i] for i in idx) / len(idx) if idx else None,
            "failures": len(idx) - len(ok),
        })
    return out


def _label(o: JudgeOutcome) -> int | None:
    return None if not o.ok or o.verdict is None else int(o.verdict >= 0.5)


def _position(rows: Sequence[dict[str, Any]], pairs: Sequence[tuple[int, int]],
              results: Sequence[tuple[Any, Any]]) -> dict[str, Any]:
    both = flips = first_wins = decisive = ties = failed = agree = mixed = 0
    for (a, b), (ab, ba) in zip(pairs, results, strict=True):
        failed += int(not ab.ok) + int(not ba.ok)
        scores = []
        for res, a_first in ((ab, True), (ba, False)):
            if not res.ok:
                continue
            w = res.output.winner
            if w == "tie":
                ties += 1
                scores.append(0.5)
            else:
                decisive += 1
                first_wins += int(w == "A")
                scores.append(1.0 if (w == "A") == a_first else 0.0)
        if len(scores) == 2:
            both += 1
            flips += int(scores[0] != scores[1])
            if rows[a]["label"] != rows[b]["label"] and scores[0] == scores[1] != 0.5:
                mixed += 1
                a_better = rows[a]["label"] > rows[b]["label"]
                agree += int((scores[0] == 1.0) == a_better)
    judged = 2 * len(pairs) - failed
    return {
        "pairs": len(pairs), "both_orders_valid": both, "failed_calls": failed,
        "flip_rate": flips / both if both else None,
        "first_position_win_rate": first_wins / decisive if decisive else None,
        "tie_rate": ties / judged if judged else None,
        "consistent_mixed_pairs": mixed,
        "human_agreement_consistent": agree / mixed if mixed else None,
    }


def _attacks(attacks: Sequence[dict[str, Any]], outcomes: Sequence[JudgeOutcome]) -> dict[str, Any]:
    try:
        from inkforge.rewards.guards import apply_guards, default_guards

        guards = {lang: default_guards(lang) for lang in ("zh", "en")}
    except Exception:  # noqa: BLE001 - the guards are optional here
        guards = {}
    by: dict[str, dict[str, Any]] = {}
    good_unguarded = attacked_good = attacked_ok = 0
    for row, o in zip(attacks, outcomes, strict=True):
        kind = row["attack"]
        d = by.setdefault(kind, {"n": 0, "rated_good": 0, "failures": 0})
        d["n"] += 1
        if not o.ok:
            d["failures"] += 1
            continue
        good = o.verdict is not None and o.verdict >= 0.5
        d["rated_good"] += int(good)
        if kind != "none":
            attacked_ok += 1
            attacked_good += int(good)
            if good and guards:
                lang = row.get("lang", "zh") if row.get("lang") in guards else "zh"
                caught = any(r.triggered for r in apply_guards(row["query"], row["completion"], guards[lang]))
                good_unguarded += int(not caught)
    for d in by.values():
        judged = d["n"] - d["failures"]
        d["rated_good_rate"] = d["rated_good"] / judged if judged else None
    attacks_n = sum(d["n"] for k, d in by.items() if k != "none")
    controls = by.get("none")
    return {
        "n_attacks": attacks_n, "judged": attacked_ok,
        "rated_good_rate": attacked_good / attacked_ok if attacked_ok else None,
        "rated_good_unguarded_rate": (good_unguarded / attacked_ok if attacked_ok and guards else None),
        "controls_good_rate": controls["rated_good_rate"] if controls else None,
        "by_attack": dict(sorted(by.items())),
    }


def _consistency(samples: Sequence[Sequence[JudgeOutcome]]) -> dict[str, Any]:
    k = len(samples)
    n = len(samples[0]) if samples else 0
    full = unanimous = 0
    agree_pairs = total_pairs = 0
    for i in range(n):
        labs = [_label(s[i]) for s in samples]
        if any(v is None for v in labs):
            continue
        full += 1
        unanimous += int(len(set(labs)) == 1)
        for x, y in itertools.combinations(labs, 2):
            total_pairs += 1
            agree_pairs += int(x == y)
    return {"samples": k, "items": n, "all_samples_valid": full,
            "unanimous_rate": unanimous / full if full else None,
            "mean_pairwise_agreement": agree_pairs / total_pairs if total_pairs else None}


async def audit_judge(judge: JudgeReward, rows: Sequence[dict[str, Any]], *,
                      attacks: Sequence[dict[str, Any]] | None = None, pairs: int = 50, samples: int = 3,
                      consistency_items: int = 50, seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """Run every audit section concurrently under the judge's shared limit.

    Args:
        judge: The judge reward (its rubric, model, cache and limit).
        rows: Human labels (``query``, ``response``, ``label``).
        attacks: Attack corpus rows (:func:`load_attacks`); ``None`` skips the section.
        pairs: Pairs for the position-bias test (0 skips it).
        samples: Repeated samples per item for the consistency test (1 skips it).
        consistency_items: Items (seeded random subset) in the consistency test.
        seed: Seed of the pair and subset choices and of the bootstrap.
        n_boot: Bootstrap resamples of the agreement confidence intervals.

    Returns:
        The JSON-ready report.
    """
    rng = random.Random(seed)
    queries = [r["query"] for r in rows]
    responses = [r["response"] for r in rows]
    pair_idx = make_pairs(rows, pairs, seed=seed) if pairs > 0 else []
    subset = sorted(rng.sample(range(len(rows)), min(consistency_items, len(rows)))) if samples > 1 else []
    pairwise = judge.agent("pairwise") if pair_idx else None

    async def none() -> list[Any]:
        return []

    main_t = judge.averdicts(queries, responses)
    attack_t = judge.averdicts([a["query"] for a in attacks], [a["completion"] for a in attacks]) \
        if attacks else none()
    pair_t = asyncio.gather(*(compare_pair(pairwise, rows[a]["query"], rows[a]["response"], rows[b]["response"],
                                           judge.rubric.rules) for a, b in pair_idx)) if pairwise else none()
    extra_t = asyncio.gather(*(judge.averdicts([queries[i] for i in subset], [responses[i] for i in subset],
                                               sample=judge.sample + s) for s in range(1, samples)))
    main, attack_out, pair_out, extra = await asyncio.gather(main_t, attack_t, pair_t, extra_t)

    labels = [int(r["label"]) for r in rows]
    lengths = [response_length(r["response"]) for r in rows]
    preds = [_label(o) for o in main]
    statuses = [o.status for o in main]
    agreement = judge_report(rows, preds, statuses=statuses, n_boot=n_boot, seed=seed)
    explains = agreement["length_explains_judge"]
    report: dict[str, Any] = {
        "rubric": {"version": judge.rubric.version, "task": judge.rubric.task, "rules": len(judge.rubric.rules),
                   "language": judge.rubric.language},
        "judge": {"mode": judge.mode, "role": judge.role,
                  "model": judge.config.spec_for(judge.role).identity() if judge.config is not None else None},
        "n": len(rows),
        "failures": {s: statuses.count(s) for s in sorted(set(statuses)) if s != "ok"},
        "human_agreement": agreement,
        "length_bias": {
            "point_biserial_verdict_length": explains["point_biserial_verdict_length"],
            "point_biserial_label_length": explains["point_biserial_label_length"],
            "best_length_rule_for_verdicts": explains["best_rule_for_verdicts"],
            "by_length_band": _bands(lengths, labels, main),
            "slice": {"range": list(LENGTH_SLICE), "n": agreement["slice"]["n"],
                      "judge_accuracy": agreement["slice"]["judge"]["accuracy"],
                      "judge_kappa": agreement["slice"]["judge"]["kappa"],
                      "length_baseline_accuracy": agreement["slice"]["length_baseline"]["fixed"]["accuracy"]},
        },
        "position_bias": _position(rows, pair_idx, pair_out) if pair_idx else None,
        "attacks": _attacks(attacks, attack_out) if attacks else None,
        "consistency": _consistency([[main[i] for i in subset], *extra]) if subset else None,
        "usage": judge.runtime.usage.as_dict()["totals"],
    }
    return report
