"""The generic dataset runner: exact resume, bounded in-flight items, errors, refusals."""

from __future__ import annotations

import asyncio
import json
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from inkforge.core.errors import FailFastError, InputError
from inkforge.graphs.items import QueryItem, read_queries
from inkforge.graphs.runner import MAX_ERROR_STREAK, GraphJob, arun_graph, run_graph

pytestmark = pytest.mark.timeout(60)


class S(TypedDict, total=False):
    query: str
    steps: Annotated[list[str], operator.add]
    answer: str


def make_graph(calls: dict[str, int], *, delay: float = 0.0, fail: set[str] | None = None) -> StateGraph:
    """Two nodes: 'first' records a step, 'second' answers (slowly); 'fail' queries raise in 'second'."""

    async def first(state: S) -> dict[str, Any]:
        calls["first"] = calls.get("first", 0) + 1
        return {"steps": ["first"]}

    async def second(state: S) -> dict[str, Any]:
        calls["second"] = calls.get("second", 0) + 1
        await asyncio.sleep(delay)
        if fail and state["query"] in fail:
            raise RuntimeError(f"boom on {state['query']}")
        return {"steps": ["second"], "answer": state["query"].upper()}

    g = StateGraph(S)
    g.add_node("first", first)
    g.add_node("second", second)
    g.add_edge(START, "first")
    g.add_edge("first", "second")
    g.add_edge("second", END)
    return g


def job(graph: StateGraph, **kw: Any) -> GraphJob:
    def to_records(item: QueryItem, state: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        return {"results": [{"item_id": item.id, "answer": state["answer"], "steps": state["steps"]}]}

    return GraphJob(graph=graph, to_input=lambda item: {"query": item.query}, to_records=to_records,
                    outputs=("results", "failures"), name="echo", **kw)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


QUERIES = [f"q{i:02d}" for i in range(30)]


def test_run_writes_one_record_per_item_and_summary(tmp_path: Path) -> None:
    calls: dict[str, int] = {}
    report = run_graph(job(make_graph(calls)), QUERIES, out_dir=tmp_path / "out", max_in_flight=4)
    recs = lines(tmp_path / "out" / "results.jsonl")
    assert sorted(r["answer"] for r in recs) == sorted(q.upper() for q in QUERIES)
    assert all(r["steps"] == ["first", "second"] for r in recs)
    assert report.processed == 30 and report.complete and report.peak_in_flight <= 4
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["complete"] and summary["items"]["finished"] == 30
    # Finished threads are dropped from the checkpointer: its size tracks items in flight, not items done.
    import sqlite3

    db = sqlite3.connect(tmp_path / "out" / ".inkforge" / "checkpoints.sqlite")
    assert db.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0] == 0


@pytest.mark.parametrize("durability", ["exit", "async"])
def test_cancelled_run_resumes_exactly_without_duplicates(tmp_path: Path, durability: str) -> None:
    out = tmp_path / "out"
    calls: dict[str, int] = {}

    async def interrupted() -> None:
        task: asyncio.Task[Any]

        def on_item(report: Any) -> None:
            if report.processed == 7:
                task.cancel()

        task = asyncio.ensure_future(arun_graph(job(make_graph(calls, delay=0.05)), QUERIES, out_dir=out,
                                                max_in_flight=5, on_item=on_item, durability=durability))
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    first_pass = lines(out / "results.jsonl")
    assert 7 <= len(first_pass) < 30
    summary = json.loads((out / "summary.json").read_text())
    assert summary["this_run"]["interrupted"] and not summary["complete"]
    # A crash between writing and committing leaves bytes the index does not know: resume drops them.
    with (out / "results.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"item_id": "half-written", "answ')
    firsts_before = calls["first"]
    report = run_graph(job(make_graph(calls)), QUERIES, out_dir=out, resume=True, max_in_flight=5,
                       durability=durability)
    recs = lines(out / "results.jsonl")
    assert sorted(r["answer"] for r in recs) == sorted(q.upper() for q in QUERIES)  # exactly once each
    assert report.skipped == len(first_pass)
    # Items cancelled in 'second' resumed from their saved checkpoint: 'first' did not run again for them.
    assert report.resumed >= 1
    assert calls["first"] - firsts_before < 30 - len(first_pass)
    # A second resume of a complete run does nothing.
    again = run_graph(job(make_graph(calls)), QUERIES, out_dir=out, resume=True)
    assert again.processed == 0 and again.skipped == 30 and len(lines(out / "results.jsonl")) == 30


def test_refuses_non_empty_out_dir_and_foreign_resume(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty; pass --resume"):
        run_graph(job(make_graph({})), QUERIES[:2], out_dir=out)
    with pytest.raises(InputError, match="has no saved run"):
        run_graph(job(make_graph({})), QUERIES[:2], out_dir=out, resume=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_resume_with_changed_options_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_graph(job(make_graph({}), fingerprint={"n": 4}), QUERIES[:3], out_dir=out)
    with pytest.raises(InputError, match="n: saved 4, now 2"):
        run_graph(job(make_graph({}), fingerprint={"n": 2}), QUERIES[:3], out_dir=out, resume=True)


def test_bad_input_fails_before_any_output(tmp_path: Path) -> None:
    src = tmp_path / "q.jsonl"
    src.write_text('{"query": "ok"}\n{"query": ""}\n', encoding="utf-8")
    with pytest.raises(InputError) as e:
        run_graph(job(make_graph({})), src, out_dir=tmp_path / "out")
    assert str(e.value).startswith(f"{src}:2: field 'query'")
    assert not (tmp_path / "out").exists()


def test_item_errors_become_failure_records(tmp_path: Path) -> None:
    report = run_graph(job(make_graph({}, fail={"q03", "q07"})), QUERIES[:10], out_dir=tmp_path / "out",
                       max_in_flight=2)
    fails = lines(tmp_path / "out" / "failures.jsonl")
    assert sorted(f["query"] for f in fails) == ["q03", "q07"]
    assert all(f["stage"] == "graph" and "boom" in f["reason"] for f in fails)
    assert report.errors == 2 and len(lines(tmp_path / "out" / "results.jsonl")) == 8


def test_systematic_errors_stop_the_run_and_stay_unfinished(tmp_path: Path) -> None:
    out = tmp_path / "out"
    queries = QUERIES[:25]
    with pytest.raises(FailFastError, match=f"{MAX_ERROR_STREAK} items in a row raised"):
        run_graph(job(make_graph({}, fail=set(queries))), queries, out_dir=out, max_in_flight=2)
    assert not (out / "failures.jsonl").read_text()  # nothing recorded as final
    # Bug fixed: a resume runs every item.
    report = run_graph(job(make_graph({})), queries, out_dir=out, resume=True)
    assert report.processed == 25 and len(lines(out / "results.jsonl")) == 25


def test_duplicate_rows_run_once(tmp_path: Path) -> None:
    report = run_graph(job(make_graph({})), ["a", "b", "a", "c", "b"], out_dir=tmp_path / "out")
    assert report.duplicates == 2 and report.processed == 3
    assert len(lines(tmp_path / "out" / "results.jsonl")) == 3


# ------------------------------------------------------------------------- context and unfinished items


@dataclass(frozen=True)
class FanContext:
    parts: int
    sep: str


class Fan(TypedDict, total=False):
    query: str
    parts: Annotated[list[str], operator.add]
    answer: str


class Part(TypedDict):
    query: str
    i: int


def fan_graph(calls: dict[str, int]) -> StateGraph:
    """START → split ─Send×parts→ part → join → END; the fan-out and the separator come from the context."""

    def split(state: Fan) -> dict[str, Any]:
        return {}

    def route(state: Fan, runtime: Runtime[FanContext]) -> list[Send]:
        return [Send("part", Part(query=state["query"], i=i)) for i in range(runtime.context.parts)]

    async def part(task: Part) -> dict[str, Any]:
        calls["part"] = calls.get("part", 0) + 1
        return {"parts": [f"{task['query']}.{task['i']}"]}

    def join(state: Fan, runtime: Runtime[FanContext]) -> dict[str, Any]:
        calls["join"] = calls.get("join", 0) + 1
        return {"answer": runtime.context.sep.join(sorted(state["parts"]))}

    g = StateGraph(Fan, context_schema=FanContext)
    g.add_node("split", split)
    g.add_node("part", part, input_schema=Part)  # type: ignore[arg-type]
    g.add_node("join", join)
    g.add_edge(START, "split")
    g.add_conditional_edges("split", route, ["part"])
    g.add_edge("part", "join")
    g.add_edge("join", END)
    return g


def fan_job(graph: StateGraph, context: FanContext) -> GraphJob:
    def to_records(item: QueryItem, state: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        # .get: a state committed before its end must show up as a wrong record, not as a KeyError.
        return {"results": [{"item_id": item.id, "answer": state.get("answer"), "parts": sorted(state.get("parts", []))}]}

    return GraphJob(graph=graph, to_input=lambda item: {"query": item.query}, to_records=to_records,
                    outputs=("results", "failures"), name="fan", context=context)


def test_job_context_reaches_every_node(tmp_path: Path) -> None:
    calls: dict[str, int] = {}
    run_graph(fan_job(fan_graph(calls), FanContext(parts=3, sep="+")), ["a", "b"], out_dir=tmp_path / "out")
    assert {r["answer"] for r in lines(tmp_path / "out" / "results.jsonl")} == {"a.0+a.1+a.2", "b.0+b.1+b.2"}
    assert calls == {"part": 6, "join": 2}


def test_item_stopped_after_a_steps_last_task_is_resumed_never_committed_half_done(
        tmp_path: Path, plant_unfinished_step: Any) -> None:
    """A stop between a superstep's last task and the step's end leaves nothing to *run* in the saved
    step (``snap.next == ()``) although the graph has not ended: resume must finish it, with its context."""
    out, ctx = tmp_path / "out", FanContext(parts=3, sep="+")
    item = next(read_queries(["a"]))
    asyncio.run(plant_unfinished_step(out, fan_graph({}), item, {"query": "a"}, {"part"}, context=ctx))
    calls: dict[str, int] = {}
    report = run_graph(fan_job(fan_graph(calls), ctx), ["a", "b"], out_dir=out, resume=True)
    recs = {r["item_id"]: r for r in lines(out / "results.jsonl")}
    assert recs[item.id]["answer"] == "a.0+a.1+a.2"  # joined, from the saved parts
    assert recs[item.id]["parts"] == ["a.0", "a.1", "a.2"] and len(recs) == 2
    assert report.resumed == 1 and report.processed == 2 and report.errors == 0
    # The item's three finished parts were not redone: only b's ran; both items joined.
    assert calls == {"part": 3, "join": 2}


def test_an_interrupted_graph_is_an_error_never_a_done_item(tmp_path: Path) -> None:
    from langgraph.types import interrupt

    def ask(state: S) -> dict[str, Any]:
        if state["query"] == "q01":
            interrupt("which greeting?")  # nobody answers in a batch run
        return {"steps": ["ask"], "answer": state["query"].upper()}

    g = StateGraph(S)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    report = run_graph(job(g), QUERIES[:3], out_dir=tmp_path / "out")
    assert sorted(r["answer"] for r in lines(tmp_path / "out" / "results.jsonl")) == ["Q00", "Q02"]
    [fail] = lines(tmp_path / "out" / "failures.jsonl")
    assert fail["query"] == "q01" and fail["status"] == "error" and "IncompleteItemError" in fail["reason"]
    assert report.errors == 1


def test_graphs_with_breakpoints_are_refused(tmp_path: Path) -> None:
    compiled = make_graph({}).compile(interrupt_before=["second"])
    with pytest.raises(InputError, match="interrupt_before/interrupt_after"):
        run_graph(job(compiled), QUERIES[:2], out_dir=tmp_path / "out")
