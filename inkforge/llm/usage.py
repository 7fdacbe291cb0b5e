"""Token, cost and failure accounting per agent, shared by every agent of a run, with its guards.

The tracker also holds the run's two guards, both fed from the agents' one call site: a
:class:`~inkforge.llm.budget.SpendCap` asked before every model call (:meth:`UsageTracker.admit`) and a
:class:`~inkforge.llm.failwatch.FailureWatch` told of every result (:meth:`UsageTracker.record`).
Both are off on a bare tracker; the model-calling commands and the graph runner turn them on
(:meth:`UsageTracker.guard`).

Example:
    >>> u = UsageTracker()
    >>> u.record("judge", status="ok", cached=False, attempts=1, input_tokens=10, output_tokens=5, cost=0.0,
    ...          seconds=0.1)
    >>> mark = u.snapshot()
    >>> u.record("judge", status="error", cached=False, attempts=1, input_tokens=0, output_tokens=0, cost=0.0,
    ...          seconds=0.1, kind="server")
    >>> u.totals()["tokens"], u.delta(mark)["judge"]["failed"]
    (15, {'error': 1})
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inkforge.llm.budget import SpendCap
from inkforge.llm.failwatch import FailureWatch


@dataclass
class AgentUsage:
    """Counters of one agent: calls, cache hits, failures by status, tokens and cost."""

    calls: int = 0
    cached: int = 0
    ok: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0


def add_usage(total: dict[str, dict[str, Any]], more: Mapping[str, Mapping[str, Any]], sign: int = 1) -> None:
    """Add per-agent counters (:class:`AgentUsage` dicts) into ``total`` in place (``sign=-1`` subtracts).

    Example:
        >>> t = {}
        >>> add_usage(t, {"judge": {"calls": 2, "failed": {"error": 1}, "cost": 0.5}})
        >>> add_usage(t, {"judge": {"calls": 1, "failed": {"error": 1}, "cost": 0.25}})
        >>> t
        {'judge': {'calls': 3, 'failed': {'error': 2}, 'cost': 0.75}}
    """
    for agent, counters in more.items():
        mine = total.setdefault(agent, {})
        for k, v in counters.items():
            if isinstance(v, Mapping):
                sub = mine.setdefault(k, {})
                for s, n in v.items():
                    sub[s] = sub.get(s, 0) + sign * n
                    if not sub[s]:
                        del sub[s]
            elif isinstance(v, float):
                mine[k] = round(mine.get(k, 0.0) + sign * v, 9)
            else:
                mine[k] = mine.get(k, 0) + sign * v


def usage_totals(by_agent: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Sums over agents of per-agent counters: calls, cached, failed, tokens, cost."""
    us = list(by_agent.values())
    inp = sum(int(u.get("input_tokens", 0)) for u in us)
    out = sum(int(u.get("output_tokens", 0)) for u in us)
    return {"calls": sum(int(u.get("calls", 0)) for u in us), "cached": sum(int(u.get("cached", 0)) for u in us),
            "failed": sum(sum((u.get("failed") or {}).values()) for u in us),
            "input_tokens": inp, "output_tokens": out, "tokens": inp + out,
            "cost": round(sum(float(u.get("cost", 0.0)) for u in us), 6)}


class UsageTracker:
    """Token, cost and failure accounting per agent (thread-safe), plus the spend cap and fail-fast watch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_agent: dict[str, AgentUsage] = {}
        self.cap: SpendCap | None = None
        self.watch: FailureWatch | None = None
        # Running sums, so that the check before every call costs no walk over the agents.
        self._tokens = 0
        self._cost = 0.0
        self._cap_base = (0, 0.0)

    def guard(self, cap: SpendCap | None = None, watch: FailureWatch | None = None) -> None:
        """Install a spend cap (counted from now) and a fail-fast watch; ``None`` removes each."""
        with self._lock:
            self.cap = cap if cap is not None and cap.active else None
            self.watch = watch
            self._cap_base = (self._tokens, self._cost)

    def admit(self) -> None:
        """Called before every model call: raise if the spend cap is reached.

        Raises:
            BudgetExceededError: The spend since :meth:`guard` reached the cap.
        """
        cap = self.cap
        if cap is not None:
            tokens, cost = self._cap_base
            cap.check({"tokens": self._tokens - tokens, "cost": self._cost - cost})

    def record(self, agent: str, *, status: str, cached: bool, attempts: int, input_tokens: int,
               output_tokens: int, cost: float, seconds: float, kind: str | None = None, error: str | None = None,
               endpoint: str | None = None, key_env: str | None = None) -> None:
        """Add one finished call, then tell the fail-fast watch.

        Raises:
            FailFastError: The watch's failure rate is passed (the call is counted first).
        """
        with self._lock:
            u = self.by_agent.setdefault(agent, AgentUsage())
            u.calls += 1
            u.cached += int(cached)
            u.attempts += attempts
            if status == "ok":
                u.ok += 1
            else:
                u.failed[status] = u.failed.get(status, 0) + 1
            u.input_tokens += input_tokens
            u.output_tokens += output_tokens
            u.cost += cost
            u.seconds += seconds
            self._tokens += input_tokens + output_tokens
            self._cost += cost
            watch = self.watch
        if watch is not None:
            watch.record(status, error, kind=kind, endpoint=endpoint, key_env=key_env)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per-agent counters now (a mark for :meth:`delta`)."""
        with self._lock:  # by hand: dataclasses.asdict deep-copies generically, ~10x slower
            return {k: {"calls": v.calls, "cached": v.cached, "ok": v.ok, "failed": dict(v.failed),
                        "attempts": v.attempts, "input_tokens": v.input_tokens, "output_tokens": v.output_tokens,
                        "cost": v.cost, "seconds": v.seconds} for k, v in self.by_agent.items()}

    def delta(self, mark: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """Per-agent counters added since ``mark`` (agents with no call since are left out)."""
        now = self.snapshot()
        add_usage(now, mark, sign=-1)
        return {a: {k: v for k, v in c.items() if v} for a, c in now.items() if c.get("calls")}

    def totals(self) -> dict[str, Any]:
        """Sums over agents: calls, cached, failed, tokens, cost."""
        return usage_totals(self.snapshot())

    def as_dict(self) -> dict[str, Any]:
        """Per-agent counters and totals, JSON-ready."""
        per = self.snapshot()
        return {"agents": per, "totals": usage_totals(per)}
