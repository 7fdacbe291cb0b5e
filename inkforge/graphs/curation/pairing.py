"""From a query's final curation state to its judged candidates and preference pairs.

A candidate is *judged* when every agent that should have spoken about it succeeded (see
:func:`judgements_of`); a pair policy then picks good × bad pairs among the judged ones
(:func:`make_pairs`). The same module says how a critique reads in the judge's prompt
(:func:`critique_text`) and how few-shot examples are reordered per candidate (:func:`nth_permutation`).

Pair policies (``good`` = final label 1 and not vetoed; ``bad`` = the other judged ones):

* ``"one"``: the first good and the first bad candidate in sampling order (unbiased, as in the paper).
* ``"all"``: every good × bad combination.
* ``"best_vs_worst"``: the best good against the worst bad, by :func:`rank_key`.

Example:
    >>> state = {"candidates": [{"candidate": i, "text": t, "source": "given"} for i, t in enumerate("ab")],
    ...          "positive": [{"candidate": i, "result": {"status": "ok", "output": {}}} for i in (0, 1)],
    ...          "negative": [{"candidate": i, "result": {"status": "ok", "output": {}}} for i in (0, 1)],
    ...          "verdicts": [{"candidate": i, "result": {"status": "ok", "output": {"label": 1 - i}}}
    ...                       for i in (0, 1)]}
    >>> judged = judgements_of(state, reflector=False)
    >>> [(j["response"], j["label"]) for j in judged]
    [('a', 1), ('b', 0)]
    >>> pairs, no_pair = make_pairs(state, judged, "one", n_candidates=2)
    >>> [(p["chosen"]["response"], p["rejected"]["response"]) for p in pairs], no_pair
    ([('a', 'b')], None)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from inkforge.core.tasks import TaskText

PairPolicy = Literal["one", "all", "best_vs_worst"]
PAIR_POLICIES: tuple[str, ...] = ("one", "all", "best_vs_worst")
#: Points per issue severity in :func:`rank_key` (any other severity counts 1).
SEVERITY_POINTS = {"high": 3, "medium": 2, "low": 1}


def by_candidate(entries: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """State list entries (each naming its ``candidate``) keyed by candidate index."""
    return {int(e["candidate"]): dict(e) for e in entries}


def output_of(entry: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The output of a successful agent entry (``{"candidate", "result"}``), else ``None``."""
    if not entry:
        return None
    res = entry.get("result") or {}
    return res.get("output") if res.get("status") == "ok" else None


def critique_text(output: BaseModel | Mapping[str, Any] | None, text: TaskText) -> str:
    """How a critique is shown to the judge and reflector.

    ``strengths``/``issues`` items as ``- [dimension/severity] comment`` lines plus ``summary``;
    a schema without those fields is shown as its JSON.

    Example:
        >>> from inkforge.core.tasks import ZH_TEXT
        >>> critique_text({"issues": [{"dimension": "cliche", "comment": "套话", "severity": "low"}],
        ...                "summary": "略显空泛"}, ZH_TEXT)
        '- [cliche/low] 套话\\n总结：略显空泛'
    """
    if output is None:
        return text.none
    data = output.model_dump(mode="json") if isinstance(output, BaseModel) else dict(output)
    lines = []
    for key in ("strengths", "issues"):
        for x in data.get(key) or []:
            if isinstance(x, Mapping):
                tag = "/".join(str(x[f]) for f in ("dimension", "severity") if x.get(f))
                lines.append(f"- [{tag}] {x.get('comment', '')}" if tag else f"- {x.get('comment', x)}")
            else:
                lines.append(f"- {x}")
    if data.get("summary"):
        lines.append(text.summary_label + str(data["summary"]))
    return "\n".join(lines) if lines else json.dumps(data, ensure_ascii=False)


def rank_key(judgement: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """Ordering used by ``best_vs_worst`` (greater is better).

    (effective label, −severity points of the negative critic's issues, number of the positive
    critic's strengths, −candidate index). Severity points: high 3, medium 2, low 1, other 1.

    Example:
        >>> a = {"label": 1, "candidate": 0, "negative": {"issues": [{"severity": "low"}]}, "positive": {}}
        >>> b = {"label": 1, "candidate": 1, "negative": {"issues": []}, "positive": {"strengths": ["x"]}}
        >>> rank_key(a), rank_key(b), max([a, b], key=rank_key)["candidate"]
        ((1, -1, 0, 0), (1, 0, 1, -1), 1)
    """
    neg = judgement.get("negative") or {}
    pos = judgement.get("positive") or {}
    issues = neg.get("issues") if isinstance(neg, Mapping) else None
    strengths = pos.get("strengths") if isinstance(pos, Mapping) else None
    severity = sum(SEVERITY_POINTS.get(str(i.get("severity")), 1) if isinstance(i, Mapping) else 1
                   for i in (issues or []))
    return (int(judgement["label"]), -severity, len(strengths or []), -int(judgement["candidate"]))


def nth_permutation(items: Sequence[Any], n: int) -> list[Any]:
    """The ``n``-th permutation (lexicographic by position, modulo ``len(items)!``); 0 is the identity.

    Example:
        >>> [nth_permutation("abc", i) for i in range(3)]
        [['a', 'b', 'c'], ['a', 'c', 'b'], ['b', 'a', 'c']]
    """
    pool = list(items)
    n %= math.factorial(len(pool)) if pool else 1
    out = []
    for j in range(len(pool), 0, -1):
        idx, n = divmod(n, math.factorial(j - 1))
        out.append(pool.pop(idx))
    return out


def judgements_of(state: Mapping[str, Any], *, reflector: bool = True) -> list[dict[str, Any]]:
    """Every fully judged candidate of a final state, with its debate and final label.

    A candidate is judged when the writer (if any), both critics, the judge and (when configured) the
    reflector all succeeded, and no extra node recorded a failure for it.
    """
    pos, neg = by_candidate(state.get("positive", [])), by_candidate(state.get("negative", []))
    ver, ref = by_candidate(state.get("verdicts", [])), by_candidate(state.get("reflections", []))
    excluded = {f.get("candidate") for f in state.get("failures", []) if f.get("candidate") is not None}
    vetoes: dict[int, list[dict[str, Any]]] = {}
    for v in state.get("vetoes", []):
        vetoes.setdefault(int(v["candidate"]), []).append(dict(v))
    out = []
    for c in sorted(state.get("candidates", []), key=lambda c: c["candidate"]):
        i = c["candidate"]
        p, n, j = output_of(pos.get(i)), output_of(neg.get(i)), output_of(ver.get(i))
        r = output_of(ref.get(i)) if reflector else None
        if not c.get("text") or p is None or n is None or j is None or (reflector and r is None) or i in excluded:
            continue
        final = int(r["final_label"]) if r is not None else int(j["label"])
        label = 0 if vetoes.get(i) else final
        out.append({"candidate": i, "response": c["text"], "source": c.get("source"), "positive": p, "negative": n,
                    "judge": j, "reflector": r, "final_label": final, "vetoes": vetoes.get(i, []), "label": label})
    return out


def make_pairs(state: Mapping[str, Any], judged: list[dict[str, Any]], policy: PairPolicy, *,
               n_candidates: int) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Apply a pair policy to judged candidates: (pairs, no_pair reason or ``None``).

    Each pair is ``{"chosen": judgement, "rejected": judgement}``; a no-pair reason has
    ``reason_code`` (``too_few_valid``, ``all_good``, ``all_bad``), ``reason``, ``judged`` and
    ``candidates``.
    """
    good = [j for j in judged if j["label"] == 1]
    bad = [j for j in judged if j["label"] == 0]
    failed = n_candidates - len(judged)
    if len(judged) < 2:
        return [], {"reason_code": "too_few_valid", "reason": f"{len(judged)} of {n_candidates} candidates were "
                    f"judged ({failed} failed); a pair needs two", "judged": len(judged), "candidates": n_candidates}
    if not good or not bad:
        code = "all_good" if not bad else "all_bad"
        return [], {"reason_code": code, "reason": f"all {len(judged)} judged candidates are "
                    f"{'good' if not bad else 'bad'}" + (f" ({failed} failed)" if failed else ""),
                    "judged": len(judged), "candidates": n_candidates}
    if policy == "one":
        combos = [(good[0], bad[0])]
    elif policy == "all":
        combos = [(g, b) for g in good for b in bad]
    else:
        combos = [(max(good, key=rank_key), min(bad, key=rank_key))]
    return [{"chosen": g, "rejected": b} for g, b in combos], None
