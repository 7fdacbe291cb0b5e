"""serve-reward as a command and as replicas: round robin and failover in the client, a global judge limit,
the refusal to start unsafely, and the trainers' own calls (OpenRLHF's HTTP client, verl's reward loader)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inkforge.cli.app import app
from inkforge.core.errors import ConfigError
from inkforge.core.rubric import Rubric
from inkforge.llm import InkforgeConfig, ModelSpec, Runtime
from inkforge.rewards.judge import JudgeReward
from inkforge.rewards.outcomes import JudgeOutcome, ScoreBatch
from inkforge.rewards.serving import RemoteJudgeReward, RewardServer
from inkforge.rewards.serving.server import replica_concurrency
from inkforge.testing import FakeChatModel

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[3]
CHAT = "<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"


class CountingJudge:
    """A judge model that counts its calls and the most it saw in flight at once."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.in_flight = 0
        self.peak = 0
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, messages: list[Any], schema: Any) -> dict[str, str]:
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(self.delay)
        with self.lock:
            self.in_flight -= 1
        return {"explanation": "好", "verdict": "Good"}


def _unwrapped(text: str) -> str:
    """Text without whitespace: rich wraps a long line to the terminal width, even inside a path."""
    return "".join(text.split())


def replica(counter: CountingJudge, concurrency: int = 8) -> JudgeReward:
    return JudgeReward(Rubric.default("greeting"),
                       runtime=Runtime.for_testing(FakeChatModel(responder=counter), concurrency=concurrency))


def test_the_client_takes_replicas_in_turn_and_fails_over() -> None:
    a, b = CountingJudge(), CountingJudge()
    ja, jb = replica(a), replica(b)
    sa, sb = RewardServer(ja).start(), RewardServer(jb).start()
    try:
        remote = RemoteJudgeReward(f"{sa.url}/score,{sb.url}", max_retries=1, timeout=10)
        assert remote.urls == [sa.url, sb.url]
        for i in range(6):
            assert remote(prompts=["生日祝福"], completions=[f"生日快乐{i}"]) == [1.0]
        assert (a.calls, b.calls) == (3, 3)  # one batch each, in turn
        sb.stop()
        for i in range(4):  # replica b is down: its turns fail over to a at once
            assert remote(prompts=["生日祝福"], completions=[f"新年快乐{i}"]) == [1.0]
        assert a.calls == 7
        sa.stop()
        with pytest.raises(ConnectionError, match="unreachable after 2 attempts"):
            remote(prompts=["生日祝福"], completions=["中秋快乐"])
    finally:
        sa.stop()
        sb.stop()
        ja.close()
        jb.close()


def test_replicas_share_one_global_judge_limit() -> None:
    assert replica_concurrency(64, 4) == 16 and replica_concurrency(10, 3) == 3 and replica_concurrency(3, 8) == 1
    with pytest.raises(ConfigError):
        replica_concurrency(0, 2)
    # Two replicas at 4 each, 16 concurrent batches through a round-robin client: the judge endpoint
    # (one model, async latency, so calls really overlap on each server's event loop) never sees more
    # than the global 8 in flight, and both replicas work at once.
    shared = FakeChatModel(responder=lambda m, s: {"explanation": "好", "verdict": "Good"}, latency=0.05)
    judges = [JudgeReward(Rubric.default("greeting"),
                          runtime=Runtime.for_testing(shared, concurrency=replica_concurrency(8, 2)))
              for _ in range(2)]
    servers = [RewardServer(j, replicas=2).start() for j in judges]
    try:
        remote = RemoteJudgeReward([s.url for s in servers], timeout=30)
        threads = [threading.Thread(target=remote, kwargs={"prompts": ["生日祝福"] * 4,
                                                           "completions": [f"快乐{i}-{k}" for k in range(4)]})
                   for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(shared.calls) == 64
        assert 4 < shared.peak_concurrency <= 8
        health = json.loads(urllib.request.urlopen(servers[0].url + "/health").read())
        assert health["replicas"] == 2
    finally:
        for s in servers:
            s.stop()
        for j in judges:
            j.close()


# --------------------------------------------------------------------------------------- the CLI


@pytest.fixture
def rubric(tmp_path: Path) -> Path:
    path = tmp_path / "rubric.json"
    Rubric.default("greeting").save(path)
    return path


def cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, ["serve-reward", *args], env=env)


def test_serve_reward_refuses_a_network_address_without_a_token(rubric: Path) -> None:
    result = cli("--rubric", str(rubric), "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--host", "0.0.0.0")
    assert result.exit_code == 2
    text = _unwrapped(result.output)
    assert _unwrapped("refusing to serve on 0.0.0.0 without a bearer token") in text and "--auth-token-env" in text
    result = cli("--rubric", str(rubric), "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--host", "0.0.0.0",
                 "--auth-token-env", "INKFORGE_TEST_UNSET_TOKEN", env={"INKFORGE_TEST_UNSET_TOKEN": ""})
    assert result.exit_code == 2 and _unwrapped("INKFORGE_TEST_UNSET_TOKEN is not set") in _unwrapped(result.output)
    result = cli("--rubric", str(rubric), "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--replicas", "2")
    assert result.exit_code == 2 and _unwrapped("pass --concurrency") in _unwrapped(result.output)


def test_serve_reward_on_a_port_in_use_is_one_line_and_non_zero(rubric: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = cli("--rubric", str(rubric), "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
                     "--port", str(port))
    assert result.exit_code == 2
    assert "Traceback" not in result.output and result.output.count("error:") == 1  # one message (rich may wrap it)
    assert _unwrapped(f"port {port} on 127.0.0.1 is in use") in _unwrapped(result.output)


def _start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "inkforge.cli", "serve-reward", *args], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO), **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        m = re.search(r"on (http://127\.0\.0\.1:\d+)", seen)
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"serve-reward did not start: {seen}")


def test_serve_reward_process_with_replicas_and_a_token_stays_quiet(rubric: Path) -> None:
    """The real command: a share of the global limit, bearer auth, and bad traffic without tracebacks."""
    from inkforge.testing.stub import StubServer

    token = "replica-token-0123456789"
    with StubServer() as stub, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        proc, url = _start(["--rubric", str(rubric), "--base-url", stub.base_url, "--model", "stub",
                            "--cache", "none", "--concurrency", "12", "--replicas", "3", "--port", str(port),
                            "--auth-token-env", "INKFORGE_TEST_SERVE_TOKEN", "--read-timeout", "0.5"],
                           {"INKFORGE_TEST_SERVE_TOKEN": token})
        try:
            auth = {"Authorization": f"Bearer {token}"}
            health = json.loads(urllib.request.urlopen(urllib.request.Request(url + "/health", headers=auth)).read())
            assert health["concurrency"] == 4 and health["replicas"] == 3 and health["global_concurrency"] == 12
            for body in (b"{", b'{"prompts": ' + b"[" * 5000 + b"]" * 5000 + b"}", b"[]"):
                req = urllib.request.Request(url + "/score", data=body, method="POST",
                                             headers={**auth, "Content-Type": "application/json"})
                with pytest.raises(urllib.error.HTTPError) as err:
                    urllib.request.urlopen(req)
                assert err.value.code == 400
            with socket.create_connection(("127.0.0.1", port)) as s:  # a stalled request: 408 after 0.5 s
                s.sendall(b"POST /score HTTP/1.1\r\n")
                assert b" 408 " in s.recv(4096)
            os.environ["INKFORGE_REWARD_TOKEN"] = token
            try:
                assert RemoteJudgeReward(url)(prompts=["生日祝福"], completions=["生日快乐！"])[0] in (0.0, 1.0)
            finally:
                del os.environ["INKFORGE_REWARD_TOKEN"]
        finally:
            proc.terminate()
            _, err_text = proc.communicate(timeout=30)
    assert "Traceback" not in err_text
    assert token not in err_text


# ------------------------------------------------------------------------ the trainers' own calls


@pytest.fixture
def server() -> Any:
    judge = replica(CountingJudge())
    with RewardServer(judge) as srv:
        yield srv
    judge.close()


def test_openrlhf_remote_rm_url_protocol_as_its_client_sends_it(server: RewardServer) -> None:
    """What OpenRLHF's remote reward client does: requests.post(json=...) and read 'rewards' (and newer
    versions 'scores' and 'extra_logs') from the answer."""
    requests = pytest.importorskip("requests")
    prompts = [CHAT.format(q="生日祝福"), CHAT.format(q="新年祝福")]
    data = {"query": [p + "祝你快乐！<|im_end|>" for p in prompts], "prompts": prompts, "labels": ["生日祝福", "新年祝福"]}
    response = requests.post(url=server.url + "/get_reward", json=data, headers={"Content-Type": "application/json"},
                             timeout=180)
    response.raise_for_status()
    answer = response.json()
    assert answer["rewards"] == [1.0, 1.0] and answer["scores"] == [1.0, 1.0]
    assert answer["extra_logs"]["judge_failed"] == [0.0, 0.0]


def _load_by_path(path: str, name: str) -> Any:
    # How verl loads custom_reward_function.path (and OpenRLHF a --remote_rm_url .py file): by file path.
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_verl_reward_file_called_the_way_verl_calls_it(server: RewardServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    import inkforge.rewards.verl as verl_module

    monkeypatch.setenv("INKFORGE_REWARD_URL", server.url)
    verl = _load_by_path(verl_module.__file__, "custom_module_under_test")
    # The batch reward manager: keyword arguments holding numpy object arrays.
    rows = verl.compute_score_batch(data_sources=np.array(["greeting"] * 2, dtype=object),
                                    solution_strs=["生日快乐！", "新年快乐！"],
                                    ground_truths=np.array([None, None], dtype=object),
                                    extra_infos=np.array([{"query": "生日祝福"}, {"query": "新年祝福"}], dtype=object))
    assert [r["score"] for r in rows] == [1.0, 1.0] and all(r["judge_failed"] == 0.0 for r in rows)
    # The naive reward manager: one keyword call per sample.
    one = verl.compute_score(data_source="greeting", solution_str="中秋快乐！", ground_truth="中秋祝福",
                             extra_info={"index": 3})
    assert one["score"] == 1.0 and one["judge_failed"] == 0.0


def test_openrlhf_reward_file_loaded_by_path(server: RewardServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import inkforge.rewards.openrlhf as openrlhf_module

    monkeypatch.setenv("INKFORGE_REWARD_URL", server.url)
    module = _load_by_path(openrlhf_module.__file__, "openrlhf_reward_under_test")
    prompt = CHAT.format(q="生日祝福")
    out = module.reward_func([prompt + "生日快乐！<|im_end|>"], [prompt], ["生日祝福"])
    assert list(out["rewards"]) == [1.0]


class LeakyOutcomeJudge(JudgeReward):
    """Returns an outcome whose error quotes the configured key, as a gateway echo would."""

    async def ascore_batch(self, prompts: Any, completions: Any, **kw: Any) -> ScoreBatch:
        key = os.environ["INKFORGE_TEST_LEAKY_KEY"]
        return ScoreBatch([JudgeOutcome(status="error", error=f"401 from gateway: you sent {key}")
                           for _ in completions], {"n": len(completions)})

    def check_failures(self, batch: ScoreBatch) -> None:
        return None


def test_the_server_redacts_outcome_errors_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "plainvalue0123456789"  # no key shape: only knowing the configured variable removes it
    monkeypatch.setenv("INKFORGE_TEST_LEAKY_KEY", key)
    cfg = InkforgeConfig(models={"default": ModelSpec(model="m", base_url="http://127.0.0.1:9/v1",
                                                      api_key_env="INKFORGE_TEST_LEAKY_KEY")}, cache=None)
    judge = LeakyOutcomeJudge(Rubric.default("greeting"), config=cfg)
    with RewardServer(judge) as srv:
        req = urllib.request.Request(srv.url + "/score", data=json.dumps({"prompts": ["p"], "completions": ["c"]}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        out = json.loads(urllib.request.urlopen(req).read())
    assert out["outcomes"][0]["error"] == "401 from gateway: you sent [redacted]"
