"""Commands ``inkforge refine-judge`` and ``inkforge eval-judge``.

Both validate every input (file, line, field, and eval-judge's ``--out``) before any model call or
output, share the model flags of :mod:`inkforge.cli.options`, and put each judge figure beside the
length-only baseline: refine-judge's final figures are the test split's, never the split that chose
the rubric.

Example:
    >>> import typer
    >>> app = typer.Typer()
    >>> _ = app.command("refine-judge")(refine_judge_cmd)
    >>> _ = app.command("eval-judge")(eval_judge_cmd)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from inkforge.cli import executor_options as xo
from inkforge.cli.curate import MaxCostOpt, MaxTokensOpt
from inkforge.cli.display import num, pct
from inkforge.cli.options import (
    BaseUrlOpt,
    ConcurrencyOpt,
    ConfigOpt,
    ModelOpt,
    TaskOpt,
    console,
    handle_errors,
    runtime_from_flags,
    writable_out,
)
from inkforge.cli.tracking import (
    CommandTracking,
    HtmlOpt,
    LogEveryOpt,
    LoggingDirOpt,
    ReportToOpt,
    check_html,
    write_html,
)
from inkforge.core.aio import run_sync
from inkforge.core.io import atomic_write_json

__all__ = ["eval_judge_cmd", "refine_judge_cmd"]


def _baselines(m: dict[str, Any]) -> str:
    """The length-only baselines on a split's rows, as the gate line shows them."""
    parts = []
    if m.get("length_rule_threshold") is not None:
        parts.append(f"len≥{m['length_rule_threshold']} acc {pct(m['length_baseline_accuracy'])} "
                     f"slice {pct(m['slice_length_baseline_accuracy'])}")
    if m.get("fitted_threshold") is not None:
        parts.append(f"len≥{m['fitted_threshold']} (fitted) acc {pct(m['fitted_baseline_accuracy'])}")
    return "  ".join(parts) or "no length baseline"


def _gate_line(entry: dict[str, Any]) -> str:
    """One progress line per gate: the candidate's select-split metrics and the decision."""
    it = entry["iteration"]
    if entry["kind"] == "no_proposal":
        return f"[dim]iter {it}: no S_D proposal ({entry.get('reason', '')})[/dim]"
    m = entry["metrics"]
    verdict = ("[green]accepted[/green]" if entry["accepted"] else "[red]rejected[/red]")
    if entry["kind"] == "initial":
        verdict = "[cyan]starting rubric[/cyan]"
    return (f"iter {it}: select κ {num(m['kappa'])} (best {num(entry.get('best_kappa'))})  acc {pct(m['accuracy'])}  "
            f"recall good/bad {pct(m['recall_good'])}/{pct(m['recall_bad'])}  "
            f"slice {m['slice_n']} rows {pct(m['slice_accuracy'])}  failures {pct(m['failure_rate'])}  "
            f"| {_baselines(m)}  → {verdict}")


def _test_table(test: dict[str, Any]) -> Table:
    """The test split's figures: starting and best rubric beside the length-only baselines, same rows."""
    lo, hi = test["slice"]
    base = test["length_baseline"]
    caption = f"rubric versions: starting {test['starting']['version']}, best {test['best']['version']}"
    if base.get("fitted"):
        caption += "; * threshold fitted on the optimise and select rows"
    table = Table(title=f"Test split: {test['n']} rows ({test['positives']} good), used for no decision",
                  caption=caption)
    table.add_column("")
    for col in ("κ", "accuracy", f"slice {lo}–{hi} acc", "failed"):
        table.add_column(col, justify="right")
    table.add_row("rows", f"{test['n']}", f"{test['n']}", f"{test['slice_n']}", "")
    for name, key in (("starting rubric", "starting"), (f"best rubric (iter {test['best']['iteration']})", "best")):
        m = test[key]["metrics"]
        table.add_row(name, num(m["kappa"]), pct(m["accuracy"]), pct(m["slice_accuracy"]), f"{m['parse_failures']}")
    for key, name in (("fixed", "len ≥ {t} (task rule)"), ("fitted", "len ≥ {t} (fitted*)")):
        f = base.get(key)
        if f:
            table.add_row(name.format(t=f["threshold"]), num(f["kappa"]), pct(f["accuracy"]), pct(f["slice_accuracy"]),
                          "—")
    return table


@handle_errors
def refine_judge_cmd(
    labels: Annotated[Path, typer.Option("--labels", help="Human labels, JSONL rows {query, response, label 0|1}.")],
    queries: Annotated[Path, typer.Option("--queries", help="Queries for the adversarial phase (.txt or .jsonl).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: checkpoint and artifacts.")],
    iterations: Annotated[int | None, typer.Option("--iterations", min=0, help="Iteration budget.")] = None,
    val_fraction: Annotated[float | None, typer.Option(
        "--val-fraction", min=0.01, max=0.99, help="Share of labels in the select split (the gate's).")] = None,
    test_fraction: Annotated[float | None, typer.Option(
        "--test-fraction", min=0.01, max=0.99,
        help="Share of labels in the test split: judged once at the end, used for no decision.")] = None,
    patience: Annotated[int | None, typer.Option("--patience", min=1, help="Stop after N iterations without a κ gain.")] = None,
    token_budget: Annotated[int | None, typer.Option("--token-budget", min=1, help="Stop once this many tokens are spent.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the split and batch draws.")] = None,
    refine_config: Annotated[Path | None, typer.Option(
        "--refine-config", help="YAML of refinement settings (batch sizes, tolerance...; see RefinementConfig); "
        "over the --config file's refinement: section, under the flags.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the checkpointed run of the same inputs.")] = False,
    max_tokens: MaxTokensOpt = None,
    max_cost: MaxCostOpt = None,
    config: ConfigOpt = None,
    base_url: BaseUrlOpt = None,
    model: ModelOpt = None,
    concurrency: ConcurrencyOpt = None,
    task: TaskOpt = None,
    report_to: ReportToOpt = None,
    logging_dir: LoggingDirOpt = None,
    log_every: LogEveryOpt = 100,
    html: HtmlOpt = None,
) -> None:
    """Refine the judge's rubric: adversarial game + reflection, gated on held-out human labels.

    The labels are de-duplicated and split three ways (optimise, select, test); the final figures
    are the test split's, beside the length-only baselines.

    Example (shell)::

        inkforge refine-judge --labels labels.jsonl --queries queries.txt --out runs/judge \\
            --iterations 5 --base-url http://localhost:8000/v1 --model qwen2.5-7b-instruct
    """
    from inkforge.evaluation import load_labels
    from inkforge.graphs.refinement import arefine_judge, check_inputs, load_queries, load_refinement_config
    from inkforge.llm.config import load_config

    # Every input is checked before a model is built or a file written.
    rows = load_labels(labels)
    qs = load_queries(queries)
    flags = {"iterations": iterations, "val_fraction": val_fraction, "test_fraction": test_fraction,
             "patience": patience, "token_budget": token_budget, "seed": seed}
    # One reader, one precedence: flags > --refine-config > the --config file's `refinement:` section.
    cfg = load_refinement_config(load_config(config) if config is not None else None, refine_config, flags)
    check_inputs(rows, qs, cfg)
    writable_out(out, kind="dir")
    check_html(html)
    tracking = CommandTracking.from_flags(report_to, logging_dir, log_every, default_dir=out / "runs",
                                          run_name=out.name, config={"command": "refine-judge", "labels": str(labels),
                                                                     **cfg.model_dump(mode="json")})
    runtime = runtime_from_flags(config, base_url, model, concurrency, task=task)

    def on_gate(entry: dict[str, Any]) -> None:
        console.print(_gate_line(entry))
        tracking.on_gate(entry)

    try:
        with tracking, console.status("refining the judge rubric…"):
            result = run_sync(arefine_judge(runtime, rows, qs, out_dir=out, config=cfg, resume=resume,
                                            on_gate=on_gate, on_progress=tracking.run_progress_at_last_step(),
                                            max_tokens=max_tokens, max_cost=max_cost))
    finally:
        runtime.close()
    s = result.summary
    best = s["best"]
    lab = s["labels"]
    sp = lab["splits"]
    console.print(
        f"[bold]done[/bold] ({s['stop_reason']}, {s['iterations_done']} iterations, {s['tokens_used']} tokens): "
        f"best rubric {best['version']} from iteration {best['iteration']}; "
        f"proposals accepted {s['proposals']['accepted']} / rejected {s['proposals']['rejected']}; "
        f"{s['hard_negatives']['n']} hard negatives")
    console.print(f"labels: {lab.get('unique')} of {lab.get('rows')} rows kept ({lab.get('duplicates_removed')} repeats "
                  f"removed, {lab.get('conflicting_pairs')} conflicting pairs dropped); optimise/select/test "
                  f"{sp['optimize']}/{sp['select']}/{sp['test']}")
    if s.get("test"):
        console.print(_test_table(s["test"]))
        sel = s["selection"]
        console.print(f"[dim]select split κ (it chose the best rubric, so it is biased upward): starting "
                      f"{num((sel['starting'] or {}).get('kappa'))}, best {num((sel['best'] or {}).get('kappa'))}[/dim]")
    console.print(f"artifacts in {out}: rubric.json, history.jsonl, hard_negatives.jsonl, strategy.json, summary.json")
    if html is not None:
        from inkforge.evaluation.html import render_refinement_report

        write_html(html, render_refinement_report(s, result.history, hard_negatives=result.hard_negatives))


@handle_errors
def eval_judge_cmd(
    labels: Annotated[Path, typer.Option("--labels", help="Human labels, JSONL rows {query, response, label 0|1}.")],
    out: Annotated[Path, typer.Option("--out", help="Report JSON to write.")],
    rubric: Annotated[Path | None, typer.Option("--rubric", help="rubric.json (default: the task's starting rubric).")] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for the CIs.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Judge only the first N rows.")] = None,
    unlabelled: Annotated[Path | None, typer.Option(
        "--unlabelled", help="JSONL rows {query, response} (e.g. policy completions) whose corrected pass rate "
        "to estimate; default: the labelled rows, beside their true pass rate.")] = None,
    max_failure_rate: Annotated[float, typer.Option(
        "--max-failure-rate", min=0.0, max=1.0,
        help="Stop without a report (exit 1) once more than this share of the judge calls fail.")] = 0.5,
    max_tokens: MaxTokensOpt = None,
    max_cost: MaxCostOpt = None,
    config: ConfigOpt = None,
    base_url: BaseUrlOpt = None,
    model: ModelOpt = None,
    concurrency: ConcurrencyOpt = None,
    task: TaskOpt = None,
    report_to: ReportToOpt = None,
    logging_dir: LoggingDirOpt = None,
    log_every: LogEveryOpt = 100,
    html: HtmlOpt = None,
    executor: xo.ExecutorOpt = "local", address: xo.AddressOpt = None, workers: xo.WorkersOpt = None,
    worker_concurrency: xo.WorkerConcurrencyOpt = None,
) -> None:
    """Evaluate the judge (with a rubric) against human labels, beside the length-only baseline.

    Also reports the judge's pass rate corrected for its measured error rates (Rogan–Gladen, with a
    bootstrap interval), on ``--unlabelled`` items or on the labelled rows. Label rows are
    de-duplicated first; a run whose judge calls mostly fail exits 1 without writing a report.

    Example (shell)::

        inkforge eval-judge --labels labels.jsonl --rubric runs/judge/rubric.json --out report.json \\
            --base-url http://localhost:8000/v1 --model qwen2.5-7b-instruct
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from inkforge.core.rubric import Rubric
    from inkforge.evaluation import aevaluate_judge, load_labels, load_unlabelled

    # Every input, --out included, is checked before a model is built or a file written.
    rows = load_labels(labels)
    if limit is not None:
        rows = rows[:limit]
    items = load_unlabelled(unlabelled) if unlabelled is not None else None
    rb = Rubric.load(rubric) if rubric is not None else None
    writable_out(out, kind="file")
    check_html(html)
    tracking = CommandTracking.from_flags(report_to, logging_dir, log_every, default_dir=out.parent / "runs",
                                          run_name=out.stem, config={"command": "eval-judge", "labels": str(labels),
                                                                     "rubric": str(rubric) if rubric else None})
    ex = xo.executor_from_flags(executor, address, workers, worker_concurrency)
    runtime = runtime_from_flags(config, base_url, model, concurrency, task=task or (rb.task if rb else None))
    from inkforge.llm.budget import SpendCap

    runtime.usage.guard(SpendCap(max_tokens, max_cost))  # the report is all or nothing: a capped run writes none
    try:
        with ex, tracking, Progress(TextColumn("judging"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                console=console, transient=True) as progress:
            bar = progress.add_task("judge", total=len(rows) + len(items or []))
            track = tracking.judge_progress(runtime)

            def on_progress(done: int, total: int) -> None:
                progress.update(bar, completed=done, total=total)
                if track is not None:
                    track(done, total)

            report = run_sync(aevaluate_judge(
                runtime, rows, rb, n_boot=bootstrap, seed=seed, unlabelled=items, max_failure_rate=max_failure_rate,
                on_progress=on_progress, bind=lambda d: ex.bind(d, runtime)))
            tracking.judge_report(report, len(rows))
    finally:
        runtime.close()
    report["labels"] = {"path": str(labels), **report["labels"]}
    if unlabelled is not None:
        report["unlabelled"] = {"path": str(unlabelled), **report["unlabelled"]}
    atomic_write_json(out, report)
    if html is not None:
        from inkforge.evaluation.html import render_judge_report

        write_html(html, render_judge_report(report, rows=rows))
    from inkforge.cli.reports import print_judge_report

    print_judge_report(report)
    lab = report["labels"]
    if lab["unique"] != lab["rows"]:
        console.print(f"[yellow]labels: {lab['unique']} of {lab['rows']} rows judged[/yellow] "
                      f"({lab['duplicates_removed']} repeats removed, {lab['conflicting_pairs']} pairs with "
                      f"conflicting labels dropped)")
    console.print(_pass_rate_line(report["pass_rate"]))
    console.print(f"report written to {out}")


def _pass_rate_line(est: dict[str, Any]) -> str:
    """The corrected pass rate, beside the observed one (and the human one on labelled rows)."""
    where = f"{est['judged']} unlabelled items" if est["items"] == "unlabelled" else f"{est['judged']} labelled rows"
    ci = est["ci"]
    corrected = (f"{pct(est['corrected'])}" + (f" [{pct(ci[0])}, {pct(ci[1])}]" if ci else "")
                 if est["corrected"] is not None else f"undefined ({est['reason']})")
    line = (f"pass rate on {where}: judge {pct(est['observed'])}, corrected {corrected} "
            f"(TPR {num(est['tpr'])}, TNR {num(est['tnr'])} on {est['labelled']['n']} labelled rows)")
    if est["human"] is not None:
        line += f"; human {pct(est['human'])}"
    if est["failures"]:
        line += f"; {est['failures']} items failed and are left out"
    return line
