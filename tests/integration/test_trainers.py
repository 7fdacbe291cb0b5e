"""The three TRL stages, the monitor, policy evaluation and the CLI, on a tiny local model (CPU)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_DISABLED", "true")

from inkforge.testing.tiny import build_tiny_chat_model  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    # TRL 1.16 still calls transformers' deprecated is_gradient_checkpointing; not ours to fix.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]

PREFIX = "请只生成一条祝福语："
QUERIES = ["给妈妈的生日祝福", "同事升职了", "新年问候客户", "闺蜜结婚", "表妹考上大学", "中秋节问候", "老师节日快乐", "朋友乔迁"]
# Our own short pairs: a specific, warm greeting beats a curt one.
PAIRS = [
    ("给妈妈的生日祝福", "妈妈，生日快乐！谢谢您这些年的操劳，愿您健康长寿，笑口常开。", "生日快乐。"),
    ("同事升职了", "恭喜升职！你的努力大家都看在眼里，新岗位一定大展身手。", "恭喜。"),
    ("新年问候客户", "新年快乐！感谢您一年来的信任与支持，祝您阖家幸福，万事顺意。", "新年好。"),
    ("闺蜜结婚", "亲爱的，新婚快乐！愿你们相知相守，白头偕老，永远甜甜蜜蜜。", "结婚快乐。"),
    ("表妹考上大学", "恭喜表妹金榜题名！愿你在大学里找到热爱的方向，前程似锦。", "恭喜考上。"),
    ("中秋节问候", "中秋快乐！月圆人团圆，愿你和家人平安喜乐，幸福美满。", "中秋好。"),
]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("training")
    _jsonl(root / "sft.jsonl", [{"prompt": q, "response": c, "source": "test"} for q, c, _ in PAIRS])
    _jsonl(root / "pairs.jsonl", [{"prompt": q, "chosen": c, "rejected": r, "judge": "pairwise"} for q, c, r in PAIRS])
    (root / "queries.txt").write_text("\n".join(QUERIES) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def tiny(workdir: Path) -> str:
    return str(build_tiny_chat_model(workdir / "tiny"))


def _common(tiny: str, out: Path) -> dict[str, Any]:
    return {"model_name_or_path": tiny, "output_dir": str(out), "disable_tqdm": True, "log_level": "error"}


@pytest.fixture(scope="module")
def trained_rm(workdir: Path, tiny: str) -> tuple[Path, Any]:
    from inkforge.training.config import RewardTrainingConfig, load_config
    from inkforge.training.reward_model import train_reward_model

    cfg = load_config(
        RewardTrainingConfig, "smoke_rm.yaml", **_common(tiny, workdir / "rm"),
        train_file=str(workdir / "pairs.jsonl"), max_steps=12, per_device_train_batch_size=6, learning_rate=3e-3,
    )
    return workdir / "rm", train_reward_model(cfg)


# -- SFT --------------------------------------------------------------------------------------------


def test_sft_trains_and_saves_a_loadable_model(workdir: Path, tiny: str) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from inkforge.training.config import SFTTrainingConfig, load_config
    from inkforge.training.sft import train_sft

    out = workdir / "sft"
    cfg = load_config(SFTTrainingConfig, "smoke_sft.yaml", **_common(tiny, out),
                      train_file=str(workdir / "sft.jsonl"), max_steps=6, per_device_train_batch_size=6)
    trainer = train_sft(cfg)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 6 and losses[-1] < losses[0]

    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.chat_template == AutoTokenizer.from_pretrained(tiny).chat_template
    inputs = tok.apply_chat_template([{"role": "user", "content": PREFIX + "生日"}], add_generation_prompt=True,
                                     return_tensors="pt", return_dict=True)
    assert model.generate(**inputs, max_new_tokens=4, do_sample=False).shape[1] > inputs["input_ids"].shape[1]


def test_sft_with_lora_trains_adapters_and_saves_a_merged_model(workdir: Path, tiny: str) -> None:
    """LoRA: only adapted modules change; the result is merged into a plain, loadable model folder."""
    from transformers import AutoModelForCausalLM

    from inkforge.training.config import SFTTrainingConfig, load_config
    from inkforge.training.sft import train_sft

    out = workdir / "sft_lora"
    cfg = load_config(SFTTrainingConfig, "smoke_sft.yaml", **_common(tiny, out), train_file=str(workdir / "sft.jsonl"),
                      max_steps=3, per_device_train_batch_size=6, use_peft=True, lora_r=4, lora_alpha=8,
                      learning_rate=5e-2)
    train_sft(cfg)
    assert not (out / "adapter_config.json").exists()  # merged: the next stage and vLLM need no peft
    base = dict(AutoModelForCausalLM.from_pretrained(tiny).named_parameters())
    tuned = dict(AutoModelForCausalLM.from_pretrained(out).named_parameters())
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not tuned[name].detach().equal(base[name].detach())  # an adapted (linear) module changed
    assert tuned["model.embed_tokens.weight"].detach().equal(base["model.embed_tokens.weight"].detach())


# -- reward model -----------------------------------------------------------------------------------


def test_reward_model_trains_saves_meta_and_scores_like_training(trained_rm: tuple[Path, Any], workdir: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from inkforge.rewards.reward_model import REWARD_MODEL_META, RewardModelReward

    rm_dir, trainer = trained_rm
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses[-1] < losses[0]
    model = AutoModelForSequenceClassification.from_pretrained(rm_dir)
    assert model.config.num_labels == 1 and model.config.pad_token_id is not None
    meta = json.loads((rm_dir / REWARD_MODEL_META).read_text(encoding="utf-8"))
    assert meta["conversational"] is True and meta["prompt_prefix"] == PREFIX

    # The reward formats (prompt, completion) into exactly the tokens RewardTrainer trained on.
    reward = RewardModelReward(rm_dir, batch_size=4, device="cpu")
    tok = AutoTokenizer.from_pretrained(rm_dir)
    example = trainer.train_dataset[0]
    query, chosen, _ = PAIRS[0]
    chat_prompt = [{"role": "user", "content": PREFIX + query}]
    assert tok(reward.format(chat_prompt, [{"role": "assistant", "content": chosen}]),
               add_special_tokens=False)["input_ids"] == example["chosen_ids"]
    # A bare-string prompt gets the RM's prefix and chat template from the metadata.
    assert reward.format(query, chosen) == reward.format(chat_prompt, [{"role": "assistant", "content": chosen}])

    # It learned the training pairs: chosen outscores rejected on most of them.
    prompts = [[{"role": "user", "content": PREFIX + q}] for q, _, _ in PAIRS]
    good = reward(prompts=prompts, completions=[[{"role": "assistant", "content": c}] for _, c, _ in PAIRS])
    bad = reward(prompts=prompts, completions=[[{"role": "assistant", "content": r}] for _, _, r in PAIRS])
    assert sum(g > b for g, b in zip(good, bad, strict=True)) >= 5

    # Picklable after use, without the weights.
    copy = pickle.loads(pickle.dumps(reward))
    assert copy._model is None
    assert copy(prompts=prompts[:1], completions=[PAIRS[0][1]]) == pytest.approx(good[:1], abs=1e-5)


# -- GRPO -------------------------------------------------------------------------------------------


def _grpo(workdir: Path, tiny: str, out: str, **overrides: Any) -> Any:
    from inkforge.training.config import GRPOTrainingConfig, load_config
    from inkforge.training.grpo import train_grpo

    values = {**_common(tiny, workdir / out), "train_file": str(workdir / "queries.txt"), "monitor_every_steps": 0}
    values.update(overrides)
    return train_grpo(load_config(GRPOTrainingConfig, "smoke_grpo.yaml", **values))


def _rewards(trainer: Any, key: str = "reward") -> list[float]:
    return [h[key] for h in trainer.state.log_history if key in h]


def test_grpo_with_a_length_target_raises_the_reward(workdir: Path, tiny: str) -> None:
    # A random tiny model writes ~1.5 characters per token; 12 tokens make ~18 characters, and the
    # reward asks for 50. The policy can only get there by choosing multi-character tokens, so a
    # rising reward shows the GRPO loop (sampling, advantages, policy update) works end to end.
    trainer = _grpo(
        workdir, tiny, "grpo_learn",
        rewards=[{"type": "rule", "name": "length_target", "target": 50}],
        num_generations=4, per_device_train_batch_size=16, max_completion_length=12,
        learning_rate=3e-2, max_steps=12, seed=1,
    )
    rewards = _rewards(trainer)
    assert len(rewards) == 12
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert last > first + 0.08, rewards
    assert (workdir / "grpo_learn" / "config.json").is_file()


def test_grpo_with_reward_model_guards_and_monitor(workdir: Path, tiny: str, trained_rm: tuple[Path, Any]) -> None:
    rm_dir, _ = trained_rm
    trainer = _grpo(
        workdir, tiny, "grpo_rm",
        rewards=[{"type": "reward_model", "path": str(rm_dir), "weight": 1.0},
                 {"type": "rule", "name": "length_target", "target": 20, "weight": 0.5}],
        guards=[{"name": "default", "language": "zh"}], guard_mode="penalize",
        max_steps=2, monitor_every_steps=1, monitor_num_probes=3, monitor_max_new_tokens=8,
    )
    history = trainer.state.log_history
    assert trainer.args.reward_weights == [1.0, 0.5]
    assert _rewards(trainer, "rewards/guarded_reward_model/mean")
    assert _rewards(trainer, "rewards/guarded_length_target/mean")
    # Baseline probe before training, then one per step, in the step's own log row.
    probes = [h for h in history if "monitor/distinct_2" in h]
    assert [h["step"] for h in probes] == [0, 1, 2]
    assert {"monitor/length_mean", "monitor/in_band", "monitor/guard_rate",
            "monitor/reward/guarded_reward_model"} <= set(probes[-1])
    assert "reward" in probes[-1]


def test_grpo_with_a_length_debiased_reward_logs_length_drift(workdir: Path, tiny: str) -> None:
    trainer = _grpo(
        workdir, tiny, "grpo_debiased",
        rewards=[{"type": "rule", "name": "length_target", "target": 20,
                  "debias": {"length_residual": True, "length_band": {"band": [5, 30]}}}],
        max_steps=2, monitor_every_steps=1, monitor_num_probes=2, monitor_max_new_tokens=6,
        monitor_band_min=5, monitor_band_max=30,
    )
    name = "length_target_length_residual_length_band"
    rows = [h for h in trainer.state.log_history if f"rewards/{name}/mean" in h]
    assert len(rows) == 2
    # The length drift sits in the same log row as the reward: slope, mean length, in-band share.
    for row in rows:
        assert {"length_target_length_residual/length_slope", f"{name}/length_mean", f"{name}/in_band",
                "monitor/in_band"} <= set(row)
        assert 0.0 <= row[f"{name}/in_band"] <= 1.0


def test_monitor_stops_training_on_drift(workdir: Path, tiny: str) -> None:
    from inkforge.training.callbacks import RewardHackingMonitor

    trainer = _grpo(
        workdir, tiny, "grpo_stop",
        rewards=[{"type": "rule", "name": "length_target", "target": 20}],
        max_steps=5, monitor_every_steps=1, monitor_num_probes=2, monitor_max_new_tokens=6,
        monitor_min_distinct2=1.01,  # unreachable: any probe after the baseline trips it
    )
    monitor = next(c for c in trainer.callback_handler.callbacks if isinstance(c, RewardHackingMonitor))
    assert trainer.state.global_step == 1
    assert monitor.stop_reason is not None and "distinct-2" in monitor.stop_reason


def test_grpo_resumes_from_a_checkpoint(workdir: Path, tiny: str) -> None:
    common = {"rewards": [{"type": "rule", "name": "length_target", "target": 20}], "save_strategy": "steps",
              "save_steps": 2}
    _grpo(workdir, tiny, "grpo_resume", max_steps=2, **common)
    checkpoint = workdir / "grpo_resume" / "checkpoint-2"
    assert (checkpoint / "trainer_state.json").is_file() and (checkpoint / "optimizer.pt").is_file()

    trainer = _grpo(workdir, tiny, "grpo_resume", max_steps=3, resume_from_checkpoint=str(checkpoint), **common)
    assert trainer.state.global_step == 3
    steps = [h["step"] for h in trainer.state.log_history if "reward" in h]
    assert steps == [1, 2, 3]  # steps 1-2 restored from the checkpoint, step 3 trained now


# -- evaluation and CLI -----------------------------------------------------------------------------


def test_evaluate_policy_report(workdir: Path, tiny: str, trained_rm: tuple[Path, Any]) -> None:
    from inkforge.cli.reports import print_policy_report
    from inkforge.training.eval_policy import evaluate_policy

    calls: list[int] = []

    def judge(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        calls.append(len(completions))
        assert kwargs["query"][0] == "生日祝福"
        # Passes, fails, and one failure to score (must not count as a pass or as a 0 score).
        return [1.0, 0.0, None, 1.0][: len(completions)]

    report = evaluate_policy(tiny, ["生日祝福", "新年祝福"], judge=judge, reward_model=trained_rm[0], n=2,
                             max_new_tokens=8, backend="transformers")
    assert calls == [4]
    assert report["n_prompts"] == 2 and report["n_completions"] == 4
    assert report["excellence"] == {"rate": 0.5, "rate_scored": 2 / 3, "passed": 2, "failed": 1, "unscored": 1}
    assert report["reward_model"]["n"] == 4
    assert 0.0 <= report["distinct_2"] <= 1.0 and 0.0 <= report["self_bleu"] <= 1.0
    assert set(report["band_30_50"]) == {"n", "excellence", "reward_model"}
    assert len(report["samples"]) == 4 and report["samples"][2]["judge"] is None
    json.dumps(report, ensure_ascii=False)
    print_policy_report(report)


def test_cli_train_and_eval_policy(workdir: Path, tiny: str) -> None:
    import typer
    from typer.testing import CliRunner

    from inkforge.cli.train import eval_policy_cmd, train_app

    runner = CliRunner()
    out = workdir / "cli_sft"
    result = runner.invoke(train_app, [
        "sft", "--config", "smoke_sft.yaml", "--model_name_or_path", tiny, "--train_file",
        str(workdir / "sft.jsonl"), "--output_dir", str(out), "--max_steps", "1", "--disable_tqdm", "true",
    ])
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file()

    bad = _jsonl(workdir / "bad.jsonl", [{"prompt": "a", "response": "b"}, {"prompt": "a"}])
    result = runner.invoke(train_app, ["sft", "--config", "smoke_sft.yaml", "--model_name_or_path", tiny,
                                       "--train_file", str(bad), "--output_dir", str(workdir / "cli_bad")])
    assert result.exit_code == 2
    assert "bad.jsonl:2" in result.output and "response" in result.output

    app = typer.Typer()
    app.command("eval-policy")(eval_policy_cmd)
    app.command("noop")(lambda: None)  # a second command keeps typer from collapsing the group
    report_path = workdir / "report.json"
    result = runner.invoke(app, ["eval-policy", "--model", tiny, "--prompts", str(workdir / "queries.txt"),
                                 "--max-prompts", "3", "--max-new-tokens", "6", "--out", str(report_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(report_path.read_text(encoding="utf-8"))["n_completions"] == 3
