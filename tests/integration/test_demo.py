"""`make demo` end to end, offline: the tiny fallback model runs every stage of the pipeline."""

from __future__ import annotations

import json
from pathlib import Path

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
