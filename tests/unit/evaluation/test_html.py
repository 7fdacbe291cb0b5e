"""HTML reports: parsed back, every chart is an embedded PNG, tables hold the expected rows, text is escaped,
unknown sections render, missing ones do not break a page; and the commands' --html flag end to end."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inkforge.evaluation.html import (
    band_rows,
    render_audit_report,
    render_judge_report,
    render_policy_report,
    render_refinement_report,
)

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[3]
DATA = resources.files("inkforge.data")
PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """The parts of a page the tests look at: images, tables (rows of cell texts), headings, tags seen."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.tables: list[dict[str, Any]] = []
        self.headings: list[str] = []
        self.tags: set[str] = set()
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._row_th = False
        self._heading: list[str] | None = None
        self._depth = 0
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if tag == "img":
            self.images.append(a)
        elif tag == "table":
            self._depth += 1
            if self._depth == 1:
                self.tables.append({"class": a.get("class", ""), "head": [], "rows": []})
        elif tag == "tr" and self._depth == 1:
            self._row, self._row_th = [], False
        elif tag in ("td", "th") and self._depth == 1:
            self._cell = []
            self._row_th = self._row_th or tag == "th"
        elif tag in ("h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._depth -= 1
        elif tag in ("td", "th") and self._depth == 1 and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._depth == 1 and self._row is not None:
            t = self.tables[-1]
            if self._row_th and not t["head"]:
                t["head"] = self._row
            else:
                t["rows"].append(self._row)
            self._row = None
        elif tag in ("h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)

    def table(self, cls: str) -> dict[str, Any]:
        (t,) = [t for t in self.tables if t["class"] == cls]
        return t


def assert_pngs(page: Page, n: int) -> None:
    assert len(page.images) == n
    for img in page.images:
        src = img["src"]
        assert src.startswith("data:image/png;base64,") and img["alt"]
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert raw.startswith(PNG) and len(raw) > 2000


def assert_self_contained(text: str) -> None:
    # No network: no external script, stylesheet or image.
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text
    assert "<script" not in text and "<link" not in text


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def judged() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A real eval-judge report: a fake judge that says Good to long answers, with a failure and an XSS text."""
    from inkforge.evaluation import aevaluate_judge
    from inkforge.llm.runtime import Runtime
    from inkforge.testing import FakeChatModel

    def responder(messages: Any, schema: Any) -> Any:
        text = str(messages[-1].content)
        if any("BROKEN" in str(m.content) for m in messages):  # re-asks included: a lasting failure
            return "not json"
        if "<script>" in text:  # labelled good: a disagreement, so its text is on the page
            return {"explanation": "ok", "verdict": "Bad"}
        return {"explanation": "ok", "verdict": "Good" if len(text) % 3 else "Bad"}

    rows = [{"query": f"query {i}", "response": "w" * (12 + 3 * i), "label": int(i % 3 != 0)} for i in range(24)]
    rows[5]["response"] = "<script>alert('x')</script> & more text here"
    rows[7]["response"] = "BROKEN " * 4
    rt = Runtime.for_testing(FakeChatModel(responder=responder))
    report = asyncio.run(aevaluate_judge(rt, rows, n_boot=20))
    report["labels"] = {"path": "labels.jsonl", "n": len(rows)}
    return report, rows


# ------------------------------------------------------------------------------------------ judge


def test_judge_report_holds_its_charts_and_tables(judged: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    report, rows = judged
    text = render_judge_report(report, rows=rows)
    page = Page(text)
    assert_self_contained(text)
    assert_pngs(page, 2)  # bands (accuracy and κ beside the baseline), confusion matrix
    summary = page.table("judge")
    assert [r[0] for r in summary["rows"]] == ["overall", "slice (30–50 chars)"]
    assert "len ≥ 39 accuracy" in summary["head"] and summary["rows"][0][1] == "24"
    bands = page.table("bands")
    assert [r[0] for r in bands["rows"]] == ["0-19", "20-29", "30-39", "40-49", "50-69", "70+"]
    assert sum(int(r[1]) for r in bands["rows"]) == 24
    conf = page.table("confusion")
    c = report["overall"]["judge"]["confusion"]
    assert conf["rows"] == [["bad", str(c["tn"]), str(c["fp"])], ["good", str(c["fn"]), str(c["tp"])]]
    wrong = [i for i in report["items"] if i["verdict"] is not None and i["verdict"] != i["label"]]
    dis = page.table("disagreements")
    assert len(dis["rows"]) == min(len(wrong), 25) and len(wrong) > 0
    assert {r[0] for r in dis["rows"]} == {str(i["i"]) for i in wrong}
    fails = page.table("failures")
    assert [r[:2] for r in fails["rows"]] == [["7", "parse_error"]]
    # Texts are escaped: the response's markup is shown, never run.
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in text


def test_band_kappa_is_computed_from_items_beside_the_baseline() -> None:
    rep = {"items": [{"length": 10, "label": 0, "verdict": 0}, {"length": 15, "label": 1, "verdict": 1},
                     {"length": 45, "label": 1, "verdict": 0}, {"length": 41, "label": 0, "verdict": 0},
                     {"length": 44, "label": 1, "verdict": None}]}
    bands = {b["band"]: b for b in band_rows(rep)}
    assert bands["0-19"]["judge_kappa"] == 1.0 and bands["0-19"]["length_baseline_accuracy"] == 0.5
    assert bands["40-49"]["n"] == 3 and bands["40-49"]["judged"] == 2
    assert bands["40-49"]["judge_accuracy"] == 0.5 and bands["40-49"]["length_baseline_accuracy"] == 2 / 3
    # Without items, the report's own bands are used as they are.
    assert band_rows({"by_length_band": [{"band": "0-19", "n": 2}]}) == [{"band": "0-19", "n": 2}]


def test_unknown_and_missing_sections_render(judged: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    report, _ = judged
    newer = {**report, "test": report["overall"],  # a section shaped like overall (a test split)
             "corrected_pass_rate": {"raw": 0.61, "corrected": 0.48, "by_band": [{"band": "0-19", "rate": "<b>"}]}}
    page = Page(render_judge_report(newer))
    assert {"Other sections", "test"} <= set(page.headings)
    assert any(t["class"] == "judge" and [r[0] for r in t["rows"]] == ["test"] for t in page.tables)
    text = render_judge_report(newer)
    assert "corrected_pass_rate" in text and "0.480" in text and "&lt;b&gt;" in text
    # A report with almost nothing still renders, with the figures it has.
    bare = Page(render_judge_report({"overall": {"n": 3, "judge": {"accuracy": 0.5}}}))
    assert bare.table("judge")["rows"][0][:2] == ["overall", "3"]
    assert not Page(render_judge_report({})).images


# ------------------------------------------------------------------------------------------ audit, refinement, policy


def test_audit_report(judged: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    from inkforge.core.rubric import Rubric
    from inkforge.llm.runtime import Runtime
    from inkforge.rewards.audit import audit_judge
    from inkforge.rewards.judge import JudgeReward
    from inkforge.testing import FakeChatModel

    _, rows = judged
    fake = FakeChatModel(responder=lambda m, s: {"explanation": "好", "verdict": "Good" if len(str(m[-1].content)) % 2
                                                 else "Bad", "winner": "A", "reason": "r"})
    judge = JudgeReward(Rubric.default("greeting"), runtime=Runtime.for_testing(fake))
    report = asyncio.run(audit_judge(judge, rows, pairs=4, samples=2, consistency_items=5, n_boot=10))
    text = render_audit_report(report, rows=rows)
    page = Page(text)
    assert_self_contained(text)
    assert_pngs(page, 3)  # bands, confusion, Good rate by band
    assert {"Length bias", "Position bias (pairwise judge, both orders)", "Consistency across samples"} <= set(
        page.headings)
    assert [r[0] for r in page.table("judge")["rows"]] == ["overall", "slice (30–50 chars)"]


def test_refinement_report_from_a_real_run(tmp_path: Path) -> None:
    from inkforge.graphs.refinement import RefinementConfig, refine_judge
    from inkforge.llm.runtime import Runtime
    from inkforge.testing import FakeChatModel

    def responder(call: Any) -> Any:
        # One-argument responders get the FakeCall: the schema's name and the prompt, as an endpoint sees them.
        name, messages = call.schema or "", call.messages
        if name == "RubricRevision":
            return {"rules": ["紧扣请求", f"新规则 {len(str(messages[-1].content)) % 97}"], "changes": "c"}
        if name == "DetectorVerdict":
            return {"explanation": "e", "verdict": "Good" if len(str(messages[-1].content)) % 2 else "Bad"}
        if name == "ErrorDiagnosis":
            return {"diagnosis": "d", "suggestion": "s"}
        if name == "FlawedSample":
            return {"response": "<b>祝你生日快乐快乐快乐</b>", "planted_flaws": ["重复"], "explanation": "x"}
        return None

    rows = [{"query": f"q{i}", "response": "祝你" * (5 + i), "label": i % 2} for i in range(20)]
    result = refine_judge(Runtime.for_testing(FakeChatModel(responder=responder)), rows, ["生日祝福", "新年祝福"],
                          out_dir=tmp_path / "ref", config=RefinementConfig(iterations=2, val_fraction=0.5))
    text = render_refinement_report(result.summary, result.history, hard_negatives=result.hard_negatives)
    page = Page(text)
    assert_self_contained(text)
    assert_pngs(page, 1)  # κ over iterations
    gates = [h for h in result.history if h["target"] == "S_D"]
    proposals = page.table("proposals")
    assert [r[0] for r in proposals["rows"]] == [str(h["iteration"]) for h in gates]
    decisions = [r[2] for r in proposals["rows"]]
    assert decisions[0] == "starting rubric"
    assert set(decisions[1:]) <= {"accepted", "rejected", "no proposal"}
    fooled = [h for h in result.hard_negatives if not h["caught"]]
    if fooled:
        assert len(page.table("hard-negatives")["rows"]) == min(len(fooled), 25)


def test_policy_report_before_and_after() -> None:
    after = {"model": "runs/grpo", "n_prompts": 4, "n_completions": 8, "band": [30, 50], "band_30_50": {"n": 3},
             "length": {"mean": 44.0, "median": 42.0, "p10": 30.0, "p90": 61.0, "min": 20.0, "max": 80.0},
             "distinct_1": 0.4, "distinct_2": 0.7, "self_bleu": 0.2, "excellence": {"rate": 0.5},
             "samples": [{"query": "q", "completion": "<i>hi</i>", "length": 9, "judge": 1.0, "reward_model": None}]}
    before = {**after, "model": "runs/sft", "length": {**after["length"], "mean": 31.0}}
    text = render_policy_report(after, baseline=before)
    page = Page(text)
    assert_self_contained(text)
    assert_pngs(page, 1)
    assert [r[:2] for r in page.table("policy")["rows"]] == [["before", "runs/sft"], ["after", "runs/grpo"]]
    assert "&lt;i&gt;hi&lt;/i&gt;" in text
    # Per-completion lengths, when a report has them, draw a histogram instead of quantile boxes.
    hist = render_policy_report({**after, "lengths": [20, 30, 44]}, baseline={**before, "lengths": [25, 31]})
    assert_pngs(Page(hist), 1)
    assert Page(render_policy_report(after)).table("policy")["rows"][0][0] == "policy"


def test_missing_matplotlib_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from inkforge.core.errors import ConfigError
    from inkforge.evaluation.charts import check_matplotlib

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ConfigError, match=r'^field \'--html\': HTML reports draw their charts with matplotlib: '
                                          r'pip install "inkforge\[reports\]"$'):
        check_matplotlib()


# ------------------------------------------------------------------------------------------ CLI


@pytest.fixture
def model_flags(tmp_path: Path) -> Iterator[list[str]]:
    from inkforge.testing import StubServer

    def responder(body: dict[str, Any]) -> dict[str, Any] | None:
        name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
        if name == "DetectorVerdict":
            text = "\n".join(str(m.get("content") or "") for m in body.get("messages") or [])
            return {"explanation": "ok", "verdict": "Good" if len(text) % 2 else "Bad"}
        return None

    cfg = tmp_path / "models.yaml"
    cfg.write_text("cache: null\nconcurrency: 8\nmodels:\n  default: {max_retries: 0, timeout: 20}\n", encoding="utf-8")
    os.environ.setdefault("OPENAI_API_KEY", "sk-test-not-a-secret")
    with StubServer(responder=responder) as server:
        yield ["--config", str(cfg), "--base-url", server.base_url, "--model", "stub"]


def test_eval_judge_html_beside_the_json(tmp_path: Path, model_flags: list[str]) -> None:
    from inkforge.cli.app import app

    out, html = tmp_path / "report.json", tmp_path / "site" / "report.html"
    res = CliRunner().invoke(app, ["eval-judge", "--labels", str(DATA / "sample_labels.jsonl"), "--out", str(out),
                                   "--bootstrap", "0", "--limit", "16", "--html", str(html), *model_flags])
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text(encoding="utf-8"))
    page = Page(html.read_text(encoding="utf-8"))
    assert_pngs(page, 2)
    assert page.table("judge")["rows"][0][1] == str(report["overall"]["n"]) == "16"
    labels = [json.loads(x) for x in (DATA / "sample_labels.jsonl").read_text(encoding="utf-8").splitlines()][:16]
    wrong = [i for i in report["items"] if i["verdict"] is not None and i["verdict"] != i["label"]]
    texts = {r[2] for r in page.table("disagreements")["rows"]}
    assert texts == {labels[i["i"]]["response"] for i in wrong}  # the command passes the rows: texts shown


def test_eval_policy_compare_must_be_a_report(tmp_path: Path) -> None:
    from inkforge.cli.app import app

    bad = tmp_path / "r.json"
    bad.write_text('{"model": "x"}', encoding="utf-8")
    res = CliRunner().invoke(app, ["eval-policy", "--model", "m", "--prompts", str(DATA / "sample_queries.txt"),
                                   "--compare", str(bad)])
    assert res.exit_code == 2 and "not an eval-policy report" in " ".join(res.output.split())
    res = CliRunner().invoke(app, ["eval-policy", "--model", "m", "--prompts", str(DATA / "sample_queries.txt"),
                                   "--compare", str(bad), "--baseline-model", "b"])
    assert res.exit_code == 2 and "not both" in res.output


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="no Chromium: the browser check runs where it is installed")
def test_reports_render_in_headless_chromium(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, str(REPO / "bench" / "report_screenshots.py"), "--out", str(tmp_path)],
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=110,
                         cwd=tempfile.gettempdir())
    assert res.returncode == 0, res.stdout + res.stderr
    shots = sorted(p.name for p in tmp_path.glob("*.png"))
    assert shots == ["audit.png", "judge.png", "policy.png", "refine.png"]
    for p in tmp_path.glob("*.png"):
        assert p.read_bytes().startswith(PNG) and p.stat().st_size > 10_000
