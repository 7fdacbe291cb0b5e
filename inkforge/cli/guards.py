"""``inkforge guards``: the reward-hacking guards from the command line.

The main app registers the group as ``app.add_typer(guards_app, name="guards")``.

Example:
    $ inkforge guards check completions.jsonl --out guards_report.jsonl --task greeting
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from inkforge.cli.options import TaskOpt, console, handle_errors, writable_out

__all__ = ["guards_app"]

guards_app = typer.Typer(no_args_is_help=True, help="Reward-hacking guards: screen texts.")


@guards_app.command("check")
@handle_errors
def check_cmd(
    texts: Annotated[Path, typer.Argument(help="JSONL with `text` (the completion) and optional `query` per row.")],
    out: Annotated[Path, typer.Option("--out", help="Report JSONL: every row with `flagged` and `reasons`.")],
    task: TaskOpt = None,
    language: Annotated[str | None, typer.Option(
        "--language", help="Expected language (zh, en), overriding the task's.")] = None,
) -> None:
    """Screen a file of texts with the default guards of a task; write each row with its verdict.

    Each reason names the guard, the category and the offending snippet. The last line printed
    is a JSON summary (counts by guard and by category). The report is written atomically.
    """
    from rich.table import Table

    from inkforge.rewards.guards.screen import screen_file

    writable_out(out, kind="file")
    summary = screen_file(texts, out, task=task, language=language)
    table = Table(title=f"guards on {summary['rows']} rows: {summary['flagged']} flagged")
    table.add_column("guard/category")
    table.add_column("rows", justify="right")
    for key, count in summary["by_category"].items():
        table.add_row(key, str(count))
    console.print(table)
    console.print(f"report written to {out}")
    typer.echo(json.dumps({k: summary[k] for k in ("rows", "flagged", "by_guard", "by_category")},
                          ensure_ascii=False))
