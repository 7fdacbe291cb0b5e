"""``inkforge curate``: the curation graph over a query file, resumable, with a progress bar.

Registered by :mod:`inkforge.cli.app` as ``app.command("curate")(curate_cmd)``.

Example:
    $ inkforge curate inkforge/data/sample_queries.txt --out runs/cur --base-url http://127.0.0.1:8000/v1 \\
        --model qwen --candidates 4 --corpus inkforge/data/sample_corpus.jsonl
    $ inkforge curate queries.jsonl --out runs/cur --resume          # after a crash or Ctrl-C
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from inkforge.cli import executor_options as xo
from inkforge.cli.display import RunProgressBar
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
from inkforge.cli.tracking import CommandTracking, LogEveryOpt, LoggingDirOpt, ReportToOpt
from inkforge.core.errors import FailFastError, InkforgeError, InputError
from inkforge.llm.budget import BudgetExceededError

# Spend and fail-fast flags, shared by every model-calling command (cli/judge.py imports them).
MaxTokensOpt = Annotated[int | None, typer.Option(
    "--max-tokens", min=1, help="Stop cleanly once this call spent this many tokens (all agents); --resume "
    "continues.")]
MaxCostOpt = Annotated[float | None, typer.Option(
    "--max-cost", min=0.0, help="Stop cleanly once this call spent this much (the specs' prices); --resume "
    "continues.")]
FailWindowOpt = Annotated[int | None, typer.Option(
    "--fail-window", min=0, help="Model calls the fail-fast check looks back on (0: off; default: the config's "
    "fail_fast.window, 20).")]
MaxFailureRateOpt = Annotated[float | None, typer.Option(
    "--max-failure-rate", min=0.0, max=1.0, help="Stop (exit 1, resumable) once more than this share of the "
    "last --fail-window calls failed; the message names the cause (default: the config's fail_fast.max_rate, "
    "0.8).")]


class IncompleteRunError(InkforgeError):
    """The run ended with items still pending (transient failures): exit non-zero, --resume finishes it."""


@handle_errors
def curate_cmd(
    queries: Annotated[Path, typer.Argument(help="Queries: .txt (one a line) or .jsonl with 'query' or 'prompt' "
                                                 "(and 'responses' for --mode judge_given).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: pairs.jsonl, judgements.jsonl, "
                                                          "failures.jsonl, summary.json. Must be empty unless "
                                                          "--resume.")],
    config: ConfigOpt = None,
    base_url: BaseUrlOpt = None,
    model: ModelOpt = None,
    concurrency: ConcurrencyOpt = None,
    task: TaskOpt = None,
    candidates: Annotated[int, typer.Option("--candidates", "-n", min=1, help="Candidates written per query.")] = 4,
    pair_policy: Annotated[str, typer.Option("--pair-policy", help="one | all | best_vs_worst.")] = "one",
    mode: Annotated[str, typer.Option("--mode", help="write (candidates from the writer) | judge_given.")] = "write",
    corpus: Annotated[Path | None, typer.Option("--corpus", help="Few-shot corpus .jsonl (id, query, response"
                                                                "[, popularity]); none: no examples.")] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Few-shot examples per query.")] = 3,
    retriever: Annotated[str, typer.Option("--retriever", help="auto (by the task's language) | lexical (BM25) | "
                                                               "embedding | hybrid | keyword.")] = "auto",
    embedding_model: Annotated[str | None, typer.Option("--embedding-model", help="sentence-transformers model "
                                                                                   "(hub id or folder); with "
                                                                                   "auto: hybrid.")] = None,
    rerank: Annotated[str | None, typer.Option("--rerank", help="popularity (similarity + λ·log(1+popularity)) | "
                                                                "clicks (the paper's order) | none.")] = None,
    popularity_weight: Annotated[float | None, typer.Option("--popularity-weight", min=0.0,
                                                            help="λ of the popularity rerank.")] = None,
    min_similarity: Annotated[float | None, typer.Option("--min-similarity", help="Similarity floor of the "
                                                                                  "examples (default: by kind).")]
    = None,
    no_reflector: Annotated[bool, typer.Option("--no-reflector", help="Drop the reflector: the judge's label is "
                                                                      "final.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run saved in --out (pending items run "
                                                          "again).")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="With --resume: also run again the items "
                                                                      "finished with permanent failures.")] = False,
    max_tokens: MaxTokensOpt = None,
    max_cost: MaxCostOpt = None,
    fail_window: FailWindowOpt = None,
    max_failure_rate: MaxFailureRateOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first K queries.")] = None,
    export: Annotated[list[str] | None, typer.Option("--export", help="Also export pairs: hf, verl, openrlhf "
                                                                      "(repeatable).")] = None,
    durability: Annotated[str, typer.Option("--durability", help="Graph checkpoints: exit (when an item stops) | "
                                                                 "async (every step).")] = "exit",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the progress bar.")] = True,
    report_to: ReportToOpt = None,
    logging_dir: LoggingDirOpt = None,
    log_every: LogEveryOpt = 100,
    executor: xo.ExecutorOpt = "local", address: xo.AddressOpt = None, workers: xo.WorkersOpt = None,
    worker_concurrency: xo.WorkerConcurrencyOpt = None,
) -> None:
    """Curate preference pairs: write candidates, debate, judge, audit, keep good-vs-bad pairs."""
    from inkforge.graphs.curation import (
        MODES,
        PAIR_POLICIES,
        agents_from_config,
        build_curation_graph,
        curation_job,
    )
    from inkforge.graphs.export import EXPORTERS, export_pairs
    from inkforge.graphs.items import validate_queries
    from inkforge.graphs.runner import prepare_out_dir

    if pair_policy not in PAIR_POLICIES:
        raise InputError(f"must be one of {', '.join(PAIR_POLICIES)}", field="--pair-policy")
    if mode not in MODES:
        raise InputError(f"must be one of {', '.join(MODES)}", field="--mode")
    from inkforge.graphs.retrieval.factory import RETRIEVER_KINDS, RetrievalSettings

    if retriever not in RETRIEVER_KINDS:
        raise InputError(f"must be one of {', '.join(RETRIEVER_KINDS)}", field="--retriever")
    if retry_failed and not resume:
        raise InputError("needs --resume (it re-runs failed items of a saved run)", field="--retry-failed")
    settings = RetrievalSettings.from_options(kind=retriever, model=embedding_model, k=k, rerank=rerank,
                                              popularity_weight=popularity_weight, min_similarity=min_similarity)
    if durability not in ("exit", "async", "sync"):
        raise InputError("must be exit, async or sync", field="--durability")
    tracking = CommandTracking.from_flags(report_to, logging_dir, log_every, default_dir=out / "runs", run_name=out.name,
                                          config={"command": "curate", "queries": str(queries), "candidates": candidates,
                                                  "pair_policy": pair_policy, "mode": mode, "model": model})
    for fmt in export or []:
        if fmt not in EXPORTERS:
            raise InputError(f"unknown format {fmt!r}; known: {', '.join(EXPORTERS)}", field="--export")
    # Input first (streaming), then the output folder: both fail before anything is written.
    total = validate_queries(queries, mode=mode, limit=limit)  # type: ignore[arg-type]
    writable_out(out, kind="dir")
    if out.is_dir() and any(out.iterdir()) and not resume:
        prepare_out_dir(out, resume=False)  # raises the standard message
    ex = xo.executor_from_flags(executor, address, workers, worker_concurrency)
    runtime = runtime_from_flags(config, base_url, model, concurrency, task=task)
    ret: Any = None
    if candidates == 1 and mode == "write":
        console.print("[yellow]warning:[/yellow] --candidates 1: no pair can form (a pair needs a good and a bad "
                      "candidate of the same query)")
    if corpus is not None and mode == "write":
        from inkforge.graphs.retrieval.factory import build_retriever

        ret = build_retriever(corpus, settings, task=runtime.task)
        if hasattr(ret, "build"):
            with console.status("indexing the few-shot corpus"):
                ret.build()
    agents = agents_from_config(runtime, **({"reflector": None} if no_reflector else {}))
    graph = build_curation_graph(runtime, **agents, retriever=ret, k=k, n_candidates=candidates,
                                 pair_policy=pair_policy, mode=mode)  # type: ignore[arg-type]
    from inkforge.core.tracking import tee
    from inkforge.graphs.executors import CurationSpec, RetrieverRecipe

    spec = CurationSpec.from_graph(graph, runtime.config, retriever=None if ret is None else
                                   RetrieverRecipe(retriever, str(corpus), embedding_model))
    try:
        with tracking:
            report = ex.run(tracking.job(curation_job(graph)), queries, worker=spec, out_dir=out, runtime=runtime,
                               resume=resume, limit=limit, durability=durability,
                               on_progress=tee(RunProgressBar(console) if progress else None, tracking.on_progress),
                               total=total, retry_failed=retry_failed, max_tokens=max_tokens, max_cost=max_cost,
                               fail_window=fail_window, max_failure_rate=max_failure_rate)
    except (BudgetExceededError, FailFastError):
        _print_saved_summary(out)  # what is saved so far; the error line follows
        raise
    finally:
        runtime.close()
    if export:
        export_pairs(out, export, language=runtime.task.language)
    _print_summary(report.summary, out)
    pending = report.summary["items"]["pending"]
    if pending:
        raise IncompleteRunError(f"{pending} items are pending after transient failures "
                                 f"({_kinds(report.summary['items']['pending_by_kind'])}); rerun with --resume")


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "0"


def _print_saved_summary(out: Path) -> None:
    import json

    path = out / "summary.json"
    if path.is_file():
        _print_summary(json.loads(path.read_text(encoding="utf-8")), out)


def _print_summary(s: dict, out: Path) -> None:  # type: ignore[type-arg]
    from rich.table import Table

    t = Table(title=f"curation → {out}", show_header=False)
    usage = s.get("usage", {})
    items = s["items"]
    rows = [
        ("items done / failed / pending", f"{items.get('done', 0)} / {items.get('failed', 0)} / "
                                          f"{items.get('pending', 0)} of {items['input']}"
                                          + (f" (pending: {_kinds(items['pending_by_kind'])})"
                                             if items.get("pending_by_kind") else "")),
        ("pairs", f"{s['pairs']} (from {s['items_with_pairs']} queries)"),
        ("no pair", ", ".join(f"{k} {v}" for k, v in s["no_pair"].items()) or "0"),
        ("failures", ", ".join(f"{stage}: {sum(v.values())}" for stage, v in s["failures"].items()) or "0"),
        ("labels good / bad", f"{s['labels']['good']} / {s['labels']['bad']}"),
        ("chosen vs rejected length", f"{s['lengths']['chosen_mean']} vs {s['lengths']['rejected_mean']} chars "
                                      f"(chosen longer in {s['lengths']['chosen_longer_share']})"),
        ("model calls / tokens / cost", f"{usage.get('calls', 0)} / {usage.get('tokens', 0):,} / "
                                        f"${usage.get('cost', 0):.4f}"),
        ("identical candidates", str(s.get("identical_candidates", 0))),
        ("wall time", f"{s['wall_s']} s over {s['runs']} run(s)"),
    ]
    for agent, a in (s.get("usage_by_agent") or {}).items():
        rows.append((f"  {agent}", f"{a['calls']} calls, {a['tokens']:,} tokens, ${a['cost']:.4f}, failed "
                                   f"{_kinds(a['failed'])}"))
    for k, v in rows:
        t.add_row(k, str(v))
    console.print(t)
    for w in s.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {w}")
