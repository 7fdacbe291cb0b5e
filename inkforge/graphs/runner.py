"""Run any LangGraph graph over a dataset: bounded, resumable, with flat memory and exact outputs.

The runner streams items from a reader, keeps at most ``max_in_flight`` graph invocations running
(every model call inside them also waits on the runtime's shared concurrency limit), and writes each
item's output records only once the item is completely done.

Durability, in three layers:

1. **Per-item graph state** lives in a LangGraph SQLite checkpointer
   (:class:`~langgraph.checkpoint.sqlite.aio.AsyncSqliteSaver`) under ``OUT/.inkforge/``, with the
   item's content hash as ``thread_id``. An item interrupted mid-way resumes from its last saved step.
2. **A finished-items index** (``done`` table in ``OUT/.inkforge/run.sqlite``): on ``resume`` finished
   items are skipped without touching the graph.
3. **Append-only JSONL outputs**, flushed per item. Each commit records the byte size of every output
   file in the same SQLite transaction as the ``done`` row; on resume every file is cut back to the last
   committed size. Lines of an item that was being written when the process died are therefore
   removed and the item redone: a resumed run produces exactly the lines of an uninterrupted one,
   never a duplicate or a half line.

Checkpoint granularity: the default ``durability="exit"`` saves an item's graph state when its
invocation ends (normally, by an error, or by cancellation on Ctrl-C), not after every superstep:
per-superstep saves cost client CPU on every model call, and a client talking HTTP is CPU-bound
(``python bench/curation_throughput.py --durability async`` measures the difference). Per-item resume stays
correct: Ctrl-C (cancellation) still saves every in-flight item's progress, and after a hard kill
(SIGKILL, power loss) an unfinished item restarts from its beginning (its finished model calls are
free again if a response cache is configured). Pass ``durability="async"`` to save after every step
instead.

**A failed item is never a done item.** An item is committed only when its graph ran to its end
(LangGraph's snapshot of the thread has no task left). A cancellation that lands after every task of
a superstep finished, but before LangGraph applied their writes, saves a checkpoint whose step has
nothing left to *run* (``StateSnapshot.next`` is empty) while the graph is not finished: resuming
such an item applies those writes and runs the rest of the graph. An invocation that returns before
the end (a LangGraph ``interrupt``) is an error for that item, never its final state.

**Done, failed, pending.** A finished item's records are sorted by :func:`classify_records` (or the
job's ``classify``): with a transient failure (timeout, rate limit, connection, 5xx) it is *pending*:
nothing is written, its checkpoint is dropped and ``resume`` runs it again; with a permanent one it
is committed as ``failed`` with its records, and ``retry_failed`` cuts those lines out and runs it
again; otherwise it is ``ok``. Every model call also feeds the runtime's fail-fast watch and spend
cap (``fail_window``/``max_failure_rate``, ``max_tokens``/``max_cost``): tripping either stops the
run cleanly, resumable. What the run spent since the previous save is saved with each item
(:mod:`inkforge.graphs.run_state`), so ``summary.json`` counts a killed run's calls too.

**Context.** A job's ``context`` (the graph's dependencies: bound agents, retriever, options) is
passed to every invocation (``ainvoke(..., context=job.context)``), resumes included; LangGraph does
not checkpoint it.

Example:
    >>> import tempfile
    >>> from typing import TypedDict
    >>> from langgraph.graph import START, StateGraph
    >>> class S(TypedDict, total=False):
    ...     query: str
    ...     answer: str
    >>> g = StateGraph(S)
    >>> _ = g.add_node("shout", lambda s: {"answer": s["query"].upper()})
    >>> _ = g.add_edge(START, "shout")
    >>> job = GraphJob(g, to_input=lambda item: {"query": item.query},
    ...                to_records=lambda item, state: {"results": [{"answer": state["answer"]}]})
    >>> report = run_graph(job, ["hi", "ho"], out_dir=tempfile.mkdtemp() + "/run")
    >>> report.processed, report.complete, sorted(r["answer"] for r in iter_records(report.out_dir / "results.jsonl"))
    (2, True, ['HI', 'HO'])
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from inkforge.core.aio import run_sync  # noqa: F401  (re-exported: runner.run_sync)
from inkforge.core.errors import FailFastError, InkforgeError, InputError
from inkforge.core.io import JsonlWriter, dumps
from inkforge.graphs.items import Mode, QueryItem, read_queries, validate_queries
from inkforge.graphs.run_state import (
    RETRYABLE_STATUSES,
    STATE_DIR,
    Outcome,
    RunState,
    check_fingerprint,
    classify_records,
    prepare_out_dir,
    write_summary,
)
from inkforge.llm.budget import BudgetExceededError, SpendCap
from inkforge.llm.failwatch import FailFastSettings
from inkforge.llm.usage import add_usage

log = logging.getLogger(__name__)

Durability = Literal["sync", "async", "exit"]
Records = dict[str, list[dict[str, Any]]]
#: What became of an item: finished (``ok``), finished with permanent failures (``failed``), or not
#: finished because a failure may pass on its own (``pending``: run again on resume).
#: Items whose graph raised, in a row, before the run stops (a bug, not bad luck).
MAX_ERROR_STREAK = 20


@dataclass
class GraphJob:
    """A graph plus how to feed it items and turn its final state into output records.

    Attributes:
        graph: A :class:`~langgraph.graph.StateGraph` builder or a compiled graph; the runner attaches
            its own checkpointer.
        to_input: Item → graph input.
        to_records: (item, final state) → records per output name, e.g.
            ``{"pairs": [...], "judgements": [...], "failures": [...]}``.
        outputs: Output names; each becomes ``OUT/<name>.jsonl``.
        name: Job name (shown in progress and stored with the run).
        fingerprint: Options that must not change between a run and its resume (checked).
        on_error: (item, exception) → records for an item whose graph raised. The default writes a
            failure record to ``failures`` if that output exists.
        summarize: (out dir, generic summary) → the ``summary.json`` content.
        progress_fields: (records of one item) → counters to add to the progress bar's line.
        mode: Input mode passed to the reader.
        context: LangGraph run context passed to every invocation (``context=``), for graphs whose
            nodes take their dependencies from ``runtime.context``.
        recursion_limit: Supersteps one item may take (LangGraph's ``recursion_limit``).
        on_step: (item, state) → called after every superstep of an item, the graph then being
            streamed (``stream_mode="values"``) instead of invoked. Returning ``True`` pauses the item
            there: it stays unfinished with its checkpoint, and ``resume`` continues it. For jobs of one
            long item that publish progress as they go.
        raise_on: Exceptions that stop the run at once instead of becoming failure records: the item
            stays unfinished with its checkpoint, so ``resume`` continues it from its last saved step.
        restart_on: Exceptions that stop the run like ``raise_on`` and also drop the item's checkpoint,
            so that ``resume`` starts it afresh (an error its saved progress would only repeat).
            A spend cap (:class:`~inkforge.llm.budget.BudgetExceededError`) always stops like
            ``raise_on``, a tripped failure watch (:class:`~inkforge.core.errors.FailFastError`) like
            ``restart_on``, dropping every in-flight item's checkpoint (they hold the failures).
        classify: (records of one item) → (:data:`Outcome`, reason). Default :func:`classify_records`:
            any transient failure line makes the item ``pending``, a permanent one ``failed``.
    """

    graph: Any
    to_input: Callable[[QueryItem], dict[str, Any]]
    to_records: Callable[[QueryItem, dict[str, Any]], Records]
    outputs: tuple[str, ...] = ("results", "failures")
    name: str = "graph"
    fingerprint: Mapping[str, Any] = field(default_factory=dict)
    on_error: Callable[[QueryItem, BaseException], Records] | None = None
    summarize: Callable[[Path, dict[str, Any]], dict[str, Any]] | None = None
    progress_fields: Callable[[Records], Mapping[str, int]] | None = None
    mode: Mode = "write"
    context: Any = None
    recursion_limit: int = 100
    on_step: Callable[[QueryItem, dict[str, Any]], bool | None] | None = None
    raise_on: tuple[type[BaseException], ...] = ()
    restart_on: tuple[type[BaseException], ...] = ()
    classify: Callable[[Records], tuple[Outcome, str | None]] | None = None


class IncompleteItemError(InkforgeError, RuntimeError):
    """An item's graph returned before its end (e.g. a LangGraph ``interrupt``): it is not done."""


@dataclass
class RunReport:
    """What one :func:`run_graph` call did.

    Attributes:
        out_dir: Output folder.
        total: Items in the input (after ``limit``).
        processed: Items finished by this call.
        skipped: Items already finished by an earlier call (resume).
        duplicates: Rows identical to an earlier row of the same input (same content hash), skipped.
        resumed: Items continued from a saved checkpoint.
        errors: Items whose graph raised (recorded as failures).
        failed: Items finished with permanent failures (kept with their records).
        pending: Items that ended on transient failures: not finished, run again on resume.
        retried: Finished items forgotten by ``retry_failed`` to run again.
        paused: Items paused by the job's ``on_step`` (unfinished, resumable).
        records: Lines written by this call, per output.
        wall_s: Wall time of this call.
        interrupted: Whether the call was cancelled (Ctrl-C) before finishing.
        complete: Whether every input item is now finished.
        usage: Model usage of this call (calls, tokens, cost).
        peak_in_flight: Most items in flight at once.
        summary: The ``summary.json`` written at the end.
    """

    out_dir: Path
    total: int = 0
    processed: int = 0
    skipped: int = 0
    duplicates: int = 0
    resumed: int = 0
    errors: int = 0
    failed: int = 0
    pending: int = 0
    retried: int = 0
    paused: int = 0
    records: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    interrupted: bool = False
    complete: bool = False
    usage: dict[str, Any] = field(default_factory=dict)
    peak_in_flight: int = 0
    summary: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ progress


@dataclass(frozen=True)
class RunProgress:
    """What a run reports to its progress callback after each committed item (and once at start and end).

    The runner knows no terminal: the CLI turns these into a rich progress bar, a notebook into a
    widget or a log line, a tracker into metrics.

    Attributes:
        job: Job name.
        done: Input items accounted for so far: finished by this call, or found finished (resume).
        total: Input items (after ``limit``).
        counters: Per-job counters summed over the committed items (``failed``, ``pairs``...).
        usage: The runtime's usage totals so far (calls, tokens, cost), or empty without a runtime.
        elapsed_s: Seconds since the call started.
        final: Whether this is the last report of the call.
    """

    job: str
    done: int
    total: int
    counters: Mapping[str, int]
    usage: Mapping[str, Any]
    elapsed_s: float
    final: bool = False


ProgressCallback = Callable[[RunProgress], None]


class _Reporter:
    """Sums counters and calls the progress callback (a no-op without one)."""

    def __init__(self, callback: ProgressCallback | None, job: str, total: int, runtime: Any) -> None:
        self.callback, self.job, self.total, self.runtime = callback, job, total, runtime
        self.counters: dict[str, int] = {}
        self.done = 0
        self.t0 = time.perf_counter()

    def advance(self, n: int = 1, counters: Mapping[str, int] | None = None, *, final: bool = False) -> None:
        self.done += n
        for k, v in (counters or {}).items():
            self.counters[k] = self.counters.get(k, 0) + int(v)
        if self.callback is not None:
            usage = self.runtime.usage.totals() if self.runtime is not None else {}
            self.callback(RunProgress(self.job, self.done, self.total, dict(self.counters), usage,
                                      time.perf_counter() - self.t0, final))


# -------------------------------------------------------------------------------------------- runner


#: What an item paused by ``GraphJob.on_step`` returns instead of a final state.
_PAUSED: Any = object()


class _Spend:
    """Per-agent usage since the last item was saved: persisted with that item, so a kill loses none of it."""

    def __init__(self, runtime: Any) -> None:
        self.usage = runtime.usage if runtime is not None else None
        self.mark = self.usage.snapshot() if self.usage is not None else {}

    def take(self) -> dict[str, Any]:
        if self.usage is None:
            return {}
        now = self.usage.snapshot()
        # A deep copy: the subtraction must not reach into ``now``'s nested counters (``failed`` by
        # status), which become the next mark.
        out = {a: {k: dict(v) if isinstance(v, dict) else v for k, v in c.items()} for a, c in now.items()}
        add_usage(out, self.mark, sign=-1)
        self.mark = now
        return {a: {k: v for k, v in c.items() if v} for a, c in out.items() if c.get("calls")}


def _default_error_records(job: GraphJob) -> Callable[[QueryItem, BaseException], Records]:
    def on_error(item: QueryItem, exc: BaseException) -> Records:
        if "failures" not in job.outputs:
            return {}
        return {"failures": [{"item_id": item.id, "query": item.query, "stage": "graph", "status": "error",
                              "reason": f"{type(exc).__name__}: {exc}"[:2000], "raw": None}]}

    return on_error


async def _open_saver(path: Path) -> Any:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    conn = await aiosqlite.connect(str(path))
    saver = AsyncSqliteSaver(conn)
    await saver.setup()
    # WAL is set by setup(); NORMAL sync avoids an fsync per checkpoint (the WAL is still crash-safe).
    await conn.execute("PRAGMA synchronous=NORMAL")
    return saver


async def arun_graph(job: GraphJob, source: str | os.PathLike[str] | Iterable[Any], *, out_dir: str | os.PathLike[str],
                     runtime: Any = None, resume: bool = False, limit: int | None = None,
                     max_in_flight: int | None = None, durability: Durability = "exit",
                     on_progress: ProgressCallback | None = None, on_item: Callable[[RunReport], None] | None = None,
                     total: int | None = None, retry_failed: bool = False, max_tokens: int | None = None,
                     max_cost: float | None = None, fail_window: int | None = None,
                     max_failure_rate: float | None = None, item_runner: Any = None) -> RunReport:
    """Run ``job`` over every item of ``source``; see the module docstring for the guarantees.

    Args:
        job: The graph and its record mapping.
        source: Query file or in-memory rows (see :func:`~inkforge.graphs.items.read_queries`). An
            in-memory iterable is read twice (validation, then the run), so pass a list, not a generator.
        out_dir: Output folder; must be empty or absent unless ``resume``.
        runtime: The :class:`~inkforge.llm.runtime.Runtime` whose usage the progress bar shows and whose
            limit sizes ``max_in_flight``.
        resume: Continue the run saved in ``out_dir``.
        limit: Only the first ``limit`` items.
        max_in_flight: Items running at once (default: 2 × the runtime's concurrency, at least 8): bounds
            memory, while keeping enough calls queued to saturate the shared limit.
        durability: LangGraph checkpoint durability per item (see module docstring).
        on_progress: Called with a :class:`RunProgress` at the start, after each committed item and at
            the end (the CLI draws its progress bar from these).
        on_item: Called after each committed item with the running report (tests, custom reporting).
        total: Item count when the caller already validated the input; otherwise the whole input is
            validated first (streaming), so that bad input fails before any output is written.
        retry_failed: With ``resume``: run the items finished with permanent failures again (their
            lines are cut out of the outputs first).
        max_tokens: Spend cap of this call in tokens over every agent (needs ``runtime``); reaching it
            stops the run with :class:`~inkforge.llm.budget.BudgetExceededError`, resumable.
        max_cost: The same in cost.
        fail_window: Model calls the fail-fast watch looks back on (0: no watch; ``None``: the runtime
            config's ``fail_fast.window``, 20 by default).
        max_failure_rate: Failure share of that window above which the run stops with
            :class:`~inkforge.core.errors.FailFastError` naming the cause, resumable (``None``: the
            config's ``fail_fast.max_rate``, 0.8 by default).
        item_runner: Where items' graphs run when not in this process: an object with
            ``async run_item(item) -> final state`` and ``max_in_flight`` (e.g. a started
            :class:`~inkforge.graphs.executors.RayExecutor`; see :mod:`inkforge.graphs.executors`).
            Committing, outputs and resume stay here.

    Returns:
        A :class:`RunReport`.

    Raises:
        InputError: Bad input, non-empty ``out_dir`` without ``resume``, or changed options on resume;
            raised before any output is written.
        FailFastError: :data:`MAX_ERROR_STREAK` items in a row raised (their items stay unfinished), or
            the model calls' failure rate passed ``max_failure_rate``.
        BudgetExceededError: The spend cap was reached.
        asyncio.CancelledError: The run was cancelled (Ctrl-C); committed items are safe.
    """
    mode = job.mode
    if total is None:
        total = validate_queries(source, mode=mode, limit=limit)
    out = Path(out_dir)
    has_state = prepare_out_dir(out, resume=resume)
    state = RunState(out / STATE_DIR / "run.sqlite")
    report = RunReport(out_dir=out, total=total)
    writers: dict[str, JsonlWriter] = {}
    saver: Any = None
    t0 = time.perf_counter()
    usage0 = runtime.usage.totals() if runtime is not None else {}
    run_id = 0
    bar = _Reporter(on_progress, job.name, total, runtime)
    spend = _Spend(runtime)
    guards = (runtime.usage.cap, runtime.usage.watch) if runtime is not None else (None, None)
    if runtime is not None:
        settings = getattr(getattr(runtime, "config", None), "fail_fast", None) or FailFastSettings()
        runtime.usage.guard(SpendCap(max_tokens, max_cost), settings.watch(fail_window, max_failure_rate))
    elif max_tokens is not None or max_cost is not None:
        raise InputError("a spend cap needs the runtime whose usage it counts", field="max_tokens")
    try:
        check_fingerprint(state, job.fingerprint, out)
        state.set_meta("job", job.name)
        if retry_failed:
            report.retried = state.retry(RETRYABLE_STATUSES, out, job.outputs)
        sizes = state.file_sizes()
        for name in job.outputs:
            w = writers[name] = JsonlWriter(out / f"{name}.jsonl")
            committed = sizes.get(name, 0)
            if w.size < committed:
                raise InputError(f"{name}.jsonl is shorter than its last committed size ({w.size} < {committed} "
                                 "bytes); it was edited or truncated, cannot resume", file=str(out))
            if w.size > committed:
                log.info("resume: dropping %d uncommitted bytes of %s.jsonl", w.size - committed, name)
                w.truncate(committed)
        run_id = state.start_run()
        saver = await _open_saver(out / STATE_DIR / "checkpoints.sqlite")
        graph = job.graph
        graph = graph.compile(checkpointer=saver) if hasattr(graph, "compile") else graph.copy(
            update={"checkpointer": saver})
        if getattr(graph, "interrupt_before_nodes", None) or getattr(graph, "interrupt_after_nodes", None):
            # A breakpoint returns a partial state as if the graph had ended; nobody would resume it.
            raise InputError("the graph was compiled with interrupt_before/interrupt_after breakpoints; the "
                             "runner runs graphs to their end, compile it without them", field="graph")
        limit_in_flight = max_in_flight or (item_runner.max_in_flight if item_runner is not None else
                                            max(8, 2 * (runtime.limit if runtime is not None else 32)))
        on_error = job.on_error or _default_error_records(job)
        await _drive(job, graph, saver, state, writers, report, run_id, source, limit, limit_in_flight,
                     durability, has_state, on_error, bar, on_item, spend, item_runner)
    except (asyncio.CancelledError, KeyboardInterrupt):
        report.interrupted = True
        raise
    finally:
        bar.advance(0, final=True)
        report.wall_s = time.perf_counter() - t0
        if runtime is not None:
            runtime.usage.guard(*guards)
            now = runtime.usage.totals()
            report.usage = {k: (round(now[k] - usage0.get(k, 0), 6) if isinstance(now[k], float)
                                else now[k] - usage0.get(k, 0)) for k in now}
        if run_id:
            state.add_spend(run_id, spend.take())  # calls of items that did not finish
        if saver is not None:
            with contextlib.suppress(Exception):
                await saver.conn.close()
        for w in writers.values():
            w.close()
        if run_id:
            state.end_run(run_id, wall_s=report.wall_s, processed=report.processed,
                          interrupted=report.interrupted, usage=report.usage)
            report.summary = write_summary(job, out, state, report)
        state.close()
    return report


async def _drive(job: GraphJob, graph: Any, saver: Any, state: RunState, writers: dict[str, JsonlWriter],
                 report: RunReport, run_id: int, source: Any, limit: int | None, max_in_flight: int,
                 durability: Durability, may_have_checkpoints: bool,
                 on_error: Callable[[QueryItem, BaseException], Records], bar: _Reporter,
                 on_item: Callable[[RunReport], None] | None, spend: _Spend, item_runner: Any = None) -> None:
    in_flight: dict[asyncio.Task[Any], QueryItem] = {}
    keys_in_flight: set[str] = set()
    # Errors are held back (bounded by MAX_ERROR_STREAK) until a success shows they are not a bug in the
    # graph: a systematic error then stops the run with those items still unfinished, to be redone on
    # --resume once fixed, instead of being recorded as 20,000 final failures.
    held_errors: list[tuple[QueryItem, BaseException]] = []
    restart_all: list[bool] = []

    async def invoke(item: QueryItem, inputs: dict[str, Any] | None, config: dict[str, Any]) -> Any:
        if job.on_step is None:
            out = await graph.ainvoke(inputs, config, context=job.context, durability=durability, version="v2")
            if out.interrupts:
                raise IncompleteItemError(f"the graph stopped before its end (interrupts: {list(out.interrupts)}); "
                                          "the runner cannot answer interrupts")
            return dict(out.value)
        state: dict[str, Any] = {}
        stream = graph.astream(inputs, config, context=job.context, stream_mode="values", durability=durability)
        try:
            async for state in stream:
                if job.on_step(item, state):
                    return _PAUSED
        finally:
            # Closing the stream cancels work in flight (a pause) before the checkpoint is read again.
            await stream.aclose()
        return state

    async def run_item(item: QueryItem) -> Any:
        if item_runner is not None:  # another process runs the graph (inkforge.graphs.executors)
            return await item_runner.run_item(item)
        config = {"configurable": {"thread_id": item.key}, "recursion_limit": job.recursion_limit}
        if may_have_checkpoints:
            snap = await graph.aget_state(config)
            if snap.values:
                report.resumed += 1
                # Finished (but not committed before the stop) only when no task is left in the saved
                # step. ``snap.next`` is not that test: it lists the step's tasks that have not run, and
                # is empty too when all ran but their writes were never applied (the stop came between
                # the last task and the end of the superstep), a state that is not the graph's end.
                if not snap.tasks:
                    return dict(snap.values)
                return await invoke(item, None, config)
        return await invoke(item, job.to_input(item), config)

    classify = job.classify or classify_records
    stop_on = job.raise_on + (BudgetExceededError,)
    # A job that keeps its checkpoint on every error (``raise_on`` covering FailFastError) keeps it here too.
    restart_on = job.restart_on + (() if issubclass(FailFastError, job.raise_on) else (FailFastError,))

    def commit(item: QueryItem, records: Records, status: str) -> None:
        for name in records:
            if name not in writers:
                raise KeyError(f"{job.name}: record output {name!r} is not in outputs {job.outputs}")
        before = {n: w.size for n, w in writers.items()}
        for name, recs in records.items():
            writers[name].write(recs)
            report.records[name] = report.records.get(name, 0) + len(recs)
        sizes = {n: w.size for n, w in writers.items()}
        state.commit(item, status, run_id, sizes, {n: (before[n], sizes[n]) for n in records}, spend.take())
        report.processed += 1
        report.failed += int(status == "failed")
        extra = job.progress_fields(records) if job.progress_fields else {}
        bar.advance(1, {"failed": int(status != "ok"), **extra})

    async def finish(task: asyncio.Task[Any]) -> None:
        item = in_flight.pop(task)
        keys_in_flight.discard(item.key)
        exc = task.exception()
        if exc is not None and isinstance(exc, stop_on + restart_on):
            if isinstance(exc, restart_on):
                await saver.adelete_thread(item.key)
                restart_all.append(True)
            raise exc
        if exc is not None:
            log.warning("item %s raised %s: %s", item.id, type(exc).__name__, exc)
            held_errors.append((item, exc))
            if len(held_errors) >= MAX_ERROR_STREAK:
                raise FailFastError(
                    f"{MAX_ERROR_STREAK} items in a row raised; stopping (they stay unfinished and run again on "
                    f"--resume). Last error: {type(exc).__name__}: {exc}") from exc
            return
        result = task.result()
        if result is _PAUSED:
            report.paused += 1
            return
        for err_item, err in held_errors:
            commit(err_item, on_error(err_item, err), "error")
            report.errors += 1
            await saver.adelete_thread(err_item.key)
        held_errors.clear()
        records = job.to_records(item, result)
        outcome, reason = classify(records)
        if outcome == "pending":
            # Not done: nothing is written, and its saved state (which holds the failures) is dropped so
            # that a resume runs it afresh (calls that succeeded are free again with a response cache).
            state.mark_pending(item, reason or "transient", run_id, spend.take())
            report.pending += 1
            # Trackers see its failures (they happened), not its other records (they are not kept).
            failures = {**{name: [] for name in records}, "failures": records.get("failures", [])}
            extra = job.progress_fields(failures) if job.progress_fields else {}
            bar.advance(1, {"failed": 1, "pending": 1, **extra})
        else:
            commit(item, records, outcome)
        # The thread is no longer needed once the done row is committed; dropping it keeps the
        # checkpoint file as small as the number of items in flight.
        await saver.adelete_thread(item.key)
        if on_item is not None:
            on_item(report)

    async def drain(return_when: str) -> None:
        done, _ = await asyncio.wait(list(in_flight), return_when=return_when)
        for task in done:
            await finish(task)

    try:
        for item in read_queries(source, mode=job.mode, limit=limit):
            prior = state.done_run(item.key)
            if prior is not None or item.key in keys_in_flight:
                if prior == run_id or item.key in keys_in_flight:
                    report.duplicates += 1
                else:
                    report.skipped += 1
                bar.advance(1)
                continue
            while len(in_flight) >= max_in_flight:
                await drain(asyncio.FIRST_COMPLETED)
            task = asyncio.ensure_future(run_item(item))
            in_flight[task] = item
            keys_in_flight.add(item.key)
            report.peak_in_flight = max(report.peak_in_flight, len(in_flight))
        while in_flight:
            await drain(asyncio.FIRST_COMPLETED)
        for err_item, err in held_errors:  # the run ended on errors shorter than a streak: record them
            commit(err_item, on_error(err_item, err), "error")
            report.errors += 1
            await saver.adelete_thread(err_item.key)
        held_errors.clear()
        report.complete = not report.paused and not report.pending
    finally:
        if in_flight:
            # Cancellation (Ctrl-C) or a fail-fast stop: cancel what runs, let LangGraph save each item's
            # progress, and never write a partial item.
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            if restart_all:
                # A tripped failure watch: the items in flight hold the same failures; start them afresh.
                for item in in_flight.values():
                    await saver.adelete_thread(item.key)


def run_graph(job: GraphJob, source: str | os.PathLike[str] | Iterable[Any], **kwargs: Any) -> RunReport:
    """Synchronous :func:`arun_graph` (CLI and scripts); works from inside a running loop (notebooks).

    Ctrl-C cancels the run cleanly: in-flight items save their progress, committed outputs stay
    consistent, and ``KeyboardInterrupt`` is raised once everything is closed.
    """
    return run_sync(arun_graph(job, source, **kwargs))


def iter_records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Stream an output file's records (alias of :func:`inkforge.graphs.items.read_jsonl`)."""
    from inkforge.core.io import read_jsonl

    return read_jsonl(path)


__all__ = ["MAX_ERROR_STREAK", "STATE_DIR", "GraphJob", "IncompleteItemError", "Outcome", "RunReport", "RunState",
           "arun_graph", "classify_records", "dumps", "iter_records", "prepare_out_dir", "run_graph", "run_sync"]
