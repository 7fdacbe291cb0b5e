"""Agent contract: schemas, structured-output methods and fallbacks, re-asks, explicit failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel, Field

from inkforge.agents import (
    AGENTS,
    JUDGE,
    WRITER,
    AgentDef,
    JudgeVerdict,
    NegativeCritique,
    get_agent,
    register_agent,
)
from inkforge.core.tasks import GREETING_TASK, POEM_TASK
from inkforge.llm import InkforgeConfig, ModelSpec, Runtime
from inkforge.llm.cache import ResponseCache
from inkforge.testing import FakeChatModel, Faults, StubServer, generate_from_schema

#: The variables each shipped agent's node passes to its template.
NODE_VARS = {
    "writer": {"query", "examples"},
    "positive_critic": {"query", "response"},
    "negative_critic": {"query", "response"},
    "judge": {"query", "response", "positive", "negative"},
    "reflector": {"query", "response", "positive", "negative", "label", "reason"},
    "adversarial_generator": {"query", "strategy"},
    "detector": {"query", "response", "rubric"},
    "error_reflector": {"query", "response", "rubric", "human_label", "verdict", "explanation"},
    "rubric_optimizer": {"target", "rules", "feedback", "max_rules"},
}
SHIPPED = sorted(NODE_VARS)


def stub_runtime(server: StubServer, *, concurrency: int = 16, **spec: Any) -> Runtime:
    cfg = InkforgeConfig(models={"default": ModelSpec(model="stub", base_url=server.base_url, **spec)},
                         cache=None, concurrency=concurrency)
    return Runtime(cfg)


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("task", [GREETING_TASK, POEM_TASK], ids=["zh", "en"])
def test_shipped_prompt_renders_with_node_variables(name: str, task: Any) -> None:
    defn = AGENTS[name]
    tmpl = defn.template(task.language)
    assert tmpl.variables() <= NODE_VARS[name]
    msgs = tmpl.render({v: ["a", "b"] if v in {"examples", "strategy", "rubric", "rules", "feedback"} else "x"
                        for v in NODE_VARS[name]}, task=task)
    text = "".join(str(m.content) for m in msgs)
    assert "{{" not in text and task.item in text
    # Every field of the schema is named in the answer instruction, so json_mode/prompt can work.
    for field in defn.schema.model_fields:
        assert field in text, f"{name} ({task.language}) does not name field {field}"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_agent_returns_typed_output(name: str) -> None:
    defn = AGENTS[name]
    answer = generate_from_schema(defn.schema.model_json_schema(), seed=name)
    fake = FakeChatModel(responses=[answer])
    res = defn.bind(Runtime.for_testing(fake)).invoke({v: "x" for v in NODE_VARS[name]})
    assert res.ok, res.error
    assert isinstance(res.output, defn.schema)
    assert res.prompt_version and res.attempts == 1


@pytest.mark.parametrize("transport", ["langchain", "http"])
@pytest.mark.parametrize("method", ["json_schema", "json_mode", "function_calling", "prompt"])
def test_each_structured_output_method_over_http(method: str, transport: str, stub: StubServer) -> None:
    rt = stub_runtime(stub, structured_output=[method], transport=transport)
    res = NEGATIVE_CRITIC_BOUND(rt).invoke({"query": "给老师的祝福", "response": "老师辛苦了"})
    assert res.ok, (res.status, res.error, res.raw)
    assert isinstance(res.output, NegativeCritique)
    assert res.method == method
    body = stub.requests[-1]
    if method == "json_schema":
        assert body["response_format"]["type"] == "json_schema"
    elif method == "json_mode":
        assert body["response_format"]["type"] == "json_object"
    elif method == "function_calling":
        assert body["tools"][0]["function"]["name"] == "NegativeCritique"
    else:
        assert "response_format" not in body and "tools" not in body


def NEGATIVE_CRITIC_BOUND(rt: Runtime) -> Any:  # noqa: N802 - reads like a constant in the tests
    return AGENTS["negative_critic"].bind(rt)


def wrapped_openai_error(base: type[Exception], message: str) -> Exception:
    """An instance of a langchain-openai-style subclass of an openai SDK error (no HTTP response needed)."""
    cls = type(f"OpenAI{base.__name__}", (base,), {})
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    return err


def BadRequestError(message: str) -> Exception:  # noqa: N802 - reads like the class it builds
    import openai

    return wrapped_openai_error(openai.BadRequestError, message)


def test_unsupported_method_falls_back_and_is_remembered() -> None:
    good = JudgeVerdict(reason="贴切真挚", label=1)
    fake = FakeChatModel(responses=[BadRequestError("response_format json_schema is not supported"), good, good])
    rt = Runtime.for_testing(fake, spec=ModelSpec(model="fake", structured_output=["json_schema", "prompt"]))
    judge = JUDGE.bind(rt)
    vars_ = {"query": "q", "response": "r", "positive": "p", "negative": "n"}
    first = judge.invoke(vars_)
    assert first.ok and first.method == "prompt"
    second = judge.invoke({**vars_, "query": "q2"})
    assert second.ok and second.method == "prompt" and second.attempts == 1  # no second 400
    assert [c.method for c in fake.calls] == ["json_schema", None, None]
    assert "JSON schema" in fake.calls[1].text  # prompt fallback carries the schema


def test_malformed_answer_is_reasked_with_the_error() -> None:
    fake = FakeChatModel(responses=["当然！这是我的判断：label 是 1", '{"reason": "好", "label": 7}',
                                    'Sure:\n```json\n{"reason": "好", "label": 1}\n```'])
    res = JUDGE.bind(Runtime.for_testing(fake)).invoke({"query": "q", "response": "r", "positive": "", "negative": ""})
    assert res.ok and res.output == JudgeVerdict(reason="好", label=1)
    assert res.attempts == 3
    assert "no JSON object" in fake.calls[1].text
    assert "label" in fake.calls[2].messages[-1].content  # the validation error names the field


def test_persistent_failure_is_explicit_never_defaulted() -> None:
    fake = FakeChatModel(responses=["I cannot decide."] * 10)
    rt = Runtime.for_testing(fake, spec=ModelSpec(model="fake", max_reasks=2))
    res = JUDGE.bind(rt).invoke({"query": "q", "response": "r", "positive": "", "negative": ""})
    assert res.status == "parse_error" and res.output is None
    assert res.raw == "I cannot decide." and res.error
    assert res.attempts == 3
    assert rt.usage.totals()["failed"] == 1
    rec = res.to_record()
    assert rec["status"] == "parse_error" and rec["output"] is None and rec["raw"] == "I cannot decide."


def test_transport_errors_are_classified() -> None:
    import openai

    for exc, status in [(wrapped_openai_error(openai.APITimeoutError, "Request timed out."), "timeout"),
                        (wrapped_openai_error(openai.RateLimitError, "429 Too Many Requests"), "rate_limited"),
                        (ConnectionRefusedError("connection refused"), "error"),
                        (RuntimeError("boom"), "error")]:
        res = WRITER.bind(Runtime.for_testing(FakeChatModel(responses=[exc]))).invoke({"query": "q", "examples": []})
        assert res.status == status, (exc, res.status)
        assert res.output is None and type(exc).__name__ in (res.error or "")


def test_refusal_is_its_own_status() -> None:
    from langchain_core.messages import AIMessage

    class Refuser(FakeChatModel):
        def with_structured_output(self, schema: Any, **kw: Any) -> Any:
            from langchain_core.runnables import RunnableLambda

            msg = AIMessage(content="", additional_kwargs={"refusal": "I can't help with that."})
            return RunnableLambda(lambda _: {"raw": msg, "parsed": None, "parsing_error": None})

    res = WRITER.bind(Runtime.for_testing(Refuser())).invoke({"query": "q", "examples": []})
    assert res.status == "refused" and "can't help" in (res.error or "")


def test_cache_hits_cost_nothing_and_samples_are_distinct(tmp_path: Any) -> None:
    fake = FakeChatModel(responder=lambda msgs, schema: {"text": f"祝福{len(fake.calls)}"})
    cache = ResponseCache(tmp_path / "c.sqlite")
    rt = Runtime.for_testing(fake, cache=cache)
    w = WRITER.bind(rt)
    a = w.invoke({"query": "生日", "examples": []})
    b = w.invoke({"query": "生日", "examples": []})
    c = w.invoke({"query": "生日", "examples": []}, sample=1)
    assert not a.cached and b.cached and not c.cached
    assert b.output == a.output and c.output != a.output
    assert len(fake.calls) == 2
    # A new runtime on the same file (a re-run) is served from disk.
    fake2 = FakeChatModel()
    rt2 = Runtime.for_testing(fake2, cache=ResponseCache(tmp_path / "c.sqlite"))
    assert WRITER.bind(rt2).invoke({"query": "生日", "examples": []}).cached
    assert fake2.calls == []
    assert rt2.usage.totals()["cached"] == 1


def test_failures_are_not_cached(tmp_path: Any) -> None:
    fake = FakeChatModel(responses=["x", "x", "x", '{"text": "好的"}'])
    rt = Runtime.for_testing(fake, cache=ResponseCache(tmp_path / "c.sqlite"),
                             spec=ModelSpec(model="fake", max_reasks=2))
    w = WRITER.bind(rt)
    assert w.invoke({"query": "q", "examples": []}).status == "parse_error"
    assert w.invoke({"query": "q", "examples": []}).ok  # retried, not served a cached failure


def test_one_concurrency_limit_shared_by_all_agents() -> None:
    fake = FakeChatModel(responder=lambda call: generate_from_schema(call.json_schema, seed=len(call.messages)),
                         latency=0.02)
    rt = Runtime.for_testing(fake, concurrency=5)
    writer, judge = WRITER.bind(rt), JUDGE.bind(rt)

    async def go() -> list[Any]:
        jobs = [writer.ainvoke({"query": f"q{i}", "examples": []}) for i in range(20)]
        jobs += [judge.ainvoke({"query": f"q{i}", "response": "r", "positive": "", "negative": ""}) for i in range(20)]
        return await asyncio.gather(*jobs)

    results = asyncio.run(go())
    assert all(r.ok for r in results)
    assert fake.peak_concurrency == 5 and rt.limiter.peak == 5
    # Works again on a second event loop (notebooks and CLIs call asyncio.run repeatedly).
    assert all(r.ok for r in asyncio.run(go()))


def test_concurrency_limit_holds_on_the_wire() -> None:
    with StubServer(faults=Faults(latency_s=0.05)) as server:
        rt = stub_runtime(server, structured_output=["json_schema"])
        rt.limiter.limit = 6
        w = WRITER.bind(rt)

        async def go() -> list[Any]:
            return await asyncio.gather(*[w.ainvoke({"query": f"q{i}", "examples": []}) for i in range(30)])

        assert all(r.ok for r in asyncio.run(go()))
        assert server.stats.max_concurrency == 6


@pytest.mark.parametrize("transport", ["langchain", "http"])
def test_thirty_percent_faults_every_call_ends_typed_or_explicit(transport: str) -> None:
    faults = Faults(rate_429=0.1, rate_500=0.1, rate_malformed=0.05, rate_hang=0.05, hang_s=3.0, seed=7)
    with StubServer(faults=faults) as server:
        rt = stub_runtime(server, structured_output=["json_schema"], max_retries=1, timeout=0.5, max_reasks=1,
                          concurrency=32, transport=transport)
        judge = JUDGE.bind(rt)

        async def go() -> list[Any]:
            return await asyncio.gather(*[judge.ainvoke({"query": f"请求{i}", "response": "祝你生日快乐",
                                                         "positive": "", "negative": ""}) for i in range(100)])

        results = asyncio.run(go())
    assert len(results) == 100
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    assert all(isinstance(r.output, JudgeVerdict) for r in ok)
    assert all(r.output is None and r.status != "ok" and r.error for r in failed)
    assert len(ok) > 60  # retries and re-asks recover most injected faults
    assert rt.usage.totals()["calls"] == 100
    assert rt.usage.totals()["failed"] == len(failed)


def test_custom_agent_registers_and_resolves_without_library_changes(tmp_path: Any, monkeypatch: Any) -> None:
    class SafetyCheck(BaseModel):
        """Flag greetings that would embarrass the sender."""

        safe: bool
        reason: str = Field(min_length=1)

    prompt = tmp_path / "safety.md"
    prompt.write_text("## system\n你审查{{ task.item }}。\n## user\n{{ response }}\n输出 JSON: safe, reason", "utf-8")
    defn = register_agent(AgentDef(name="safety_test", role="safety", schema=SafetyCheck, prompt=prompt), replace=True)
    assert get_agent("safety_test") is defn
    # A user's own module, named by import path in a config: no registration call needed.
    (tmp_path / "_inkforge_testplugin_agents.py").write_text(PLUGIN, "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "_inkforge_testplugin_agents", raising=False)
    assert get_agent("_inkforge_testplugin_agents:CRITIC").name == "terse"
    res = defn.bind(Runtime.for_testing(FakeChatModel(responses=[{"safe": True, "reason": "无冒犯"}]))).invoke(
        {"response": "恭喜"})
    assert res.ok and res.output.safe is True  # type: ignore[union-attr]


PLUGIN = """
from pydantic import BaseModel
from inkforge.agents import AgentDef

class Terse(BaseModel):
    summary: str

CRITIC = AgentDef(name="terse", role="negative_critic", schema=Terse, prompt="## user\\n{{ response }}")
"""


def test_sync_invoke_works_inside_a_running_loop() -> None:
    """Notebook cells run inside an event loop, where asyncio.run refuses to start."""

    async def cell() -> Any:
        fake = FakeChatModel(responses=[{"text": "新婚快乐，白头偕老"}])
        return WRITER.bind(Runtime.for_testing(fake)).invoke({"query": "婚礼", "examples": []})

    res = asyncio.run(cell())
    assert res.ok and res.output.text == "新婚快乐，白头偕老"  # type: ignore[union-attr]


# -------------------------------------------------------------------------- what a model call carries


def test_agents_pass_the_json_schema_dict_and_run_metadata_on_every_call() -> None:
    seen: list[Any] = []

    def classic(messages: Any, schema: Any) -> Any:  # the (messages, schema) form still works
        seen.append(schema)
        return "not json" if len(seen) == 1 else {"reason": "贴切", "label": 1}

    fake = FakeChatModel(responder=classic)
    judge = JUDGE.bind(Runtime.for_testing(fake))
    variables = {"query": "给老师的祝福", "response": "老师辛苦了", "positive": ["真诚"], "negative": ""}
    res = judge.invoke(variables, sample=3)
    assert res.ok and res.attempts == 2
    # The same JSON-schema dict real endpoints get, named by its title; never the pydantic class.
    assert all(s == JudgeVerdict.model_json_schema() and s["title"] == "JudgeVerdict" for s in seen)
    first, reask = fake.calls
    assert first.schema == "JudgeVerdict" and first.json_schema == JudgeVerdict.model_json_schema()
    assert first.agent == "judge" and first.metadata["inkforge_prompt_version"] == judge.version
    assert first.metadata["inkforge_role"] == "judge" and first.metadata["inkforge_schema"] == "JudgeVerdict"
    assert first.metadata["inkforge_sample"] == 3 and first.metadata["inkforge_method"] == "json_schema"
    assert [c.metadata["inkforge_attempt"] for c in fake.calls] == [1, 2]
    # Template variables as structured call data: strings as given, anything else as its JSON.
    assert first.inputs == {"query": "给老师的祝福", "response": "老师辛苦了", "positive": '["真诚"]', "negative": ""}
    assert reask.inputs == first.inputs


def test_run_metadata_reaches_plain_calls_and_langchain_callbacks() -> None:
    from langchain_core.callbacks import BaseCallbackHandler

    class Recorder(BaseCallbackHandler):
        def __init__(self) -> None:
            self.starts: list[tuple[Any, Any]] = []

        def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
            self.starts.append((kw.get("name"), kw.get("metadata")))

    fake = FakeChatModel(responses=['{"text": "新婚快乐"}'])
    rt = Runtime.for_testing(fake, spec=ModelSpec(model="fake", structured_output=["prompt"]))
    writer = WRITER.bind(rt)
    recorder = Recorder()

    async def go() -> Any:
        from langchain_core.runnables import RunnableLambda

        # A parent run's callbacks see the agent's call, as a LangSmith trace would.
        async def call(_: Any) -> Any:
            return await writer.ainvoke({"query": "婚礼", "examples": []}, sample=1)

        return await RunnableLambda(call).ainvoke(None, config={"callbacks": [recorder]})

    assert asyncio.run(go()).ok
    call = fake.calls[0]
    assert call.schema is None and call.method is None  # plain call: the schema is only in the prompt
    assert call.agent == "writer" and call.metadata["inkforge_schema"] == "WriterOutput"
    assert call.inputs == {"query": "婚礼", "examples": "[]"} and call.metadata["inkforge_sample"] == 1
    name, metadata = recorder.starts[0]
    assert name == "writer" and metadata["inkforge_agent"] == "writer" and metadata["inkforge_method"] == "prompt"


def test_fake_structured_output_treats_dict_schemas_like_chatopenai() -> None:
    fake = FakeChatModel(responses=['{"label": 1}', '{"label": 2}'])
    schema = {"title": "V", "type": "object", "properties": {"label": {"type": "integer"}}}
    assert fake.with_structured_output(schema).invoke("x") == {"label": 1}  # a dict schema parses to a dict
    raw = fake.with_structured_output(schema, method="function_calling", include_raw=True).invoke("y")
    assert raw["parsed"] == {"label": 2} and raw["parsing_error"] is None
    untitled = {"type": "object", "properties": {"label": {"type": "integer"}}}
    for method in ("json_schema", "function_calling"):
        with pytest.raises(ValueError, match="title"):
            fake.with_structured_output(untitled, method=method)
    fake.with_structured_output(untitled, method="json_mode")  # json_mode names no schema on the wire
