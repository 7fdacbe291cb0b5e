"""TRL's GRPOTrainer trains a tiny local model on CPU with the judge reward, against the loopback stub."""

from __future__ import annotations

import math
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_DISABLED", "true")

QUERIES = ["给妈妈的生日祝福", "同事升职了", "新年问候客户", "闺蜜结婚"]


def test_grpo_trains_three_steps_with_the_judge_reward(tmp_path: Path, tiny_model_dir: Path) -> None:
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from inkforge.core.rubric import Rubric
    from inkforge.rewards.judge import JudgeReward
    from inkforge.testing import StubServer

    dataset = Dataset.from_dict({
        "prompt": [[{"role": "user", "content": f"请只生成一条祝福语：{q}"}] for q in QUERIES],
        "query": QUERIES,
    })
    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"), max_steps=3, per_device_train_batch_size=4, num_generations=4,
        max_completion_length=8, learning_rate=1e-4, logging_steps=1, report_to="none", use_cpu=True,
        bf16=False, save_strategy="no", disable_tqdm=True, seed=0,
    )
    with StubServer() as stub:
        judge = JudgeReward.from_rubric(Rubric.default("greeting"), base_url=stub.base_url, model="stub",
                                        concurrency=8, cache=None, group_mode="pairwise", num_generations=4)
        trainer = GRPOTrainer(model=str(tiny_model_dir), reward_funcs=[judge], args=args, train_dataset=dataset,
                              processing_class=AutoTokenizer.from_pretrained(tiny_model_dir))
        trainer.train()
        requests = stub.requests
    judge.close()

    history = trainer.state.log_history
    steps = [h for h in history if "rewards/judge/mean" in h]
    assert len(steps) == 3
    # Every completion was judged (no NaN rewards) and the per-sample status reached the training logs.
    assert all(not math.isnan(h["rewards/judge/mean"]) for h in steps)
    assert all(h["judge/ok_rate"] == 1.0 and h["judge/parse_error_rate"] == 0.0 for h in steps)
    # The judge saw the bare request (TRL's `query` column), and the detector prompt with the rubric.
    texts = [str(r["messages"]) for r in requests]
    assert any("给妈妈的生日祝福" in t and "请只生成一条祝福语" not in t for t in texts)
    assert judge.totals["n"] == 12 and judge.totals["ok"] == 12


def test_grpo_config_reward_spec_builds_the_judge(tmp_path: Path) -> None:
    # The GRPO config's `rewards: [{type: judge, rubric: ..., ...}]` reaches JudgeReward.from_rubric.
    from inkforge.core.rubric import Rubric
    from inkforge.training.reward_selection import build_reward

    path = tmp_path / "rubric.json"
    Rubric.default("greeting").save(path)
    reward = build_reward({"type": "judge", "rubric": str(path), "base_url": "http://127.0.0.1:9/v1",
                           "model": "stub", "cache": None, "group_mode": "listwise", "name": "judge_refined"})
    assert reward.__name__ == "judge_refined"
    assert reward.rubric.version == Rubric.default("greeting").version and reward.group_mode == "listwise"
