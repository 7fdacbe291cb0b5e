"""Agents: a prompt template + a pydantic output schema + a function usable as a LangGraph node.

An :class:`AgentDef` says *what* an agent is (name, model role, prompt, schema). Binding it to a
:class:`~inkforge.llm.runtime.Runtime` gives an :class:`Agent` that calls the role's model and returns an
:class:`AgentResult`: either a validated output or an explicit failure with its status, the raw
model text and the error. A failure is never replaced by a default value.

How a typed answer is obtained, per call:

1. Cache lookup on (model identity, prompt version, rendered messages, sampling, sample index).
2. Structured output through the first method of ``ModelSpec.structured_output`` that the endpoint
   accepts (``json_schema`` → ``json_mode`` → ``function_calling`` → ``prompt``); an endpoint that
   rejects a method (HTTP 400) is remembered and skipped from then on.
3. A schema-invalid answer is re-asked with the validation error, at most ``max_reasks`` times, then
   the item fails with status ``parse_error``.
4. Transport errors (429, 5xx, timeouts) are retried by the transport with jittered exponential
   backoff (``max_retries``); what survives is classified by kind
   (:func:`inkforge.llm.errors.classify_error`) and becomes ``timeout`` / ``rate_limited`` /
   ``error`` / ``refused``.

Example:
    >>> from pydantic import BaseModel, ValidationError
    >>> from inkforge.llm.runtime import Runtime
    >>> from inkforge.testing import FakeChatModel
    >>> class Mood(BaseModel):
    ...     '''Say whether the text is happy.'''
    ...     happy: bool
    >>> mood = AgentDef(name="mood", role="judge", schema=Mood,
    ...                 prompt="## user\\nIs this happy? {{ text }}")
    >>> agent = mood.bind(Runtime.for_testing(FakeChatModel(responses=['{"happy": true}'])))
    >>> agent.invoke({"text": "生日快乐！"}).output
    Mood(happy=True)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError

from inkforge.agents.templates import PromptTemplate
from inkforge.core.secrets import redact
from inkforge.core.types import Status
from inkforge.llm.cache import cache_key
from inkforge.llm.errors import classify_error
from inkforge.llm.parsing import ParseError, parse_output, summarise_validation_error

log = logging.getLogger(__name__)

OutT = TypeVar("OutT", bound=BaseModel)


_REASK = ("Your previous answer could not be used: {error}. Answer again with only one JSON object "
          "that matches the required schema. 上一次的回答无法解析，请只输出一个符合要求的 JSON 对象。")
_SCHEMA_HINT = ("\n\nOutput format: reply with one JSON object only (no prose, no code fence) that "
                "validates against this JSON schema:\n{schema}")


@dataclass
class AgentResult(Generic[OutT]):
    """The outcome of one agent call: a typed output, or an explicit failure.

    Attributes:
        agent: Agent name.
        status: ``ok`` or the failure kind (``parse_error``, ``timeout``, ``refused``,
            ``rate_limited``, ``error``).
        output: The validated output (``None`` unless ``status == "ok"``).
        raw: The model's last raw text (kept for failures: it is what a human needs to debug).
        error: Why it failed.
        kind: For a failed model call, its :data:`~inkforge.core.types.ErrorKind` as the client
            classified it (``timeout``, ``auth``, ``server``...): whether it may pass on its own.
        attempts: Model calls made (re-asks included; 0 for a cache hit).
        cached: Served from the response cache.
        method: Structured-output method that produced the answer.
        input_tokens: Prompt tokens used.
        output_tokens: Completion tokens used.
        cost: Cost from the spec's prices.
        model: Model name.
        prompt_version: Hash of the prompt template.
        seconds: Wall time.
    """

    agent: str
    status: Status
    output: OutT | None = None
    raw: str | None = None
    error: str | None = None
    kind: str | None = None
    attempts: int = 0
    cached: bool = False
    method: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    model: str | None = None
    prompt_version: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether a valid output is present."""
        return self.status == "ok"

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (output dumped), for JSONL outputs and failure records."""
        return {
            "agent": self.agent, "status": self.status,
            "output": self.output.model_dump(mode="json") if self.output is not None else None,
            "raw": self.raw, "error": self.error, "kind": self.kind, "attempts": self.attempts,
            "cached": self.cached,
            "method": self.method, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cost": self.cost, "model": self.model, "prompt_version": self.prompt_version,
        }


@dataclass(frozen=True)
class AgentDef(Generic[OutT]):
    """What an agent is: name, model role, prompt template and output schema.

    Args:
        name: Unique name (registry key, usage accounting, failure records).
        role: Which configured model it uses (``writer``, ``judge``...); any string works, roles
            without their own entry use ``default``.
        schema: Pydantic output model. Its docstring states the task; its validators are the re-ask
            signal.
        prompt: A shipped template name (``"judge"``), a path to a ``.md`` file, a template text
            containing ``## user``, or a :class:`PromptTemplate`. Shipped names resolve per task
            language.
        description: One line for ``inkforge agents``.
    """

    name: str
    role: str
    schema: type[OutT]
    prompt: str | Path | PromptTemplate
    description: str = ""

    def template(self, language: str = "zh") -> PromptTemplate:
        """Resolve the prompt template for a task language (see :meth:`PromptTemplate.resolve`)."""
        return PromptTemplate.resolve(self.prompt, language, name=f"<{self.name} inline>")

    def bind(self, runtime: Any) -> Agent[OutT]:
        """An :class:`Agent` calling the model of ``self.role`` in ``runtime``."""
        return Agent(self, runtime)


class Agent(Generic[OutT]):
    """An agent bound to a runtime. Call :meth:`ainvoke` (or :meth:`invoke`) with template variables.

    Example::

        agent = JUDGE.bind(runtime)
        result = await agent.ainvoke({"query": q, "response": r, "positive": p, "negative": n})
    """

    def __init__(self, definition: AgentDef[OutT], runtime: Any) -> None:
        self.definition = definition
        self.runtime = runtime
        self.name = definition.name
        self.schema = definition.schema
        self.template = definition.template(runtime.task.language)
        self._schema_dict = self.schema.model_json_schema()
        schema_json = json.dumps(self._schema_dict, ensure_ascii=False, sort_keys=True)
        self._schema_json = schema_json
        self.version = cache_key([self.template.version, schema_json])[:12]
        self._runnables: dict[tuple[int, str], Any] = {}

    @property
    def spec(self) -> Any:
        """The model spec of this agent's role."""
        return self.runtime.spec_for(self.definition.role)

    def render(self, variables: dict[str, Any]) -> list[BaseMessage]:
        """The chat messages for ``variables``."""
        return self.template.render(variables, task=self.runtime.task)

    def invoke(self, variables: dict[str, Any], *, sample: int = 0) -> AgentResult[OutT]:
        """Synchronous :meth:`ainvoke` (scripts and notebooks without a running loop)."""
        from inkforge.core.aio import run_sync

        return run_sync(self.ainvoke(variables, sample=sample))

    async def ainvoke(self, variables: dict[str, Any], *, sample: int = 0) -> AgentResult[OutT]:
        """Call the agent once.

        Args:
            variables: Template variables.
            sample: Sample index: calls that differ only by it are distinct samples (distinct cache
                entries), e.g. the N candidates of a writer.

        Returns:
            An :class:`AgentResult`; never raises for model or parsing failures.

        Raises:
            BudgetExceededError: The run's spend cap is reached (before the call).
            FailFastError: The run's failure watch tripped (after the call).
        """
        t0 = time.perf_counter()
        rt = self.runtime
        spec = self.spec
        messages = self.render(variables)
        key = None
        if rt.cache is not None:
            key = cache_key({"model": spec.identity(), "prompt": self.version, "sample": sample,
                             "messages": [(m.type, m.content) for m in messages]})
            hit = rt.cache.get(key)
            if hit is not None:
                try:
                    out = self.schema.model_validate(hit["output"])
                except Exception:  # schema changed under the same version: treat as a miss
                    out = None
                if out is not None:
                    res: AgentResult[OutT] = AgentResult(
                        agent=self.name, status="ok", output=out, raw=hit["raw"], cached=True,
                        model=spec.model, prompt_version=self.version, seconds=time.perf_counter() - t0)
                    self._account(res)
                    return res
        rt.usage.admit()  # the run's spend cap: raises BudgetExceededError once reached
        res = await self._call_model(messages, spec, sample=sample, variables=variables)
        res.seconds = time.perf_counter() - t0
        if res.ok and key is not None and res.output is not None:
            rt.cache.put(key, res.output.model_dump(mode="json"), raw=res.raw, agent=self.name,
                         usage={"input_tokens": res.input_tokens, "output_tokens": res.output_tokens})
        if not res.ok:
            log.warning("agent %s failed (%s): %s", self.name, res.status, (res.error or "")[:200])
        self._account(res)
        return res

    def _account(self, res: AgentResult[OutT]) -> None:
        # May raise FailFastError: the run's failure watch sees every call here.
        spec = self.spec
        self.runtime.usage.record(self.name, status=res.status, cached=res.cached, attempts=res.attempts,
                                  input_tokens=res.input_tokens, output_tokens=res.output_tokens,
                                  cost=res.cost, seconds=res.seconds, kind=res.kind,
                                  error=res.error, endpoint=spec.base_url, key_env=spec.api_key_env)

    def _methods(self, spec: Any) -> list[str]:
        rejected = self.runtime.rejected_methods.get(spec.model_dump_json(), set())
        methods = [m for m in spec.structured_output if m not in rejected]
        return methods or ["prompt"]

    def _runnable(self, model: Any, method: str) -> Any:
        key = (id(model), method)
        r = self._runnables.get(key)
        if r is None:
            if method == "prompt":
                r = model
                if getattr(self.spec, "constrained_decoding", False) and self.spec.provider == "local":
                    from inkforge.llm.transport.local import json_schema_prefix_fn

                    try:
                        fn = json_schema_prefix_fn(model, self.schema.model_json_schema(),
                                                   self.spec.max_tokens or 256)
                        r = model.bind(pipeline_kwargs={"prefix_allowed_tokens_fn": fn})
                    except ImportError as e:
                        log.warning("constrained decoding unavailable (%s); install inkforge[constrained]", e)
            else:
                # A dict schema, not the pydantic class: with the class, the OpenAI SDK validates inside
                # ``invoke`` and raises without the raw text, and function calling hides failures as
                # ``parsed=None``. With a dict we always get the raw answer and validate it ourselves,
                # so every method shares one re-ask path. Its ``title`` names the schema.
                r = model.with_structured_output(self._schema_dict, method=method, include_raw=True)
            self._runnables[key] = r
        return r

    def _with_schema_hint(self, messages: list[BaseMessage]) -> list[BaseMessage]:
        hint = _SCHEMA_HINT.format(schema=self._schema_json)
        if messages and isinstance(messages[0], SystemMessage):
            return [SystemMessage(str(messages[0].content) + hint), *messages[1:]]
        return [SystemMessage(hint.strip()), *messages]

    def run_metadata(self, variables: dict[str, Any], *, sample: int = 0) -> dict[str, Any]:
        """The LangChain run metadata of this agent's model calls (what a LangSmith trace shows).

        ``inkforge_agent``, ``inkforge_role``, ``inkforge_prompt_version``, ``inkforge_schema`` (the
        output schema's name), ``inkforge_sample`` and ``inkforge_inputs`` (the template variables,
        strings and numbers as they are, anything else as its JSON or ``str``). Each call adds
        ``inkforge_method`` and ``inkforge_attempt`` (1 for the first call, 2 for the first re-ask...).

        Example:
            >>> from inkforge.agents import JUDGE
            >>> from inkforge.llm.runtime import Runtime
            >>> from inkforge.testing import FakeChatModel
            >>> meta = JUDGE.bind(Runtime.for_testing(FakeChatModel())).run_metadata({"response": "r"}, sample=2)
            >>> meta["inkforge_agent"], meta["inkforge_schema"], meta["inkforge_sample"], meta["inkforge_inputs"]
            ('judge', 'JudgeVerdict', 2, {'response': 'r'})
        """
        return {"inkforge_agent": self.name, "inkforge_role": self.definition.role,
                "inkforge_prompt_version": self.version, "inkforge_schema": self.schema.__name__,
                "inkforge_sample": sample, "inkforge_inputs": {k: _plain(v) for k, v in variables.items()}}

    async def _call_model(self, messages: list[BaseMessage], spec: Any, *, sample: int = 0,
                          variables: dict[str, Any] | None = None) -> AgentResult[OutT]:
        rt = self.runtime
        # Run metadata travels with every model call (LangChain callbacks, LangSmith traces, test
        # doubles); endpoints never see it and the response cache does not key on it.
        metadata = self.run_metadata(variables or {}, sample=sample)
        model = rt.model_for(self.definition.role)
        res: AgentResult[OutT] = AgentResult(agent=self.name, status="error", model=spec.model,
                                             prompt_version=self.version)
        methods = self._methods(spec)
        call_kwargs = _seed_kwargs(spec, sample)
        if call_kwargs and "seed" in getattr(type(model), "model_fields", {}):
            # ChatOpenAI's structured-output chains drop call kwargs: a copy with its ``seed`` field set
            # (sharing its client) carries the seed instead; one per seed, reused.
            seeded = self._runnables.get((id(model), f"seed={call_kwargs['seed']}"))
            if seeded is None:
                seeded = model.model_copy(update=call_kwargs)
                self._runnables[(id(model), f"seed={call_kwargs['seed']}")] = seeded
            model, call_kwargs = seeded, {}
        mi = 0
        convo = list(messages)
        reasks = 0
        while True:
            method = methods[mi]
            msgs = self._with_schema_hint(convo) if method in ("prompt", "json_mode") else convo
            res.method = method
            res.attempts += 1
            try:
                config: dict[str, Any] = {"run_name": self.name, "metadata": {
                    **metadata, "inkforge_method": method, "inkforge_attempt": res.attempts}}
                if getattr(rt, "callbacks", None):  # else the enclosing run's (a graph's) are inherited
                    config["callbacks"] = rt.callbacks
                async with rt.limiter:
                    answer = await self._runnable(model, method).ainvoke(msgs, config=config, **call_kwargs)
            except Exception as e:  # noqa: BLE001 - classified below, never swallowed silently
                kind = classify_error(e)
                if kind == "unsupported" and mi + 1 < len(methods):
                    # The endpoint does not support this structured-output method: remember, fall back.
                    rt.rejected_methods.setdefault(spec.model_dump_json(), set()).add(method)
                    log.info("%s: endpoint rejected %s (%s); falling back to %s",
                             self.name, method, type(e).__name__, methods[mi + 1])
                    mi += 1
                    continue
                # ``other``: the client could not type it; readers then fall back on the message
                # (core.types.failure_kind), as for records written before kinds existed.
                res.status, res.kind = _KIND_STATUS.get(kind, "error"), None if kind == "other" else kind
                res.error = redact(f"{type(e).__name__}: {e}", env_names=(spec.api_key_env,))[:2000]
                return res
            raw_msg, parsed, perr = _unpack(answer)
            self._add_usage(res, raw_msg, spec)
            res.raw = _raw_text(raw_msg)
            refusal = _refusal(raw_msg)
            if refusal:
                res.status, res.error = "refused", refusal[:2000]
                return res
            if isinstance(parsed, dict):
                try:
                    parsed, perr = self.schema.model_validate(parsed), None
                except ValidationError as e:
                    parsed, perr = None, summarise_validation_error(e)
            if parsed is None or not isinstance(parsed, self.schema):
                try:
                    parsed = parse_output(res.raw or "", self.schema)
                    perr = None
                except ParseError as e:
                    # Our own validation message is the precise re-ask signal (field + reason).
                    perr = str(e)
            if perr is None and parsed is not None:
                res.status, res.output, res.error = "ok", parsed, None
                return res
            if reasks >= spec.max_reasks:
                res.status, res.error = "parse_error", str(perr)[:2000]
                return res
            reasks += 1
            convo = [*convo, AIMessage(res.raw or ""), HumanMessage(_REASK.format(error=_short(perr)))]

    def _add_usage(self, res: AgentResult[OutT], msg: Any, spec: Any) -> None:
        um = getattr(msg, "usage_metadata", None) or {}
        i, o = int(um.get("input_tokens", 0) or 0), int(um.get("output_tokens", 0) or 0)
        res.input_tokens += i
        res.output_tokens += o
        res.cost += (i * spec.input_cost_per_mtok + o * spec.output_cost_per_mtok) / 1e6

    def as_node(self, inputs: Callable[[Any], dict[str, Any]], output_key: str,
                *, sample: Callable[[Any], int] | None = None) -> Callable[[Any], Awaitable[dict[str, Any]]]:
        """A LangGraph node: state → template variables → ``{output_key: AgentResult}``.

        Args:
            inputs: Maps the node's state (or ``Send`` payload) to template variables.
            output_key: State key the result is written to (use a list reducer to collect several).
            sample: Maps the state to a sample index.

        Example::

            graph.add_node("judge", judge.as_node(lambda s: {"query": s["query"], ...}, "verdicts"))
        """

        async def node(state: Any) -> dict[str, Any]:
            res = await self.ainvoke(inputs(state), sample=sample(state) if sample else 0)
            return {output_key: res}

        node.__name__ = f"{self.name}_node"
        return node


def _plain(value: Any) -> Any:
    """A template variable as run metadata: scalars as they are, anything else as JSON (or ``str``)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _seed_kwargs(spec: Any, sample: int) -> dict[str, Any]:
    """The request ``seed`` of sample ``sample``: the spec's ``extra.seed`` (0 if unset) plus the index.

    Samples that differ only by index (a writer's candidates) are then distinct, reproducible draws;
    sample 0 of a spec without a seed sends none, as before. The cache key already holds both.
    """
    base = spec.extra.get("seed") if isinstance(getattr(spec, "extra", None), dict) else None
    if not sample and base is None:
        return {}
    return {"seed": int(base or 0) + int(sample)}


def _short(err: Any) -> str:
    return str(err)[:500]


def _unpack(answer: Any) -> tuple[Any, Any, Any]:
    """(raw message, parsed or None, parsing error or None) from any method's answer."""
    if isinstance(answer, dict) and "raw" in answer:
        return answer["raw"], answer.get("parsed"), answer.get("parsing_error")
    return answer, None, None


def _raw_text(msg: Any) -> str:
    if msg is None:
        return ""
    tool_calls = getattr(msg, "tool_calls", None)
    if tool_calls:
        return json.dumps(tool_calls[0].get("args", {}), ensure_ascii=False)
    content = getattr(msg, "content", msg)
    if isinstance(content, list):  # content blocks
        content = "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)


def _refusal(msg: Any) -> str | None:
    kw = getattr(msg, "additional_kwargs", None) or {}
    if kw.get("refusal"):
        return str(kw["refusal"])
    meta = getattr(msg, "response_metadata", None) or {}
    if meta.get("finish_reason") == "content_filter":
        return "content_filter"
    return None


#: The agent status of each error kind (kinds not listed are ``error``). The kind comes from
#: :func:`inkforge.llm.errors.classify_error`, by type and HTTP status, for every transport.
_KIND_STATUS: dict[str, Status] = {"timeout": "timeout", "rate_limited": "rate_limited",
                                   "content_filter": "refused", "parse": "parse_error"}

