"""Group-aware judging for GRPO: break the ties a binary (or coarse graded) verdict leaves in a group.

GRPO normalises rewards within the group of completions sampled for one prompt. When the judge rates
every completion of a group ``Good`` (or every one ``Bad``), all advantages are zero and the group
teaches nothing. Comparing the tied completions with each other recovers a signal:

* **pairwise**: every pair of tied completions is judged twice, once in each order (A/B and B/A), so a
  judge that prefers whatever comes first gains nothing: the position effect cancels in the mean.
* **listwise**: the tied completions are ranked in one call, twice (listed forward and reversed).

Each tied completion gets a win rate ``w`` in ``[0, 1]`` (the share of its tied peers it beats, ties
counting half, averaged over both orders), which becomes a small bonus on the verdict::

    reward_i = v_i + beta * delta * (w_i - 1/2)

where ``v_i`` is the normalised verdict (``1``/``0`` for Good/Bad, ``(score - lo) / (hi - lo)`` when
graded), ``delta`` the gap between adjacent verdict levels (``1`` binary, ``1 / (hi - lo)`` graded)
and ``beta`` the ``tie_break`` strength in ``[0, 1)`` (default ``0.2``). The bonus is at most
``beta * delta / 2 < delta / 2`` in size, so it can never reorder completions with different
verdicts: it only orders those the verdict left tied. A completion whose verdict failed keeps
``None``; a failed comparison is skipped (a completion with no valid comparison gets no bonus).

The comparison agents themselves (prompt + schema) are :data:`~inkforge.agents.PAIRWISE_JUDGE` and
:data:`~inkforge.agents.LISTWISE_JUDGE`; this module holds the tie-break arithmetic and calls.

Example:
    >>> group_spans(["a", "a", "b", "b", "b", "b"], num_generations=2)
    [(0, 2), (2, 4), (4, 6)]
    >>> pairwise_win_rates(3, {(0, 1): [1.0, 1.0], (0, 2): [0.5, 0.5], (1, 2): [0.0, 1.0]})
    [0.75, 0.25, 0.5]
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from inkforge.agents.base import Agent
from inkforge.agents.listwise_judge import ListwiseRanking
from inkforge.agents.pairwise_judge import PairwiseVerdict

__all__ = [
    "GroupMode",
    "TieBreakStats",
    "compare_pair",
    "group_spans",
    "prompt_keys",
    "listwise_win_rates",
    "pairwise_win_rates",
    "rank_list",
    "tie_break_win_rates",
]

GroupMode = Literal["pairwise", "listwise"]


def group_spans(keys: Sequence[Hashable], num_generations: int | None = None) -> list[tuple[int, int]]:
    """Split a batch into GRPO groups: runs of equal consecutive keys, at most ``num_generations`` long.

    TRL (and OpenRLHF, verl) lay the completions of one prompt out consecutively. Keys (the prompt)
    rather than a fixed stride find the boundaries because a process may hold only part of a group.

    Args:
        keys: One hashable per completion (its prompt or query).
        num_generations: Largest group size; ``None`` for no limit.

    Returns:
        ``(start, end)`` index ranges covering the batch in order.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(keys) + 1):
        full = num_generations is not None and i - start >= num_generations
        if i == len(keys) or keys[i] != keys[start] or full:
            spans.append((start, i))
            start = i
    return spans


def prompt_keys(prompts: Sequence[Any]) -> list[Hashable]:
    """One hashable key per prompt (a string, or a chat message list), for :func:`group_spans`.

    Example:
        >>> prompt_keys(["a", [{"role": "user", "content": "b"}]])[0]
        'a'
    """
    return [p if isinstance(p, str) else json.dumps(p, ensure_ascii=False, sort_keys=True, default=str)
            for p in prompts]


def pairwise_win_rates(n: int, outcomes: dict[tuple[int, int], list[float]]) -> list[float]:
    """Win rates from pairwise outcomes.

    Args:
        n: Number of completions.
        outcomes: ``(i, j)`` with ``i < j`` → scores of ``i`` against ``j`` from the valid orders
            (``1`` win, ``0.5`` tie, ``0`` loss). Pairs without a valid order are absent or empty.

    Returns:
        Per completion, the mean over its compared peers of its mean score; ``0.5`` (no bonus) when
        it has no valid comparison.
    """
    per: list[list[float]] = [[] for _ in range(n)]
    for (i, j), scores in outcomes.items():
        if not scores:
            continue
        s = sum(scores) / len(scores)
        per[i].append(s)
        per[j].append(1.0 - s)
    return [sum(v) / len(v) if v else 0.5 for v in per]


def listwise_win_rates(n: int, rankings: Sequence[Sequence[int]]) -> list[float]:
    """Win rates from rankings of ``n`` items (each a list of 0-based item indices, best first).

    An item at position ``p`` beats ``n - 1 - p`` of its ``n - 1`` peers; rates are averaged over the
    rankings given (``0.5`` each when none is).
    """
    if n < 2 or not rankings:
        return [0.5] * n
    sums = [0.0] * n
    for ranking in rankings:
        for pos, item in enumerate(ranking):
            sums[item] += (n - 1 - pos) / (n - 1)
    return [s / len(rankings) for s in sums]


@dataclass
class TieBreakStats:
    """What the tie-break comparisons of one batch did.

    Attributes:
        calls: Comparison calls made (pairwise: two per pair; listwise: two per tied class).
        failed: Comparison calls that failed (their result is skipped).
        cached: Comparison calls served from the cache.
        pairs: Pairs with both orders valid (pairwise only).
        flips: Of those, pairs whose preferred item changed with the order: position bias.
        statuses: Failure statuses by count.
    """

    calls: int = 0
    failed: int = 0
    cached: int = 0
    pairs: int = 0
    flips: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def add(self, other: TieBreakStats) -> None:
        """Accumulate ``other`` into this one."""
        self.calls += other.calls
        self.failed += other.failed
        self.cached += other.cached
        self.pairs += other.pairs
        self.flips += other.flips
        for k, v in other.statuses.items():
            self.statuses[k] = self.statuses.get(k, 0) + v

    def record(self, res: Any) -> None:
        """Count one comparison result."""
        self.calls += 1
        self.cached += int(bool(res.cached))
        if not res.ok:
            self.failed += 1
            self.statuses[res.status] = self.statuses.get(res.status, 0) + 1

    @property
    def flip_rate(self) -> float | None:
        """Share of fully compared pairs whose preference flipped with the order (``None`` if none)."""
        return self.flips / self.pairs if self.pairs else None


def _pair_score(winner: str, first_is_a: bool) -> float:
    if winner == "tie":
        return 0.5
    return 1.0 if (winner == "A") == first_is_a else 0.0


async def compare_pair(agent: Agent[PairwiseVerdict], query: str, first: str, second: str, rubric: Sequence[str],
                       *, sample: int = 0) -> tuple[Any, Any]:
    """Judge ``first`` vs ``second`` in both orders, concurrently.

    Returns:
        ``(result with first as A, result with first as B)`` as :class:`~inkforge.agents.AgentResult`.
    """
    rules = list(rubric)
    ab, ba = await asyncio.gather(
        agent.ainvoke({"query": query, "response_a": first, "response_b": second, "rubric": rules}, sample=sample),
        agent.ainvoke({"query": query, "response_a": second, "response_b": first, "rubric": rules}, sample=sample))
    return ab, ba


async def _pairwise(agent: Agent[PairwiseVerdict], query: str, texts: Sequence[str], rubric: Sequence[str],
                    sample: int) -> tuple[list[float], TieBreakStats]:
    stats = TieBreakStats()
    pairs = list(itertools.combinations(range(len(texts)), 2))
    results = await asyncio.gather(*(compare_pair(agent, query, texts[i], texts[j], rubric, sample=sample)
                                     for i, j in pairs))
    outcomes: dict[tuple[int, int], list[float]] = {}
    for (i, j), (ab, ba) in zip(pairs, results, strict=True):
        stats.record(ab)
        stats.record(ba)
        scores = []
        if ab.ok:
            scores.append(_pair_score(ab.output.winner, first_is_a=True))
        if ba.ok:
            scores.append(_pair_score(ba.output.winner, first_is_a=False))
        if ab.ok and ba.ok:
            stats.pairs += 1
            stats.flips += int(scores[0] != scores[1])
        outcomes[(i, j)] = scores
    return pairwise_win_rates(len(texts), outcomes), stats


async def rank_list(agent: Agent[ListwiseRanking], query: str, texts: Sequence[str], rubric: Sequence[str],
                    *, sample: int = 0) -> tuple[list[list[int]], TieBreakStats]:
    """Rank ``texts`` twice (listed forward, then reversed) in two concurrent calls.

    Returns:
        The valid rankings as lists of 0-based indices into ``texts`` (best first), and call stats.
    """
    n = len(texts)
    orders = [list(range(n)), list(reversed(range(n)))]
    rules = list(rubric)
    results = await asyncio.gather(*(
        agent.ainvoke({"query": query, "candidates": [texts[k] for k in order], "count": n, "rubric": rules},
                      sample=sample) for order in orders))
    stats = TieBreakStats()
    rankings: list[list[int]] = []
    for order, res in zip(orders, results, strict=True):
        stats.record(res)
        if res.ok and res.output is not None and len(res.output.ranking) == n:
            rankings.append([order[pos - 1] for pos in res.output.ranking])
        elif res.ok:  # a schema-valid ranking of the wrong size: as unusable as a parse error
            stats.failed += 1
            stats.statuses["parse_error"] = stats.statuses.get("parse_error", 0) + 1
    return rankings, stats


async def tie_break_win_rates(mode: GroupMode, agent: Agent[Any], query: str, texts: Sequence[str],
                              rubric: Sequence[str], *, sample: int = 0) -> tuple[list[float], TieBreakStats]:
    """Win rates of tied completions among themselves, by pairwise or listwise comparison.

    Args:
        mode: ``pairwise`` or ``listwise``.
        agent: The bound comparison agent: :data:`~inkforge.agents.PAIRWISE_JUDGE`, or
            :data:`~inkforge.agents.LISTWISE_JUDGE` bound with
            :func:`~inkforge.agents.listwise_schema` of ``len(texts)``.
        query: The request.
        texts: The tied completions (at least two to compare anything).
        rubric: The rubric rules.
        sample: Sample index (cache key).

    Returns:
        One win rate per text in ``[0, 1]`` and the call stats.
    """
    if len(texts) < 2:
        return [0.5] * len(texts), TieBreakStats()
    if mode == "pairwise":
        return await _pairwise(agent, query, texts, rubric, sample)
    rankings, stats = await rank_list(agent, query, texts, rubric, sample=sample)
    return listwise_win_rates(len(texts), rankings), stats
