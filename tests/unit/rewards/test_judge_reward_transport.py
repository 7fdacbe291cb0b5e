"""The judge reward on the default http transport: retries, failure statuses, methods, HTTP framing, keys."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from inkforge.core.rubric import Rubric
from inkforge.llm import InkforgeConfig, ModelSpec
from inkforge.llm.transport.http import HttpChatModel
from inkforge.rewards.judge import JudgeReward
from inkforge.testing import Faults, StubServer

GOOD = {"explanation": "具体、真诚", "verdict": "Good"}


def _judge(base_url: str, **spec: Any) -> JudgeReward:
    cfg = InkforgeConfig(models={"default": ModelSpec(model="stub", base_url=base_url, **spec)}, concurrency=8,
                         cache=None)
    return JudgeReward(Rubric.default("greeting"), config=cfg, max_failure_rate=1.0)


def test_http_transport_is_the_default_and_matches_the_langchain_path() -> None:
    with StubServer() as stub:
        direct = _judge(stub.base_url)
        chain = _judge(stub.base_url)
        chain.transport = "langchain"
        completions = [f"谢谢你，祝你生日快乐{i}" for i in range(6)]
        assert direct(prompts=["生日祝福"] * 6, completions=completions) == \
            chain(prompts=["生日祝福"] * 6, completions=completions)
        assert isinstance(direct.runtime.model_for("detector"), HttpChatModel)
        assert not isinstance(chain.runtime.model_for("detector"), HttpChatModel)
        body = stub.requests[0]
        assert body["response_format"]["type"] == "json_schema" and body["max_completion_tokens"] == 512
        direct.close()
        chain.close()


def test_retries_then_succeeds_and_failures_get_their_status() -> None:
    with StubServer(faults=Faults(fail_first_n=2)) as stub:
        judge = _judge(stub.base_url, max_retries=3)
        assert judge(prompts=["p"], completions=["谢谢"])[0] in (0.0, 1.0)
        assert stub.stats.chat_requests == 3  # two 500s, then the answer

        stub.set_faults(Faults(rate_429=1.0))
        judge429 = _judge(stub.base_url, max_retries=1)
        assert judge429(prompts=["p"], completions=["a"]) == [None]
        assert judge429.last_outcomes[0].status == "rate_limited"

        stub.set_faults(Faults(rate_malformed=1.0))  # broken or prose-wrapped JSON: re-asked, never a guess
        assert all(r in (0.0, 1.0, None) for r in judge(prompts=["p"] * 4, completions=["b", "c", "d", "e"]))
        stub.responder = lambda body: "抱歉，我不能用 JSON 回答。"
        stub.set_faults(Faults())
        stub.reset_stats()
        assert judge(prompts=["p"], completions=["f"]) == [None]
        assert judge.last_outcomes[0].status == "parse_error" and judge.last_outcomes[0].raw
        assert stub.stats.chat_requests == 3  # the answer plus max_reasks (2) re-asks
        stub.responder = None

        stub.set_faults(Faults(rate_hang=1.0, hang_s=3.0))
        slow = _judge(stub.base_url, timeout=0.3, max_retries=0)
        assert slow(prompts=["p"], completions=["c"]) == [None]
        assert slow.last_outcomes[0].status == "timeout"
        for j in (judge, judge429, slow):
            j.close()


@pytest.mark.parametrize("method", ["function_calling", "json_mode", "prompt"])
def test_every_structured_output_method(method: str) -> None:
    with StubServer(responder=lambda body: GOOD) as stub:
        judge = _judge(stub.base_url, structured_output=(method,))
        assert judge(prompts=["p"], completions=["谢谢"]) == [1.0]
        body = stub.requests[-1]
        if method == "function_calling":
            assert body["tool_choice"]["function"]["name"] == "DetectorVerdict"
        elif method == "json_mode":
            assert body["response_format"] == {"type": "json_object"}
        else:
            assert "response_format" not in body and "tools" not in body
        judge.close()


def test_api_key_comes_from_the_environment_and_never_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    with StubServer(require_api_key="sk-test-secret-123") as stub:
        monkeypatch.setenv("JUDGE_KEY", "sk-test-secret-123")
        judge = _judge(stub.base_url, api_key_env="JUDGE_KEY")
        assert judge(prompts=["p"], completions=["谢谢"])[0] is not None
        monkeypatch.setenv("JUDGE_KEY", "sk-wrong-key-456")
        wrong = _judge(stub.base_url, api_key_env="JUDGE_KEY")
        assert wrong(prompts=["p"], completions=["x"]) == [None]
        outcome = wrong.last_outcomes[0]
        assert outcome.status == "error" and "401" in (outcome.error or "") and "JUDGE_KEY" in (outcome.error or "")
        assert "sk-wrong-key-456" not in json.dumps(outcome.to_record())
        judge.close()
        wrong.close()


class _Picky(BaseHTTPRequestHandler):
    """Rejects json_schema like an endpoint without structured outputs; answers chunked + gzip."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if (body.get("response_format") or {}).get("type") == "json_schema":
            data = json.dumps({"error": {"message": "response_format json_schema is not supported"}}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        answer = {"choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": json.dumps(GOOD, ensure_ascii=False)}}],
                  "usage": {"prompt_tokens": 10, "completion_tokens": 5}, "model": "picky"}
        data = gzip.compress(json.dumps(answer).encode())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, len(data), 7):
            piece = data[i:i + 7]
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def picky() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Picky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_unsupported_method_falls_back_and_chunked_gzip_answers_parse(picky: str) -> None:
    judge = _judge(picky, structured_output=("json_schema", "json_mode"))
    assert judge(prompts=["p"] * 3, completions=["谢谢", "谢谢你", "谢谢您"]) == [1.0, 1.0, 1.0]
    assert "json_schema" in next(iter(judge.runtime.rejected_methods.values()))
    usage = judge.runtime.usage.as_dict()["totals"]
    assert usage["input_tokens"] >= 30 and usage["failed"] == 0
    judge.close()


def test_unreachable_endpoint_is_an_error_not_a_refusal() -> None:
    judge = _judge("http://127.0.0.1:9/v1", max_retries=0)
    assert judge(prompts=["p"], completions=["x"]) == [None]
    assert judge.last_outcomes[0].status == "error" and "cannot reach" in (judge.last_outcomes[0].error or "")
    judge.close()
    assert judge(prompts=["p"], completions=["y"]) == [None]  # usable again after close()
    judge.close()


def test_specs_the_http_transport_declines() -> None:
    assert not HttpChatModel.supports(ModelSpec(model="m", extra={"streaming": True}))
    assert HttpChatModel.supports(ModelSpec(model="m", extra={"top_p": 0.9, "seed": 1}))
    with pytest.raises(ValueError):
        HttpChatModel(spec=ModelSpec(provider="local", model="x"))
    assert JudgeReward(Rubric.default("greeting"), transport="direct").transport == "http"  # the old name
