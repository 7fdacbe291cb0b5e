"""Tests for the OpenAI-compatible loopback stub (inkforge.testing.stub): generation, faults, HTTP, CLI.

The behaviour modes (sampling, JSON only when asked, rejected formats, status codes, echo) are tested in
test_stub_modes.py; the ``inkforge stub`` command and StubProcess in test_stub_cli.py; the agent stack
against those modes in test_stub_agents.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel, Field, ValidationError

from inkforge.testing.stub import Faults, StubServer, generate_from_schema

pytestmark = pytest.mark.timeout(60)

REPO_ROOT = Path(__file__).resolve().parents[3]


# ------------------------------------------------------------------------------------------ models


class Mood(str, Enum):
    WARM = "warm"
    FORMAL = "formal"
    PLAYFUL = "playful"


class Verdict(BaseModel):
    label: Literal[0, 1]
    reason: str = Field(min_length=4, max_length=40)


class Critique(BaseModel):
    aspect: Literal["tone", "length", "creativity"]
    score: int = Field(ge=1, le=5)
    weight: float = Field(gt=0, lt=1)
    notes: list[str] = Field(min_length=1, max_length=3)


class Review(BaseModel):
    """A nested model with the constraints the generator must respect."""

    title: str = Field(max_length=12)
    verdict: Verdict
    critiques: list[Critique] = Field(min_length=2, max_length=4)
    mood: Mood
    follow_up: Verdict | None = None
    tags: dict[str, int] = Field(default_factory=dict)
    approved: bool
    version: Literal["v1"] = "v1"
    step: int = Field(default=0, multiple_of=5, ge=10, le=40)


class Node(BaseModel):
    name: str
    children: list[Node] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def server() -> Iterator[StubServer]:
    with StubServer() as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    # trust_env=False: a proxy configured in the environment must never see loopback test traffic.
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c


def chat(
    client: httpx.Client, server: StubServer, content: str = "写一句新年祝福", **extra: object
) -> httpx.Response:
    body = {"model": "stub", "messages": [{"role": "user", "content": content}], **extra}
    return client.post(f"{server.base_url}/chat/completions", json=body)


def schema_format(model: type[BaseModel]) -> dict[str, object]:
    return {
        "type": "json_schema",
        "json_schema": {"name": model.__name__, "schema": model.model_json_schema()},
    }


# ------------------------------------------------------------------------------------- generation


def test_json_schema_answers_validate_against_nested_pydantic_model(server, client):
    for i in range(20):
        resp = chat(client, server, f"评价第{i}条祝福", response_format=schema_format(Review))
        assert resp.status_code == 200
        content = resp.json()["choices"][0]["message"]["content"]
        review = Review.model_validate_json(content)  # raises if any constraint is violated
        assert 2 <= len(review.critiques) <= 4
        assert review.step in {10, 15, 20, 25, 30, 35, 40}


def test_generator_covers_enums_refs_and_terminates_on_recursive_models():
    schema = Review.model_json_schema()
    instances = [generate_from_schema(schema, seed=s) for s in range(40)]
    for inst in instances:
        Review.model_validate(inst)
    # Enum choices vary across seeds, which is what makes different prompts get different answers.
    assert {inst["mood"] for inst in instances} == {m.value for m in Mood}
    assert {inst["verdict"]["label"] for inst in instances} == {0, 1}
    # anyOf [Verdict, null] picks the non-null branch.
    assert all(inst["follow_up"] is not None for inst in instances)

    tree = generate_from_schema(Node.model_json_schema(), seed=3)
    Node.model_validate(tree)

    legacy = {  # draft-7 style `definitions`, `allOf` wrapping and a type list with null
        "type": "object",
        "properties": {
            "inner": {"allOf": [{"$ref": "#/definitions/Inner"}]},
            "x": {"type": ["null", "integer"]},
        },
        "required": ["inner", "x"],
        "definitions": {"Inner": {"type": "object", "properties": {"k": {"const": 7}}, "required": ["k"]}},
    }
    assert generate_from_schema(legacy, seed=0) == {"inner": {"k": 7}, "x": generate_from_schema(legacy)["x"]}
    assert isinstance(generate_from_schema(legacy)["x"], int)


def test_answers_are_deterministic_per_prompt_and_vary_across_prompts(server, client):
    def answer(prompt: str, **extra: object) -> str:
        return chat(client, server, prompt, **extra).json()["choices"][0]["message"]["content"]

    assert answer("给老师的祝福") == answer("给老师的祝福")
    fmt = schema_format(Review)
    assert answer("同一提示", response_format=fmt) == answer("同一提示", response_format=fmt)
    texts = {answer(f"给朋友的祝福 {i}") for i in range(10)}
    assert len(texts) >= 5
    moods = {json.loads(answer(f"评价 {i}", response_format=fmt))["mood"] for i in range(20)}
    assert len(moods) >= 2


def test_response_shape_usage_and_json_object_mode(server, client):
    data = chat(client, server, "你好" * 10).json()
    assert data["object"] == "chat.completion" and data["id"].startswith("chatcmpl-")
    assert data["model"] == "stub" and isinstance(data["created"], int)
    choice = data["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    assert choice["message"]["content"]
    usage = data["usage"]
    assert usage["prompt_tokens"] == 10  # 20 characters at ~2 characters per token
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 10

    as_json = chat(client, server, response_format={"type": "json_object"}).json()
    assert set(json.loads(as_json["choices"][0]["message"]["content"])) == {"text"}

    several = chat(client, server, n=3).json()
    assert [c["index"] for c in several["choices"]] == [0, 1, 2]


def test_forced_tool_call_has_schema_valid_arguments(server, client):
    tool = {
        "type": "function",
        "function": {"name": "Verdict", "description": "判定", "parameters": Verdict.model_json_schema()},
    }
    forced = {"type": "function", "function": {"name": "Verdict"}}
    data = chat(client, server, tools=[tool], tool_choice=forced).json()
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["function"]["name"] == "Verdict"
    Verdict.model_validate_json(call["function"]["arguments"])

    # tool_choice "auto" leaves the model free: the stub answers in text.
    auto = chat(client, server, tools=[tool], tool_choice="auto").json()["choices"][0]["message"]
    assert "tool_calls" not in auto and auto["content"]


def test_streaming_reassembles_to_the_non_streamed_answer(server, client):
    plain = chat(client, server, "流式").json()["choices"][0]["message"]["content"]
    resp = chat(client, server, "流式", stream=True, stream_options={"include_usage": True})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    events = [line[len("data: ") :] for line in resp.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert streamed == plain
    assert chunks[-1]["usage"]["total_tokens"] > 0


def test_models_endpoint_and_unknown_route(client):
    with StubServer(models=("stub", "judge")) as srv:
        listed = client.get(f"{srv.base_url}/models").json()
        assert [m["id"] for m in listed["data"]] == ["stub", "judge"]
        assert client.get(f"{srv.base_url}/models/judge").status_code == 200
        missing = client.post(f"{srv.base_url}/completions", json={})
        assert missing.status_code == 404 and "error" in missing.json()


def test_bad_request_bodies_get_400(server, client):
    resp = client.post(f"{server.base_url}/chat/completions", content=b"{not json")
    assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"
    assert client.post(f"{server.base_url}/chat/completions", json={"model": "stub"}).status_code == 400


# ------------------------------------------------------------------------------------- responder


def test_responder_scripts_content_and_falls_back_on_none(client):
    def judge(body: dict) -> dict | None:
        text = body["messages"][-1]["content"]
        if text.startswith("skip"):
            return None
        return {"label": 1 if len(text) > 20 else 0, "reason": "长度决定"}

    with StubServer(responder=judge) as srv:
        long_text = "祝你" * 15
        long_reply = chat(client, srv, long_text).json()["choices"][0]["message"]["content"]
        assert json.loads(long_reply)["label"] == 1
        short_reply = chat(client, srv, "新年好").json()["choices"][0]["message"]["content"]
        assert json.loads(short_reply)["label"] == 0
        fallback = chat(client, srv, "skip this").json()["choices"][0]["message"]["content"]
        assert fallback and not fallback.startswith("{")
        assert srv.requests[0]["messages"][-1]["content"] == long_text


def test_responder_exception_becomes_500_naming_it(client):
    def broken(body: dict) -> str:
        raise KeyError("missing field")

    with StubServer(responder=broken) as srv:
        resp = chat(client, srv)
        assert resp.status_code == 500 and "KeyError" in resp.json()["error"]["message"]


# ------------------------------------------------------------------------------------------ faults


def test_429_and_500_faults(client):
    with StubServer(faults=Faults(rate_429=1.0)) as srv:
        resp = chat(client, srv)
        assert resp.status_code == 429 and resp.headers["retry-after"] == "0"
        assert resp.json()["error"]["type"] == "rate_limit_error"
        srv.set_faults(rate_429=0.0, rate_500=1.0)
        resp = chat(client, srv)
        assert resp.status_code == 500 and resp.json()["error"]["type"] == "server_error"
        assert dict(srv.stats.by_status) == {429: 1, 500: 1}
        assert dict(srv.stats.faults) == {"429": 1, "500": 1}


def test_fail_first_n_then_succeeds(client):
    with StubServer(faults=Faults(fail_first_n=2)) as srv:
        assert [chat(client, srv).status_code for _ in range(4)] == [500, 500, 200, 200]
        srv.set_faults(fail_first_n=1)  # setting faults restarts the count
        assert [chat(client, srv).status_code for _ in range(2)] == [500, 200]


def test_fault_sequence_is_reproducible_from_the_seed(client):
    def statuses(seed: int) -> list[int]:
        with StubServer(faults=Faults(rate_429=0.3, rate_500=0.3, seed=seed)) as srv:
            return [chat(client, srv).status_code for _ in range(30)]

    first = statuses(7)
    assert first == statuses(7)
    assert {200, 429, 500} <= set(first)


def test_hang_drops_the_connection_after_a_client_timeout():
    with StubServer(faults=Faults(rate_hang=1.0, hang_s=0.6)) as srv:
        with httpx.Client(trust_env=False, timeout=0.2) as c:
            with pytest.raises(httpx.ReadTimeout):
                chat(c, srv)
        with httpx.Client(trust_env=False, timeout=5) as c:
            with pytest.raises(httpx.RemoteProtocolError):  # dropped without a reply
                chat(c, srv)
        assert srv.stats.faults["hang"] == 2


def test_hang_late_mode_answers_after_the_stall(client):
    with StubServer(faults=Faults(rate_hang=1.0, hang_s=0.3, hang_mode="late")) as srv:
        start = time.perf_counter()
        assert chat(client, srv).status_code == 200
        assert time.perf_counter() - start >= 0.3


def test_malformed_content_and_bad_body(client):
    with StubServer(faults=Faults(rate_malformed=1.0)) as srv:
        for i in range(6):
            resp = chat(client, srv, f"评价 {i}", response_format=schema_format(Verdict))
            assert resp.status_code == 200  # the HTTP layer is fine; the content is not
            content = resp.json()["choices"][0]["message"]["content"]
            with pytest.raises(ValidationError):
                Verdict.model_validate_json(content)
        srv.set_faults(rate_malformed=0.0, rate_bad_body=1.0)
        resp = chat(client, srv)
        assert resp.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            resp.json()


def test_latency_is_applied(client):
    with StubServer(faults=Faults(latency_s=0.15, jitter_s=0.05)) as srv:
        start = time.perf_counter()
        chat(client, srv)
        elapsed = time.perf_counter() - start
        assert 0.15 <= elapsed < 1.0


def test_fault_validation():
    with pytest.raises(ValueError, match="sum"):
        Faults(rate_429=0.6, rate_500=0.6)
    with pytest.raises(ValueError):
        Faults(rate_hang=1.5)
    with pytest.raises(ValueError):
        Faults(latency_s=-1)


# ------------------------------------------------------------------------- concurrency, auth, stop


def test_max_concurrency_reflects_a_client_side_limit():
    async def burst(url: str, n: int, limit: int) -> None:
        gate = asyncio.Semaphore(limit)
        async with httpx.AsyncClient(trust_env=False, timeout=10) as c:

            async def one(i: int) -> None:
                async with gate:
                    body = {"model": "stub", "messages": [{"role": "user", "content": str(i)}]}
                    (await c.post(f"{url}/chat/completions", json=body)).raise_for_status()

            await asyncio.gather(*(one(i) for i in range(n)))

    with StubServer(faults=Faults(latency_s=0.1)) as srv:
        asyncio.run(burst(srv.base_url, n=9, limit=3))
        assert srv.stats.max_concurrency == 3
        assert srv.stats.chat_requests == 9 and srv.stats.in_flight == 0
        srv.reset_stats()
        assert srv.stats.max_concurrency == 0 and srv.requests == []
        asyncio.run(burst(srv.base_url, n=16, limit=16))
        assert srv.stats.max_concurrency == 16


def test_concurrent_clients_are_served_in_parallel():
    # 64 requests at 0.2 s latency from 64 threads: serial handling would take 12.8 s.
    with (
        StubServer(faults=Faults(latency_s=0.2)) as srv,
        httpx.Client(trust_env=False, timeout=10, limits=httpx.Limits(max_connections=64)) as c,
    ):
        statuses: list[int] = []
        threads = [
            threading.Thread(target=lambda: statuses.append(chat(c, srv).status_code)) for _ in range(64)
        ]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert time.perf_counter() - start < 3.0
        assert statuses == [200] * 64 and srv.stats.max_concurrency > 32


def test_api_key_is_required_and_never_echoed(client):
    secret = "sk-secret-value-123"
    with StubServer(require_api_key=secret) as srv:
        wrong = client.post(
            f"{srv.base_url}/chat/completions",
            json={"model": "stub", "messages": []},
            headers={"Authorization": "Bearer sk-wrong"},
        )
        assert wrong.status_code == 401 and "sk-wrong" not in wrong.text and secret not in wrong.text
        assert client.get(f"{srv.base_url}/models").status_code == 401
        ok = client.get(f"{srv.base_url}/models", headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200
        assert srv.requests == []  # rejected bodies are not recorded


def test_recording_is_capped():
    with StubServer(max_recorded=3) as srv, httpx.Client(trust_env=False) as c:
        for i in range(5):
            chat(c, srv, f"p{i}")
        assert [r["messages"][0]["content"] for r in srv.requests] == ["p2", "p3", "p4"]
        assert srv.stats.chat_requests == 5


def test_stop_closes_keep_alive_connections_and_is_idempotent():
    srv = StubServer().start()
    with httpx.Client(trust_env=False, timeout=2) as c:
        assert chat(c, srv).status_code == 200
        srv.stop()
        srv.stop()
        with pytest.raises(httpx.TransportError):
            chat(c, srv)  # the pooled connection must not keep answering after stop()
    with pytest.raises(RuntimeError):
        srv.start()


@pytest.mark.parametrize("entry", [["inkforge.cli", "stub"], ["inkforge.testing.stub"]], ids=["cli", "module"])
def test_cli_serves_until_interrupted(entry):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "STUB_KEY": "sk-cli"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            *entry,
            "--port",
            "0",
            "--latency",
            "0.01",
            "--model",
            "m1",
            "--api-key-env",
            "STUB_KEY",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" at ")[1].split()[0]
        resp = httpx.get(f"{url}/models", headers={"Authorization": "Bearer sk-cli"}, trust_env=False)
        assert [m["id"] for m in resp.json()["data"]] == ["m1"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "served 1 requests" in out and "sk-cli" not in out + line + err
    finally:
        if proc.poll() is None:
            proc.kill()


# -------------------------------------------------------------------------------- real LangChain


def _chat_openai(server: StubServer, http_async_client: httpx.AsyncClient | None = None):
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    return ChatOpenAI(
        base_url=server.base_url,
        api_key=SecretStr("sk-test"),
        model="stub",
        max_retries=0,
        http_client=httpx.Client(trust_env=False),
        http_async_client=http_async_client or httpx.AsyncClient(trust_env=False),
    )


def test_langchain_structured_output_json_schema_and_function_calling():
    pytest.importorskip("langchain_openai")
    with StubServer(require_api_key="sk-test") as srv:

        async def run() -> tuple[dict, dict]:
            async with httpx.AsyncClient(trust_env=False) as http:
                llm = _chat_openai(srv, http)
                by_schema = llm.with_structured_output(Review, method="json_schema", include_raw=True)
                by_tool = llm.with_structured_output(Review, method="function_calling", include_raw=True)
                return (
                    await by_schema.ainvoke("请评价这条祝福：新年快乐"),
                    await by_tool.ainvoke("请评价这条祝福：新年快乐"),
                )

        via_schema, via_tool = asyncio.run(run())
        assert isinstance(via_schema["parsed"], Review) and via_schema["parsing_error"] is None
        assert isinstance(via_tool["parsed"], Review) and via_tool["parsing_error"] is None
        assert via_tool["raw"].tool_calls[0]["name"] == "Review"

        schema_request, tool_request = srv.requests
        assert schema_request["response_format"]["type"] == "json_schema"
        assert tool_request["tool_choice"] == {"type": "function", "function": {"name": "Review"}}


def test_langchain_surfaces_malformed_output_differently_per_method():
    """Pins how LangChain reports broken JSON, which callers' re-ask logic must handle per method."""
    pytest.importorskip("langchain_openai")
    with StubServer(faults=Faults(rate_malformed=1.0)) as srv:
        llm = _chat_openai(srv)
        by_tool = llm.with_structured_output(Verdict, method="function_calling", include_raw=True)
        for i in range(3):
            result = by_tool.invoke(f"判定 {i}")
            # No exception and no parsing_error: the broken call only shows up as an invalid tool call, so
            # `parsed is None` must be treated as a failure, never as a verdict.
            assert result["parsed"] is None and result["parsing_error"] is None
            assert result["raw"].invalid_tool_calls and not result["raw"].tool_calls
        by_schema = llm.with_structured_output(Verdict, method="json_schema", include_raw=True)
        for i in range(3):
            # The OpenAI SDK validates the content itself, so the error escapes include_raw as an exception.
            with pytest.raises(ValidationError):
                by_schema.invoke(f"判定 {i}")


def test_langchain_plain_invoke_returns_text():
    pytest.importorskip("langchain_openai")
    with StubServer() as srv:
        message = _chat_openai(srv).invoke("写一句给妈妈的生日祝福")
        assert isinstance(message.content, str) and message.content
        assert message.usage_metadata is not None and message.usage_metadata["total_tokens"] > 0
        assert srv.requests[0]["messages"][0]["content"] == "写一句给妈妈的生日祝福"
        streamed = "".join(str(chunk.content) for chunk in _chat_openai(srv).stream("写一句给妈妈的生日祝福"))
        assert streamed == message.content  # same prompt, same answer, streamed or not
