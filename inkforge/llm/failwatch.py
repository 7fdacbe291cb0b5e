"""Fail fast: stop a batch of model calls once most of them fail, naming the cause.

:class:`FailureWatch` counts call results, over all of them or over a sliding window of the last
``window`` ones, and raises :class:`~inkforge.core.errors.FailFastError` once the failure share passes
``max_rate``. The message names the cause a user can act on, from the failures' error kinds
(:func:`~inkforge.core.types.failure_kind`): an unreachable endpoint (its URL), HTTP 401 (and the
environment variable the key is read from, never the key), HTTP 5xx, timeouts, rate limits...

The runtime's :class:`~inkforge.llm.usage.UsageTracker` feeds one with every agent call (on by default
in every model-calling command: window 20, 80%); ``eval-judge`` keeps its own over all rows.

Example:
    >>> watch = FailureWatch(max_rate=0.5, window=4, what="model calls", unit="calls")
    >>> for _ in range(3):
    ...     watch.record("error", "APIConnectionError: Connection error.", endpoint="http://127.0.0.1:9/v1")
    >>> try:
    ...     watch.record("error", "APIConnectionError: Connection error.", endpoint="http://127.0.0.1:9/v1")
    ... except FailFastError as e:
    ...     print(str(e).split(";")[1].strip())
    cause: endpoint unreachable (http://127.0.0.1:9/v1)
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from inkforge.core.errors import FailFastError
from inkforge.core.types import failure_kind

__all__ = ["DEFAULT_MAX_RATE", "DEFAULT_WINDOW", "MIN_CALLS", "FailFastSettings", "FailureWatch", "describe_cause"]

#: Results seen before the failure rate may stop a batch (all of them for a smaller batch).
MIN_CALLS = 20
#: Defaults of the runtime-wide watch: the last 20 calls, stop above 80% failures.
DEFAULT_WINDOW = 20
DEFAULT_MAX_RATE = 0.8


class FailFastSettings(BaseModel):
    """The run-wide fail-fast watch of a run configuration (``fail_fast:``); the commands' flags win.

    Attributes:
        window: Model calls looked back on (0: no watch).
        max_rate: Failure share of the window above which a run stops.

    Example:
        >>> FailFastSettings().watch().window, FailFastSettings(window=0).watch()
        (20, None)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: int = Field(default=DEFAULT_WINDOW, ge=0)
    max_rate: float = Field(default=DEFAULT_MAX_RATE, ge=0.0, le=1.0)

    def watch(self, window: int | None = None, max_rate: float | None = None) -> FailureWatch | None:
        """A fresh run-wide watch (``window``/``max_rate`` override these settings), or ``None`` when off."""
        w = self.window if window is None else window
        rate = self.max_rate if max_rate is None else max_rate
        return FailureWatch(rate, window=w, what="model calls", unit="calls") if w else None


@dataclass(frozen=True)
class _Failure:
    status: str
    kind: str
    error: str | None
    endpoint: str | None
    key_env: str | None


def describe_cause(kind: str, *, endpoint: str | None = None, key_env: str | None = None,
                   error: str | None = None) -> str:
    """What to tell a user about failures of one kind.

    Example:
        >>> describe_cause("auth", endpoint="https://api.example.com/v1", key_env="OPENAI_API_KEY")
        'HTTP 401 unauthorized at https://api.example.com/v1: check the API key in OPENAI_API_KEY'
    """
    at = f" at {endpoint}" if endpoint else ""
    if kind == "connection":
        return f"endpoint unreachable ({endpoint or 'no URL configured'})"
    if kind == "auth":
        return f"HTTP 401 unauthorized{at}: check the API key in {key_env or 'the key variable'}"
    if kind == "permission":
        return f"HTTP 403 forbidden{at}: the key in {key_env or 'the key variable'} may not use this model"
    if kind == "not_found":
        return f"HTTP 404 not found{at}: check the model name and the URL"
    if kind == "server":
        return f"the endpoint answers HTTP 5xx{at}"
    if kind == "timeout":
        return f"calls time out{at}"
    if kind == "rate_limited":
        return f"rate limited (HTTP 429){at}: lower --concurrency"
    if kind == "parse":
        return "answers do not match the output schema after the re-asks"
    return f"{kind} errors{at}" + (f" ({error[:200]})" if error else "")


class FailureWatch:
    """Raises :class:`~inkforge.core.errors.FailFastError` once too many call results are failures.

    Args:
        max_rate: Failure share above which the batch stops (``None``: never; 1.0 never stops either).
        total: Results the batch will have, when known: a smaller batch is checked after all of them.
        min_calls: Results seen before the check applies (``min(min_calls, total)``).
        window: Check the last ``window`` results only (``None``: all results so far). A window
            needs ``window`` results before it applies.
        what: What the results are, for the message (``"judge calls"``).
        unit: What is counted, for the message (``"rows"``).
    """

    def __init__(self, max_rate: float | None, total: int | None = None, min_calls: int = MIN_CALLS, *,
                 window: int | None = None, what: str = "judge calls", unit: str = "rows") -> None:
        self.max_rate = max_rate
        self.window = window
        need = window if window is not None else min_calls
        self.needed = max(1, min(need, total) if total is not None else need)
        self.what, self.unit = what, unit
        self.done = 0
        self.by_status: dict[str, int] = {}
        self.first_error: str | None = None
        self._recent: deque[_Failure | None] = deque(maxlen=window)

    @property
    def failed(self) -> int:
        """Failed results so far."""
        return sum(self.by_status.values())

    def record(self, status: str, error: str | None = None, *, kind: str | None = None,
               endpoint: str | None = None, key_env: str | None = None) -> None:
        """Count one result; raise once the failure share is too high.

        Raises:
            FailFastError: More than ``max_rate`` of the results considered failed.
        """
        self.done += 1
        fail = None
        if status != "ok":
            self.by_status[status] = self.by_status.get(status, 0) + 1
            if self.first_error is None:
                self.first_error = error or status
            fail = _Failure(status, failure_kind(status, error, kind) or "other", error, endpoint, key_env)
        self._recent.append(fail)
        if self.max_rate is None or self.done < self.needed:
            return
        if self.window is not None:
            failed, seen = sum(f is not None for f in self._recent), len(self._recent)
        else:
            failed, seen = self.failed, self.done
        rate = failed / seen
        if rate > self.max_rate:
            raise FailFastError(self._message(failed, seen, rate))

    def _message(self, failed: int, seen: int, rate: float) -> str:
        fails = [f for f in self._recent if f is not None]
        kind, _ = Counter(f.kind for f in fails).most_common(1)[0]
        last = next(f for f in reversed(fails) if f.kind == kind)
        cause = describe_cause(kind, endpoint=last.endpoint, key_env=last.key_env, error=last.error)
        if self.window is None:
            return (f"{self.what} failed on {failed} of {seen} {self.unit} ({rate:.0%}); cause: {cause}; more than "
                    f"max_failure_rate={self.max_rate} of the calls fail, so the evaluation stops without a report: "
                    f"{self.by_status}; first error: {self.first_error}. Check the endpoint, the model name and the key")
        return (f"{self.what} failed on {failed} of the last {seen} {self.unit} ({rate:.0%}); cause: {cause}; last "
                f"error: {(last.error or last.status)[:300]}. Stopped: finished items are saved, fix the cause and "
                "rerun with --resume")
