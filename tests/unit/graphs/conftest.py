"""Fixtures of the graph tests: saved graph states the runner must resume correctly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

import pytest

from inkforge.graphs.items import QueryItem
from inkforge.graphs.runner import STATE_DIR, RunState

PlantStep = Callable[..., Awaitable[Any]]


async def _plant_unfinished_step(out: Path, builder: Any, item: QueryItem, graph_input: dict[str, Any],
                                 nodes: Collection[str], *, context: Any = None) -> Any:
    """Leave in ``out`` a saved run whose item ``item`` stopped between the last task of a superstep
    and the end of that superstep: every task of the step (tasks of ``nodes``) has finished and its
    writes are saved, but they were never applied and the next step was never prepared.

    That is what a cancellation (Ctrl-C) landing at that moment saves under ``durability="exit"``:
    LangGraph's snapshot then has no task left to *run* (``next == ()``) although the graph is not
    finished. Built without timing: the graph runs to its end on a scratch thread saving every step,
    and the checkpoint of that step (with the writes of its finished tasks) is copied to the item's
    thread through the checkpointer's API. Returns the planted snapshot.
    """
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    RunState(out / STATE_DIR / "run.sqlite").close()
    async with AsyncSqliteSaver.from_conn_string(str(out / STATE_DIR / "checkpoints.sqlite")) as saver:
        graph = builder.compile(checkpointer=saver)
        scratch = {"configurable": {"thread_id": "scratch"}}
        await graph.ainvoke(graph_input, scratch, durability="sync", context=context)
        history = [s async for s in graph.aget_state_history(scratch)]
        step = next(s for s in history if s.tasks and {t.name for t in s.tasks} == set(nodes))
        saved = await saver.aget_tuple(step.config)
        assert saved is not None and saved.pending_writes
        target = {"configurable": {"thread_id": item.key, "checkpoint_ns": ""}}
        config = await saver.aput(target, saved.checkpoint, saved.metadata, saved.checkpoint["channel_versions"])
        by_task: dict[str, list[tuple[str, Any]]] = {}
        for task_id, channel, value in saved.pending_writes:
            by_task.setdefault(task_id, []).append((channel, value))
        for task_id, writes in by_task.items():
            await saver.aput_writes(config, writes, task_id)
        await saver.adelete_thread("scratch")
        planted = await graph.aget_state(target)
    # The trap: nothing left to run in the saved step, and yet the graph has not reached its end.
    assert planted.next == () and planted.tasks and all(t.result is not None for t in planted.tasks)
    return planted


@pytest.fixture
def plant_unfinished_step() -> PlantStep:
    """``await plant_unfinished_step(out, builder, item, graph_input, nodes, context=...)``; see
    :func:`_plant_unfinished_step`."""
    return _plant_unfinished_step
