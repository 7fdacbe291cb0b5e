"""The default http transport against the loopback stub: retries, Retry-After, kinds, proxies, seeds."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import pytest

from inkforge.agents import JUDGE, WRITER
from inkforge.llm import InkforgeConfig, ModelSpec, Runtime
from inkforge.llm.errors import ModelCallError, classify_error, kind_for_status
from inkforge.llm.transport.http import HttpChatModel
from inkforge.testing import Faults, StubServer

VERDICT = {"title": "Verdict", "type": "object", "properties": {"label": {"type": "integer"}},
           "required": ["label"]}


def model(base_url: str, **spec: Any) -> HttpChatModel:
    return HttpChatModel(spec=ModelSpec(model="stub", base_url=base_url, **spec), limit=8)


def runtime(base_url: str, **spec: Any) -> Runtime:
    cfg = InkforgeConfig(models={"default": ModelSpec(model="stub", base_url=base_url, **spec)}, cache=None,
                         concurrency=8)
    return Runtime(cfg)


def test_retries_a_500_then_succeeds() -> None:
    with StubServer(faults=Faults(fail_first_n=1)) as stub:
        m = model(stub.base_url, max_retries=2)
        out = asyncio.run(m.with_structured_output(VERDICT, include_raw=True).ainvoke("判断"))
        assert isinstance(out["parsed"], dict) and out["parsing_error"] is None
        assert stub.stats.chat_requests == 2
        assert stub.stats.by_status.get(500) == 1


def test_retry_after_is_honoured() -> None:
    # Seed 9 draws a 429 (Retry-After: 1) first, then an answer. The backoff alone would wait <= 0.75 s.
    with StubServer(faults=Faults(rate_429=0.5, seed=9, retry_after_s=1)) as stub:
        m = model(stub.base_url, max_retries=1)
        t0 = time.perf_counter()
        assert m.invoke("hi").content
        assert time.perf_counter() - t0 >= 1.0
        assert stub.stats.chat_requests == 2


def test_401_is_kind_auth_names_the_variable_and_never_echoes_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-http-transport-secret-0042"
    monkeypatch.setenv("INKFORGE_HTTP_TEST_KEY", secret)
    with StubServer(faults=Faults(status_rates={401: 1.0}, echo_request=True)) as stub:
        m = model(stub.base_url, max_retries=3, api_key_env="INKFORGE_HTTP_TEST_KEY")
        with pytest.raises(ModelCallError) as err:
            m.invoke("hi")
        assert stub.stats.chat_requests == 1  # final: not retried
        assert stub.requests[0]  # and the stub did see the request
    e = err.value
    assert (e.kind, e.status_code) == ("auth", 401) and classify_error(e) == "auth"
    assert "INKFORGE_HTTP_TEST_KEY" in str(e) and secret not in str(e)


def test_a_hanging_endpoint_is_kind_timeout() -> None:
    with StubServer(faults=Faults(rate_hang=1.0, hang_s=3.0)) as stub:
        m = model(stub.base_url, timeout=0.3, max_retries=0)
        t0 = time.perf_counter()
        with pytest.raises(ModelCallError) as err:
            asyncio.run(m.ainvoke("hi"))
        assert err.value.kind == "timeout" and time.perf_counter() - t0 < 2.0


def test_json_only_when_response_format_asks() -> None:
    with StubServer(faults=Faults(json_answers="when_asked")) as stub:
        m = model(stub.base_url)
        for method in ("json_schema", "json_mode", "function_calling"):
            out = m.with_structured_output(VERDICT, method=method, include_raw=True).invoke("判断一下")
            assert isinstance(out["parsed"], dict) and out["parsing_error"] is None, method
            if method != "json_mode":  # json_object carries no schema: any JSON object is valid
                assert isinstance(out["parsed"]["label"], int), method
        bodies = stub.requests
    assert bodies[0]["response_format"]["type"] == "json_schema"
    assert bodies[0]["response_format"]["json_schema"]["name"] == "Verdict"
    assert bodies[1]["response_format"] == {"type": "json_object"}
    assert bodies[2]["tool_choice"]["function"]["name"] == "Verdict"


def test_the_writer_sample_index_reaches_the_request_as_seed() -> None:
    with StubServer() as stub:
        w = WRITER.bind(runtime(stub.base_url, structured_output=["json_schema"], extra={"top_p": 0.9}))
        assert w.invoke({"query": "生日", "examples": []}, sample=2).ok
        assert w.invoke({"query": "生日", "examples": []}).ok
        first, second = stub.requests
    assert first["seed"] == 2 and first["top_p"] == 0.9 and first["max_completion_tokens"] == 512
    assert "seed" not in second


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that answers itself and records the absolute-form request target it got."""

    seen: list[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append(self.path)
        data = json.dumps({"choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "经由代理"}}], "model": "proxied"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_proxy_environment_is_honoured(proxy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    m = model("http://llm.inkforge-test.invalid/v1", max_retries=0)
    assert asyncio.run(m.ainvoke("hi")).content == "经由代理"
    assert _Proxy.seen == ["http://llm.inkforge-test.invalid/v1/chat/completions"]
    # NO_PROXY exempts a host: the call then goes straight to the endpoint.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with StubServer() as stub:
        assert model(stub.base_url).invoke("hi").content
        assert stub.stats.chat_requests == 1
    assert len(_Proxy.seen) == 1


def test_unreachable_is_kind_connection_and_not_a_refusal() -> None:
    res = JUDGE.bind(runtime("http://127.0.0.1:9/v1", max_retries=0)).invoke(
        {"query": "q", "response": "r", "positive": "", "negative": ""})
    assert res.status == "error" and "cannot reach" in (res.error or "")
    with pytest.raises(ModelCallError) as err:
        model("http://127.0.0.1:9/v1", max_retries=0).invoke("hi")
    assert err.value.kind == "connection"


def test_one_classifier_for_every_client() -> None:
    req = httpx.Request("POST", "http://x/v1/chat/completions")

    def sdk(cls: type[openai.APIStatusError], code: int, msg: str = "no") -> openai.APIStatusError:
        return cls(msg, response=httpx.Response(code, request=req), body=None)

    assert classify_error(sdk(openai.RateLimitError, 429)) == "rate_limited"
    assert classify_error(sdk(openai.AuthenticationError, 401)) == "auth"
    assert classify_error(sdk(openai.InternalServerError, 503)) == "server"
    assert classify_error(sdk(openai.BadRequestError, 400, "response_format json_schema unsupported")) == "unsupported"
    assert classify_error(openai.APITimeoutError(request=req)) == "timeout"
    assert classify_error(openai.APIConnectionError(request=req)) == "connection"
    assert classify_error(httpx.HTTPStatusError("x", request=req, response=httpx.Response(403, request=req))) == \
        "permission"
    assert classify_error(ConnectionRefusedError()) == "connection"
    assert [kind_for_status(s) for s in (400, 404, 413, 429, 500)] == [
        "bad_request", "not_found", "context_length", "rate_limited", "server"]
