"""The sync-over-async bridge (inkforge.core.aio): one persistent loop, notebooks, keep-alive reuse."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from inkforge.core.aio import BackgroundLoop, run_sync
from inkforge.core.rubric import Rubric
from inkforge.llm import InkforgeConfig, ModelSpec
from inkforge.rewards.judge import JudgeReward
from inkforge.testing import StubServer


async def _loop_and_thread() -> tuple[int, str]:
    await asyncio.sleep(0)
    return id(asyncio.get_running_loop()), threading.current_thread().name


def test_background_loop_runs_every_call_on_the_same_loop_and_thread() -> None:
    with BackgroundLoop(name="bridge-test") as bg:
        first, second = bg.run(_loop_and_thread()), bg.run(_loop_and_thread())
        assert first == second == (id(bg.loop), "bridge-test")
        assert threading.current_thread().name != "bridge-test"
    assert bg.closed and not bg.thread.is_alive()


def test_sync_calls_from_inside_a_running_loop() -> None:
    async def notebook_cell(bg: BackgroundLoop) -> tuple[Any, Any, Any]:
        outer = id(asyncio.get_running_loop())
        on_bg = bg.run(_loop_and_thread())           # the judge reward's path
        once = run_sync(_loop_and_thread())           # Agent.invoke's path
        given = run_sync(_loop_and_thread(), loop=bg)
        assert outer not in (on_bg[0], once[0])       # never re-entered the running loop
        return on_bg, once, given

    with BackgroundLoop() as bg:
        on_bg, once, given = asyncio.run(notebook_cell(bg))
        assert on_bg == given == (id(bg.loop), bg.thread.name)
        assert once[0] != id(bg.loop)


def test_run_sync_without_a_running_loop_uses_asyncio_run() -> None:
    _, thread = run_sync(_loop_and_thread())
    assert thread == threading.current_thread().name  # Ctrl-C reaches the coroutine's own loop


def test_errors_come_back_to_the_caller_and_misuse_is_refused() -> None:
    async def boom() -> None:
        raise KeyError("lost")

    bg = BackgroundLoop()
    with pytest.raises(KeyError, match="lost"):
        bg.run(boom())
    with pytest.raises(KeyError, match="lost"):
        run_sync(boom())

    async def from_its_own_thread() -> None:
        bg.run(_loop_and_thread())  # would wait on itself forever

    with pytest.raises(RuntimeError, match="own thread"):
        bg.run(from_its_own_thread())
    assert bg.run(_loop_and_thread())[0] == id(bg.loop)  # still usable
    bg.close()
    bg.close()  # idempotent
    coro = _loop_and_thread()
    with pytest.raises(RuntimeError, match="closed"):
        bg.run(coro)


def test_loop_bound_state_survives_between_calls() -> None:
    async def make_lock() -> asyncio.Lock:
        lock = asyncio.Lock()
        await lock.acquire()  # binds the lock to the running loop
        return lock

    async def release(lock: asyncio.Lock) -> bool:
        lock.release()
        async with lock:  # raises if the lock belonged to another loop
            return True

    with BackgroundLoop() as bg:
        lock = bg.run(make_lock())
        assert bg.run(release(lock))


class _CountingStub(StubServer):
    """A stub that counts the TCP connections it accepts."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.accepted = 0

    def get_request(self) -> Any:
        conn = super().get_request()
        self.accepted += 1
        return conn


def test_judge_reward_keeps_its_connection_alive_across_sync_calls() -> None:
    with _CountingStub() as stub:
        cfg = InkforgeConfig(models={"default": ModelSpec(model="stub", base_url=stub.base_url)}, concurrency=4,
                             cache=None)
        judge = JudgeReward(Rubric.default("greeting"), config=cfg, max_failure_rate=1.0)
        for i in range(3):
            assert judge(prompts=["生日祝福"], completions=[f"谢谢你，生日快乐{i}"])[0] is not None

        async def trl_step() -> list[float | None]:  # a sync call from code that runs a loop
            return judge(prompts=["生日祝福"], completions=["谢谢你，生日快乐"])

        assert asyncio.run(trl_step())[0] is not None
        assert stub.stats.chat_requests == 4
        assert stub.accepted == 1  # one keep-alive connection served all four steps
        judge.close()
        assert judge(prompts=["生日祝福"], completions=["再来一次"])[0] is not None  # usable after close()
        assert stub.accepted == 2
        judge.close()
