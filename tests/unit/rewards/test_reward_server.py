"""serve-reward: the HTTP endpoints, the client reward, and the verl / OpenRLHF adapters calling through."""

from __future__ import annotations

import json
import pickle
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from inkforge.core.errors import FailFastError
from inkforge.core.rubric import Rubric
from inkforge.llm import Runtime
from inkforge.rewards.judge import JudgeReward
from inkforge.rewards.serving import RemoteJudgeReward, RewardServer, split_openrlhf
from inkforge.testing import FakeChatModel

CHAT = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"


def _verdict(messages: list[Any], schema: Any) -> Any:
    """Good iff the candidate thanks someone; unparseable when it contains 坏."""
    user = "\n".join(str(m.content) for m in messages)  # re-asks append turns: read the whole chat
    candidate = user.split("候选祝福语：", 1)[1].split("评审准则", 1)[0]
    if "坏" in candidate:
        return "I cannot answer in JSON"
    return {"explanation": "检查", "verdict": "Good" if "谢谢" in candidate else "Bad"}


@pytest.fixture
def server() -> Iterator[RewardServer]:
    fake = FakeChatModel(responder=_verdict)
    judge = JudgeReward(Rubric.default("greeting"), runtime=Runtime.for_testing(fake, concurrency=8),
                        max_failure_rate=0.5)
    with RewardServer(judge) as srv:
        yield srv
    judge.close()


def _post(url: str, body: Any) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_split_openrlhf_samples() -> None:
    prompt = CHAT.format(q="给老师的祝福")
    assert split_openrlhf(prompt + "谢谢老师！<|im_end|>", prompt) == ("给老师的祝福", "谢谢老师！")
    # The label carries the bare request (--label_key query), or a JSON object with it.
    assert split_openrlhf(prompt + "好", prompt, "教师节祝福")[0] == "教师节祝福"
    assert split_openrlhf(prompt + "好", prompt, json.dumps({"query": "教师节"}))[0] == "教师节"
    # Old OpenRLHF sends no prompts: the last assistant turn is the completion.
    assert split_openrlhf(prompt + "谢谢您<|im_end|>") == ("给老师的祝福", "谢谢您")


def test_get_reward_speaks_openrlhf_and_imputes_failures_visibly(server: RewardServer) -> None:
    prompts = [CHAT.format(q="给妈妈的生日祝福")] * 3 + [CHAT.format(q="同事升职")]
    responses = ["妈妈，谢谢您！<|im_end|>", "生日快乐<|im_end|>", "坏<|im_end|>", "谢谢你的帮助，恭喜！"]
    status, out = _post(server.url + "/get_reward", {"query": [p + r for p, r in zip(prompts, responses, strict=True)],
                                                     "prompts": prompts, "labels": [None] * 4})
    assert status == 200
    # The failed third item gets its group's mean (zero advantage), flagged in extra_logs; never 0.0.
    assert out["rewards"] == [1.0, 0.0, 0.5, 1.0]
    assert out["status"] == ["ok", "ok", "parse_error", "ok"]
    assert out["extra_logs"]["judge_failed"] == [0.0, 0.0, 1.0, 0.0]
    assert out["scores"] == out["rewards"]
    health = json.loads(urllib.request.urlopen(server.url + "/health").read())
    assert health["status"] == "ok" and health["items"] == {"ok": 3, "parse_error": 1}
    assert health["rubric_version"] == Rubric.default("greeting").version
    metrics = urllib.request.urlopen(server.url + "/metrics").read().decode()
    assert 'inkforge_reward_items_total{status="parse_error"} 1' in metrics
    assert 'inkforge_reward_requests_total{endpoint="/get_reward"} 1' in metrics


def test_null_on_failure_mode(server: RewardServer) -> None:
    server.on_failure = "null"
    prompt = CHAT.format(q="q")
    _, out = _post(server.url + "/get_reward", {"query": [prompt + "谢谢", prompt + "坏"], "prompts": [prompt] * 2})
    assert out["rewards"] == [1.0, None]


def test_score_endpoint_and_remote_client_roundtrip(server: RewardServer) -> None:
    remote = RemoteJudgeReward(server.url + "/score")
    metrics: dict[str, float] = {}
    rewards = remote(prompts=[[{"role": "user", "content": "生日祝福"}]] * 3,
                     completions=[[{"role": "assistant", "content": c}] for c in ("谢谢妈妈", "快乐", "坏")],
                     query=["生日祝福"] * 3, log_metric=metrics.__setitem__)
    assert rewards == [1.0, 0.0, None]  # failures stay None over the wire
    assert remote.last_outcomes[2].status == "parse_error"
    assert metrics["judge/parse_error_rate"] == pytest.approx(1 / 3)
    clone = pickle.loads(pickle.dumps(remote))
    assert clone(prompts=["p"], completions=["谢谢"]) == [1.0]


def test_fail_fast_is_a_503_and_raises_in_the_client(server: RewardServer) -> None:
    completions = ["坏", "坏了", "谢谢", "坏的", "谢谢你", "坏啊", "谢", "坏吧"]
    status, out = _post(server.url + "/score", {"prompts": ["p"] * 8, "completions": completions})
    assert status == 503 and out["error"]["type"] == "fail_fast"
    assert out["error"]["stats"]["parse_error_rate"] == pytest.approx(5 / 8)
    with pytest.raises(FailFastError):
        RemoteJudgeReward(server.url)(prompts=["p"] * 2, completions=["坏", "坏"])
    health = json.loads(urllib.request.urlopen(server.url + "/health").read())
    assert health["status"] == "degraded"
    assert "inkforge_reward_fail_fast_total 2" in urllib.request.urlopen(server.url + "/metrics").read().decode()


def test_bad_requests_get_400(server: RewardServer) -> None:
    assert _post(server.url + "/get_reward", {"query": "not a list"})[0] == 400
    assert _post(server.url + "/score", {"prompts": ["p"], "completions": ["a", "b"]})[0] == 400
    assert _post(server.url + "/nope", {})[0] == 404
    with pytest.raises(ConnectionError):
        RemoteJudgeReward("http://127.0.0.1:9", max_retries=0, timeout=2)(prompts=["p"], completions=["c"])


def test_verl_and_openrlhf_adapters_call_through_the_server(server: RewardServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from inkforge.rewards import openrlhf, verl

    monkeypatch.setenv("INKFORGE_REWARD_URL", server.url)
    rows = verl.compute_score_batch(["greeting"] * 3, ["谢谢您", "快乐", "坏"], [None] * 3,
                                    [{"query": "生日祝福"}] * 3)
    assert [r["score"] for r in rows] == [1.0, 0.0, 0.5]
    assert [r["judge_failed"] for r in rows] == [0.0, 0.0, 1.0]
    one = verl.compute_score("greeting", "谢谢老师", "教师节祝福", None)
    assert one == {"score": 1.0, "judge_failed": 0.0, "judge_cached": 0.0}
    # A failed per-sample call stands in with the mean of the same request's earlier rewards, flagged.
    assert verl.compute_score("greeting", "坏", "教师节祝福", None) == {"score": 1.0, "judge_failed": 1.0,
                                                                    "judge_cached": 0.0}
    with pytest.raises(ValueError, match="extra_info"):
        verl.compute_score("greeting", "谢谢", None, {})

    prompt = CHAT.format(q="生日祝福")
    out = openrlhf.reward_func([prompt + "谢谢妈妈<|im_end|>", prompt + "快乐<|im_end|>"], [prompt] * 2, [None] * 2)
    assert out["rewards"].tolist() == [1.0, 0.0] and out["scores"].dtype.is_floating_point
    assert out["extra_logs"]["judge_failed"].tolist() == [0.0, 0.0]


def test_verl_adapter_with_a_local_judge_against_the_stub(stub: Any, tmp_path: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from inkforge.rewards import verl

    rubric = tmp_path / "rubric.json"
    Rubric.default("greeting").save(rubric)
    monkeypatch.delenv("INKFORGE_REWARD_URL", raising=False)
    for key, value in {"INKFORGE_RUBRIC": str(rubric), "INKFORGE_BASE_URL": stub.base_url, "INKFORGE_MODEL": "stub",
                       "INKFORGE_CACHE": "none", "INKFORGE_CONCURRENCY": "4"}.items():
        monkeypatch.setenv(key, value)
    rows = verl.compute_score_batch(["g"] * 2, ["祝你快乐", "新年好"], ["新年祝福", "新年祝福"], None)
    assert all(r["score"] in (0.0, 1.0) and r["judge_failed"] == 0.0 for r in rows)
    assert stub.stats.chat_requests == 2
