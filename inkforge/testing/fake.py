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
    >>> fake.with_structured_output(V.model_json_schema()).invoke("judge again")  # a dict schema, as agents pass
    {'label': 0}
    >>> [(c.schema, c.method) for c in fake.calls]
    [('V', 'json_schema'), (None, None), ('V', 'json_schema')]
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.utils.function_calling import convert_to_openai_function
from pydantic import BaseModel, ConfigDict, PrivateAttr

#: A scripted answer: text, a pydantic object or dict (sent as JSON), an exception (raised), or a
#: callable evaluated at call time: ``(call: FakeCall) -> answer`` or ``(messages, schema) -> answer``.
Answer = Any


@dataclass
class FakeCall:
    """One recorded call: what the model was sent, and the LangChain run metadata it came with.

    Attributes:
        messages: The chat messages.
        schema: The structured-output schema's name (a pydantic class's name, a dict schema's
            ``title``), or ``None`` for a plain call.
        method: The structured-output method, or ``None`` for a plain call.
        json_schema: The schema as JSON schema (a dict schema as given), or ``None`` for a plain call.
        metadata: The run's metadata (``config["metadata"]``, inherited ones included). inkforge agents
            put theirs under ``inkforge_*`` keys (see :meth:`inkforge.agents.Agent.run_metadata`).
    """

    messages: list[BaseMessage]
    schema: str | None
    method: str | None
    json_schema: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """All message contents joined: handy for asserting what a prompt contained."""
        return "\n".join(str(m.content) for m in self.messages)

    @property
    def agent(self) -> str | None:
        """The calling inkforge agent's name (run metadata ``inkforge_agent``), if any."""
        return self.metadata.get("inkforge_agent")

    @property
    def inputs(self) -> dict[str, Any]:
        """The calling agent's template variables (run metadata ``inkforge_inputs``), or ``{}``."""
        return dict(self.metadata.get("inkforge_inputs") or {})


class FakeChatModel(BaseChatModel):
    """Scripted chat model.

    Answers come from ``responses`` (a FIFO queue, consumed across plain and structured calls) and,
    once it is empty, from ``responder``; with neither, a call raises ``IndexError`` so a test never
    runs on an answer it did not script.

    A callable answer (``responder`` or a queued one) takes either the call record,
    ``(call: FakeCall)`` (messages, schema name, JSON schema, method and run metadata), or
    ``(messages, schema)`` where ``schema`` is what was given to :meth:`with_structured_output` (inkforge
    agents give a JSON-schema dict whose ``title`` names it, as they do to real endpoints) or ``None``.

    Structured output behaves as ChatOpenAI's does: a pydantic class parses into an instance, a dict
    schema into a dict; ``json_schema`` and ``function_calling`` refuse a dict schema without a
    ``title`` (``ValueError``), since that names the schema on the wire.

    Attributes:
        responses: Queue of answers.
        responder: Fallback answer function.
        latency: Seconds to sleep per async call (for concurrency tests).
        usage: Token counts reported per call, like a real endpoint.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[Any] = []
    responder: Callable[..., Answer] | None = None
    latency: float = 0.0
    usage: tuple[int, int] = (10, 5)
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

    def _next(self, messages: Sequence[BaseMessage], schema: Any, method: str | None,
              metadata: Mapping[str, Any] | None) -> str:
        call = FakeCall(list(messages), _schema_name(schema), method, _json_schema(schema), dict(metadata or {}))
        with self._lock:
            self._calls.append(call)
            if self.responses:
                answer = self.responses.pop(0)
            elif self.responder is not None:
                answer = self.responder
            else:
                raise IndexError("FakeChatModel has no scripted answer left for this call")
        if callable(answer) and not isinstance(answer, (BaseModel, type)):
            answer = answer(call) if _takes_call(answer) else answer(list(messages), schema)
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
        metadata = run_manager.metadata if run_manager is not None else None
        return ChatResult(generations=[ChatGeneration(message=self._message(self._next(messages, None, None,
                                                                                       metadata)))])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        await self._sleep()
        metadata = run_manager.metadata if run_manager is not None else None
        return ChatResult(generations=[ChatGeneration(message=self._message(self._next(messages, None, None,
                                                                                       metadata)))])

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
        if isinstance(schema, Mapping) and method in ("json_schema", "function_calling"):
            # The same check ChatOpenAI makes: on the wire a dict schema is named by its title.
            convert_to_openai_function(dict(schema))

        def run(messages: Any, config: RunnableConfig | None = None, **call_kwargs: Any) -> Any:
            # ``call_kwargs``: per-call request parameters (``seed``), accepted like a real model's.
            msgs = _as_messages(messages)
            raw = self._message(self._next(msgs, schema, method, (config or {}).get("metadata")))
            try:
                parsed: Any = (json.loads(str(raw.content)) if isinstance(schema, Mapping)
                               else schema.model_validate_json(str(raw.content)))
                err = None
            except Exception as e:  # noqa: BLE001 - reported like langchain does
                parsed, err = None, e
            if include_raw:
                return {"raw": raw, "parsed": parsed, "parsing_error": err}
            if err is not None:
                raise err
            return parsed

        async def arun(messages: Any, config: RunnableConfig | None = None, **call_kwargs: Any) -> Any:
            await self._sleep()
            return run(messages, config)

        return RunnableLambda(run, afunc=arun, name=f"fake_structured_{method}")


def _schema_name(schema: Any) -> str | None:
    if schema is None:
        return None
    if isinstance(schema, Mapping):
        title = schema.get("title")
        return str(title) if title is not None else None
    return getattr(schema, "__name__", None)


def _json_schema(schema: Any) -> dict[str, Any] | None:
    if schema is None:
        return None
    if isinstance(schema, Mapping):
        return dict(schema)
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    return None


def _takes_call(fn: Callable[..., Any]) -> bool:
    """Whether an answer function takes the call record (one positional parameter) rather than
    ``(messages, schema)``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: the classic form
        return False
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return False
    positional = [p for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                  inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 1


def _as_messages(value: Any) -> list[BaseMessage]:
    from langchain_core.messages import HumanMessage

    if isinstance(value, str):
        return [HumanMessage(value)]
    if hasattr(value, "to_messages"):
        return list(value.to_messages())
    return list(value)
