"""The runner's hooks for jobs of one long item: run context, step limit, per-step callback, raising errors."""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from inkforge.core.errors import FailFastError
from inkforge.graphs.items import QueryItem
from inkforge.graphs.runner import GraphJob, run_graph

pytestmark = pytest.mark.timeout(60)


class S(TypedDict, total=False):
    query: str
    n: int
    steps: Annotated[list[str], operator.add]


@dataclass(frozen=True)
class Ctx:
    rounds: int
    calls: dict[str, int]
    fail_at: int | None = None
    error: type[BaseException] = RuntimeError


def start(state: S, runtime: Runtime[Ctx]) -> dict[str, Any]:
    runtime.context.calls["start"] = runtime.context.calls.get("start", 0) + 1
    return {"n": 0, "steps": ["start"]}


def step(state: S, runtime: Runtime[Ctx]) -> dict[str, Any]:
    ctx = runtime.context
    ctx.calls["step"] = ctx.calls.get("step", 0) + 1
    if ctx.fail_at is not None and state["n"] + 1 == ctx.fail_at:
        raise ctx.error(f"boom at {ctx.fail_at}")
    return {"n": state["n"] + 1, "steps": [f"step {state['n'] + 1}"]}


def again(state: S, runtime: Runtime[Ctx]) -> str:
    return "step" if state["n"] < runtime.context.rounds else END


def loop_graph() -> StateGraph:
    g = StateGraph(S, context_schema=Ctx)
    g.add_node("start", start)
    g.add_node("step", step)
    g.add_edge(START, "start")
    g.add_edge("start", "step")
    g.add_conditional_edges("step", again, ["step", END])
    return g


def job(ctx: Ctx, **kw: Any) -> GraphJob:
    def to_records(item: QueryItem, state: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        return {"results": [{"item_id": item.id, "n": state["n"], "steps": state["steps"]}]}

    return GraphJob(graph=loop_graph(), to_input=lambda item: {"query": item.query}, to_records=to_records,
                    outputs=("results", "failures"), name="loop", context=ctx, **kw)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_nodes_get_the_jobs_context_and_its_step_limit(tmp_path: Path) -> None:
    calls: dict[str, int] = {}
    report = run_graph(job(Ctx(rounds=3, calls=calls)), ["a", "b"], out_dir=tmp_path / "ok")
    assert report.complete and [r["n"] for r in lines(tmp_path / "ok" / "results.jsonl")] == [3, 3]
    assert calls == {"start": 2, "step": 6}
    # 120 rounds need more supersteps than the default limit allows: the item fails, unless the job says so.
    deep = run_graph(job(Ctx(rounds=120, calls={})), ["a"], out_dir=tmp_path / "deep")
    assert deep.errors == 1 and "Recursion" in lines(tmp_path / "deep" / "failures.jsonl")[0]["reason"]
    run_graph(job(Ctx(rounds=120, calls={}), recursion_limit=200), ["a"], out_dir=tmp_path / "deep2")
    assert lines(tmp_path / "deep2" / "results.jsonl")[0]["n"] == 120


def test_on_step_sees_every_superstep_and_can_pause_the_item(tmp_path: Path) -> None:
    seen: list[int] = []

    def on_step(item: QueryItem, state: dict[str, Any]) -> bool:
        seen.append(state.get("n", -1))
        return state.get("n") == 2

    calls: dict[str, int] = {}
    out = tmp_path / "out"
    report = run_graph(job(Ctx(rounds=4, calls=calls), on_step=on_step), ["a"], out_dir=out, durability="sync")
    assert seen == [-1, 0, 1, 2]  # the input, then after each superstep
    assert report.paused == 1 and not report.complete and report.processed == 0
    assert lines(out / "results.jsonl") == [] and json.loads((out / "summary.json").read_text())["complete"] is False
    # Resume continues from the paused step: "start" is not run again.
    seen.clear()
    report = run_graph(job(Ctx(rounds=4, calls=calls), on_step=lambda item, state: None), ["a"], out_dir=out,
                       resume=True, durability="sync")
    assert report.complete and report.resumed == 1 and calls == {"start": 1, "step": 4}
    assert lines(out / "results.jsonl")[0]["steps"] == ["start", "step 1", "step 2", "step 3", "step 4"]


class Kill(BaseException):
    """Escapes like a kill would (not an Exception)."""


def test_raise_on_stops_the_run_and_keeps_the_item_resumable(tmp_path: Path) -> None:
    calls: dict[str, int] = {}
    out = tmp_path / "out"
    with pytest.raises(Kill):
        run_graph(job(Ctx(rounds=4, calls=calls, fail_at=3, error=Kill), raise_on=(BaseException,)), ["a"],
                  out_dir=out, durability="sync")
    assert lines(out / "failures.jsonl") == [] and lines(out / "results.jsonl") == []
    report = run_graph(job(Ctx(rounds=4, calls=calls), raise_on=(BaseException,)), ["a"], out_dir=out, resume=True,
                       durability="sync")
    # Continued from its last saved step: steps 1 and 2 were not redone.
    assert report.complete and report.resumed == 1 and calls == {"start": 1, "step": 3 + 2}
    assert lines(out / "results.jsonl")[0]["n"] == 4
    # Without raise_on the same error is a failure record, as for any dataset item.
    report = run_graph(job(Ctx(rounds=4, calls={}, fail_at=3)), ["a"], out_dir=tmp_path / "rec")
    assert report.errors == 1 and "boom at 3" in lines(tmp_path / "rec" / "failures.jsonl")[0]["reason"]


def test_restart_on_drops_the_items_checkpoint(tmp_path: Path) -> None:
    calls: dict[str, int] = {}
    out = tmp_path / "out"
    with pytest.raises(FailFastError):
        run_graph(job(Ctx(rounds=4, calls=calls, fail_at=3, error=FailFastError), restart_on=(FailFastError,)),
                  ["a"], out_dir=out, durability="sync")
    report = run_graph(job(Ctx(rounds=4, calls=calls), restart_on=(FailFastError,)), ["a"], out_dir=out,
                       resume=True, durability="sync")
    # Started afresh: "start" ran again and no checkpoint was resumed.
    assert report.complete and report.resumed == 0 and calls["start"] == 2
    assert lines(out / "results.jsonl")[0]["steps"][0] == "start"
