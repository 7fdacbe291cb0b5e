"""End to end on CPU, on the paper's data: SFT from scratch → reward model → GRPO against it.

Reads the paper's released data by path from ``<repo>/../shared/data/paper/`` (skips with a message
when it is absent; nothing from it is written into the repository: split files go to a temporary
work folder) and, within a ~15-minute budget on 2 cores:

1. builds a small Qwen2 model (random init) with a byte-level BPE tokenizer trained at run time on the
   data's own text, and SFTs it on ``sft.jsonl`` for ``--sft-minutes``;
2. trains a reward model from the SFT backbone on ``preference_train.jsonl`` for ``--rm-minutes``,
   holding out every length-matched pair (|Δlen| ≤ 3 characters) plus 5% of the rest;
3. reports the reward model on ``human_labels_dev.jsonl``: accuracy (best threshold on the dev set)
   and ROC-AUC, overall and within the 30–50-character band, each beside the length-only baselines
   (``len >= 39`` → good, and the best length threshold), plus the RM-score/length correlation;
   pairwise accuracy on length-matched pairs: the held-out preference pairs (same prompt), and
   good-vs-bad human-labelled greetings of lengths within ±3 characters (different queries);
4. runs GRPO from the SFT policy against the reward model for ``--grpo-minutes`` and reports the
   policy's reward-model score (and length, distinct-2, self-BLEU) on held-out queries before and after;
5. runs GRPO again from the same SFT policy, same seed and the same number of steps, against the
   length-debiased reward model (``--debias``, a reward spec's ``debias`` mapping; by default the
   group-relative length residual) and reports the same figures as ``grpo_debiased``, printed beside
   the plain run: in-band (30–50 characters) RM score before/after and the mean length change.

Human labels follow length ~90% of the time, so every quality figure is printed beside the
length-only baseline and on the length-controlled slice.

``--scale`` multiplies every stage's minutes (``--scale 0.5``: about half the run); ``--grpo-steps``
fixes the GRPO steps instead of timing them.

Run: ``.venv/bin/python bench/e2e_cpu.py [--out bench/out/e2e_cpu.json] [--scale 1] [--sft-minutes 4] ...``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_DISABLED", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO / ".." / "shared" / "data" / "paper"
PREFIX = "请只生成一条祝福语："
BAND = (30, 50)
LENGTH_THRESHOLD = 39


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


# -- metrics ----------------------------------------------------------------------------------------


def auc(scores: list[float], labels: list[int]) -> float | None:
    """ROC-AUC (Mann-Whitney U, ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    if not pos or not neg:
        return None
    ranked = sorted((s, i) for i, s in enumerate(scores))
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[ranked[k][1]] = (i + j) / 2 + 1
        i = j + 1
    pos_rank = sum(r for r, y in zip(ranks, labels, strict=True) if y == 1)
    return (pos_rank - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def best_threshold_accuracy(scores: list[float], labels: list[int]) -> tuple[float, float]:
    """Best accuracy of ``score >= t → good`` over all thresholds t, and that t (fitted on these labels)."""
    order = sorted(set(scores))
    candidates = [order[0] - 1.0] + order
    best = (0.0, candidates[0])
    for t in candidates:
        acc = sum((s >= t) == (y == 1) for s, y in zip(scores, labels, strict=True)) / len(labels)
        if acc > best[0]:
            best = (acc, t)
    return best


def spearman(xs: list[float], ys: list[float]) -> float:
    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2
            i = j + 1
        return out

    rx, ry = ranks(xs), ranks(ys)
    return statistics.correlation(rx, ry)


def label_report(scores: list[float], lengths: list[int], labels: list[int]) -> dict[str, Any]:
    """RM vs length baselines on (a slice of) the human labels."""
    length_scores = [float(n) for n in lengths]
    rm_acc, rm_t = best_threshold_accuracy(scores, labels)
    len_acc, len_t = best_threshold_accuracy(length_scores, labels)
    return {
        "n": len(labels),
        "positives": sum(labels),
        "rm_accuracy_best_threshold": rm_acc,
        "rm_auc": auc(scores, labels),
        "length_ge_39_accuracy": sum((n >= LENGTH_THRESHOLD) == (y == 1) for n, y in zip(lengths, labels, strict=True))
        / len(labels),
        "length_accuracy_best_threshold": len_acc,
        "length_best_threshold": len_t,
        "length_auc": auc(length_scores, labels),
        "rm_best_threshold": rm_t,
    }


# -- stages -----------------------------------------------------------------------------------------


def time_limit(seconds: float) -> Any:
    from transformers import TrainerCallback

    class TimeLimit(TrainerCallback):
        """Stop training after a wall-clock budget (the bench has minutes, not epochs)."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.start = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if time.monotonic() - self.start > seconds:
                control.should_training_stop = True

    return TimeLimit()


def common(output_dir: Path, seed: int) -> dict[str, Any]:
    return {
        "output_dir": str(output_dir), "bf16": False, "use_cpu": True, "activation_checkpointing": False,
        "report_to": "none", "save_strategy": "no", "disable_tqdm": True, "log_level": "error",
        "logging_steps": 25, "seed": seed, "prompt_prefix": PREFIX, "conversational": True,
        "lr_scheduler_type": "constant", "dataloader_num_workers": 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "inkforge_e2e_cpu")
    parser.add_argument("--out", type=Path, default=None, help="Write the JSON summary here.")
    parser.add_argument("--sft-minutes", type=float, default=4.0)
    parser.add_argument("--rm-minutes", type=float, default=3.5)
    parser.add_argument("--grpo-minutes", type=float, default=3.0)
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply every stage's minutes by this.")
    parser.add_argument("--grpo-steps", type=int, default=None,
                        help="GRPO steps for both runs (default: as many as --grpo-minutes allows the plain run).")
    parser.add_argument("--debias", type=json.loads, default={"length_residual": {"scope": "group"}},
                        help="JSON: the debiased run's reward-spec 'debias' mapping.")
    parser.add_argument("--skip-debiased", action="store_true", help="Run only the plain GRPO.")
    parser.add_argument("--reuse", action="store_true",
                        help="Reuse the SFT policy and reward model already in --work (same flags and seed).")
    parser.add_argument("--sft-batch-size", type=int, default=16)
    parser.add_argument("--sft-max-length", type=int, default=192, help="SFT sequence length (tokens).")
    parser.add_argument("--grpo-batch-size", type=int, default=32, help="Completions per GRPO step (4 per prompt).")
    parser.add_argument("--grpo-completion-length", type=int, default=96, help="GRPO max completion tokens.")
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=6000)
    parser.add_argument("--grpo-prompts", type=int, default=512, help="Training queries for GRPO.")
    parser.add_argument("--eval-prompts", type=int, default=48, help="Held-out queries for before/after.")
    parser.add_argument("--max-prompt-length", type=int, default=64,
                        help="GRPO drops longer prompts (tokens, chat template included).")
    parser.add_argument("--max-pairs", type=int, default=20000, help="Cap on cross-query human pairs.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("sft_minutes", "rm_minutes", "grpo_minutes"):
        setattr(args, name, getattr(args, name) * args.scale)

    data = args.data.resolve()
    needed = ["sft.jsonl", "preference_train.jsonl", "human_labels_dev.jsonl", "queries.txt"]
    if not all((data / name).is_file() for name in needed):
        print(f"skipped: the paper's data is not at {data} (needs {', '.join(needed)})")
        return 0

    import torch

    from inkforge.rewards.reward_model import RewardModelReward
    from inkforge.testing.tiny import build_tiny_chat_model
    from inkforge.training.config import (
        GRPOTrainingConfig,
        RewardTrainingConfig,
        SFTTrainingConfig,
        load_config,
    )
    from inkforge.training.eval_policy import evaluate_policy
    from inkforge.training.grpo import train_grpo
    from inkforge.training.reward_model import train_reward_model
    from inkforge.training.sft import train_sft

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rng = random.Random(args.seed)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"config": {k: str(v) for k, v in vars(args).items()}, "timings_s": {}}
    t0 = time.monotonic()

    # 1. Tokenizer + tiny model from scratch, tokenizer trained on the data's own text -------------
    sft_rows = _read_jsonl(data / "sft.jsonl")
    pref_rows = _read_jsonl(data / "preference_train.jsonl")
    corpus = [PREFIX] + [r["prompt"] + "\n" + r["response"] for r in sft_rows]
    corpus += [r["chosen"] for r in pref_rows] + [r["rejected"] for r in pref_rows]
    base = build_tiny_chat_model(
        work / "base", corpus=corpus, vocab_size=args.vocab_size, hidden_size=args.hidden_size,
        num_layers=args.num_layers, seed=args.seed,
    )
    from transformers import AutoModelForCausalLM

    n_params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(base).parameters())
    summary["model"] = {"params": n_params, "hidden_size": args.hidden_size, "num_layers": args.num_layers}
    print(f"model: {n_params / 1e6:.2f}M parameters, tokenizer trained on {len(corpus)} texts")

    # 2. SFT ------------------------------------------------------------------------------------
    start = time.monotonic()
    sft_cfg = load_config(
        SFTTrainingConfig, None, model_name_or_path=str(base), train_file=str(data / "sft.jsonl"),
        **common(work / "sft", args.seed), learning_rate=1e-3, warmup_steps=50, num_train_epochs=50,
        per_device_train_batch_size=args.sft_batch_size, max_length=args.sft_max_length,
    )
    if args.reuse and (work / "sft" / "config.json").is_file():
        summary["sft"] = {"reused": str(work / "sft")}
    else:
        sft = train_sft(sft_cfg, callbacks=[time_limit(args.sft_minutes * 60)])
        sft_losses = [h["loss"] for h in sft.state.log_history if "loss" in h]
        summary["sft"] = {"steps": sft.state.global_step, "epochs": round(sft.state.epoch or 0, 2),
                          "loss_first": sft_losses[0] if sft_losses else None,
                          "loss_last": sft_losses[-1] if sft_losses else None}
    summary["timings_s"]["sft"] = time.monotonic() - start
    print(f"SFT: {summary['sft']}")

    # 3. Reward model, holding out the length-matched pairs -----------------------------------------
    matched = [r for r in pref_rows if abs(len(r["chosen"]) - len(r["rejected"])) <= 3]
    rest = [r for r in pref_rows if abs(len(r["chosen"]) - len(r["rejected"])) > 3]
    rng.shuffle(rest)
    n_heldout = max(1, len(rest) // 20)
    heldout, train_pairs = rest[:n_heldout], rest[n_heldout:]
    train_file = _write_jsonl(work / "rm_train.jsonl", train_pairs)
    start = time.monotonic()
    rm_cfg = load_config(
        RewardTrainingConfig, None, model_name_or_path=str(work / "sft"), train_file=str(train_file),
        **common(work / "rm", args.seed), learning_rate=3e-4, warmup_steps=20, num_train_epochs=20,
        per_device_train_batch_size=16, max_length=256,
    )
    if args.reuse and (work / "rm" / "config.json").is_file():
        summary["reward_model_training"] = {"pairs": len(train_pairs), "reused": str(work / "rm")}
    else:
        rm = train_reward_model(rm_cfg, callbacks=[time_limit(args.rm_minutes * 60)])
        rm_losses = [h["loss"] for h in rm.state.log_history if "loss" in h]
        summary["reward_model_training"] = {
            "pairs": len(train_pairs), "steps": rm.state.global_step, "epochs": round(rm.state.epoch or 0, 2),
            "loss_first": rm_losses[0] if rm_losses else None, "loss_last": rm_losses[-1] if rm_losses else None,
        }
    summary["timings_s"]["rm"] = time.monotonic() - start
    print(f"RM: {summary['reward_model_training']}")

    # 4. Reward model vs length on the human labels -----------------------------------------------
    start = time.monotonic()
    reward = RewardModelReward(work / "rm", batch_size=64, device="cpu")
    labels_rows = _read_jsonl(data / "human_labels_dev.jsonl")
    scores = reward(prompts=[r["query"] for r in labels_rows], completions=[r["response"] for r in labels_rows])
    lengths = [len(r["response"]) for r in labels_rows]
    labels = [int(r["label"]) for r in labels_rows]
    band = [i for i, n in enumerate(lengths) if BAND[0] <= n <= BAND[1]]
    human = {
        "overall": label_report(scores, lengths, labels),
        "band_30_50": label_report([scores[i] for i in band], [lengths[i] for i in band], [labels[i] for i in band]),
        "spearman_rm_vs_length": spearman(scores, [float(n) for n in lengths]),
    }

    def pairwise(pairs: list[tuple[float, float, int, int]]) -> dict[str, Any]:
        """(good score, bad score, good len, bad len) → RM and length pairwise accuracy (ties count half)."""
        if not pairs:
            return {"n": 0}
        rm_acc = sum(1.0 if g > b else 0.5 if g == b else 0.0 for g, b, _, _ in pairs) / len(pairs)
        len_acc = sum(1.0 if lg > lb else 0.5 if lg == lb else 0.0 for _, _, lg, lb in pairs) / len(pairs)
        return {"n": len(pairs), "rm_accuracy": rm_acc, "length_accuracy": len_acc}

    held = matched + heldout
    held_chosen = reward(prompts=[r["prompt"] for r in held], completions=[r["chosen"] for r in held])
    held_rejected = reward(prompts=[r["prompt"] for r in held], completions=[r["rejected"] for r in held])
    pref_pairs = [(c, r, len(p["chosen"]), len(p["rejected"])) for c, r, p in zip(held_chosen, held_rejected, held, strict=True)]
    good = [i for i, y in enumerate(labels) if y == 1]
    bad = [i for i, y in enumerate(labels) if y == 0]
    cross = [(g, b) for g in good for b in bad if abs(lengths[g] - lengths[b]) <= 3]
    if len(cross) > args.max_pairs:
        cross = rng.sample(cross, args.max_pairs)
    summary["reward_model_eval"] = {
        "human_labels": human,
        "pairwise_length_matched_preference_heldout": pairwise(pref_pairs[: len(matched)]),
        "pairwise_preference_heldout_random": pairwise(pref_pairs[len(matched) :]),
        "pairwise_length_matched_human_cross_query": pairwise(
            [(scores[g], scores[b], lengths[g], lengths[b]) for g, b in cross]
        ),
    }
    summary["timings_s"]["rm_eval"] = time.monotonic() - start

    # 5. GRPO against the reward model; policy reward before and after on held-out queries ---------
    queries = [q.strip() for q in (data / "queries.txt").read_text(encoding="utf-8").splitlines() if q.strip()]
    unique = list(dict.fromkeys(queries))
    rng.shuffle(unique)
    eval_queries = unique[: args.eval_prompts]
    grpo_queries = unique[args.eval_prompts : args.eval_prompts + args.grpo_prompts]
    grpo_file = work / "grpo_queries.txt"
    grpo_file.write_text("\n".join(grpo_queries) + "\n", encoding="utf-8")

    def policy_report(model_dir: Path) -> dict[str, Any]:
        report = evaluate_policy(
            model_dir, eval_queries, reward_model=reward, n=2, max_new_tokens=96, temperature=0.7,
            backend="transformers", seed=args.seed, num_samples=3, prompt_prefix=PREFIX,
        )
        return {
            "rm_mean": report["reward_model"]["mean"],
            "rm_mean_band_30_50": report["band_30_50"].get("reward_model", {}).get("mean"),
            "n_band_30_50": report["band_30_50"]["n"],
            "in_band_share": report["band_30_50"]["n"] / report["n_completions"],
            "length_mean": report["length"]["mean"],
            "distinct_2": report["distinct_2"],
            "self_bleu": report["self_bleu"],
            "samples": [s["completion"] for s in report["samples"]],
        }

    start = time.monotonic()
    before = policy_report(work / "sft")
    rm_spec: dict[str, Any] = {"type": "reward_model", "path": str(work / "rm"), "batch_size": 64}

    def run_grpo(out: str, spec: dict[str, Any], steps: int | None) -> dict[str, Any]:
        grpo_cfg = load_config(
            GRPOTrainingConfig, None, model_name_or_path=str(work / "sft"), train_file=str(grpo_file),
            **{**common(work / out, args.seed), "logging_steps": 5}, rewards=[spec],
            learning_rate=2e-5, beta=0.001, num_generations=4, per_device_train_batch_size=args.grpo_batch_size,
            gradient_accumulation_steps=1, max_completion_length=args.grpo_completion_length,
            max_prompt_length=args.max_prompt_length,
            temperature=1.0, loss_type="dapo", num_train_epochs=1, **({"max_steps": steps} if steps else {}),
        )
        grpo = train_grpo(grpo_cfg, callbacks=[] if steps else [time_limit(args.grpo_minutes * 60)])
        after = policy_report(work / out)
        train_rewards = [h["reward"] for h in grpo.state.log_history if "reward" in h]
        return {
            "steps": grpo.state.global_step,
            "train_reward_first": train_rewards[0] if train_rewards else None,
            "train_reward_last": train_rewards[-1] if train_rewards else None,
            "policy_before": before,
            "policy_after": after,
            "length_change": (after["length_mean"] - before["length_mean"]) / before["length_mean"]
            if before["length_mean"] else None,
        }

    summary["grpo"] = run_grpo("grpo", rm_spec, args.grpo_steps)
    summary["timings_s"]["grpo_and_policy_eval"] = time.monotonic() - start
    if not args.skip_debiased:
        # Same SFT start, seed and step count: the only difference is the reward's debiasing.
        start = time.monotonic()
        summary["grpo_debiased"] = run_grpo("grpo_debiased", {**rm_spec, "debias": args.debias},
                                            summary["grpo"]["steps"])
        summary["grpo_debiased"]["debias"] = args.debias
        summary["timings_s"]["grpo_debiased_and_policy_eval"] = time.monotonic() - start
    summary["timings_s"]["total"] = time.monotonic() - t0

    if args.out:  # written before printing: a long run's figures survive a display error
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"summary: {args.out}")
    print_summary(summary)
    return 0


def _f(value: Any, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}%" if pct else f"{value:.3f}"


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    ev = summary["reward_model_eval"]
    table = Table(title="reward model on human_labels_dev.jsonl (dev-fitted thresholds for RM and length alike)")
    table.add_column("metric")
    table.add_column("all", justify="right")
    table.add_column(f"{BAND[0]}–{BAND[1]} chars", justify="right")
    overall, band = ev["human_labels"]["overall"], ev["human_labels"]["band_30_50"]
    table.add_row("n (positives)", f"{overall['n']} ({overall['positives']})", f"{band['n']} ({band['positives']})")
    for key, label, pct in [
        ("rm_accuracy_best_threshold", "RM accuracy (best threshold)", True),
        ("length_ge_39_accuracy", "length >= 39 accuracy", True),
        ("length_accuracy_best_threshold", "length accuracy (best threshold)", True),
        ("rm_auc", "RM ROC-AUC", False),
        ("length_auc", "length ROC-AUC", False),
    ]:
        table.add_row(label, _f(overall[key], pct), _f(band[key], pct))
    table.add_row("Spearman(RM score, length)", _f(ev["human_labels"]["spearman_rm_vs_length"]), "")
    console.print(table)

    pairs = Table(title="pairwise accuracy (ties count half)")
    pairs.add_column("pairs")
    pairs.add_column("n", justify="right")
    pairs.add_column("RM", justify="right")
    pairs.add_column("longer wins", justify="right")
    for key, label in [
        ("pairwise_length_matched_preference_heldout", "held-out preference pairs, |Δlen| ≤ 3"),
        ("pairwise_length_matched_human_cross_query", "human good vs bad, |Δlen| ≤ 3 (cross-query)"),
        ("pairwise_preference_heldout_random", "held-out preference pairs, random 5%"),
    ]:
        row = ev[key]
        pairs.add_row(label, str(row["n"]), _f(row.get("rm_accuracy"), True), _f(row.get("length_accuracy"), True))
    console.print(pairs)

    grpo = summary["grpo"]
    debiased = summary.get("grpo_debiased")
    runs = [("plain", grpo)] + ([("debiased", debiased)] if debiased else [])
    policy = Table(title=f"policy on held-out queries: SFT vs SFT+GRPO ({grpo['steps']} steps against the RM; "
                         "debiased: same start, seed and steps, length-debiased RM)")
    policy.add_column("metric")
    policy.add_column("SFT (before)", justify="right")
    for label, _ in runs:
        policy.add_column(f"after GRPO, {label}", justify="right")
    b = grpo["policy_before"]
    afters = [run["policy_after"] for _, run in runs]
    policy.add_row("RM score mean", _f(b["rm_mean"]), *(_f(a["rm_mean"]) for a in afters))
    policy.add_row("RM score mean, 30–50 chars", _f(b["rm_mean_band_30_50"]) + f" (n={b['n_band_30_50']})",
                   *(_f(a["rm_mean_band_30_50"]) + f" (n={a['n_band_30_50']})" for a in afters))
    policy.add_row("share in 30–50 chars", _f(b["in_band_share"], True), *(_f(a["in_band_share"], True) for a in afters))
    policy.add_row("length mean (chars)", f"{b['length_mean']:.1f}", *(f"{a['length_mean']:.1f}" for a in afters))
    policy.add_row("mean length change", "", *(_f(run["length_change"], True) for _, run in runs))
    policy.add_row("distinct-2", _f(b["distinct_2"]), *(_f(a["distinct_2"]) for a in afters))
    policy.add_row("self-BLEU", _f(b["self_bleu"]), *(_f(a["self_bleu"]) for a in afters))
    console.print(policy)
    console.print(f"SFT {summary['sft']} | RM {summary['reward_model_training']} | timings "
                  + ", ".join(f"{k}={v:.0f}s" for k, v in summary["timings_s"].items()))

    def lean(run: dict[str, Any]) -> dict[str, Any]:
        return {k: ({kk: vv for kk, vv in v.items() if kk != "samples"} if k.startswith("policy") else v)
                for k, v in run.items()}

    console.print_json(json.dumps({k: v for k, v in summary.items() if not k.startswith("grpo")}
                                  | {name: lean(summary[name]) for name in ("grpo", "grpo_debiased") if name in summary},
                                  ensure_ascii=False))


if __name__ == "__main__":
    raise SystemExit(main())
