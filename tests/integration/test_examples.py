"""The examples run offline, as a user would start them, and produce what they promise.

Each runs in a subprocess from a temporary directory with ``INKFORGE_EXAMPLE_OFFLINE=1`` (a scripted
fake model or the loopback stub server plays every agent; the TRL example builds a tiny policy) and
``HF_HUB_OFFLINE=1``, with no endpoint in the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

pytestmark = pytest.mark.timeout(240)


def run_example(script: Path, tmp_path: Path, *args: str, timeout: int = 200) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "INKFORGE_MODEL", "INKFORGE_OPENAI_MODEL")}
    env.update(INKFORGE_EXAMPLE_OFFLINE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", WANDB_DISABLED="true",
               TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1", PYTHONIOENCODING="utf-8")
    proc = subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{script.name} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_custom_graph_uses_our_critic_and_safety_node_without_reflector(tmp_path: Path) -> None:
    out = run_example(EXAMPLES / "custom_graph.py", tmp_path, "--out", "runs/custom")
    assert "graph TD" in out and "safety --> pair" in out and "reflector" not in out.split("pairs,")[0]
    judged = _jsonl(tmp_path / "runs/custom/judgements.jsonl")
    assert judged and all(j["reflector"] is None and "generic" in j["negative"] for j in judged)
    vetoed = [j for j in judged if j["vetoes"]]
    assert vetoed and all(j["label"] == 0 and j["vetoes"][0]["by"] == "safety" for j in vetoed)
    pairs = _jsonl(tmp_path / "runs/custom/pairs.jsonl")
    assert pairs and all(p["pair_policy"] == "best_vs_worst" for p in pairs)
    assert all(p["prompt_versions"]["negative_critic"] and "reflector" not in p["prompt_versions"] for p in pairs)


def test_english_poems_curate_refine_and_evaluate(tmp_path: Path) -> None:
    out = run_example(EXAMPLES / "english_poems" / "run.py", tmp_path, "--out", "runs/poems")
    assert out.count("$ inkforge ") == 3
    run = tmp_path / "runs/poems"
    pairs = _jsonl(run / "curate/pairs.jsonl")
    assert pairs and all("\n" in p["chosen"] for p in pairs)                 # English poems, not greetings
    summary = json.loads((run / "curate/summary.json").read_text(encoding="utf-8"))
    assert summary["fingerprint"]["models"]["writer"] == "offline-stub"
    rubric = json.loads((run / "judge/rubric.json").read_text(encoding="utf-8"))
    assert rubric["task"] == "poem" and rubric["language"] == "en" and len(rubric["rules"]) >= 6
    history = _jsonl(run / "judge/history.jsonl")
    assert any(h.get("accepted") for h in history if h["target"] == "S_D" and h["kind"] == "candidate")
    report = json.loads((run / "eval.json").read_text(encoding="utf-8"))
    assert report["overall"]["n"] == 16 and "length_baseline" in report["overall"]


def test_trl_judge_trains_two_grpo_steps_with_the_judge(tmp_path: Path) -> None:
    out = run_example(EXAMPLES / "trl_judge.py", tmp_path, "--out", "runs/trl")
    steps = [line for line in out.splitlines() if line.startswith("step ")]
    assert len(steps) == 2 and all("judge ok 100%" in s for s in steps)
    assert "'n': 16, 'ok': 16" in out
