"""`refine-judge` and `eval-judge` end to end over HTTP, against the loopback OpenAI-compatible stub."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from inkforge.cli.judge import eval_judge_cmd, refine_judge_cmd
from inkforge.core.rubric import Rubric
from inkforge.testing import StubServer
from inkforge.testing.stub import Faults

pytestmark = pytest.mark.timeout(120)

DATA = resources.files("inkforge.data")
SAMPLE_LABELS = str(DATA / "sample_labels.jsonl")
SAMPLE_QUERIES = str(DATA / "sample_queries.txt")

app = typer.Typer()
app.command("refine-judge")(refine_judge_cmd)
app.command("eval-judge")(eval_judge_cmd)


def _user_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in body.get("messages") or [])


def responder(body: dict[str, Any]) -> dict[str, Any] | None:
    """Detector verdicts that depend on length (plus seeded noise), so metrics are not trivial.

    The optimiser keeps the current rules and adds one named by the feedback's hash; other agents get
    the stub's schema-generated answers.
    """
    name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    text = _user_text(body)
    if name == "DetectorVerdict":
        m = re.search(r"候选祝福语：\n(.*?)\n\n评审准则：", text, re.S)
        resp = m.group(1) if m else ""
        noise = int(hashlib.sha256(text.encode()).hexdigest(), 16) % 6 == 0
        good = (len(resp) >= 30) != noise
        return {"explanation": "逐条对照准则", "verdict": "Good" if good else "Bad",
                "generator_suggestion": "把缺陷藏进具体细节"}
    if name == "RubricRevision":
        current = re.findall(r"^\d+\. (.*)$", text.split("当前规则", 1)[1].split("本轮反馈")[0], re.M)
        tag = hashlib.sha256(text.encode()).hexdigest()[:6]
        return {"rules": [*current[:9], f"新规则 {tag}"], "changes": "合并本轮反馈"}
    return None


@pytest.fixture
def server() -> Iterator[StubServer]:
    with StubServer(responder=responder) as s:
        yield s


@pytest.fixture
def model_flags(server: StubServer, tmp_path: Path) -> list[str]:
    cfg = tmp_path / "models.yaml"
    cfg.write_text("cache: null\nconcurrency: 8\nmodels:\n  default: {max_retries: 0, timeout: 20}\n", encoding="utf-8")
    return ["--config", str(cfg), "--base-url", server.base_url, "--model", "stub"]


def test_refine_judge_three_iterations_writes_all_artifacts(server: StubServer, model_flags: list[str],
                                                            tmp_path: Path) -> None:
    out = tmp_path / "run"
    settings = tmp_path / "refine.yaml"
    settings.write_text("adversarial_batch: 3\nreflection_batch: 6\npatience: 5\n", encoding="utf-8")
    args = ["refine-judge", "--labels", SAMPLE_LABELS, "--queries", SAMPLE_QUERIES, "--out", str(out),
            "--iterations", "3", "--val-fraction", "0.3", "--test-fraction", "0.25", "--refine-config", str(settings),
            *model_flags]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    # Progress shows the select split's metrics per iteration, beside the length baseline.
    for it in range(4):
        assert f"iter {it}" in result.output
    assert "select κ" in result.output and "len≥39" in result.output
    # The final figures are the test split's, for both rubrics, beside both length baselines.
    flat = "".join(result.output.split())
    for words in ("Test split: 10 rows (5 good)", "starting rubric", "best rubric (iter", "len ≥ 39 (task rule)",
                  "(fitted*)", "fitted on the optimise and select rows", "optimise/select/test 18/12/10"):
        assert "".join(words.split()) in flat, words

    for name in ("rubric.json", "history.jsonl", "hard_negatives.jsonl", "strategy.json", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["iterations_done"] == 3
    assert summary["stop_reason"] == "iterations" and summary["tokens_used"] > 0
    assert summary["config"]["test_fraction"] == 0.25 and summary["test"]["n"] == 10
    rubric = Rubric.load(out / "rubric.json")
    assert rubric.model["base_url"] == server.base_url and "kappa" in rubric.metrics
    assert rubric.metrics["split"] == "test" and rubric.metrics["kappa"] == summary["test"]["best"]["metrics"]["kappa"]
    assert summary["best"]["version"] == rubric.version == summary["test"]["best"]["version"]
    history = [json.loads(x) for x in (out / "history.jsonl").read_text().splitlines()]
    gates = [h for h in history if h["target"] == "S_D"]
    assert [h["iteration"] for h in gates] == [0, 1, 2, 3]
    assert all(h["metrics"] is None or 0 <= h["metrics"]["accuracy"] <= 1 for h in gates)
    hard = [json.loads(x) for x in (out / "hard_negatives.jsonl").read_text().splitlines()]
    assert len(hard) == 9 and all(isinstance(h["rejected"], str) and h["rejected"] for h in hard)
    assert json.loads((out / "strategy.json").read_text())["rules"]

    # The same command again is refused (never overwrite a run); --resume of a finished run is a no-op.
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output
    n = server.stats.chat_requests
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert server.stats.chat_requests == n
    assert json.loads((out / "summary.json").read_text())["best"] == summary["best"]


def test_eval_judge_reports_the_length_baseline_beside_the_judge(server: StubServer, model_flags: list[str],
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval-judge", "--labels", SAMPLE_LABELS, "--out", str(out),
                                      "--bootstrap", "200", *model_flags])
    assert result.exit_code == 0, result.output
    assert "len ≥ 39" in result.output and "slice 30–50" in result.output
    assert "length explains the judge" in result.output
    report = json.loads(out.read_text())
    assert report["overall"]["n"] == 40 and server.stats.chat_requests == 40
    for sec in ("overall", "slice"):
        assert {"judge", "length_baseline", "parse_failures"} <= set(report[sec])
        assert report[sec]["length_baseline"]["fixed"]["threshold"] == 39
    assert report["rubric"]["default"] is True
    assert report["overall"]["judge"]["ci"]["kappa"] is not None


def test_eval_judge_with_a_refined_rubric_file(server: StubServer, model_flags: list[str], tmp_path: Path) -> None:
    rb = Rubric.from_rules(["紧扣请求的核心目的", "不用陈词滥调堆砌"])
    rb.save(tmp_path / "rubric.json")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval-judge", "--labels", SAMPLE_LABELS, "--rubric", str(tmp_path / "rubric.json"),
                                      "--out", str(out), "--bootstrap", "0", "--limit", "10", *model_flags])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["rubric"]["version"] == rb.version and report["overall"]["n"] == 10
    assert "紧扣请求的核心目的" in _user_text(server.requests[-1])


@pytest.mark.parametrize("cmd", ["eval-judge", "refine-judge"])
def test_input_errors_come_before_any_call_or_output(cmd: str, server: StubServer, model_flags: list[str],
                                                     tmp_path: Path) -> None:
    bad = tmp_path / "labels.jsonl"
    bad.write_text('{"query": "q", "response": "r", "label": 1}\n{"query": "q", "label": 0}\n', encoding="utf-8")
    out = tmp_path / "out"
    extra = ["--queries", SAMPLE_QUERIES] if cmd == "refine-judge" else []
    result = CliRunner().invoke(app, [cmd, "--labels", str(bad), "--out", str(out), *extra, *model_flags])
    assert result.exit_code == 2
    flat = "".join(result.output.split())  # rich wraps long lines at the terminal width
    assert "".join(f"{bad}:2: field 'response': missing".split()) in flat
    assert server.stats.chat_requests == 0 and not out.exists()


def test_a_bad_refinement_section_is_named_before_any_call(server: StubServer, tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("cache: null\nmodels:\n  default: {max_retries: 0}\nrefinement:\n  val_fraction: 2\n",
                   encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["refine-judge", "--labels", SAMPLE_LABELS, "--queries", SAMPLE_QUERIES,
                                      "--out", str(out), "--config", str(cfg), "--base-url", server.base_url,
                                      "--model", "stub"])
    assert result.exit_code == 2
    assert "".join(f"{cfg}: field 'refinement.val_fraction'".split()) in "".join(result.output.split())
    assert server.stats.chat_requests == 0 and not out.exists()


def test_eval_judge_fails_honestly_when_the_judge_calls_fail(model_flags: list[str], tmp_path: Path) -> None:
    out = tmp_path / "reports" / "report.json"
    with StubServer(faults=Faults(status_rates={500: 1.0})) as down:
        flags = [*model_flags[:2], "--base-url", down.base_url, "--model", "stub"]
        result = CliRunner().invoke(app, ["eval-judge", "--labels", SAMPLE_LABELS, "--out", str(out),
                                          "--bootstrap", "0", *flags])
        requests = down.stats.chat_requests
    assert result.exit_code == 1, result.output
    flat = "".join(result.output.split())
    assert "judgecallsfailedon" in flat and "max_failure_rate=0.5" in flat and "Traceback" not in result.output
    assert "500" in result.output  # the cause: the endpoint's answer, not only a count
    # No report hides it, not even a partial one or a temporary file; the calls left were not made.
    assert not out.exists() and not list(tmp_path.rglob("*.tmp"))
    assert 0 < requests < 40


@pytest.mark.parametrize("where", ["folder", "under_a_file"])
def test_eval_judge_refuses_an_unwritable_out_before_any_call(where: str, server: StubServer,
                                                              model_flags: list[str], tmp_path: Path) -> None:
    if where == "folder":
        out = tmp_path / "reports"
        out.mkdir()
    else:
        (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
        out = tmp_path / "notes.txt" / "report.json"
    result = CliRunner().invoke(app, ["eval-judge", "--labels", SAMPLE_LABELS, "--out", str(out), *model_flags])
    assert result.exit_code == 2, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    flat = "".join(result.output.split())
    assert "field'--out'" in flat and ("isafolder" in flat if where == "folder" else "isnotafolder" in flat)
    assert server.stats.chat_requests == 0
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["models.yaml", "reports" if where == "folder" else "notes.txt"]


def test_eval_judge_dedupes_labels_and_reports_the_corrected_pass_rate(server: StubServer, model_flags: list[str],
                                                                       tmp_path: Path) -> None:
    rows = [json.loads(line) for line in Path(SAMPLE_LABELS).read_text(encoding="utf-8").splitlines()]
    labels = tmp_path / "labels.jsonl"
    repeated = [*rows, rows[0], rows[1], {**rows[2], "label": 1 - rows[2]["label"]}]
    labels.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in repeated), encoding="utf-8")
    completions = tmp_path / "completions.jsonl"
    completions.write_text("".join(json.dumps({"query": r["query"], "response": r["response"]}, ensure_ascii=False)
                                   + "\n" for r in rows[:12]), encoding="utf-8")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval-judge", "--labels", str(labels), "--unlabelled", str(completions),
                                      "--out", str(out), "--bootstrap", "100", *model_flags])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["labels"] == {"path": str(labels), "rows": 43, "unique": 39, "duplicates_removed": 2,
                                "conflicting_pairs": 1, "conflicting_rows_dropped": 2}
    assert report["overall"]["n"] == 39 and server.stats.chat_requests == 39 + 12
    est = report["pass_rate"]
    assert est["items"] == "unlabelled" and est["n"] == 12 and est["labelled"]["n"] == 39
    assert report["unlabelled"]["path"] == str(completions) and len(report["unlabelled"]["items"]) == 12
    flat = "".join(result.output.split())
    assert "passrateon12unlabelleditems" in flat and "39of43rowsjudged" in flat


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "english_poems"
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def english_responder(body: dict[str, Any]) -> dict[str, Any] | None:
    """Every agent of the refinement, answering the English prompts (a Chinese one finds no match)."""
    name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    text = _user_text(body)
    if name == "FlawedSample":
        return {"response": "Roses are red, the sky is blue,\nhappy day to you.", "planted_flaws": ["stock rhyme"],
                "explanation": "a nursery cliché dressed up as a poem"}
    if name == "DetectorVerdict":
        m = re.search(r"Candidate short poem:\n(.*?)\n\nRubric:", text, re.S)
        assert m, "not the English detector prompt"
        return {"explanation": "checked each rule", "verdict": "Good" if len(m.group(1)) >= 90 else "Bad",
                "generator_suggestion": "hide the cliché inside a concrete detail"}
    if name == "ErrorDiagnosis":
        return {"diagnosis": "the rubric rewards length", "suggestion": "judge the images, not the length"}
    if name == "RubricRevision":
        current = re.findall(r"^\d+\. (.*)$", text.split("Current rules", 1)[1].split("Feedback from this round")[0],
                             re.M)
        tag = hashlib.sha256(text.encode()).hexdigest()[:6]
        return {"rules": [*current[:9], f"New rule {tag}"], "changes": "merged this round's feedback"}
    return None


def test_refine_and_eval_judge_on_the_english_task(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    # One YAML for every command: its refinement section, under --refine-config, under the flags.
    cfg.write_text("cache: null\nconcurrency: 8\nmodels:\n  default: {max_retries: 0, timeout: 20}\n"
                   "refinement:\n  adversarial_batch: 2\n  reflection_batch: 4\n  patience: 9\n  seed: 3\n",
                   encoding="utf-8")
    settings = tmp_path / "refine.yaml"
    settings.write_text("patience: 5\nseed: 4\n", encoding="utf-8")
    out = tmp_path / "run"
    with StubServer(responder=english_responder) as server:
        flags = ["--config", str(cfg), "--base-url", server.base_url, "--model", "stub", "--task", "poem"]
        result = CliRunner().invoke(app, ["refine-judge", "--labels", str(EXAMPLE / "labels.jsonl"), "--queries",
                                          str(EXAMPLE / "queries.txt"), "--out", str(out), "--iterations", "1",
                                          "--refine-config", str(settings), "--seed", "7", *flags])
        assert result.exit_code == 0, result.output
        assert "iter 0" in result.output and "iter 1" in result.output
        n_refine = len(server.requests)
        report_path = tmp_path / "report.json"
        result = CliRunner().invoke(app, ["eval-judge", "--labels", str(EXAMPLE / "labels.jsonl"), "--rubric",
                                          str(out / "rubric.json"), "--out", str(report_path), "--bootstrap", "0",
                                          *flags])
        assert result.exit_code == 0, result.output
        requests = list(server.requests)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["task"] == "poem" and summary["language"] == "en"
    settled = summary["config"]
    assert (settled["adversarial_batch"], settled["reflection_batch"], settled["patience"], settled["seed"],
            settled["iterations"]) == (2, 4, 5, 7, 1)
    rubric = Rubric.load(out / "rubric.json")
    assert rubric.language == "en" and rubric.task == "poem" and not CJK.search(rubric.prompt_text or "")
    assert json.loads((out / "strategy.json").read_text())["language"] == "en"
    # Every prompt sent, and every piece of feedback the optimiser got, is English.
    assert n_refine > 0 and len(requests) == n_refine + 16
    assert not [r for r in requests if CJK.search(_user_text(r))]
    history = [json.loads(x) for x in (out / "history.jsonl").read_text().splitlines()]
    feedback = [f for h in history for f in h.get("feedback", [])]
    feedback += [f for h in history for p in h.get("proposal") or [] for f in p["feedback"]]
    assert feedback and all(f.startswith(("The judge caught", "The judge was fooled", "Human label: "))
                            for f in feedback)
    report = json.loads(report_path.read_text())
    assert report["overall"]["n"] == 16 and report["rubric"]["task"] == "poem"
    assert report["rubric"]["version"] == rubric.version and report["overall"]["parse_failures"]["count"] == 0


@pytest.mark.paper_data
def test_eval_judge_on_the_papers_dev_labels(paper_data: Path, server: StubServer, model_flags: list[str],
                                             tmp_path: Path) -> None:
    """Opt-in: the paper's human labels (by path, never copied) through the whole HTTP path."""
    out = tmp_path / "paper_report.json"
    result = CliRunner().invoke(app, ["eval-judge", "--labels", str(paper_data / "human_labels_dev.jsonl"),
                                      "--out", str(out), "--bootstrap", "200", *model_flags[:2],
                                      "--base-url", model_flags[3], "--model", "stub", "--concurrency", "16"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    ov = report["overall"]
    # Repeated rows are judged once (and conflicting duplicates dropped): the count says how many remain.
    kept = report["labels"]["unique"]
    assert report["labels"]["rows"] == 1016 and 1000 < kept < 1016
    assert ov["n"] == kept and ov["parse_failures"]["count"] == 0
    fixed = ov["length_baseline"]["fixed"]
    # The documented trap: length alone gets about 90% on these labels.
    assert fixed["threshold"] == 39 and 0.85 <= fixed["accuracy"] <= 0.95
    assert ov["length_baseline"]["fitted"]["accuracy"] >= fixed["accuracy"]
    assert report["slice"]["n"] > 50 and report["slice"]["length_baseline"]["fixed"]["n"] == report["slice"]["n"]
    assert "judge" in report["slice"] and report["length_explains_judge"]["n"] == kept
