"""Where a run's items execute: in this process (``local``) or on Ray workers (``ray``).

The runner keeps outputs, commits and resume on the driver whatever the executor; see
:mod:`inkforge.graphs.executors.base` for the seam and :mod:`inkforge.graphs.executors.ray_executor`
for Ray (``pip install 'inkforge[ray]'``; Ray is imported only when a Ray executor is made).

Example:
    >>> from inkforge.graphs.executors import make_executor
    >>> make_executor("local").name
    'local'
"""

from __future__ import annotations

from typing import Any

from inkforge.graphs.executors.base import (
    EXECUTORS,
    Executor,
    ItemRunner,
    LocalExecutor,
    RuntimeSpec,
    WorkerSetup,
    WorkerSpec,
    make_executor,
    share_of_limit,
)
from inkforge.graphs.executors.specs import CurationSpec, RetrieverRecipe

__all__ = ["EXECUTORS", "CurationSpec", "Executor", "ItemRunner", "LocalExecutor", "RayExecutor", "RetrieverRecipe",
           "RuntimeSpec", "WorkerLostError", "WorkerSetup", "WorkerSpec", "make_executor", "share_of_limit"]

_LAZY = {"RayExecutor", "WorkerLostError"}


def __getattr__(name: str) -> Any:
    # The Ray module imports Ray only when an executor is made; importing it stays cheap.
    if name in _LAZY:
        from inkforge.graphs.executors import ray_executor

        return getattr(ray_executor, name)
    raise AttributeError(name)
