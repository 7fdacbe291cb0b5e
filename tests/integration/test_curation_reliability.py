"""``inkforge curate`` against endpoints that fail as real ones do: pending vs failed vs done, fail-fast,
spend caps, the resume fingerprint and identical candidates, all through the CLI and the loopback stub."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from inkforge.cli.curate import curate_cmd
from inkforge.testing import Faults, StubServer

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "inkforge" / "data" / "sample_corpus.jsonl"
KEY_ENV = "INKFORGE_RELIABILITY_KEY"
OCCASIONS = ("生日", "新年", "升职", "乔迁", "新婚", "毕业", "中秋", "教师节", "满月", "退休")
WHO = ("奶奶", "同事", "老师")


def app() -> typer.Typer:
    a = typer.Typer()
    a.command()(curate_cmd)
    return a


def queries(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "queries.txt"
    rows = [f"给{WHO[i % 3]}的{OCCASIONS[i % 10]}祝福语（第{i}条）" for i in range(n)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def config(tmp_path: Path, base_url: str, name: str = "run.yaml", extra: dict[str, Any] | None = None,
           **spec: Any) -> Path:
    """A YAML endpoint spec, complete by itself (no OPENAI_* variable is set in these tests)."""
    path = tmp_path / name
    entry = {"base_url": base_url, "model": "stub", "api_key_env": KEY_ENV, "max_retries": 0, "max_reasks": 0,
             "timeout": 10, **spec}
    path.write_text(yaml.safe_dump({"models": {"default": entry}, "cache": None, "concurrency": 16, **(extra or {})}),
                    encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL", "INKFORGE_MODEL", "INKFORGE_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(KEY_ENV, "sk-reliability-not-a-secret")


def curate(*args: Any) -> Any:
    return CliRunner().invoke(app(), [str(a) for a in args] + ["--no-progress"])


def summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def lines(out: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_thirty_queries_four_candidates_give_pairs_and_json_schema_from_yaml_alone(tmp_path: Path) -> None:
    # json_answers="when_asked": only response_format gets JSON, as on many real endpoints.
    with StubServer(faults=Faults(json_answers="when_asked")) as server:
        cfg = config(tmp_path, server.base_url)
        r = curate(queries(tmp_path, 30), "--out", tmp_path / "out", "--config", cfg, "--candidates", 4,
                   "--corpus", CORPUS, "--no-reflector")
        formats = [(req.get("response_format") or {}).get("type") for req in server.requests]
    assert r.exit_code == 0, r.output
    s = summary(tmp_path / "out")
    assert s["pairs"] > 0 and s["items"]["done"] == 30 and s["items"]["pending"] == 0
    assert set(formats) == {"json_schema"}  # the YAML spec alone chose json_schema: no fallback needed
    pairs = lines(tmp_path / "out", "pairs")
    assert all(p["chosen"] != p["rejected"] for p in pairs)
    assert s["identical_candidates"] == sum(f["status"] == "identical" for f in lines(tmp_path / "out", "failures"))
    assert set(s["usage_by_agent"]) == {"writer", "positive_critic", "negative_critic", "judge"}


def test_all_500_exits_non_zero_naming_5xx_and_resume_on_a_healthy_endpoint_finishes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with StubServer(faults=Faults(status_rates={500: 1.0})) as server:
        cfg = config(tmp_path, server.base_url)
        q = queries(tmp_path, 12)
        r = curate(q, "--out", out, "--config", cfg, "--candidates", 2, "--no-reflector")
        assert r.exit_code == 1, r.output
        assert "HTTP 5xx" in r.output and "--resume" in r.output
        s = summary(out)
        assert s["complete"] is False and s["items"]["done"] == 0 and s["items"]["failed"] == 0
        assert s["usage"]["failed"] >= 20  # the spend of a stopped run is kept
        server.set_faults(Faults())
        r = curate(q, "--out", out, "--config", cfg, "--candidates", 2, "--no-reflector", "--resume")
    assert r.exit_code == 0, r.output
    s = summary(out)
    assert s["complete"] and s["items"]["done"] == 12 and s["items"]["pending"] == 0
    judged = {j["item_id"] for j in lines(out, "judgements")}
    assert len(judged) == 12 and all(j["judge"]["label"] in (0, 1) for j in lines(out, "judgements"))
    assert not [f for f in lines(out, "failures") if f["status"] not in ("no_pair", "identical")]


def test_401_names_the_key_variable_and_never_the_key(tmp_path: Path) -> None:
    with StubServer(faults=Faults(status_rates={401: 1.0}, echo_request=True)) as server:
        r = curate(queries(tmp_path, 12), "--out", tmp_path / "out", "--config", config(tmp_path, server.base_url),
                   "--candidates", 2, "--no-reflector")
    assert r.exit_code == 1
    assert "401" in r.output and KEY_ENV in r.output and "sk-reliability-not-a-secret" not in r.output


def test_unreachable_endpoint_names_its_url(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    r = curate(queries(tmp_path, 12), "--out", tmp_path / "out", "--config", config(tmp_path, url),
               "--candidates", 2, "--no-reflector")
    assert r.exit_code == 1
    assert f"endpoint unreachable ({url})" in " ".join(r.output.split())


def test_max_tokens_stops_early_and_resume_completes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with StubServer() as server:
        cfg = config(tmp_path, server.base_url)
        q = queries(tmp_path, 10)
        # The cap is set from an uncapped run of the same input: 70% of what the whole run spends stops
        # it after some items finished (items advance together, the first ones end past half the spend)
        # and before the last, whatever the prompts' token counts.
        assert curate(q, "--out", tmp_path / "uncapped", "--config", cfg, "--candidates", 2, "--no-reflector",
                      "--concurrency", 1).exit_code == 0
        cap = int(0.7 * summary(tmp_path / "uncapped")["usage"]["tokens"])
        r = curate(q, "--out", out, "--config", cfg, "--candidates", 2, "--no-reflector", "--max-tokens", cap,
                   "--concurrency", 1)
        assert r.exit_code == 1 and "spend cap reached" in r.output, r.output
        first = summary(out)
        assert 0 < first["items"]["done"] < 10 and not first["complete"]
        r = curate(q, "--out", out, "--config", cfg, "--candidates", 2, "--no-reflector", "--resume")
    assert r.exit_code == 0, r.output
    s = summary(out)
    assert s["complete"] and s["items"]["done"] == 10 and s["runs"] == 2
    assert s["usage"]["tokens"] > first["usage"]["tokens"]  # both invocations' spend, summed from disk
    assert len({j["item_id"] for j in lines(out, "judgements")}) == 10


def test_resume_with_another_temperature_names_the_field(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with StubServer() as server:
        q = queries(tmp_path, 3)
        r = curate(q, "--out", out, "--config", config(tmp_path, server.base_url), "--candidates", 2, "--no-reflector")
        assert r.exit_code == 0, r.output
        hotter = config(tmp_path, server.base_url, name="hot.yaml", temperature=1.1)
        r = curate(q, "--out", out, "--config", hotter, "--candidates", 2, "--no-reflector", "--resume")
    assert r.exit_code == 2
    assert "endpoints.writer.temperature" in r.output and "sk-" not in r.output


def test_retry_failed_reruns_permanent_failures_only_and_leaves_no_duplicate(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with StubServer(faults=Faults(rate_malformed=0.25, seed=5)) as server:
        cfg = config(tmp_path, server.base_url)
        q = queries(tmp_path, 12)
        r = curate(q, "--out", out, "--config", cfg, "--candidates", 2, "--no-reflector")
        first = summary(out)
        assert first["items"]["failed"] > 0 and first["items"]["pending"] == 0, r.output
        assert r.exit_code == 0
        server.set_faults(Faults())
        r = curate(q, "--out", out, "--config", cfg, "--candidates", 2, "--no-reflector", "--resume")
        assert summary(out)["this_run"]["processed"] == 0  # a plain resume keeps failed items as they are
        r = curate(q, "--out", out, "--config", cfg, "--candidates", 2, "--no-reflector", "--resume",
                   "--retry-failed")
    assert r.exit_code == 0, r.output
    s = summary(out)
    assert s["items"]["failed"] == 0 and s["items"]["done"] == 12
    assert s["this_run"]["retried_failed"] == first["items"]["failed"]
    assert not [f for f in lines(out, "failures") if f["status"] == "parse_error"]
    judgements = lines(out, "judgements")
    keys = [(j["item_id"], j["candidate"]) for j in judgements]
    assert len(keys) == len(set(keys))  # the failed items' old lines were cut out, not duplicated


def test_one_candidate_warns_that_no_pair_can_form(tmp_path: Path) -> None:
    with StubServer() as server:
        r = curate(queries(tmp_path, 2), "--out", tmp_path / "out", "--config", config(tmp_path, server.base_url),
                   "--candidates", 1, "--no-reflector")
    assert r.exit_code == 0 and "no pair can form" in " ".join(r.output.split())
    assert any("no pair can form" in w for w in summary(tmp_path / "out")["warnings"])


def test_eval_judge_on_a_401_endpoint_exits_1_naming_the_key_variable(tmp_path: Path) -> None:
    from inkforge.cli.judge import eval_judge_cmd

    a = typer.Typer()
    a.command()(eval_judge_cmd)
    with StubServer(faults=Faults(status_rates={401: 1.0})) as server:
        r = CliRunner().invoke(a, ["--labels", str(REPO / "inkforge" / "data" / "sample_labels.jsonl"),
                                   "--out", str(tmp_path / "report.json"), "--config",
                                   str(config(tmp_path, server.base_url)), "--bootstrap", "0"])
    text = " ".join(r.output.split())
    assert r.exit_code == 1 and "HTTP 401 unauthorized" in text and KEY_ENV in text
    assert not (tmp_path / "report.json").exists()  # no report of garbage


def test_fail_fast_off_in_the_config_leaves_every_item_pending_and_exits_1(tmp_path: Path) -> None:
    with StubServer(faults=Faults(status_rates={503: 1.0})) as server:
        cfg = config(tmp_path, server.base_url, extra={"fail_fast": {"window": 0}})
        r = curate(queries(tmp_path, 6), "--out", tmp_path / "out", "--config", cfg, "--candidates", 2,
                   "--no-reflector")
    s = summary(tmp_path / "out")
    assert r.exit_code == 1 and "6 items are pending" in " ".join(r.output.split())
    assert s["items"]["pending"] == 6 and s["items"]["pending_by_kind"] == {"server": 6}
    assert s["usage_by_agent"]["writer"]["failed"] == {"error": 12}
    assert (tmp_path / "out" / "pairs.jsonl").read_text() == ""  # nothing written for a pending item
