"""The run's bookkeeping: exact line cuts for --retry-failed, pending items, spend and fingerprint diffs."""

from __future__ import annotations

from pathlib import Path

import pytest

from inkforge.core.errors import InputError
from inkforge.graphs.items import QueryItem
from inkforge.graphs.run_state import RunState, check_fingerprint, classify_records, fingerprint_diff


def _item(i: int) -> QueryItem:
    return QueryItem(key=f"k{i}", id=f"q{i}", query=f"q{i}")


def test_retry_cuts_exactly_the_failed_items_lines_and_shifts_the_others(tmp_path: Path) -> None:
    state = RunState(tmp_path / ".inkforge" / "run.sqlite")
    run = state.start_run()
    out = tmp_path / "results.jsonl"
    pos = 0
    with out.open("wb") as f:
        for i, status in enumerate(["ok", "failed", "ok", "error", "ok"]):
            line = f'{{"item": {i}}}\n'.encode() * (i + 1)
            f.write(line)
            state.commit(_item(i), status, run, {"results": pos + len(line)}, {"results": (pos, pos + len(line))})
            pos += len(line)
    assert state.retry(("failed", "error"), tmp_path, ["results"]) == 2
    kept = out.read_text().splitlines()
    assert kept == ['{"item": 0}'] + ['{"item": 2}'] * 3 + ['{"item": 4}'] * 5
    assert state.file_sizes() == {"results": out.stat().st_size}
    assert state.counts() == {"ok": 3} and state.done_run("k1") is None
    # The kept items' spans moved with the cut: a second retry of another status stays exact.
    state.db.execute("UPDATE done SET status='failed' WHERE key='k2'")
    state.retry(("failed",), tmp_path, ["results"])
    assert out.read_text().splitlines() == ['{"item": 0}'] + ['{"item": 4}'] * 5
    state.close()


def test_pending_items_and_spend_are_kept_per_item(tmp_path: Path) -> None:
    state = RunState(tmp_path / "run.sqlite")
    run = state.start_run()
    state.mark_pending(_item(1), "server", run, {"writer": {"calls": 2, "failed": {"error": 2}}})
    state.commit(_item(2), "ok", run, {}, {}, {"writer": {"calls": 1, "input_tokens": 5}})
    state.commit(_item(1), "ok", run, {}, {}, {"writer": {"calls": 1, "input_tokens": 7}})  # done on a retry
    assert state.pending() == {}
    assert state.spend_by_agent() == {"writer": {"calls": 4, "failed": {"error": 2}, "input_tokens": 12}}
    state.close()


def test_fingerprint_mismatch_names_the_nested_field(tmp_path: Path) -> None:
    state = RunState(tmp_path / "run.sqlite")
    fp = {"endpoints": {"judge": {"temperature": 0.7, "base_url": "http://a/v1"}}, "n_candidates": 4}
    check_fingerprint(state, fp, tmp_path)
    check_fingerprint(state, fp, tmp_path)  # same options: accepted
    changed = {"endpoints": {"judge": {"temperature": 0.7, "base_url": "http://b/v1"}}, "n_candidates": 4}
    assert fingerprint_diff(fp, changed) == ["endpoints.judge.base_url"]
    with pytest.raises(InputError, match=r"endpoints\.judge\.base_url: saved 'http://a/v1', now 'http://b/v1'"):
        check_fingerprint(state, changed, tmp_path)
    state.close()


@pytest.mark.parametrize(("failures", "outcome"), [
    ([], ("ok", None)),
    ([{"status": "no_pair"}, {"status": "identical"}], ("ok", None)),
    ([{"status": "refused"}], ("failed", "content_filter")),
    ([{"status": "error", "reason": "BadRequestError: Error code: 400"}], ("failed", "bad_request")),
    ([{"status": "parse_error"}, {"status": "timeout"}], ("pending", "timeout")),
    ([{"status": "error", "kind": "connection"}], ("pending", "connection")),
    ([{"status": "error", "reason": "AuthenticationError: Error code: 401"}], ("failed", "auth")),
])
def test_outcome_of_an_item(failures: list[dict[str, str]], outcome: tuple[str, str | None]) -> None:
    assert classify_records({"failures": failures}) == outcome
