"""Run coroutines from synchronous code, including inside a notebook's running event loop.

Example:
    >>> async def two() -> int:
    ...     return 2
    >>> run_sync(two())
    2
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion, from plain code or from inside a running loop (Jupyter).

    ``asyncio.run`` refuses to start inside a running loop, which is where notebook cells run; there
    the coroutine runs on a fresh loop in a helper thread and its result (or exception) comes back.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = e

    t = threading.Thread(target=target, name="inkforge-run-sync")
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]
