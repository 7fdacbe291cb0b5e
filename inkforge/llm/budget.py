"""Spend caps of a run: a token and a cost limit shared by every agent, checked before each model call.

A :class:`SpendCap` lives on the runtime's :class:`~inkforge.llm.usage.UsageTracker`; the agents'
one call site asks it before every model call that the response cache did not answer. Once the
spend of this invocation reaches either limit, the next call raises :class:`BudgetExceededError`:
the runner stops, committed items stay committed, unfinished ones keep their checkpoints, and
``--resume`` continues with a fresh allowance (a cap bounds one invocation, so that a resume is
never refused for what earlier invocations spent; the summary sums the spend of all of them).
Calls already under way when the cap is reached finish, so a run may pass it by those calls.

Example:
    >>> cap = SpendCap(max_tokens=100)
    >>> cap.check({"tokens": 99, "cost": 0.0})
    >>> try:
    ...     cap.check({"tokens": 100, "cost": 0.0})
    ... except BudgetExceededError as e:
    ...     print(e)
    spend cap reached: 100 tokens used, --max-tokens 100; rerun with --resume (and a larger cap) to continue
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inkforge.core.errors import InkforgeError

__all__ = ["BudgetExceededError", "SpendCap"]


class BudgetExceededError(InkforgeError, RuntimeError):
    """The run's token or cost cap is reached: it stops cleanly and ``--resume`` continues it."""

    kind = "budget"


@dataclass(frozen=True)
class SpendCap:
    """Token and cost limits of one invocation (``None``: no limit).

    Attributes:
        max_tokens: Input + output tokens over every agent.
        max_cost: Cost in the currency of the specs' prices (``input_cost_per_mtok``...).
    """

    max_tokens: int | None = None
    max_cost: float | None = None

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if self.max_cost is not None and self.max_cost <= 0:
            raise ValueError("max_cost must be positive")

    @property
    def active(self) -> bool:
        """Whether any limit is set."""
        return self.max_tokens is not None or self.max_cost is not None

    def check(self, spent: Mapping[str, Any]) -> None:
        """Raise once ``spent`` (``tokens``, ``cost``) reached a limit.

        Raises:
            BudgetExceededError: A limit is reached.
        """
        tokens, cost = int(spent.get("tokens", 0)), float(spent.get("cost", 0.0))
        if self.max_tokens is not None and tokens >= self.max_tokens:
            raise BudgetExceededError(f"spend cap reached: {tokens} tokens used, --max-tokens {self.max_tokens}; "
                                      "rerun with --resume (and a larger cap) to continue")
        if self.max_cost is not None and cost >= self.max_cost:
            raise BudgetExceededError(f"spend cap reached: cost {cost:.4f} used, --max-cost {self.max_cost}; "
                                      "rerun with --resume (and a larger cap) to continue")
