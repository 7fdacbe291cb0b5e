"""The inkforge judge in a plain TRL GRPO script.

``JudgeReward`` is a TRL reward function: pass it in ``reward_funcs``. It scores every completion of a
step concurrently, logs ``judge/<status>_rate`` beside TRL's metrics, gives ``None`` (masked by TRL)
for a failed verdict instead of a fake 0.0, and stops training when the judge mostly fails.

Real run (a policy on the hub or a local folder, a judge behind any OpenAI-compatible endpoint)::

    python examples/trl_judge.py --policy Qwen/Qwen2.5-0.5B-Instruct --rubric runs/judge/rubric.json \\
        --judge-base-url http://localhost:8000/v1 --judge-model qwen2.5-72b-instruct --max-steps 200

Offline smoke run (a tiny random policy built on the spot, the loopback stub server as the judge)::

    INKFORGE_EXAMPLE_OFFLINE=1 python examples/trl_judge.py --out runs/trl-judge
"""

from __future__ import annotations

import argparse
import os
import tempfile
from importlib import resources
from pathlib import Path

from datasets import Dataset
from transformers import AutoTokenizer
from trl import GRPOConfig, GRPOTrainer

from inkforge.core.rubric import Rubric
from inkforge.rewards.guards import GuardedReward, default_guards
from inkforge.rewards.judge import JudgeReward

PREFIX = "请只生成一条祝福语："  # the paper's prompt prefix; the judge sees the bare request (`query`)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", help="Model to train (hub id or folder)")
    parser.add_argument("--rubric", help="rubric.json from `inkforge refine-judge` (default: the starting rubric)")
    parser.add_argument("--judge-base-url")
    parser.add_argument("--judge-model")
    parser.add_argument("--queries", help="One request a line (default: inkforge's sample queries)")
    parser.add_argument("--out", type=Path, default=Path("runs/trl-judge"))
    parser.add_argument("--max-steps", type=int, default=100)
    args = parser.parse_args()

    offline = os.environ.get("INKFORGE_EXAMPLE_OFFLINE") == "1"
    stub = None
    if offline:
        from inkforge.testing import StubServer, build_tiny_chat_model

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        args.policy = str(build_tiny_chat_model(Path(tempfile.mkdtemp(prefix="tiny-policy-")) / "model"))
        stub = StubServer().start()  # answers every judge request with a schema-valid (random) verdict
        args.judge_base_url, args.judge_model, args.max_steps = stub.base_url, "stub", 2
        print(f"offline: tiny random policy {args.policy}, stub judge at {stub.base_url}")
    if not args.policy:
        parser.error("--policy is required (or set INKFORGE_EXAMPLE_OFFLINE=1)")

    text = (Path(args.queries).read_text(encoding="utf-8") if args.queries else
            resources.files("inkforge.data").joinpath("sample_queries.txt").read_text(encoding="utf-8"))
    queries = [q.strip() for q in text.splitlines() if q.strip()]
    dataset = Dataset.from_dict({
        "prompt": [[{"role": "user", "content": PREFIX + q}] for q in queries],
        "query": queries,  # TRL passes extra columns to reward functions: the judge reads the bare request
    })

    rubric = Rubric.load(args.rubric) if args.rubric else Rubric.default("greeting")
    judge = JudgeReward.from_rubric(rubric, base_url=args.judge_base_url, model=args.judge_model,
                                    concurrency=64, group_mode="pairwise", num_generations=4,
                                    cache=None if offline else "config")
    # Guards: a completion that talks to the grader, loops or copies the prompt loses its reward.
    reward = GuardedReward(judge, default_guards("zh"), mode="penalize")

    config = GRPOConfig(
        output_dir=str(args.out), max_steps=args.max_steps, num_generations=4, per_device_train_batch_size=8,
        max_completion_length=16 if offline else 128, learning_rate=1e-5, beta=0.0 if offline else 0.001,
        logging_steps=1, save_strategy="no", report_to="none", bf16=False, use_cpu=offline,
        disable_tqdm=offline, seed=0,
    )
    trainer = GRPOTrainer(model=args.policy, reward_funcs=[reward], args=config, train_dataset=dataset,
                          processing_class=AutoTokenizer.from_pretrained(args.policy))
    try:
        trainer.train()
    finally:
        judge.close()
        if stub is not None:
            stub.stop()

    for log in trainer.state.log_history:
        if "judge/ok_rate" in log:
            print(f"step {log['step']}: reward {log['reward']:.3f}  judge ok {log['judge/ok_rate']:.0%}  "
                  f"parse errors {log['judge/parse_error_rate']:.0%}  guards fired {log.get('guards/any', 0):.0%}")
    print(f"judge totals: {judge.totals}")


if __name__ == "__main__":
    main()
