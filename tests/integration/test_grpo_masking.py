"""TRL's real GRPOTrainer with judge + rule + guards: a failed judge call masks the whole completion.

Without the mask, TRL 1.16 sums the rule (and guard penalty) of a completion whose judge call failed
and trains on it as if the judge had given 0; with it, the row is unscorable: its advantage is 0 and
it is left out of the group baseline and the logged rewards.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_DISABLED", "true")

QUERIES = ["给妈妈的生日祝福", "同事升职了", "新年问候客户", "闺蜜结婚"]


def test_failed_judge_rows_are_masked_not_zero(tmp_path: Path, tiny_model_dir: Path) -> None:
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from inkforge.core.rubric import Rubric
    from inkforge.testing import StubServer
    from inkforge.testing.stub.faults import Faults
    from inkforge.training.reward_selection import build_reward_funcs

    rubric = tmp_path / "rubric.json"
    Rubric.default("greeting").save(rubric)
    dataset = Dataset.from_dict({
        "prompt": [[{"role": "user", "content": f"请只生成一条祝福语：{q}"}] for q in QUERIES],
        "query": QUERIES,
    })
    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"), max_steps=3, per_device_train_batch_size=8, num_generations=4,
        max_completion_length=8, learning_rate=1e-4, logging_steps=1, report_to="none", use_cpu=True,
        bf16=False, save_strategy="no", disable_tqdm=True, seed=0, reward_weights=[1.0, 0.5],
    )

    class Snapshot(TrainerCallback):
        """What TRL computed for each step's batch: per-reward columns, advantages, masked flags."""

        trainer: Any = None
        steps: list[dict[str, Any]] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            logs = self.trainer._logs
            self.steps.append({"rewards": {k: list(v) for k, v in logs["rewards"].items()},
                               "advantages": list(logs["advantages"]),
                               "masked": list(logs["extra"]["reward_masked"]),
                               "status": list(logs["extra"]["judge_status"])})

    # 400s are not retried: about a third of the judge calls fail for good.
    with StubServer(faults=Faults(status_rates={400: 0.35}, seed=3)) as stub:
        funcs, _ = build_reward_funcs(
            [{"type": "judge", "rubric": str(rubric), "base_url": stub.base_url, "model": "stub", "cache": None,
              "max_failure_rate": 1.0, "concurrency": 8},
             {"type": "rule", "name": "length_target", "target": 10, "weight": 0.5}],
            guards=[{"name": "default", "language": "zh"}], num_generations=4)
        snapshot = Snapshot()
        trainer = GRPOTrainer(model=str(tiny_model_dir), reward_funcs=funcs, args=args, train_dataset=dataset,
                              processing_class=AutoTokenizer.from_pretrained(tiny_model_dir), callbacks=[snapshot])
        snapshot.trainer = trainer
        trainer.train()
    funcs[0].owner.reward_fns[0].reward_fn.close()

    names = [f.__name__ for f in funcs]
    assert names == ["guarded_judge", "guarded_length_target"]
    failed = masked_total = 0
    for step in snapshot.steps:
        judge, rule = step["rewards"]["guarded_judge"], step["rewards"]["guarded_length_target"]
        for i, status in enumerate(step["status"]):
            if status != "ok":  # the judge failed: every reward of the row is masked, its advantage is 0
                failed += 1
                assert math.isnan(judge[i]) and math.isnan(rule[i]) and step["masked"][i]
                assert step["advantages"][i] == 0.0
            else:
                assert not math.isnan(judge[i]) and not math.isnan(rule[i]) and not step["masked"][i]
        masked_total += sum(step["masked"])
    assert failed > 0 and masked_total == failed
    owner = funcs[0].owner
    assert owner.totals["masked"] == failed == owner.totals["failed"]["guarded_judge"]
    # The masked share reaches the training log beside the judge's own failure rate.
    rows = [h for h in trainer.state.log_history if "reward_mask/masked_rate" in h]
    assert len(rows) == 3
    for row in rows:
        assert row["reward_mask/masked_rate"] == row["judge/failure_rate"]
    assert any(row["reward_mask/masked_rate"] > 0 for row in rows)
