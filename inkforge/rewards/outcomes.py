"""What a judge call returns: one :class:`JudgeOutcome` per completion, batch statistics, imputation.

Shared by the in-process judge reward, the reward server and its client, and the verl and OpenRLHF
adapters, so every path reports the same statuses and rates.

Example:
    >>> batch = ScoreBatch([JudgeOutcome("ok", reward=1.0, verdict=1.0), JudgeOutcome("timeout")])
    >>> batch.rewards, batch.statuses
    ([1.0, None], ['ok', 'timeout'])
    >>> batch_stats(batch.outcomes, seconds=0.5)["timeout_rate"]
    0.5
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from inkforge.core.errors import FailFastError
from inkforge.core.types import STATUSES
from inkforge.rewards.group import TieBreakStats

__all__ = ["JudgeOutcome", "ScoreBatch", "batch_stats", "impute_failures"]


@dataclass
class JudgeOutcome:
    """The judge's result for one completion.

    Attributes:
        status: ``ok`` or the failure kind (see :data:`inkforge.core.types.STATUSES`).
        reward: The reward (``verdict + bonus``), or ``None`` when the verdict failed.
        verdict: The normalised verdict in ``[0, 1]`` before any tie-break bonus.
        label: ``"Good"``/``"Bad"`` (binary) or the raw integer score (graded).
        bonus: Group tie-break bonus added to the verdict (``0.0`` without group mode).
        win_rate: Win rate among tied group peers (group mode; ``None`` when not compared).
        cached: The verdict came from the response cache.
        explanation: The judge's explanation.
        error: Why it failed.
        raw: The model's raw answer (kept for failures).

    Example:
        >>> JudgeOutcome("parse_error", error="no JSON").ok
        False
    """

    status: str
    reward: float | None = None
    verdict: float | None = None
    label: str | int | None = None
    bonus: float = 0.0
    win_rate: float | None = None
    cached: bool = False
    explanation: str | None = None
    error: str | None = None
    raw: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the verdict is valid."""
        return self.status == "ok"

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass
class ScoreBatch:
    """Outcomes and statistics of one scoring call.

    Attributes:
        outcomes: One :class:`JudgeOutcome` per completion, in order.
        stats: Counts and rates (``n``, ``ok``, ``failed``, ``statuses``, ``<status>_rate``,
            ``cached_rate``, ``failure_rate``, ``seconds``, ``tie_break``...), see :func:`batch_stats`.
    """

    outcomes: list[JudgeOutcome]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def rewards(self) -> list[float | None]:
        """Rewards, ``None`` for failures."""
        return [o.reward for o in self.outcomes]

    @property
    def statuses(self) -> list[str]:
        """Per-sample statuses."""
        return [o.status for o in self.outcomes]


def batch_stats(outcomes: Sequence[JudgeOutcome], seconds: float,
                tie_break: TieBreakStats | None = None) -> dict[str, Any]:
    """Counts and rates of one batch, JSON-ready.

    Args:
        outcomes: The batch's outcomes.
        seconds: Wall time of the batch.
        tie_break: What the group tie-break did, if there was one.

    Returns:
        ``n``, ``ok``, ``failed``, ``statuses`` (non-zero counts), ``cached``, ``seconds``,
        ``failure_rate``, ``cached_rate``, ``mean_reward``, one ``<status>_rate`` per status and,
        with a tie-break, ``tie_break``.
    """
    n = len(outcomes)
    counts: dict[str, int] = {s: 0 for s in STATUSES}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    ok = counts["ok"]
    rewards = [o.reward for o in outcomes if o.reward is not None]
    stats: dict[str, Any] = {
        "n": n, "ok": ok, "failed": n - ok, "statuses": {k: v for k, v in counts.items() if v},
        "cached": sum(o.cached for o in outcomes), "seconds": round(seconds, 4),
        "failure_rate": (n - ok) / n if n else 0.0,
        "cached_rate": sum(o.cached for o in outcomes) / n if n else 0.0,
        "mean_reward": sum(rewards) / len(rewards) if rewards else None,
    }
    for status, count in counts.items():
        stats[f"{status}_rate"] = count / n if n else 0.0
    if tie_break is not None:
        tb = tie_break
        stats["tie_break"] = {"calls": tb.calls, "failed": tb.failed, "cached": tb.cached, "pairs": tb.pairs,
                              "flips": tb.flips, "flip_rate": tb.flip_rate, "statuses": dict(tb.statuses)}
    return stats


def impute_failures(rewards: Sequence[float | None], keys: Sequence[Hashable] | None = None) -> list[float]:
    """Numbers for trainers that cannot mask a missing reward (verl, OpenRLHF): the group mean.

    A failed item gets the mean reward of the successful items with the same key (its GRPO group),
    which gives it zero advantage under group normalisation, the closest a numeric reward gets to
    TRL's masking; with no successful peer, the mean over the whole batch. This is *not* a verdict:
    callers report the failure beside it (status, counts) and apply the fail-fast threshold first.

    Args:
        rewards: Rewards with ``None`` for failures.
        keys: Group key per item (prompt); ``None`` treats the batch as one group.

    Returns:
        Rewards with every ``None`` replaced.

    Raises:
        FailFastError: No item succeeded, so there is nothing to impute from.

    Example:
        >>> impute_failures([1.0, None, 0.0, 1.0, None], keys=["a", "a", "b", "b", "c"])
        [1.0, 1.0, 0.0, 1.0, 0.6666666666666666]
    """
    keys = list(keys) if keys is not None else [0] * len(rewards)
    valid = [r for r in rewards if r is not None]
    if not valid and rewards:
        raise FailFastError(f"all {len(rewards)} judge calls failed; no reward to impute from")
    overall = sum(valid) / len(valid) if valid else 0.0
    by_key: dict[Hashable, list[float]] = {}
    for k, r in zip(keys, rewards, strict=True):
        if r is not None:
            by_key.setdefault(k, []).append(r)
    out = []
    for k, r in zip(keys, rewards, strict=True):
        if r is None:
            peers = by_key.get(k)
            r = sum(peers) / len(peers) if peers else overall
        out.append(float(r))
    return out
