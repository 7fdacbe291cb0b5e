"""The ``--executor``, ``--address``, ``--workers`` and ``--worker-concurrency`` options (curate, eval-judge).

Example:
    >>> executor_from_flags("local", None, None, None).name
    'local'
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

__all__ = ["AddressOpt", "ExecutorOpt", "WorkerConcurrencyOpt", "WorkersOpt", "executor_from_flags"]

ExecutorOpt = Annotated[str, typer.Option(
    "--executor", help="Where items run: local (this process) | ray (Ray workers; pip install 'inkforge\\[ray]'). "
    "Outputs and resume stay on this machine either way.")]
AddressOpt = Annotated[str | None, typer.Option(
    "--address", help="Ray cluster address (auto, ray://head:10001); default: RAY_ADDRESS, else a local Ray.")]
WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", min=1, help="Ray workers (default 2); --concurrency is their global limit, split evenly.")]
WorkerConcurrencyOpt = Annotated[int | None, typer.Option(
    "--worker-concurrency", min=1, help="Items in flight per Ray worker (default: twice its share of "
    "--concurrency, at least 8).")]


def executor_from_flags(executor: str, address: str | None, workers: int | None,
                        worker_concurrency: int | None) -> Any:
    """The executor the flags name; a one-line error for bad flags or a missing Ray (before any output)."""
    from inkforge.graphs.executors import make_executor

    return make_executor(executor, address=address, workers=workers, worker_concurrency=worker_concurrency)
