"""Command-line entry points: ``inkforge train sft|rm|grpo`` and ``inkforge eval-policy``.

Training commands take ``--config YAML`` and pass every other flag through as a config override
(``--learning_rate 1e-5 --max_steps 10``), exactly like TRL's own scripts. Heavy imports (torch,
transformers, TRL) happen inside the commands, so mounting this app costs nothing at start-up.

Example:
    $ inkforge train build-tiny runs/tiny
    $ inkforge train grpo --config smoke_grpo.yaml --max_steps 2
    $ inkforge eval-policy --model runs/smoke/grpo --prompts inkforge/data/sample_queries.txt
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from inkforge.cli.options import console, handle_errors, writable_out
from inkforge.cli.tracking import HtmlOpt, check_html, write_html

__all__ = ["eval_policy_cmd", "train_app"]

train_app = typer.Typer(no_args_is_help=True, help="Train with TRL: sft | rm | grpo.")

_PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
ConfigArg = Annotated[
    Path,
    typer.Option("--config", "-c", help="YAML config (a path, or the name of a bundled config such as smoke_grpo.yaml)."),
]


def _argv(config: Path, ctx: typer.Context) -> list[str]:
    return ["--config", str(config), *ctx.args]


def _done(trainer: object, output_dir: str) -> None:
    history = getattr(getattr(trainer, "state", None), "log_history", [])
    final = history[-1] if history else {}
    figures = ", ".join(f"{k}={v:.4g}" for k, v in final.items() if isinstance(v, float))
    console.print(f"[green]saved[/green] {output_dir}" + (f" ({figures})" if figures else ""))


@train_app.command("sft", context_settings=_PASSTHROUGH)
@handle_errors
def sft_cmd(ctx: typer.Context, config: ConfigArg) -> None:
    """Supervised fine-tuning (cold start) on prompt/response data. Extra flags override the YAML."""
    from inkforge.training.sft import main

    trainer = main(_argv(config, ctx))
    _done(trainer, trainer.args.output_dir)


@train_app.command("rm", context_settings=_PASSTHROUGH)
@handle_errors
def rm_cmd(ctx: typer.Context, config: ConfigArg) -> None:
    """Train a reward model on preference pairs. Extra flags override the YAML."""
    from inkforge.training.reward_model import main

    trainer = main(_argv(config, ctx))
    _done(trainer, trainer.args.output_dir)


@train_app.command("grpo", context_settings=_PASSTHROUGH)
@handle_errors
def grpo_cmd(ctx: typer.Context, config: ConfigArg) -> None:
    """GRPO with the configured rewards (judge, reward model, rules) and guards. Extra flags override the YAML."""
    from inkforge.training.grpo import main

    trainer = main(_argv(config, ctx))
    monitor = next((c for c in trainer.callback_handler.callbacks if hasattr(c, "stop_reason")), None)
    if monitor is not None and monitor.stop_reason:
        console.print(f"[yellow]stopped by the reward-hacking monitor[/yellow]: {monitor.stop_reason}")
    _done(trainer, trainer.args.output_dir)


@train_app.command("build-tiny")
@handle_errors
def build_tiny_cmd(
    path: Annotated[Path, typer.Argument(help="Folder for the model.")],
    corpus: Annotated[
        Path | None, typer.Option("--corpus", help="Extra text (one item a line, or JSONL) for the tokenizer.")
    ] = None,
    hidden_size: Annotated[int, typer.Option("--hidden-size")] = 32,
    num_layers: Annotated[int, typer.Option("--num-layers")] = 2,
) -> None:
    """Build a tiny random Qwen2 chat model offline (for smoke runs and the demo)."""
    from inkforge.core.io import iter_lines
    from inkforge.testing.tiny import build_tiny_chat_model

    writable_out(path, kind="dir", field="PATH")
    extra = [text for _, text in iter_lines(corpus, what="corpus file")] if corpus else None
    out = build_tiny_chat_model(path, corpus=extra, hidden_size=hidden_size, num_layers=num_layers)
    console.print(f"[green]tiny model[/green] {out}")


def _check_policy_inputs(model: str, prompts: Path, *, baseline_model: str | None, reward_model: Path | None,
                         out: Path | None) -> None:
    """Fail on a missing model, reward model or prompt file, or an unwritable --out, before loading anything."""
    from inkforge.core.errors import InputError
    from inkforge.training.config import missing_model_message
    from inkforge.training.data import read_records

    for flag, value in (("--model", model), ("--baseline-model", baseline_model)):
        problem = missing_model_message(value, flag=flag) if value is not None else None
        if problem is not None:
            raise InputError(problem, field=flag)
    if reward_model is not None and not reward_model.is_dir():
        raise InputError("no reward model folder here", file=str(reward_model), field="--reward-model")
    if not prompts.exists():
        raise InputError("prompts file not found", file=str(prompts), field="--prompts")
    if not prompts.is_file():
        raise InputError("not a file", file=str(prompts), field="--prompts")
    # Streams the whole file once: a bad line is reported now, not after the model is loaded.
    if not any(True for _ in read_records(prompts)):
        raise InputError("no prompts in the file", file=str(prompts), field="--prompts")
    if out is not None:
        writable_out(out, kind="file")


def _read_report(path: Path) -> dict:  # type: ignore[type-arg]
    """A previous report JSON for --compare, checked before any generation."""
    from inkforge.core.errors import InputError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", file=str(path), field="--compare") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"not a JSON report ({e})", file=str(path), field="--compare") from None
    if not isinstance(data, dict) or not isinstance(data.get("length"), dict):
        raise InputError("not an eval-policy report (no 'length' section)", file=str(path), field="--compare")
    return data


@handle_errors
def eval_policy_cmd(
    model: Annotated[str, typer.Option("--model", help="Policy folder (or hub id).")],
    prompts: Annotated[Path, typer.Option("--prompts", help="Queries: .txt, .jsonl or verl parquet.")],
    judge: Annotated[Path | None, typer.Option("--judge", help="rubric.json of a (refined) judge.")] = None,
    reward_model: Annotated[Path | None, typer.Option("--reward-model", help="Trained reward model folder.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the report as JSON here.")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Completions per prompt.")] = 1,
    max_prompts: Annotated[int | None, typer.Option("--max-prompts", min=1, help="Use only the first prompts.")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, help="Generation budget per completion.")] = 128,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="Sampling temperature (0: greedy).")] = 0.7,
    prompt_prefix: Annotated[str, typer.Option("--prompt-prefix", help="Prefix for every query; use the one the policy was trained with.")] = "请只生成一条祝福语：",
    judge_pass_threshold: Annotated[float, typer.Option("--judge-pass-threshold", help="A judge score at or above this counts as a pass (binary judge: 1.0 = Good).")] = 0.5,
    backend: Annotated[str, typer.Option("--backend", help="auto | transformers | vllm")] = "auto",
    base_url: Annotated[str | None, typer.Option("--base-url", help="Judge endpoint (OpenAI-compatible).")] = None,
    judge_model: Annotated[str | None, typer.Option("--judge-model", help="Judge model name.")] = None,
    judge_config: Annotated[Path | None, typer.Option("--judge-config", help="Judge YAML config.")] = None,
    html: HtmlOpt = None,
    baseline_model: Annotated[str | None, typer.Option(
        "--baseline-model", help="Also evaluate this policy (e.g. the SFT model) with the same settings, for the "
        "before/after length plot; its report is kept under 'baseline'.")] = None,
    compare: Annotated[Path | None, typer.Option(
        "--compare", help="A previous eval-policy report JSON to plot as 'before'.")] = None,
) -> None:
    """Generate with a policy and report excellence rate, reward-model score, length, distinct-n, self-BLEU."""
    from inkforge.cli.reports import print_policy_report
    from inkforge.training.eval_policy import evaluate_policy

    if baseline_model is not None and compare is not None:
        from inkforge.core.errors import InputError

        raise InputError("give --baseline-model or --compare, not both", field="--compare")
    before = _read_report(compare) if compare is not None else None
    _check_policy_inputs(model, prompts, baseline_model=baseline_model, reward_model=reward_model, out=out)
    check_html(html)
    judge_fn = None
    if judge is not None:
        from inkforge.rewards.judge import JudgeReward

        judge_fn = JudgeReward.from_rubric(judge, config_path=judge_config, base_url=base_url, model=judge_model)
    settings = dict(judge=judge_fn, reward_model=reward_model, n=n, max_new_tokens=max_new_tokens,
                    temperature=temperature, prompt_prefix=prompt_prefix, judge_pass_threshold=judge_pass_threshold,
                    max_prompts=max_prompts, backend=backend)
    report = evaluate_policy(model, prompts, **settings)  # type: ignore[arg-type]
    if baseline_model is not None:
        before = evaluate_policy(baseline_model, prompts, **settings)  # type: ignore[arg-type]
        report["baseline"] = before
    print_policy_report(report)
    if html is not None:
        from inkforge.evaluation.html import render_policy_report

        write_html(html, render_policy_report(report, baseline=before))
    if out is not None:
        from inkforge.core.io import atomic_write_json

        atomic_write_json(out, report)
        console.print(f"[green]report[/green] {out}")
