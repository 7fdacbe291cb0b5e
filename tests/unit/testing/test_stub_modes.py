"""The stub's behaviour modes, over real HTTP (httpx and the OpenAI SDK): sampling, JSON only when asked,
rejected response formats, all-failing statuses, echoing error bodies, and what StubStats records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, Field

from inkforge.llm.parsing import ParseError, extract_json
from inkforge.testing.stub import Faults, StubServer

pytestmark = pytest.mark.timeout(60)


class Verdict(BaseModel):
    label: Literal[0, 1]
    reason: str = Field(min_length=4, max_length=40)


class Review(BaseModel):
    title: str = Field(max_length=12)
    mood: Literal["warm", "formal", "playful"]
    score: int = Field(ge=1, le=5)
    notes: list[str] = Field(min_length=1, max_length=3)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c


def chat(client: httpx.Client, server: StubServer, content: str = "写一句新年祝福", *,
         headers: dict[str, str] | None = None, **extra: Any) -> httpx.Response:
    body = {"model": "stub", "messages": [{"role": "user", "content": content}], **extra}
    return client.post(f"{server.base_url}/chat/completions", json=body, headers=headers)


def content_of(resp: httpx.Response, index: int = 0) -> str:
    assert resp.status_code == 200, resp.text
    return resp.json()["choices"][index]["message"]["content"]


def schema_format(model: type[BaseModel]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": model.model_json_schema()}}


def prompt_with_schema(model: type[BaseModel], question: str = "请评价这条祝福：新年快乐") -> str:
    """A plain prompt that only describes the JSON it wants, as inkforge's `prompt` method writes it."""
    schema = json.dumps(model.model_json_schema(), ensure_ascii=False)
    return f"{question}\n\nOutput format: reply with one JSON object only that validates against this JSON schema:\n{schema}"


FORCED_TOOL = {
    "tools": [{"type": "function", "function": {"name": "Verdict", "parameters": Verdict.model_json_schema()}}],
    "tool_choice": {"type": "function", "function": {"name": "Verdict"}},
}


# -------------------------------------------------------------------------------------------- sampling


def test_deterministic_mode_answers_an_equal_body_equally_in_every_format(client):
    with StubServer(faults=Faults(sampling="deterministic")) as srv:
        for extra in ({}, {"response_format": schema_format(Review)}, FORCED_TOOL, {"seed": 11}):
            first = chat(client, srv, "同一个请求", **extra).json()["choices"][0]["message"]
            for _ in range(4):
                again = chat(client, srv, "同一个请求", **extra).json()["choices"][0]["message"]
                assert again["content"] == first["content"]
                assert again.get("tool_calls") == first.get("tool_calls")
        # The request's seed is part of the body: another seed is another answer.
        by_seed = {content_of(chat(client, srv, "同一个请求", seed=s)) for s in range(8)}
        assert len(by_seed) >= 6


def test_varying_mode_differs_per_call_unless_the_request_pins_a_seed(client):
    with StubServer(faults=Faults(sampling="varying")) as srv:
        texts = [content_of(chat(client, srv, "同一个请求")) for _ in range(12)]
        assert len(set(texts)) >= 10
        moods = {json.loads(content_of(chat(client, srv, "同一个请求", response_format=schema_format(Review))))["mood"]
                 for _ in range(20)}
        assert moods == {"warm", "formal", "playful"}
        # Same seed, same answer (OpenAI's seed contract); another seed, another answer.
        pinned = {content_of(chat(client, srv, "同一个请求", seed=5)) for _ in range(5)}
        assert len(pinned) == 1
        assert pinned != {content_of(chat(client, srv, "同一个请求", seed=6))}
        # Every generated answer is still valid for its schema.
        for _ in range(5):
            Review.model_validate_json(content_of(chat(client, srv, "x", response_format=schema_format(Review))))


def test_varying_answers_are_reproducible_per_server_seed_and_do_not_shift_the_fault_sequence(client):
    def run(sampling: Literal["deterministic", "varying"], seed: int) -> tuple[list[int], list[str]]:
        with StubServer(faults=Faults(rate_429=0.3, rate_500=0.2, seed=seed, sampling=sampling)) as srv:
            replies = [chat(client, srv, "同一个请求") for _ in range(20)]
        return [r.status_code for r in replies], [r.json()["choices"][0]["message"]["content"]
                                                 for r in replies if r.status_code == 200]

    statuses, answers = run("varying", 3)
    assert run("varying", 3) == (statuses, answers)
    assert run("deterministic", 3)[0] == statuses  # the answer draws use their own generator
    assert len(set(answers)) > 1 and len(set(run("deterministic", 3)[1])) == 1


@pytest.mark.parametrize("sampling", ["deterministic", "varying"])
def test_n_choices_are_distinct_where_the_schema_leaves_room(client, sampling):
    with StubServer(faults=Faults(sampling=sampling)) as srv:
        data = chat(client, srv, "四个候选", n=4).json()
        texts = [c["message"]["content"] for c in data["choices"]]
        assert [c["index"] for c in data["choices"]] == [0, 1, 2, 3] and len(set(texts)) == 4
        verdicts = chat(client, srv, "判定", n=2, response_format=schema_format(Verdict)).json()["choices"]
        parsed = [Verdict.model_validate_json(c["message"]["content"]) for c in verdicts]
        assert parsed[0] != parsed[1]
        # No room at all (a constant): n identical choices, not an error.
        const = {"type": "json_schema", "json_schema": {"name": "C", "schema": {"const": 1}}}
        assert [c["message"]["content"] for c in chat(client, srv, "c", n=3, response_format=const).json()["choices"]
                ] == ["1", "1", "1"]
        assert chat(client, srv, n=17).status_code == 400


def test_stats_record_seeds_n_formats_statuses_and_concurrency(client):
    with StubServer() as srv:
        chat(client, srv, seed=7)
        chat(client, srv, seed=7, n=2)
        chat(client, srv, seed=8, response_format=schema_format(Verdict))
        chat(client, srv, response_format={"type": "json_object"})
        chat(client, srv, **FORCED_TOOL)
        stats = srv.stats
        assert dict(stats.seeds) == {7: 2, 8: 1}
        assert dict(stats.n) == {1: 4, 2: 1}
        assert dict(stats.formats) == {"text": 2, "json_schema": 1, "json_object": 1, "tool": 1}
        assert dict(stats.by_status) == {200: 5} and stats.chat_requests == 5 and stats.max_concurrency == 1
        srv.reset_stats()
        assert srv.stats.seeds == {} and srv.stats.n == {} and srv.stats.formats == {}


# ----------------------------------------------------------------------------------- JSON when asked


def test_always_mode_answers_a_schema_described_in_the_prompt_with_a_bare_instance(client):
    with StubServer() as srv:  # today's default: an ideal instruction follower
        assert srv.faults.json_answers == "always"
        for i in range(5):
            Review.model_validate_json(content_of(chat(client, srv, prompt_with_schema(Review, f"评价 {i}"))))


def test_when_asked_mode_answers_plain_prompts_with_prose_or_prose_wrapped_json(client):
    with StubServer(faults=Faults(json_answers="when_asked")) as srv:
        shapes = []
        for i in range(30):
            text = content_of(chat(client, srv, prompt_with_schema(Review, f"评价第{i}条")))
            with pytest.raises(ValueError):
                json.loads(text)  # never the bare document a parser-free client would accept
            try:
                Review.model_validate(extract_json(text))  # the JSON inside, when any, is valid
            except ParseError:
                shapes.append("prose")
                continue
            shapes.append("fenced" if "```json" in text else "inline")
        assert set(shapes) == {"prose", "fenced", "inline"}


def test_when_asked_mode_still_gives_json_to_requests_that_ask_for_it(client):
    with StubServer(faults=Faults(json_answers="when_asked")) as srv:
        Review.model_validate_json(content_of(chat(client, srv, "评价", response_format=schema_format(Review))))
        # json_object with the schema in the prompt (inkforge's json_mode): the instance, bare.
        asked = chat(client, srv, prompt_with_schema(Review), response_format={"type": "json_object"})
        Review.model_validate_json(content_of(asked))
        assert set(json.loads(content_of(chat(client, srv, response_format={"type": "json_object"})))) == {"text"}
        call = chat(client, srv, prompt_with_schema(Verdict), **FORCED_TOOL).json()["choices"][0]["message"]
        Verdict.model_validate_json(call["tool_calls"][0]["function"]["arguments"])
        # A plain prompt without any schema is prose in both modes.
        assert not content_of(chat(client, srv, "写一句祝福")).startswith("{")


# ----------------------------------------------------------------------------------- rejected formats


def test_rejected_json_schema_gets_a_400_naming_response_format(client):
    with StubServer(faults=Faults(reject_formats=("json_schema",))) as srv:
        resp = chat(client, srv, response_format=schema_format(Verdict))
        assert resp.status_code == 400
        error = resp.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == "response_format"
        assert "response_format" in error["message"] and "json_schema" in error["message"]
        # Other ways of asking still work: the client can fall back.
        assert chat(client, srv, response_format={"type": "json_object"}).status_code == 200
        assert chat(client, srv, **FORCED_TOOL).status_code == 200
        assert chat(client, srv).status_code == 200
        assert dict(srv.stats.faults) == {"reject_json_schema": 1}
        assert dict(srv.stats.by_status) == {400: 1, 200: 3}


def test_rejected_json_object_and_tools(client):
    with StubServer(faults=Faults(reject_formats=("json_object", "tools"))) as srv:
        assert chat(client, srv, response_format={"type": "json_object"}).status_code == 400
        tools = chat(client, srv, **FORCED_TOOL)
        assert tools.status_code == 400 and tools.json()["error"]["param"] == "tools"
        assert chat(client, srv, tools=FORCED_TOOL["tools"], tool_choice="auto").status_code == 400
        assert chat(client, srv, response_format=schema_format(Verdict)).status_code == 200
        assert dict(srv.stats.faults) == {"reject_json_object": 1, "reject_tools": 2}


def test_the_openai_sdk_sees_a_rejected_format_as_bad_request():
    openai = pytest.importorskip("openai")
    with StubServer(faults=Faults(reject_formats=("json_schema",))) as srv:
        sdk = openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0,
                            http_client=httpx.Client(trust_env=False))
        with pytest.raises(openai.BadRequestError, match="response_format"):
            sdk.chat.completions.create(model="stub", messages=[{"role": "user", "content": "x"}],
                                        response_format=schema_format(Verdict))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (400, "invalid_request_error", None),
        (401, "authentication_error", "invalid_api_key"),
        (403, "permission_error", "permission_denied"),
        (404, "invalid_request_error", "model_not_found"),
        (429, "rate_limit_error", "rate_limit_exceeded"),
        (500, "server_error", None),
        (503, "server_error", "service_unavailable"),
    ],
)
def test_every_chat_call_answers_the_given_status_with_an_openai_error_body(client, status, kind, code):
    with StubServer(faults=Faults(status_rates={status: 1.0}, retry_after_s=3)) as srv:
        for _ in range(3):
            resp = chat(client, srv)
            assert resp.status_code == status
            error = resp.json()["error"]
            assert (error["type"], error["code"]) == (kind, code) and "injected by inkforge stub" in error["message"]
            assert resp.headers.get("retry-after") == ("3" if status in (429, 503) else None)
        assert dict(srv.stats.faults) == {f"status_{status}": 3} and dict(srv.stats.by_status) == {status: 3}
        # Only chat calls fail: GET /v1/models, which StubProcess and health checks use, still answers.
        assert client.get(f"{srv.base_url}/models").status_code == 200


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_statuses_answer_with_a_proxy_html_page(client, status):
    with StubServer(faults=Faults(status_rates={status: 1.0})) as srv:
        resp = chat(client, srv)
        assert resp.status_code == status and resp.headers["content-type"] == "text/html"
        assert f"<title>{status} " in resp.text
        with pytest.raises(json.JSONDecodeError):
            resp.json()


def test_a_share_of_calls_answers_the_status_reproducibly(client):
    def statuses(seed: int) -> list[int]:
        with StubServer(faults=Faults(status_rates={503: 0.3, 401: 0.1}, seed=seed)) as srv:
            return [chat(client, srv).status_code for _ in range(60)]

    first = statuses(4)
    assert first == statuses(4)
    assert 8 <= first.count(503) <= 30 and 1 <= first.count(401) <= 14 and first.count(200) >= 25
    assert set(first) == {200, 401, 503}


def test_the_openai_sdk_classifies_injected_statuses():
    openai = pytest.importorskip("openai")
    expected = {401: openai.AuthenticationError, 403: openai.PermissionDeniedError, 404: openai.NotFoundError,
                429: openai.RateLimitError, 500: openai.InternalServerError, 503: openai.InternalServerError,
                502: openai.InternalServerError}
    for status, error in expected.items():
        with StubServer(faults=Faults(status_rates={status: 1.0})) as srv:
            sdk = openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0,
                                http_client=httpx.Client(trust_env=False))
            with pytest.raises(error) as info:
                sdk.chat.completions.create(model="stub", messages=[{"role": "user", "content": "x"}])
            assert info.value.status_code == status


def test_status_rates_are_validated_and_frozen():
    with pytest.raises(ValueError, match="HTTP error status"):
        Faults(status_rates={200: 1.0})
    with pytest.raises(ValueError, match="HTTP error status"):
        Faults(status_rates={600: 0.1})
    with pytest.raises(ValueError, match="sum"):
        Faults(rate_500=0.5, status_rates={503: 0.6})
    with pytest.raises(ValueError):
        Faults(status_rates={503: 1.5})
    with pytest.raises(ValueError):
        Faults(retry_after_s=-1)
    for bad in ({"sampling": "random"}, {"json_answers": "never"}, {"reject_formats": ("xml",)}):
        with pytest.raises(ValueError):
            Faults(**bad)
    rates = {503: 0.5}
    faults = Faults(status_rates=rates)
    rates[503] = 1.0  # the caller's dict is copied: the faults in force cannot change behind the drawer
    assert dict(faults.status_rates) == {503: 0.5}
    with pytest.raises(TypeError):
        faults.status_rates[503] = 1.0  # type: ignore[index]
    assert hash(faults) == hash(Faults(status_rates={503: 0.5})) and faults == Faults(status_rates={503: 0.5})


# -------------------------------------------------------------------------------------------- echo


def test_echo_request_puts_the_bearer_token_and_the_body_into_error_messages(client):
    secret = "sk-live-echo-4242"
    auth = {"Authorization": f"Bearer {secret}"}
    with StubServer(faults=Faults(status_rates={401: 1.0}, echo_request=True)) as srv:
        resp = chat(client, srv, "回显的请求", headers=auth)
        assert resp.status_code == 401
        message = resp.json()["error"]["message"]
        assert f"Bearer {secret}" in message and "回显的请求" in message
    with StubServer(faults=Faults(status_rates={502: 1.0}, echo_request=True)) as srv:
        assert secret in chat(client, srv, headers=auth).text  # the HTML page of a leaky proxy too
    with StubServer(require_api_key="sk-right", faults=Faults(echo_request=True)) as srv:
        wrong = chat(client, srv, headers=auth)
        assert wrong.status_code == 401 and secret in wrong.json()["error"]["message"]


def test_without_echo_no_error_body_contains_the_key(client):
    secret = "sk-live-echo-4242"
    for status in (400, 401, 403, 429, 500, 502, 503):
        with StubServer(faults=Faults(status_rates={status: 1.0})) as srv:
            resp = chat(client, srv, "请求正文", headers={"Authorization": f"Bearer {secret}"})
            assert resp.status_code == status and secret not in resp.text and "请求正文" not in resp.text
