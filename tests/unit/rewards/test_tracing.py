"""LangChain callbacks see every agent call and every judge-reward call, on every endpoint transport."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from inkforge.agents import JUDGE, WRITER
from inkforge.core.rubric import Rubric
from inkforge.llm import InkforgeConfig, ModelSpec, Runtime
from inkforge.rewards.judge import JudgeReward
from inkforge.testing import StubServer

TRANSPORTS = ["http", "langchain"]


class Recorder(BaseCallbackHandler):
    """Counts chat-model starts and ends, with the run name and token usage they carried."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.starts: list[dict[str, Any]] = []
        self.ends: list[Any] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        with self.lock:
            self.starts.append({"name": kwargs.get("name"), "metadata": kwargs.get("metadata") or {}})

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        with self.lock:
            self.ends.append(response)


def _config(base_url: str, transport: str) -> InkforgeConfig:
    return InkforgeConfig(models={"default": ModelSpec(model="stub", base_url=base_url, transport=transport,
                                                       structured_output=("json_schema",))},
                          cache=None, concurrency=8)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_agent_call_reaches_the_callbacks(transport: str) -> None:
    rec = Recorder()
    with StubServer() as stub:
        rt = Runtime(_config(stub.base_url, transport), callbacks=[rec])
        writer, judge = WRITER.bind(rt), JUDGE.bind(rt)

        async def go() -> list[Any]:
            return await asyncio.gather(
                *(writer.ainvoke({"query": "生日", "examples": []}, sample=i) for i in range(3)),
                *(judge.ainvoke({"query": "q", "response": f"r{i}", "positive": "", "negative": ""}) for i in range(2)))

        results = asyncio.run(go())
        calls = stub.stats.chat_requests
    assert all(r.ok for r in results)
    assert len(rec.starts) == len(rec.ends) == calls == 5
    assert sorted(s["metadata"]["inkforge_agent"] for s in rec.starts) == ["judge"] * 2 + ["writer"] * 3
    usage = [e.generations[0][0].message.usage_metadata for e in rec.ends]
    assert all(u and u["output_tokens"] > 0 for u in usage)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_judge_reward_call_reaches_the_callbacks(transport: str) -> None:
    rec = Recorder()
    with StubServer() as stub:
        cfg = _config(stub.base_url, "http")
        judge = JudgeReward(Rubric.default("greeting"), config=cfg, max_failure_rate=1.0, transport=transport,
                            callbacks=[rec])
        rewards = judge(prompts=["生日祝福"] * 4, completions=[f"生日快乐{i}" for i in range(4)])
        calls = stub.stats.chat_requests
        kind = type(judge.runtime.model_for(judge.role)).__name__
        judge.close()
    assert all(r in (0.0, 1.0) for r in rewards)
    assert kind == ("HttpChatModel" if transport == "http" else "ChatOpenAI")
    assert len(rec.starts) == len(rec.ends) == calls == 4
    assert {s["metadata"]["inkforge_agent"] for s in rec.starts} == {judge.agent("verdict").name}
