"""The demo's pipeline stages after the agent demo: curate → refine judge → SFT → GRPO → eval-policy.

Everything runs at toy scale on the project's own sample data (``inkforge/data/``), on whatever model
the demo runtime uses (an endpoint, the embedded local model, or the offline tiny fallback). The
policy trained is the embedded local model (``INKFORGE_MODEL`` or the tiny fallback); with only an
endpoint configured the training stages are skipped, since an endpoint cannot be fine-tuned.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from inkforge.cli.display import RunProgressBar
from inkforge.cli.options import console


def _data(name: str) -> Path:
    return Path(str(resources.files("inkforge.data").joinpath(name)))


def _write_config(runtime: Any, path: Path) -> Path:
    """The demo runtime's config as YAML, so the GRPO judge reward uses the same models (no secrets)."""
    cfg = runtime.config.model_dump(mode="json", exclude={"source"})
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _policy_model(runtime: Any) -> str | None:
    spec = runtime.spec_for("writer")
    if spec.provider == "local":
        return spec.model
    return os.environ.get("INKFORGE_MODEL")


def _device_flags() -> dict[str, Any]:
    import torch

    gpu = torch.cuda.is_available()
    return {"use_cpu": not gpu, "bf16": gpu, "report_to": "none", "save_strategy": "no", "seed": 0,
            "logging_steps": 1}


def _resume_or_fresh(folder: Path, stage: Callable[[bool], Any]) -> Any:
    """Run a stage resuming the demo's earlier outputs in ``folder`` when they match, else afresh.

    A demo run earlier with other settings (another model, an endpoint) left a run that cannot be
    resumed with these: it is the demo's own leftover, so it is replaced, never an error.
    """
    from inkforge.core.errors import InputError

    if not folder.exists():
        return stage(False)
    try:
        return stage(True)
    except InputError as e:
        if e.field != "--resume" and "resume" not in str(e):
            raise
        console.print(f"[yellow]{folder} holds an earlier demo run with other settings; starting it afresh[/yellow]")
        shutil.rmtree(folder)
        return stage(False)


def run_pipeline(runtime: Any, queries: list[str], out: Path) -> dict[str, Any]:
    """Run the stages; returns a summary (also written to ``out/summary.json``)."""
    from inkforge.evaluation import load_labels
    from inkforge.graphs.curation import curate
    from inkforge.graphs.refinement import RefinementConfig, refine_judge

    summary: dict[str, Any] = {}
    cfg_path = _write_config(runtime, out / "inkforge.yaml")

    console.rule("2. curation graph: writer ×2 → critics → judge → reflector → pairs")
    pairs = _resume_or_fresh(out / "curation", lambda resume: curate(
        queries, runtime, out_dir=out / "curation", resume=resume, n_candidates=2, pair_policy="one",
        corpus=_data("sample_corpus.jsonl"), k=2, on_progress=RunProgressBar(console), as_records=True))
    cur = json.loads((out / "curation" / "summary.json").read_text(encoding="utf-8"))
    console.print(f"pairs: {len(pairs)}; summary: { {k: cur.get(k) for k in ('items', 'pairs', 'no_pair', 'failed')} }")
    summary["curation"] = cur

    console.rule("3. judge refinement: adversarial game + reflection, gated on held-out labels")
    labels = load_labels(_data("sample_labels.jsonl"))
    refine_cfg = RefinementConfig(iterations=1, adversarial_batch=2, reflection_batch=4, val_fraction=0.5, seed=0)
    result = _resume_or_fresh(out / "judge", lambda resume: refine_judge(
        runtime, labels, queries, out_dir=out / "judge", config=refine_cfg, resume=resume))
    rubric_path = out / "judge" / "rubric.json"
    console.print(f"rubric {rubric_path} (version {json.loads(rubric_path.read_text('utf-8'))['version']})")
    summary["refinement"] = getattr(result, "summary", None) or str(result)

    policy = _policy_model(runtime)
    if policy is None:
        console.print("[yellow]no local policy model (INKFORGE_MODEL): skipping SFT, GRPO and eval-policy[/yellow]")
        (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), "utf-8")
        return summary

    import warnings

    # TRL 1.16 still calls transformers' renamed gradient-checkpointing methods; the warning is theirs,
    # not the user's to act on, and would bury the demo's output.
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")

    from inkforge.cli.reports import print_policy_report
    from inkforge.training.config import GRPOTrainingConfig, SFTTrainingConfig
    from inkforge.training.eval_policy import evaluate_policy
    from inkforge.training.grpo import train_grpo
    from inkforge.training.sft import train_sft

    console.rule("4. SFT cold start on our sample corpus + curated chosen responses")
    sft_file = out / "sft.jsonl"
    with sft_file.open("w", encoding="utf-8") as f:
        for line in _data("sample_corpus.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            f.write(json.dumps({"prompt": row["query"], "response": row["response"]}, ensure_ascii=False) + "\n")
        for p in pairs:
            f.write(json.dumps({"prompt": p["prompt"], "response": p["chosen"]}, ensure_ascii=False) + "\n")
    sft = train_sft(SFTTrainingConfig(model_name_or_path=policy, train_file=str(sft_file), output_dir=str(out / "sft"),
                                      prompt_prefix="请只生成一条祝福语：", max_steps=3, per_device_train_batch_size=4,
                                      learning_rate=1e-4, max_length=256, **_device_flags()))
    summary["sft_loss"] = [h["loss"] for h in sft.state.log_history if "loss" in h]

    console.rule("5. GRPO with the refined judge (+ guards)")
    grpo_cfg = GRPOTrainingConfig(
        model_name_or_path=str(out / "sft"), train_file=str(_data("sample_queries.txt")), output_dir=str(out / "grpo"),
        prompt_prefix="请只生成一条祝福语：", max_train_samples=4,
        rewards=[{"type": "judge", "rubric": str(rubric_path), "config": str(cfg_path), "weight": 1.0}],
        guards=[{"name": "default", "language": runtime.task.language}],
        num_generations=2, per_device_train_batch_size=4, max_completion_length=24, max_steps=2, beta=0.0,
        learning_rate=1e-5, temperature=1.0, **_device_flags())
    grpo = train_grpo(grpo_cfg)
    summary["grpo_reward"] = [h.get("reward") for h in grpo.state.log_history if "reward" in h]

    console.rule("6. eval-policy: excellence rate (judge pass rate), length, diversity")
    from inkforge.rewards.judge import JudgeReward

    judge = JudgeReward.from_rubric(rubric_path, config=cfg_path)
    report = evaluate_policy(out / "grpo", queries, judge=judge, max_new_tokens=32, num_samples=3)
    print_policy_report(report, console)
    summary["eval_policy"] = {k: v for k, v in report.items() if k != "samples"}
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), "utf-8")
    console.print(f"[green]demo finished[/green]: outputs in {out}/")
    return summary
