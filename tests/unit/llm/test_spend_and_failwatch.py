"""Spend caps and the fail-fast watch, as the agents' one call site uses them."""

from __future__ import annotations

import pytest

from inkforge.agents import JUDGE
from inkforge.core.errors import FailFastError
from inkforge.llm.budget import BudgetExceededError, SpendCap
from inkforge.llm.failwatch import FailureWatch
from inkforge.llm.runtime import Runtime
from inkforge.testing import FakeChatModel

VARS = {"query": "q", "response": "r", "positive": "-", "negative": "-"}


def test_cap_stops_the_next_uncached_call_and_counts_from_when_it_was_set() -> None:
    fake = FakeChatModel(responder=lambda m, s: {"reason": "ok", "label": 1}, usage=(40, 10))
    rt = Runtime.for_testing(fake)
    judge = JUDGE.bind(rt)
    assert judge.invoke(VARS).ok  # 50 tokens before the cap: not counted against it
    rt.usage.guard(SpendCap(max_tokens=100))
    assert judge.invoke(VARS).ok and judge.invoke(VARS).ok
    with pytest.raises(BudgetExceededError, match="100 tokens used, --max-tokens 100"):
        judge.invoke(VARS)
    assert len(fake.calls) == 3  # the refused call never reached the model
    rt.usage.guard(None)
    assert judge.invoke(VARS).ok


def test_window_trips_on_recent_failures_only() -> None:
    watch = FailureWatch(0.5, window=4, what="model calls", unit="calls")
    err = "InternalServerError: Error code: 503"
    for status in ["error", "error", "ok", "ok", "ok", "ok", "error", "error"]:
        watch.record(status, err, endpoint="http://x/v1")  # never above half of the last four
    with pytest.raises(FailFastError, match=r"3 of the last 4 calls \(75%\); cause: the endpoint answers HTTP 5xx "
                                            r"at http://x/v1"):
        watch.record("error", err, endpoint="http://x/v1")


def test_agent_failures_trip_the_runtime_watch_naming_the_key_variable() -> None:
    def unauthorized(messages: object, schema: object) -> Exception:
        return RuntimeError("AuthenticationError: Error code: 401 - invalid key")

    rt = Runtime.for_testing(FakeChatModel(responder=unauthorized))
    rt.usage.guard(None, FailureWatch(0.8, window=3, what="model calls", unit="calls"))
    judge = JUDGE.bind(rt)
    judge.invoke(VARS)
    judge.invoke(VARS)
    with pytest.raises(FailFastError, match="HTTP 401 unauthorized: check the API key in OPENAI_API_KEY"):
        judge.invoke(VARS)
