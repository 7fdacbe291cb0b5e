"""`make demo` end to end, offline: the tiny fallback model runs every stage of the pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in ("OPENAI_BASE_URL", "INKFORGE_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    from typer.testing import CliRunner

    from inkforge.cli.app import app

    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "tiny RANDOM model" in result.output  # the fallback is announced, not silent
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {"curation", "refinement", "sft_loss", "grpo_reward", "eval_policy"} <= set(summary)
    assert (out / "curation" / "pairs.jsonl").exists() and (out / "judge" / "rubric.json").exists()
    assert summary["eval_policy"]["n_completions"] == 2 and "excellence" in summary["eval_policy"]
    assert summary["sft_loss"] and summary["grpo_reward"]


def test_demo_stage_resumes_a_compatible_run_and_replaces_an_incompatible_one(tmp_path: Path) -> None:
    from inkforge.cli.demo_pipeline import _resume_or_fresh
    from inkforge.graphs.curation import curate
    from inkforge.llm.runtime import Runtime
    from inkforge.testing import FakeChatModel, fake_curation_responder

    rt = Runtime.for_testing(FakeChatModel(responder=fake_curation_responder()))
    folder = tmp_path / "curation"

    def stage(n: int) -> Any:
        return lambda resume: curate(["给奶奶的生日祝福", "给同事的新年祝福"], rt, out_dir=folder, resume=resume,
                                     n_candidates=n, as_records=True)

    _resume_or_fresh(folder, stage(2))
    _resume_or_fresh(folder, stage(2))  # same settings: resumed (nothing left to do)
    runs = json.loads((folder / "summary.json").read_text(encoding="utf-8"))["runs"]
    _resume_or_fresh(folder, stage(3))  # an earlier demo with other settings: replaced, not an error
    s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert runs == 2 and s["runs"] == 1 and s["fingerprint"]["n_candidates"] == 3 and s["items"]["done"] == 2
