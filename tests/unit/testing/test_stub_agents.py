"""inkforge's own agent stack against the stub's harsher modes: what a kinder stub would hide.

An agent must end every call with a valid typed output or a typed failure (status, raw text, error),
never a default, whichever way the endpoint differs from an ideal one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from inkforge.agents import JUDGE, WRITER, JudgeVerdict
from inkforge.agents.writer import WriterOutput
from inkforge.llm import InkforgeConfig, ModelSpec, Runtime
from inkforge.llm.parsing import ParseError, extract_json
from inkforge.testing.stub import Faults, StubServer

pytestmark = pytest.mark.timeout(120)

TRANSPORTS = ["langchain", "http"]


def runtime(server: StubServer, **spec: Any) -> Runtime:
    cfg = InkforgeConfig(models={"default": ModelSpec(model="stub", base_url=server.base_url, **spec)},
                         cache=None, concurrency=8)
    return Runtime(cfg)


def judge_all(rt: Runtime, n: int) -> list[Any]:
    judge = JUDGE.bind(rt)

    async def go() -> list[Any]:
        return await asyncio.gather(*[judge.ainvoke({"query": f"给第{i}位老师的祝福", "response": "老师辛苦了",
                                                     "positive": "", "negative": ""}) for i in range(n)])

    return asyncio.run(go())


def assert_typed_or_explicit(results: list[Any]) -> None:
    for r in results:
        if r.ok:
            assert isinstance(r.output, JudgeVerdict) and r.error is None
        else:
            assert r.output is None and r.status != "ok" and r.error, r


# ---------------------------------------------------------------------------------- JSON when asked


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_prompt_method_against_json_only_when_asked_recovers_by_parsing_and_reasking(transport: str) -> None:
    with StubServer(faults=Faults(json_answers="when_asked")) as server:
        results = judge_all(runtime(server, structured_output=["prompt"], transport=transport, max_reasks=2), 30)
        bodies = server.requests
    assert_typed_or_explicit(results)
    assert all("response_format" not in b and "tools" not in b for b in bodies)
    # Prose-wrapped JSON is parsed on the first answer; prose alone is re-asked and recovered.
    assert any(r.ok and r.attempts == 1 and not r.raw.lstrip().startswith("{") for r in results)
    assert any(r.ok and r.attempts > 1 for r in results)
    assert sum(r.ok for r in results) >= 25
    assert len(bodies) == sum(r.attempts for r in results)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_prompt_method_without_reasks_fails_typed_on_prose_answers(transport: str) -> None:
    with StubServer(faults=Faults(json_answers="when_asked")) as server:
        results = judge_all(runtime(server, structured_output=["prompt"], transport=transport, max_reasks=0), 30)
    assert_typed_or_explicit(results)
    failed = [r for r in results if not r.ok]
    assert failed and len(failed) < len(results)
    for r in failed:
        assert r.status == "parse_error" and r.attempts == 1 and r.raw
        with pytest.raises(ParseError):
            extract_json(r.raw)  # the answer really held no JSON: nothing was made up


def test_the_always_mode_never_exercises_the_reask_path() -> None:
    """Why the mode exists: against the ideal instruction follower every answer is bare, valid JSON."""
    with StubServer() as server:
        results = judge_all(runtime(server, structured_output=["prompt"], max_reasks=0), 30)
    assert all(r.ok and r.attempts == 1 and r.raw.lstrip().startswith("{") for r in results)


# ---------------------------------------------------------------------------------- rejected formats


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("rejected", "method"), [(("json_schema",), "json_mode"),
                                                  (("json_schema", "json_object"), "prompt")])
def test_rejected_formats_fall_back_once_and_are_remembered(transport: str, rejected: tuple[Any, ...],
                                                            method: str) -> None:
    with StubServer(faults=Faults(reject_formats=rejected, json_answers="when_asked")) as server:
        rt = runtime(server, transport=transport)  # default methods: json_schema → json_mode → prompt
        judge = JUDGE.bind(rt)
        results = [judge.invoke({"query": f"q{i}", "response": "r", "positive": "", "negative": ""})
                   for i in range(4)]
        stats = server.stats
    assert_typed_or_explicit(results)
    assert all(r.ok and r.method == method for r in results)
    # Each rejected method costs one 400, on the first call only.
    assert dict(stats.faults) == {f"reject_{f}": 1 for f in rejected}
    assert stats.by_status[400] == len(rejected)


# --------------------------------------------------------------------------------------- statuses


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("status", "expected"), [(401, "error"), (403, "error"), (404, "error"),
                                                  (429, "rate_limited"), (500, "error"), (502, "error"),
                                                  (503, "error")])
def test_an_endpoint_failing_every_call_gives_typed_failures(transport: str, status: int, expected: str) -> None:
    with StubServer(faults=Faults(status_rates={status: 1.0})) as server:
        results = judge_all(runtime(server, transport=transport, max_retries=0), 3)
    assert [r.status for r in results] == [expected] * 3
    assert all(r.output is None and str(status) in r.error for r in results)


# ---------------------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_writer_samples_repeat_when_deterministic_and_differ_when_varying(transport: str) -> None:
    def candidates(faults: Faults, **spec: Any) -> tuple[list[str], dict[int, int]]:
        with StubServer(faults=faults) as server:
            writer = WRITER.bind(runtime(server, structured_output=["json_schema"], transport=transport, **spec))

            async def go() -> list[Any]:
                return await asyncio.gather(*[writer.ainvoke({"query": "给妈妈的生日祝福", "examples": []},
                                                             sample=i) for i in range(4)])

            results = asyncio.run(go())
            seeds = dict(server.stats.seeds)
        assert all(r.ok and isinstance(r.output, WriterOutput) for r in results)
        return [r.output.text for r in results], seeds

    # Sample i > 0 sends seed i: a writer's candidates are distinct draws even from a deterministic endpoint.
    distinct, seeds = candidates(Faults(sampling="deterministic"))
    assert len(set(distinct)) >= 3 and seeds == {1: 1, 2: 1, 3: 1}
    varied, _ = candidates(Faults(sampling="varying"))
    assert len(set(varied)) >= 3
    # A pinned seed (ModelSpec.extra) offsets them: reproducible, still distinct, and a re-run repeats.
    pinned, seeds = candidates(Faults(sampling="varying"), extra={"seed": 5})
    again, _ = candidates(Faults(sampling="varying"), extra={"seed": 5})
    assert pinned == again and len(set(pinned)) >= 3 and seeds == {5: 1, 6: 1, 7: 1, 8: 1}


# -------------------------------------------------------------------------------------------- echo


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_echoed_api_key_never_reaches_agent_failures(transport: str, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-echoed-secret-0042"
    monkeypatch.setenv("INKFORGE_STUB_TEST_KEY", secret)
    with StubServer(faults=Faults(status_rates={401: 1.0}, echo_request=True)) as server:
        (result,) = judge_all(runtime(server, transport=transport, max_retries=0,
                                      api_key_env="INKFORGE_STUB_TEST_KEY"), 1)
    assert result.status == "error" and "401" in result.error  # the failure itself is reported...
    assert secret not in str(result.to_record())  # ...without the key
