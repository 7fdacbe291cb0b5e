"""The runner's per-item spend: deltas of the run's usage, nested counters included."""

from __future__ import annotations

from typing import Any

from inkforge.graphs.runner import _Spend
from inkforge.llm.usage import add_usage


class _Usage:
    def __init__(self) -> None:
        self.by_agent: dict[str, dict[str, Any]] = {}

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {a: {k: dict(v) if isinstance(v, dict) else v for k, v in c.items()} for a, c in self.by_agent.items()}

    def fail(self, n: int) -> None:
        add_usage(self.by_agent, {"writer": {"calls": n, "failed": {"error": n}}})


class _Runtime:
    def __init__(self) -> None:
        self.usage = _Usage()


def test_takes_sum_to_the_total_when_failures_arrive_between_saves() -> None:
    rt = _Runtime()
    spend = _Spend(rt)
    total: dict[str, dict[str, Any]] = {}
    for n in (2, 3, 0, 4):  # items saved while more calls fail in between
        rt.usage.fail(n)
        add_usage(total, spend.take())
    assert total == {"writer": {"calls": 9, "failed": {"error": 9}}}
