"""``inkforge stub`` (the one command line of the stub) and StubProcess, which starts it in a child process."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from inkforge.cli import stub as stub_cli
from inkforge.cli.app import app
from inkforge.testing.stub import Faults, StubProcess, StubServer
from inkforge.testing.stub.process import cli_args

pytestmark = pytest.mark.timeout(90)

#: Every field away from its default, so the round trip below covers each flag.
EVERYTHING = Faults(
    latency_s=0.25, jitter_s=0.5, rate_429=0.05, rate_500=0.05, rate_hang=0.05, hang_s=2.5, hang_mode="late",
    rate_malformed=0.05, rate_bad_body=0.05, fail_first_n=2, seed=9, status_rates={401: 0.1, 503: 0.2},
    retry_after_s=4, sampling="varying", json_answers="when_asked", reject_formats=("json_schema", "tools"),
    echo_request=True,
)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[StubServer]:
    """Runs ``inkforge stub`` in-process without serving: the built servers are collected here."""
    servers: list[StubServer] = []

    def capture(server: StubServer) -> None:
        servers.append(server)
        server.server_close()

    monkeypatch.setattr(stub_cli, "_serve", capture)
    return servers


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, ["stub", *args], env=env)


def test_every_faults_field_has_a_flag_and_round_trips(served: list[StubServer]) -> None:
    default = Faults()
    unset = [f.name for f in dataclasses.fields(Faults) if getattr(EVERYTHING, f.name) == getattr(default, f.name)]
    assert unset == [], f"give these a non-default value in EVERYTHING: {unset}"
    result = invoke("--port", "0", "--model", "a", "--model", "b", *cli_args(EVERYTHING))
    assert result.exit_code == 0, result.output
    (server,) = served
    assert server.faults == EVERYTHING
    assert server.models == ("a", "b") and server.port > 0


def test_defaults_are_the_faults_defaults(served: list[StubServer]) -> None:
    assert invoke("--port", "0").exit_code == 0
    assert served[0].faults == Faults() and served[0].models == ("stub",) and served[0].require_api_key is None
    assert cli_args(Faults()) == []


def test_help_lists_every_option() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for flag in {a for a in cli_args(EVERYTHING) if a.startswith("--")} | {"--host", "--port", "--model",
                                                                           "--api-key-env"}:
        assert flag in result.output, flag


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-status", "abc"], "CODE or CODE=SHARE"),
        (["--fail-status", "200"], "HTTP error status"),
        (["--rate-429", "0.6", "--rate-500", "0.6"], "sum to at most 1"),
        (["--api-key-env", "INKFORGE_TEST_UNSET_KEY"], "INKFORGE_TEST_UNSET_KEY"),
    ],
)
def test_bad_values_exit_2_naming_the_problem(served: list[StubServer], args: list[str], message: str) -> None:
    result = invoke("--port", "0", *args)
    assert result.exit_code == 2 and message in result.output and served == []


def test_choices_are_checked_by_the_parser(served: list[StubServer]) -> None:
    for args in (["--sampling", "random"], ["--json-answers", "never"], ["--reject-format", "xml"],
                 ["--hang-mode", "slow"], ["--rate-hang", "1.5"]):
        assert invoke("--port", "0", *args).exit_code == 2, args
    assert served == []


def test_api_key_comes_from_the_named_variable(served: list[StubServer]) -> None:
    result = invoke("--port", "0", "--api-key-env", "STUB_TEST_KEY", env={"STUB_TEST_KEY": "sk-from-env"})
    assert result.exit_code == 0 and served[0].require_api_key == "sk-from-env"
    assert "sk-from-env" not in result.output


def test_parse_status_rates() -> None:
    assert stub_cli.parse_status_rates(["503", "429=0.25", "401=1"]) == {503: 1.0, 429: 0.25, 401: 1.0}


# ------------------------------------------------------------------------------------------ StubProcess


def test_stub_process_serves_its_faults_from_a_child_process() -> None:
    faults = Faults(status_rates={503: 1.0}, retry_after_s=2, echo_request=True)
    with StubProcess(faults=faults, models=("judge",)) as stub, httpx.Client(trust_env=False, timeout=10) as c:
        assert stub.proc.poll() is None and stub.base_url == f"http://127.0.0.1:{stub.port}/v1"
        assert [m["id"] for m in c.get(f"{stub.base_url}/models").json()["data"]] == ["judge"]
        resp = c.post(f"{stub.base_url}/chat/completions", json={"messages": [{"role": "user", "content": "x"}]},
                      headers={"Authorization": "Bearer sk-child"})
        assert resp.status_code == 503 and resp.headers["retry-after"] == "2" and "sk-child" in resp.text
    assert stub.proc.returncode is not None
    assert "served 2 requests" in stub.output and "503: 1" in stub.output
    stub.stop()  # idempotent


def test_stub_process_latency_shorthand() -> None:
    with StubProcess(0.05) as stub:
        assert stub.faults == Faults(latency_s=0.05)
        resp = httpx.post(f"{stub.base_url}/chat/completions", trust_env=False, timeout=10,
                          json={"messages": [{"role": "user", "content": "x"}]})
        assert resp.status_code == 200


def test_stub_process_reports_a_child_that_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(RuntimeError, match="did not start"):
        StubProcess(timeout=10)
