"""Token, cost and failure accounting per agent, shared by every agent of a run."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any


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


class UsageTracker:
    """Token, cost and failure accounting per agent (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_agent: dict[str, AgentUsage] = {}

    def record(self, agent: str, *, status: str, cached: bool, attempts: int, input_tokens: int,
               output_tokens: int, cost: float, seconds: float) -> None:
        """Add one finished call."""
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

    def totals(self) -> dict[str, Any]:
        """Sums over agents: calls, cached, failed, tokens, cost."""
        with self._lock:
            us = list(self.by_agent.values())
        return {
            "calls": sum(u.calls for u in us), "cached": sum(u.cached for u in us),
            "failed": sum(sum(u.failed.values()) for u in us),
            "input_tokens": sum(u.input_tokens for u in us),
            "output_tokens": sum(u.output_tokens for u in us),
            "tokens": sum(u.input_tokens + u.output_tokens for u in us),
            "cost": round(sum(u.cost for u in us), 6),
        }

    def as_dict(self) -> dict[str, Any]:
        """Per-agent counters and totals, JSON-ready."""
        with self._lock:
            per = {k: asdict(v) for k, v in self.by_agent.items()}
        return {"agents": per, "totals": self.totals()}
