"""Where a run's items execute: the :class:`Executor` seam, the in-process one and what a worker builds.

The runner (:func:`~inkforge.graphs.runner.arun_graph`) owns everything that makes a run exact and
resumable: reading and de-duplicating items, the error-streak policy, writing the output files and
committing each item in ``OUT/.inkforge/run.sqlite``. An executor only decides *where* an item's
graph runs. :class:`LocalExecutor` runs it in this process (the runner's own path);
:class:`~inkforge.graphs.executors.ray_executor.RayExecutor` runs it on Ray workers and streams each
item's final state back to the driver, which commits it like a local one.

A worker cannot receive the driver's job: a job holds a runtime (open cache file, HTTP clients,
models) and closures. It receives a **worker spec** instead: a picklable callable that, given the
worker's share of the model-call limit, builds its own :class:`WorkerSetup` (runtime, and the job for
graph runs). :class:`RuntimeSpec` (agents only, e.g. ``eval-judge``) and
:class:`~inkforge.graphs.executors.specs.CurationSpec` are the shipped ones.

Example:
    >>> import tempfile
    >>> from typing import TypedDict
    >>> from langgraph.graph import START, StateGraph
    >>> from inkforge.graphs.runner import GraphJob, iter_records
    >>> class S(TypedDict, total=False):
    ...     query: str
    ...     answer: str
    >>> g = StateGraph(S)
    >>> _ = g.add_node("shout", lambda s: {"answer": s["query"].upper()})
    >>> _ = g.add_edge(START, "shout")
    >>> job = GraphJob(g, to_input=lambda item: {"query": item.query},
    ...                to_records=lambda item, state: {"results": [{"answer": state["answer"]}]})
    >>> ex = make_executor("local")
    >>> report = ex.run(job, ["hi", "ho"], out_dir=tempfile.mkdtemp() + "/run")
    >>> ex.name, report.processed, sorted(r["answer"] for r in iter_records(report.out_dir / "results.jsonl"))
    ('local', 2, ['HI', 'HO'])
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from inkforge.core.aio import run_sync
from inkforge.core.errors import InputError
from inkforge.graphs.items import QueryItem
from inkforge.graphs.runner import GraphJob, RunReport, arun_graph

__all__ = ["EXECUTORS", "Executor", "ItemRunner", "LocalExecutor", "RuntimeSpec", "WorkerSetup", "WorkerSpec",
           "make_executor", "share_of_limit"]

#: Executor names accepted by :func:`make_executor` (and ``--executor``).
EXECUTORS = ("local", "ray")


@dataclass
class WorkerSetup:
    """What a worker builds from its spec: its own runtime and, for graph runs, the job.

    Attributes:
        runtime: The worker's :class:`~inkforge.llm.runtime.Runtime` (its share of the call limit).
        job: The :class:`~inkforge.graphs.runner.GraphJob` whose graph the worker runs; ``None`` for
            a worker that only runs agents.
    """

    runtime: Any
    job: GraphJob | None = None

    def close(self) -> None:
        """Close the runtime (its cache file)."""
        self.runtime.close()


class WorkerSpec(Protocol):
    """A picklable recipe for a worker: ``spec(concurrency)`` → :class:`WorkerSetup`.

    ``concurrency`` is the worker's share of the run's global limit on model calls in flight
    (:func:`share_of_limit`); the spec builds its runtime with that limit.
    """

    def __call__(self, concurrency: int) -> WorkerSetup: ...


@runtime_checkable
class ItemRunner(Protocol):
    """Runs one item's graph somewhere else; what :func:`~inkforge.graphs.runner.arun_graph` calls
    (its ``item_runner=``) instead of invoking the graph in this process."""

    #: Items the driver keeps in flight (all workers together).
    max_in_flight: int

    async def run_item(self, item: QueryItem) -> dict[str, Any]:
        """The item's final graph state; raises what the graph raised."""
        ...


class Executor(Protocol):
    """Runs a job over a dataset (outputs and resume by the runner) and binds agents for batch calls.

    ``run``/``arun`` take the runner's keyword arguments (``out_dir``, ``runtime``, ``resume``,
    ``limit``, ``on_progress``, ``total``...) and ``worker``: the :class:`WorkerSpec` that executors
    with remote workers need (the local one ignores it).
    """

    name: str

    async def arun(self, job: GraphJob, source: str | os.PathLike[str] | Iterable[Any], *,
                   worker: WorkerSpec | None = None, **runner_kwargs: Any) -> RunReport: ...

    def run(self, job: GraphJob, source: str | os.PathLike[str] | Iterable[Any], *,
            worker: WorkerSpec | None = None, **runner_kwargs: Any) -> RunReport: ...

    def bind(self, definition: Any, runtime: Any, *, worker: WorkerSpec | None = None) -> Any:
        """An agent with ``ainvoke(variables)`` that runs ``definition`` (an ``AgentDef``) on this
        executor's workers; its usage is added to ``runtime``'s."""
        ...

    def close(self) -> None: ...


class LocalExecutor:
    """Everything in this process: the runner's own path, agents bound to the given runtime.

    Example:
        >>> LocalExecutor().name
        'local'
    """

    name = "local"

    async def arun(self, job: GraphJob, source: str | os.PathLike[str] | Iterable[Any], *,
                   worker: WorkerSpec | None = None, **runner_kwargs: Any) -> RunReport:
        return await arun_graph(job, source, **runner_kwargs)

    def run(self, job: GraphJob, source: str | os.PathLike[str] | Iterable[Any], *,
            worker: WorkerSpec | None = None, **runner_kwargs: Any) -> RunReport:
        return run_sync(self.arun(job, source, worker=worker, **runner_kwargs))

    def bind(self, definition: Any, runtime: Any, *, worker: WorkerSpec | None = None) -> Any:
        return definition.bind(runtime)

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def share_of_limit(global_limit: int, workers: int, *, field: str = "--workers") -> int:
    """Each worker's share of a global limit on model calls in flight: together never above it.

    Example:
        >>> share_of_limit(64, 3), share_of_limit(4, 4)
        (21, 1)

    Raises:
        InputError: More workers than the limit (a worker needs at least one call in flight).
    """
    if workers < 1:
        raise InputError("must be at least 1", field=field)
    if workers > global_limit:
        raise InputError(f"{workers} workers exceed the global limit of {global_limit} model calls in flight "
                         "(--concurrency): each worker needs at least one; use fewer workers or a higher "
                         "--concurrency", field=field)
    return global_limit // workers


@dataclass(frozen=True)
class RuntimeSpec:
    """A worker that only needs a runtime (agents bound per call, e.g. the judge of ``eval-judge``).

    Attributes:
        config: The run's :class:`~inkforge.llm.config.InkforgeConfig` (no secrets: keys are read from
            each worker's environment, ``api_key_env``).

    Example:
        >>> from inkforge.llm.config import load_config
        >>> setup = RuntimeSpec(load_config(base_url="http://127.0.0.1:9/v1", model="m",
        ...                                 overrides={"cache": None}))(3)
        >>> setup.runtime.limit, setup.job
        (3, None)
    """

    config: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", driver_config(self.config))

    def __call__(self, concurrency: int) -> WorkerSetup:
        return WorkerSetup(runtime=worker_runtime(self.config, concurrency))


def driver_config(config: Any) -> Any:
    """``config`` as the driver means it, for workers that run elsewhere.

    A relative response-cache path names a file under the driver's working directory; a Ray worker
    runs in its own one, so the path is made absolute here, on the driver, and every worker of the
    machine shares the driver's cache file (the same file a local run uses).
    """
    cache = getattr(config, "cache", None)
    if cache and cache != ":memory:" and not os.path.isabs(cache):
        return config.model_copy(update={"cache": os.path.abspath(cache)})
    return config


def worker_runtime(config: Any, concurrency: int) -> Any:
    """A worker's runtime: ``config`` with the worker's share of the limit, its plugins loaded."""
    from inkforge.core.plugins import load_plugins
    from inkforge.llm.runtime import Runtime

    load_plugins(config.plugins)
    return Runtime(config.model_copy(update={"concurrency": concurrency}))


def make_executor(name: str = "local", *, address: str | None = None, workers: int | None = None,
                  worker_concurrency: int | None = None, **ray_options: Any) -> Any:
    """The executor called ``name``: ``local`` or ``ray`` (needs ``pip install inkforge[ray]``).

    Args:
        name: ``local`` | ``ray``.
        address: Ray cluster address (``auto``, ``ray://head:10001``...); ``None``: the one in
            ``RAY_ADDRESS`` (as under ``ray job submit``), else a local Ray instance.
        workers: Ray workers (default 2).
        worker_concurrency: Items in flight per Ray worker (default: twice its share of the limit).
        **ray_options: More :class:`~inkforge.graphs.executors.ray_executor.RayExecutor` options.

    Raises:
        InputError: Unknown name, Ray options with ``local``, or Ray not installed.
    """
    if name == "local":
        given = [f for f, v in (("--address", address), ("--workers", workers),
                                ("--worker-concurrency", worker_concurrency)) if v is not None]
        if given:
            raise InputError(f"{', '.join(given)} only apply to --executor ray", field=given[0])
        return LocalExecutor()
    if name == "ray":
        from inkforge.graphs.executors.ray_executor import RayExecutor

        return RayExecutor(address=address, workers=2 if workers is None else workers,
                           worker_concurrency=worker_concurrency, **ray_options)
    raise InputError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}", field="--executor")
