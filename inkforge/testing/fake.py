"""A scripted fake chat model for tests: queue answers, record calls, structured output like the real thing.

Example:
    >>> from pydantic import BaseModel
    >>> class V(BaseModel):
    ...     label: int
    >>> fake = FakeChatModel(responses=[V(label=1), "not json", '{"label": 0}'])
    >>> fake.with_structured_output(V).invoke("judge this")
    V(label=1)
    >>> fake.invoke("hi").content
    'not json'
    >>> len(fake.calls)
    2
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableLambda
from pydantic import BaseModel, ConfigDict, PrivateAttr

#: A scripted answer: text, a pydantic object or dict (sent as JSON), an exception (raised), or a
#: callable ``(messages, schema) -> answer`` evaluated at call time.
Answer = Any


@dataclass
class FakeCall:
    """One recorded call."""

    messages: list[BaseMessage]
    schema: str | None
    method: str | None

    @property
    def text(self) -> str:
        """All message contents joined: handy for asserting what a prompt contained."""
        return "\n".join(str(m.content) for m in self.messages)


class FakeChatModel(BaseChatModel):
    """Scripted chat model.

    Answers come from ``responses`` (a FIFO queue, consumed across plain and structured calls) and,
    once it is empty, from ``responder(messages, schema)``; with neither, a call raises
    ``IndexError`` so a test never runs on an answer it did not script.

    Attributes:
        responses: Queue of answers.
        responder: Fallback answer function.
        latency: Seconds to sleep per async call (for concurrency tests).
        usage: Token counts reported per call, like a real endpoint.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[Any] = []
    responder: Callable[[list[BaseMessage], Any], Answer] | None = None
    latency: float = 0.0
    usage: tuple[int, int] = (10, 5)
    #: Agents pass this model their pydantic output class (real models get a JSON-schema dict), so a
    #: ``responder`` receives the class as ``schema``.
    accepts_pydantic_schema: bool = True
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: list[FakeCall] = PrivateAttr(default_factory=list)
    _in_flight: int = PrivateAttr(default=0)
    _peak: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "inkforge-fake"

    @property
    def calls(self) -> list[FakeCall]:
        """Recorded calls, in order."""
        return self._calls

    @property
    def peak_concurrency(self) -> int:
        """Most calls in flight at once (async calls with ``latency`` > 0)."""
        return self._peak

    def queue(self, *answers: Answer) -> FakeChatModel:
        """Append answers to the queue; returns self."""
        self.responses.extend(answers)
        return self

    def _next(self, messages: Sequence[BaseMessage], schema: type[BaseModel] | None, method: str | None) -> str:
        with self._lock:
            name = schema.get("title") if isinstance(schema, dict) else (schema.__name__ if schema else None)
            self._calls.append(FakeCall(list(messages), name, method))
            if self.responses:
                answer = self.responses.pop(0)
            elif self.responder is not None:
                answer = self.responder
            else:
                raise IndexError("FakeChatModel has no scripted answer left for this call")
        if callable(answer) and not isinstance(answer, (BaseModel, type)):
            answer = answer(list(messages), schema)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, BaseModel):
            return answer.model_dump_json()
        if isinstance(answer, (dict, list)):
            return json.dumps(answer, ensure_ascii=False)
        return str(answer)

    def _message(self, text: str) -> AIMessage:
        i, o = self.usage
        return AIMessage(content=text, usage_metadata={"input_tokens": i, "output_tokens": o, "total_tokens": i + o})

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._message(self._next(messages, None, None)))])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        await self._sleep()
        return self._generate(messages, stop)

    async def _sleep(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
        finally:
            with self._lock:
                self._in_flight -= 1

    def with_structured_output(self, schema: Any, *, method: str = "json_schema", include_raw: bool = False,
                               **kwargs: Any) -> Any:  # type: ignore[override]
        """Like ChatOpenAI's: returns parsed objects, or ``{"raw", "parsed", "parsing_error"}``."""

        def run(messages: Any) -> Any:
            msgs = _as_messages(messages)
            raw = self._message(self._next(msgs, schema, method))
            try:
                parsed: Any = (json.loads(str(raw.content)) if isinstance(schema, dict)
                               else schema.model_validate_json(str(raw.content)))
                err = None
            except Exception as e:  # noqa: BLE001 - reported like langchain does
                parsed, err = None, e
            if include_raw:
                return {"raw": raw, "parsed": parsed, "parsing_error": err}
            if err is not None:
                raise err
            return parsed

        async def arun(messages: Any) -> Any:
            await self._sleep()
            return run(messages)

        return RunnableLambda(run, afunc=arun, name=f"fake_structured_{method}")


def _as_messages(value: Any) -> list[BaseMessage]:
    from langchain_core.messages import HumanMessage

    if isinstance(value, str):
        return [HumanMessage(value)]
    if hasattr(value, "to_messages"):
        return list(value.to_messages())
    return list(value)
