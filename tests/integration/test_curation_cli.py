"""Curation over the real HTTP path (ChatOpenAI → loopback stub server), faults, and the CLI command."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from inkforge.cli.curate import curate_cmd
from inkforge.graphs.curation import build_curation_graph, curation_job
from inkforge.graphs.retrieval import SAMPLE_CORPUS, KeywordRetriever
from inkforge.graphs.runner import run_graph
from inkforge.llm import InkforgeConfig, ModelSpec, Runtime
from inkforge.testing import Faults, StubServer, generate_from_schema

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]
QUERIES = REPO / "inkforge" / "data" / "sample_queries.txt"


def stub_runtime(server: StubServer, *, concurrency: int = 8, **spec: Any) -> Runtime:
    os.environ.setdefault("INKFORGE_TEST_KEY", "sk-test-not-a-secret")
    ms = ModelSpec(model="stub", base_url=server.base_url, api_key_env="INKFORGE_TEST_KEY", **spec)
    return Runtime(InkforgeConfig(models={"default": ms}, concurrency=concurrency, cache=None))


def read(out: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_curation_over_http_stub(tmp_path: Path) -> None:
    with StubServer(faults=Faults(latency_s=0.02)) as server:
        rt = stub_runtime(server, concurrency=6)
        graph = build_curation_graph(rt, retriever=KeywordRetriever(SAMPLE_CORPUS), n_candidates=3, pair_policy="all")
        report = run_graph(curation_job(graph), QUERIES, out_dir=tmp_path / "out", runtime=rt, limit=6)
        stats = server.stats
    out = tmp_path / "out"
    pairs, judgements, failures = read(out, "pairs"), read(out, "judgements"), read(out, "failures")
    assert report.processed == 6 and report.summary["complete"]
    assert {p["item_id"] for p in pairs} | {f["item_id"] for f in failures} == {j["item_id"] for j in judgements}
    # A deterministic endpoint repeats itself: repeated candidates are recorded, never judged nor paired.
    same = [f for f in failures if f["status"] == "identical"]
    assert len(judgements) + len(same) == 18 and report.summary["identical_candidates"] == len(same)
    assert not [f for f in failures if f["status"] not in ("no_pair", "identical")]
    assert all(p["chosen"] != p["rejected"] for p in pairs)
    assert all(set(p["models"].values()) == {"stub"} for p in pairs)
    # Every model call went through HTTP with a structured-output request, under the shared limit.
    assert stats.chat_requests == 6 * 3 + 4 * len(judgements)
    assert stats.max_concurrency <= 6 and rt.limiter.peak <= 6
    writer_requests = [r for r in server.requests if "WriterOutput" in json.dumps(r.get("response_format", {}))]
    assert len(writer_requests) == 18
    summary = json.loads((out / "summary.json").read_text())
    assert summary["usage"]["calls"] == stats.chat_requests and summary["usage"]["tokens"] > 0
    assert sum(a["calls"] for a in summary["usage_by_agent"].values()) == stats.chat_requests


def test_thirty_percent_http_faults_every_query_accounted_for(tmp_path: Path) -> None:
    faults = Faults(rate_500=0.1, rate_429=0.1, rate_malformed=0.1, seed=3)
    with StubServer(faults=faults) as server:
        rt = stub_runtime(server, max_retries=0, max_reasks=0, timeout=10)
        graph = build_curation_graph(rt, retriever=KeywordRetriever(SAMPLE_CORPUS), n_candidates=4)
        run_graph(curation_job(graph), QUERIES, out_dir=tmp_path / "out", runtime=rt)
    out = tmp_path / "out"
    pairs, failures = read(out, "pairs"), read(out, "failures")
    accounted = {p["item_id"] for p in pairs} | {f["item_id"] for f in failures}
    items = json.loads((out / "summary.json").read_text())["items"]
    # Items hit by a 500 or a 429 are pending (run again on --resume), never final; the others are done.
    assert len(accounted) == items["finished"] and items["finished"] + items["pending"] == 12
    assert items["pending"] and set(items["pending_by_kind"]) <= {"server", "rate_limited"}
    assert not {f["status"] for f in failures} & {"error", "rate_limited", "timeout"}
    assert "sk-test" not in (out / "failures.jsonl").read_text()  # no secret in outputs


def test_malformed_answers_are_final_parse_errors_with_the_raw_text(tmp_path: Path) -> None:
    # Broken JSON after the re-asks is a permanent failure: committed, with the answer kept for debugging.
    with StubServer(faults=Faults(rate_malformed=0.3, seed=3)) as server:
        rt = stub_runtime(server, max_retries=0, max_reasks=0, timeout=10)
        graph = build_curation_graph(rt, retriever=KeywordRetriever(SAMPLE_CORPUS), n_candidates=4)
        run_graph(curation_job(graph), QUERIES, out_dir=tmp_path / "out", runtime=rt)
    out = tmp_path / "out"
    items = json.loads((out / "summary.json").read_text())["items"]
    assert items["pending"] == 0 and items["finished"] == 12
    malformed = [f for f in read(out, "failures") if f["status"] == "parse_error"]
    assert malformed and all(f["raw"] for f in malformed)
    assert "sk-test" not in (out / "failures.jsonl").read_text()


CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
POEM_CORPUS = [{"id": "p1", "query": "a poem about rain", "response": "Grey lines of rain stitch the street."},
               {"id": "p2", "query": "a poem for my sister", "response": "You kept the porch light on for me."},
               {"id": "p3", "query": "a poem about the sea", "response": "The tide keeps every promise twice."}]


def english_model(body: dict[str, Any]) -> dict[str, Any] | None:
    """A stub model that answers every structured request in English: the writer with a line that
    varies with its prompt, every other schema with the stub's own generated instance whose free
    text is English (enums such as dimensions and severities already are)."""
    spec = (body.get("response_format") or {}).get("json_schema") or {}
    digest = hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).hexdigest()
    if spec.get("name") == "WriterOutput":
        return {"text": f"Autumn rain, line {digest[:6]}: the window keeps what the street forgets."}
    if "schema" not in spec:
        return None

    def english(value: Any) -> Any:
        if isinstance(value, str):
            return value if value.isascii() else "a plain note"
        if isinstance(value, list):
            return [english(v) for v in value]
        if isinstance(value, dict):
            return {k: english(v) for k, v in value.items()}
        return value

    return english(generate_from_schema(spec["schema"], seed=digest))


def test_english_task_curates_pairs_with_english_prompts_only(tmp_path: Path) -> None:
    """task="poem" end to end over HTTP: the graph takes every label it adds to a prompt (few-shot
    requests, critique summaries, "nothing") from the task's language, never Chinese."""
    queries = ["a poem about autumn rain", "a poem for a friend moving away", "a poem about a night train",
               "a poem about my grandmother's garden"]
    with StubServer(responder=english_model) as server:
        os.environ.setdefault("INKFORGE_TEST_KEY", "sk-test-not-a-secret")
        ms = ModelSpec(model="stub", base_url=server.base_url, api_key_env="INKFORGE_TEST_KEY")
        rt = Runtime(InkforgeConfig(models={"default": ms}, concurrency=6, cache=None, task="poem"))
        graph = build_curation_graph(rt, retriever=KeywordRetriever(POEM_CORPUS), k=3, n_candidates=3,
                                     pair_policy="all")
        report = run_graph(curation_job(graph), queries, out_dir=tmp_path / "out", runtime=rt)
        requests = server.requests
    out = tmp_path / "out"
    pairs, judgements, failures = read(out, "pairs"), read(out, "judgements"), read(out, "failures")
    assert report.processed == 4 and len(judgements) == 12
    assert not [f for f in failures if f["status"] != "no_pair"]
    assert pairs and {p["prompt"] for p in pairs} <= set(queries)
    assert all(not CJK.search(p["chosen"] + p["rejected"]) for p in pairs)
    # Every prompt the agents sent is English, labels included.
    assert len(requests) == 4 * 3 * 5
    by_schema: dict[str, list[str]] = {}
    for r in requests:
        text = "\n".join(str(m["content"]) for m in r["messages"])
        assert not CJK.search(text), text
        by_schema.setdefault(r["response_format"]["json_schema"]["name"], []).append(text)
    assert all("Request: " in t for t in by_schema["WriterOutput"])  # the few-shot examples' label
    assert all("Summary: a plain note" in t for t in by_schema["JudgeVerdict"])  # the critiques' summary label


# ------------------------------------------------------------------------------------------------ CLI

app = typer.Typer()
app.command()(curate_cmd)


def flat(text: str) -> str:
    """Output without whitespace: rich wraps long messages at the terminal width."""
    return "".join(text.split())


def test_cli_bad_input_exits_2_before_writing(tmp_path: Path) -> None:
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"query": "给奶奶的祝福"}\n{"prompt": "升职", "id": 2}\n{"query": 5}\n', encoding="utf-8")
    res = CliRunner().invoke(app, [str(bad), "--out", str(tmp_path / "out"), "--base-url", "http://127.0.0.1:9/v1",
                                   "--model", "stub", "--no-progress"])
    assert res.exit_code == 2
    assert flat(f"{bad}:3: field 'query': must be a string") in flat(res.output)
    assert not (tmp_path / "out").exists()
    res = CliRunner().invoke(app, [str(tmp_path / "missing.txt"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "filenotfound" in flat(res.output)
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    res = CliRunner().invoke(app, [str(QUERIES), "--out", str(full), "--base-url", "http://127.0.0.1:9/v1"])
    assert res.exit_code == 2 and "--resume" in flat(res.output)


def test_cli_sigint_then_resume_completes_without_duplicates(tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps({"id": f"q{i}", "query": f"给第{i}位同事的新年祝福"}, ensure_ascii=False)
                               + "\n" for i in range(16)), encoding="utf-8")
    out = tmp_path / "out"
    with StubServer(faults=Faults(latency_s=0.05)) as server:
        cmd = [sys.executable, "-c", "import typer; from inkforge.cli.curate import curate_cmd; "
               "typer.run(curate_cmd)", str(queries), "--out", str(out), "--base-url", server.base_url,
               "--model", "stub", "--concurrency", "4", "--candidates", "2", "--no-progress",
               "--corpus", str(SAMPLE_CORPUS), "--retriever", "keyword"]
        env = {**os.environ, "OPENAI_API_KEY": "sk-test", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 60
        done = 0
        while time.time() < deadline and done < 3:
            time.sleep(0.1)
            try:
                db = sqlite3.connect(out / ".inkforge" / "run.sqlite")
                done = db.execute("SELECT COUNT(*) FROM done").fetchone()[0]
                db.close()
            except sqlite3.Error:
                pass
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 130, output
        assert "interrupted" in output
        first = len(read(out, "judgements"))
        assert 0 < first < 32
        res = subprocess.run([*cmd, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["items"]["finished"] == 16 and summary["runs"] == 2
    judgements = [(j["item_id"], j["candidate"]) for j in read(out, "judgements")]
    assert len(judgements) == len(set(judgements))  # no duplicates
    lines = (out / "pairs.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(set(lines))
    accounted = {p["item_id"] for p in read(out, "pairs")} | {f["item_id"] for f in read(out, "failures")}
    assert accounted == {f"q{i}" for i in range(16)}


@pytest.mark.slow
def test_a_killed_run_keeps_the_spend_of_its_saved_items(tmp_path: Path) -> None:
    queries = tmp_path / "q.txt"
    queries.write_text("".join(f"给第{i}位老师的教师节祝福\n" for i in range(16)), encoding="utf-8")
    out = tmp_path / "out"
    db_path = out / ".inkforge" / "run.sqlite"

    def spend_calls(run: int, *, uncached: bool = False) -> int:
        db = sqlite3.connect(db_path)
        rows = db.execute("SELECT agents FROM spend WHERE run=?", (run,)).fetchall()
        db.close()
        return sum(a["calls"] - (a.get("cached", 0) if uncached else 0)
                   for (agents,) in rows for a in json.loads(agents).values())

    with StubServer(faults=Faults(latency_s=0.05)) as server:
        cmd = [sys.executable, "-c", "import typer; from inkforge.cli.curate import curate_cmd; "
               "typer.run(curate_cmd)", str(queries), "--out", str(out), "--base-url", server.base_url,
               "--model", "stub", "--concurrency", "4", "--candidates", "2", "--no-progress", "--no-reflector"]
        env = {**os.environ, "OPENAI_API_KEY": "sk-test", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline, done = time.time() + 60, 0
        while time.time() < deadline and done < 3:
            time.sleep(0.1)
            try:
                db = sqlite3.connect(db_path)
                done = db.execute("SELECT COUNT(*) FROM done").fetchone()[0]
                db.close()
            except sqlite3.Error:
                pass
        proc.kill()  # SIGKILL: no finally runs, no summary is written
        proc.wait(timeout=30)
        killed = spend_calls(1)
        assert killed >= 3 * 3  # at least the saved items' own calls (writer ×2 + critics, judge...)
        res = subprocess.run([*cmd, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        requests = server.stats.chat_requests
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["usage"]["calls"] == killed + spend_calls(2)
    # Calls that reached the endpoint: the killed run's unsaved ones are the only ones missing (the resume
    # answers the killed run's finished calls from the response cache).
    assert spend_calls(1, uncached=True) + spend_calls(2, uncached=True) <= requests
