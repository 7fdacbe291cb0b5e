"""Run a job's items on Ray workers; the driver alone writes the outputs and commits each item.

:class:`RayExecutor` starts ``workers`` Ray actors. Each builds its **own** runtime and graph from a
picklable :class:`~inkforge.graphs.executors.base.WorkerSpec` (no model, cache or client crosses a
process), with its share of the run's global limit on model calls in flight
(:func:`~inkforge.graphs.executors.base.share_of_limit`: ``--concurrency G`` over ``N`` workers is
``G // N`` each, so together they never exceed ``G``), and runs up to ``worker_concurrency`` items at
once on its event loop (an async actor's ``max_concurrency``).

The driver is :func:`~inkforge.graphs.runner.arun_graph` with this executor as its ``item_runner``:
it reads and de-duplicates the items, deals each to the least busy worker, and, as each item's final
graph state streams back, maps it to records, appends them to the output files and commits the item
in ``OUT/.inkforge/run.sqlite``, exactly as a local run does. Hence:

* **Outputs are written once**, by the driver: no per-shard files, nothing to merge.
* **A killed worker** (its process dies, its node goes away) is restarted by Ray
  (``max_restarts``), and the calls it was running are resubmitted (``max_task_retries``); its items
  were never committed, so each still finishes exactly once. A worker that keeps dying ends the run
  with :class:`WorkerLostError`, its items unfinished for ``--resume``.
* **A killed driver** leaves the run like a killed local run: committed items are safe, outputs are
  cut back to the last commit on ``--resume``, the rest is redone.
* **Per-item progress** lives in the worker's memory (no checkpoint crosses the network): an item
  interrupted on a worker restarts from its beginning; with a response cache its finished model
  calls are free.
* **Usage** (calls, tokens, cost) comes back with every item and is added to the driver's runtime,
  so the progress bar, ``summary.json`` and trackers show the whole run. Calls of an item whose
  worker died before it returned are not counted.

**The response cache** (``cache:`` in the config) is opened by each worker at the configured path.
Workers on one machine share the file (SQLite in WAL mode takes concurrent processes; writes wait
for each other up to SQLite's busy timeout). On a cluster the path is each node's own file, so the
cache is per node: never point it at a network file system (NFS, SMB), where SQLite's locks are not
safe. A rerun on the same nodes reuses each node's cache.

Example (a local Ray instance; ``--address`` or ``RAY_ADDRESS`` for a cluster)::

    from inkforge.graphs.executors import CurationSpec, RayExecutor
    spec = CurationSpec.from_graph(graph, runtime.config)          # what each worker rebuilds
    with RayExecutor(workers=4, worker_concurrency=32) as ex:
        report = ex.run(curation_job(graph), "queries.txt", worker=spec, out_dir="runs/c", runtime=runtime)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import pickle
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from inkforge.core.aio import run_sync
from inkforge.core.errors import InkforgeError, InputError
from inkforge.graphs.executors.base import RuntimeSpec, WorkerSetup, WorkerSpec, share_of_limit
from inkforge.graphs.items import QueryItem
from inkforge.graphs.runner import GraphJob, IncompleteItemError, RunReport, arun_graph

log = logging.getLogger(__name__)

__all__ = ["RayExecutor", "RemoteError", "WorkerLostError", "require_ray"]

INSTALL_HINT = "pip install 'inkforge[ray]'"


class WorkerLostError(InkforgeError, RuntimeError):
    """A Ray worker died more often than its restarts allow: its items are unfinished, not failed."""


class RemoteError(RuntimeError):
    """An exception raised on a worker that could not be sent back as itself (not picklable)."""


def require_ray() -> Any:
    """The ``ray`` module, or a one-line :class:`~inkforge.core.errors.InputError` naming the extra.

    Raises:
        InputError: Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise InputError(f"the ray executor needs Ray, which is not installed: {INSTALL_HINT}",
                         field="--executor") from None
    return ray


def _norm(fingerprint: Mapping[str, Any]) -> Any:
    return json.loads(json.dumps(dict(fingerprint), sort_keys=True, default=str))


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (so the driver raises the very error type), else its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RemoteError(f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------------------------- worker


class ItemWorker:
    """The Ray actor: one runtime and graph, many items at once (an async actor).

    Plain class (Ray wraps it in :meth:`RayExecutor.start`), so importing this module never imports
    Ray. Every reply carries a usage snapshot ``(incarnation, sequence, per-agent counters)``; the
    driver adds what is new since the last snapshot it saw from the same incarnation.
    """

    def __init__(self, spec: WorkerSpec, concurrency: int) -> None:
        self.setup: WorkerSetup = spec(concurrency)
        self.incarnation = uuid.uuid4().hex
        self.seq = 0
        job = self.setup.job
        self.graph: Any = None
        if job is not None:
            graph = job.graph
            # No checkpointer: an item's progress lives in this process; the driver's RunState is the
            # durable record (a lost item is redone, its cached calls free).
            self.graph = graph.compile() if hasattr(graph, "compile") else graph
        self.agents: dict[str, Any] = {}

    def ready(self) -> dict[str, Any]:
        """Who this worker is and what it built (the driver checks the job's fingerprint)."""
        job = self.setup.job
        return {"pid": os.getpid(), "limit": self.setup.runtime.limit,
                "fingerprint": _norm(job.fingerprint) if job is not None else None}

    def usage(self) -> tuple[str, int, dict[str, Any]]:
        self.seq += 1
        return self.incarnation, self.seq, self.setup.runtime.usage.as_dict()["agents"]

    async def run_item(self, item: QueryItem) -> tuple[str, Any, tuple[str, int, dict[str, Any]]]:
        """``("ok", final state, usage)`` or ``("error", exception, usage)``."""
        job = self.setup.job
        if job is None:
            raise TypeError("this worker was built without a job (a RuntimeSpec); it only runs agents")
        try:
            out = await self.graph.ainvoke(job.to_input(item), {"recursion_limit": job.recursion_limit},
                                           context=job.context, version="v2")
            if out.interrupts:
                raise IncompleteItemError(f"the graph stopped before its end (interrupts: {list(out.interrupts)}); "
                                          "the runner cannot answer interrupts")
            return "ok", dict(out.value), self.usage()
        except Exception as exc:  # the driver applies the runner's error policy to it
            return "error", _portable(exc), self.usage()

    async def invoke(self, key: str, definition: Any, variables: dict[str, Any]) -> tuple[Any, Any]:
        """One agent call: ``(AgentResult, usage)``; the bound agent is kept per ``key``."""
        agent = self.agents.get(key)
        if agent is None:
            agent = self.agents[key] = definition.bind(self.setup.runtime)
        result = await agent.ainvoke(variables)
        return result, self.usage()

    def close(self) -> None:
        self.setup.close()


# --------------------------------------------------------------------------------------------- driver


def _merge_usage(tracker: Any, before: Mapping[str, Any], now: Mapping[str, Any]) -> None:
    """Add ``now - before`` (per-agent counters of one worker) to the driver's usage tracker."""
    from inkforge.llm.usage import AgentUsage

    # The tracker's own lock: its counters are read by the progress bar while items commit.
    with tracker._lock:
        for agent, counters in now.items():
            prev = before.get(agent, {})
            mine = tracker.by_agent.setdefault(agent, AgentUsage())
            for f in dataclasses.fields(AgentUsage):
                if f.name == "failed":
                    for status, n in counters["failed"].items():
                        mine.failed[status] = mine.failed.get(status, 0) + n - prev.get("failed", {}).get(status, 0)
                else:
                    setattr(mine, f.name, getattr(mine, f.name) + counters[f.name] - prev.get(f.name, 0))


class RayExecutor:
    """Items on ``workers`` Ray actors; outputs, commits and resume on the driver (module docstring).

    Args:
        workers: Ray actors (each one process).
        worker_concurrency: Items in flight per worker (default: twice its share of the call limit,
            at least 8).
        address: Cluster address for :func:`ray.init`; ``None``: ``RAY_ADDRESS`` if set (as under
            ``ray job submit``), else a new local instance. Ignored when Ray is already initialised.
        concurrency: The global limit on model calls in flight; default: the driver runtime's.
        num_cpus: CPUs Ray reserves per worker (a worker is one event loop: at most one core).
        max_restarts: Restarts of a dead worker before the run stops (its calls are resubmitted).
        start_timeout_s: Seconds to wait for every worker to be placed and built.
        init_options: More :func:`ray.init` keywords (``runtime_env``, ``num_cpus``...).

    Raises:
        InputError: Ray is not installed, or bad sizes.

    Example::

        with RayExecutor(workers=2, address="auto") as ex:
            report = ex.run(job, "queries.txt", worker=spec, out_dir="runs/c", runtime=runtime)
    """

    name = "ray"

    def __init__(self, *, workers: int = 2, worker_concurrency: int | None = None, address: str | None = None,
                 concurrency: int | None = None, num_cpus: float = 1.0, max_restarts: int = 3,
                 start_timeout_s: float = 300.0, init_options: Mapping[str, Any] | None = None) -> None:
        self.ray = require_ray()
        if workers < 1:
            raise InputError("must be at least 1", field="--workers")
        if worker_concurrency is not None and worker_concurrency < 1:
            raise InputError("must be at least 1", field="--worker-concurrency")
        self.workers, self.worker_concurrency, self.address = workers, worker_concurrency, address
        self.concurrency, self.num_cpus, self.max_restarts = concurrency, num_cpus, max_restarts
        self.start_timeout_s, self.init_options = start_timeout_s, dict(init_options or {})
        self.actors: list[Any] = []
        self.infos: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self._load: list[int] = []
        self._seen: dict[str, tuple[int, dict[str, Any]]] = {}
        self._runtime: Any = None
        self._owns_ray = False
        self._definitions: dict[int, tuple[str, Any]] = {}

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self, spec: WorkerSpec, *, runtime: Any = None) -> RayExecutor:
        """Start the workers (and Ray, when not initialised) and wait until each has built its setup.

        Raises:
            InputError: More workers than the global limit.
            InkforgeError: A worker could not start (its error), or not within ``start_timeout_s``.
        """
        ray = self.ray
        self._runtime = runtime
        limit = self.concurrency or (runtime.limit if runtime is not None else None)
        if limit is None:
            raise InputError("the global limit on model calls is unknown: pass runtime= or concurrency=",
                             field="--concurrency")
        share = share_of_limit(limit, self.workers)
        per_worker = self.worker_concurrency or max(8, 2 * share)
        if not ray.is_initialized():
            ray.init(address=self.address, **self.init_options)
            self._owns_ray = True
        actor = ray.remote(ItemWorker).options(
            num_cpus=self.num_cpus, max_concurrency=per_worker, max_restarts=self.max_restarts,
            max_task_retries=self.max_restarts)
        self.actors = [actor.remote(spec, share) for _ in range(self.workers)]
        self._load = [0] * self.workers
        self.max_in_flight = self.workers * per_worker
        try:
            self.infos = ray.get([a.ready.remote() for a in self.actors], timeout=self.start_timeout_s)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise InkforgeError(f"{self.workers} Ray workers did not start within {self.start_timeout_s:.0f} s: "
                                f"does the cluster have {self.workers} × {self.num_cpus} free CPUs?") from None
        except ray.exceptions.RayError as e:
            self.close()
            raise InkforgeError(f"a Ray worker failed to build its runtime or job: {_cause(e)}") from None
        log.info("ray: %d workers (pids %s), %d model calls and %d items in flight each", self.workers,
                 [i["pid"] for i in self.infos], share, per_worker)
        return self

    def close(self) -> None:
        """Stop the workers (closing their caches), and Ray if this executor started it."""
        ray = self.ray
        for a in self.actors:
            with contextlib.suppress(Exception):
                ray.get(a.close.remote(), timeout=10)
            with contextlib.suppress(Exception):
                ray.kill(a, no_restart=True)
        self.actors, self.infos, self._load, self.max_in_flight = [], [], [], 0
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ runs

    async def arun(self, job: GraphJob, source: str | os.PathLike[str] | Iterable[Any], *,
                   worker: WorkerSpec | None = None, **runner_kwargs: Any) -> RunReport:
        """:func:`~inkforge.graphs.runner.arun_graph` with the items on the workers.

        Starts the workers from ``worker`` unless :meth:`start` was called, and stops them at the end
        if it started them.

        Raises:
            InputError: No worker spec, a job that pauses (``on_step``), or workers that built a job
                with other options than ``job`` (fingerprints differ).
            WorkerLostError: A worker kept dying; its items stay unfinished for ``resume``.
        """
        if job.on_step is not None:
            raise InputError("jobs that pause between steps (on_step) run only with --executor local",
                             field="--executor")
        started_here = not self.actors
        if started_here:
            if worker is None:
                raise InputError("the ray executor needs a worker spec (worker=...) to build each worker's job",
                                 field="--executor")
            self.start(worker, runtime=runner_kwargs.get("runtime"))
        else:
            self._runtime = runner_kwargs.get("runtime")
        try:
            self._check_fingerprints(job)
            # A lost worker is not the item's failure: stop with the item unfinished (resume redoes it).
            job = dataclasses.replace(job, raise_on=(*job.raise_on, WorkerLostError))
            return await arun_graph(job, source, item_runner=self, **runner_kwargs)
        finally:
            if started_here:
                self.close()

    def run(self, job: GraphJob, source: str | os.PathLike[str] | Iterable[Any], *,
            worker: WorkerSpec | None = None, **runner_kwargs: Any) -> RunReport:
        """Synchronous :meth:`arun` (Ctrl-C cancels cleanly, as :func:`~inkforge.graphs.runner.run_graph`)."""
        return run_sync(self.arun(job, source, worker=worker, **runner_kwargs))

    def _check_fingerprints(self, job: GraphJob) -> None:
        mine = _norm(job.fingerprint)
        for info in self.infos:
            theirs = info["fingerprint"]
            if theirs is not None and theirs != mine:
                diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
                raise InputError(f"the Ray workers built a job with other options than the driver ({', '.join(diff)}); "
                                 "build the worker spec from the same graph and config", field="--executor")

    def _pick(self) -> int:
        return min(range(len(self._load)), key=self._load.__getitem__)

    def _absorb(self, usage: tuple[str, int, dict[str, Any]]) -> None:
        incarnation, seq, agents = usage
        prev_seq, prev = self._seen.get(incarnation, (0, {}))
        if seq <= prev_seq:  # replies overtake each other: an older snapshot adds nothing
            return
        self._seen[incarnation] = (seq, agents)
        if self._runtime is not None:
            _merge_usage(self._runtime.usage, prev, agents)

    async def _call(self, what: str, method: str, *args: Any) -> Any:
        if not self.actors:
            raise InkforgeError("the ray executor is not started (call start() or run())")
        i = self._pick()
        self._load[i] += 1
        ref = getattr(self.actors[i], method).remote(*args)
        try:
            return await ref
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref)
            raise
        except self.ray.exceptions.RayActorError as e:
            raise WorkerLostError(f"the Ray worker running {what} died {self.max_restarts + 1} times "
                                  f"({_cause(e)}); it is not done: --resume runs it again") from None
        finally:
            if i < len(self._load):
                self._load[i] -= 1

    async def run_item(self, item: QueryItem) -> dict[str, Any]:
        """The item's final state from a worker (the runner's ``item_runner`` protocol)."""
        status, payload, usage = await self._call(f"item {item.id}", "run_item", item)
        self._absorb(usage)
        if status != "ok":
            raise payload
        return dict(payload)

    # ---------------------------------------------------------------------------------------- agents

    def bind(self, definition: Any, runtime: Any, *, worker: WorkerSpec | None = None) -> _RemoteAgent:
        """An agent running ``definition`` on the workers (started from ``worker``, default: a
        :class:`~inkforge.graphs.executors.base.RuntimeSpec` of ``runtime.config``, if not running).

        Call :meth:`close` (or use ``with``) when done.
        """
        if not self.actors:
            self.start(worker or RuntimeSpec(runtime.config), runtime=runtime)
        self._runtime = runtime
        key = self._definitions.setdefault(id(definition), (uuid.uuid4().hex, self.ray.put(definition)))
        return _RemoteAgent(self, definition, *key)


class _RemoteAgent:
    """``ainvoke(variables)`` on the executor's workers; returns the worker's ``AgentResult``."""

    def __init__(self, executor: RayExecutor, definition: Any, key: str, ref: Any) -> None:
        self.executor, self.definition, self.key, self.ref = executor, definition, key, ref
        self.name = getattr(definition, "name", "agent")

    async def ainvoke(self, variables: dict[str, Any]) -> Any:
        result, usage = await self.executor._call(f"a {self.name} call", "invoke", self.key, self.ref, variables)
        self.executor._absorb(usage)
        return result


def _cause(e: BaseException) -> str:
    """The first line of a Ray error's cause (Ray's messages carry whole remote tracebacks)."""
    text = str(getattr(e, "cause", None) or e).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):  # the raise line of a traceback is its last
        if not ln.startswith((" ", "Traceback")):
            return ln.strip()[:500]
    return (lines[0] if lines else type(e).__name__)[:500]
