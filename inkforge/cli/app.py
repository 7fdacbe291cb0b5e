"""The ``inkforge`` command line.

Every model-using command takes ``--config FILE``, ``--base-url URL``, ``--model NAME`` and
``--concurrency N``. Bad input exits with code 2 and a message naming file, line and field.

Example:
    $ inkforge agents
    $ inkforge curate queries.txt --out runs/cur --base-url http://localhost:8000/v1 --model qwen
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from inkforge.cli.curate import curate_cmd
from inkforge.cli.guards import guards_app
from inkforge.cli.judge import eval_judge_cmd, refine_judge_cmd
from inkforge.cli.options import (
    BaseUrlOpt,
    ConcurrencyOpt,
    ConfigOpt,
    ModelOpt,
    TaskOpt,
    console,
    handle_errors,
    print_error,
    setup_logging,
    writable_out,
)
from inkforge.cli.reward import audit_judge_cmd, serve_reward_cmd
from inkforge.cli.stub import stub_cmd
from inkforge.cli.train import eval_policy_cmd, train_app


class _App(typer.Typer):
    """The app as a console script: usage errors (bad flag values, unknown options) print one line too."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return main(kwargs.get("args", args[0] if args else None))


app = _App(name="inkforge", no_args_is_help=True, add_completion=False,
                  help="Make small language models better creative writers with AI feedback.")


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    setup_logging(verbose)


@app.command("agents")
@handle_errors
def agents_cmd(config: ConfigOpt = None,
               as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List registered agents: shipped ones, entry-point plugins and those a config names."""
    from rich.table import Table

    from inkforge.agents import AGENTS, get_agent, load_entry_points, register_agent
    from inkforge.core.plugins import load_plugins
    from inkforge.llm.config import load_config

    load_entry_points()
    if config is not None:
        cfg = load_config(config)
        load_plugins(cfg.plugins)
        for ref in cfg.agents.values():
            # Agents named by import path are not registered by anyone: register them to list them.
            register_agent(get_agent(ref), replace=True)
    rows: list[dict[str, Any]] = []
    for name, d in sorted(AGENTS.items()):
        rows.append({"name": name, "role": d.role, "schema": d.schema.__name__,
                     "fields": list(d.schema.model_fields), "description": d.description})
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title="inkforge agents")
    for col in ("name", "role", "schema", "fields", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["role"], r["schema"], ", ".join(r["fields"]), r["description"])
    console.print(table)


@app.command("demo")
@handle_errors
def demo_cmd(
    config: ConfigOpt = None, base_url: BaseUrlOpt = None, model: ModelOpt = None,
    concurrency: ConcurrencyOpt = None, task: TaskOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Where the demo writes its runs.")] = Path("demo_out"),
    limit: Annotated[int, typer.Option("--limit", help="Sample queries to use.")] = 3,
    full: Annotated[bool, typer.Option("--full/--agents-only", help="Whole pipeline, or one agent only.")] = True,
) -> None:
    """Run the main job at toy scale on the project's own sample queries."""
    from inkforge.cli.demo import run_demo

    writable_out(out, kind="dir")
    run_demo(config=config, base_url=base_url, model=model, concurrency=concurrency, task=task, out=out,
             limit=limit, full=full)


# Each command module keeps its heavy imports inside the command function, so `inkforge --help` stays fast.
app.command("curate")(curate_cmd)
app.command("refine-judge")(refine_judge_cmd)
app.command("eval-judge")(eval_judge_cmd)
app.command("audit-judge")(audit_judge_cmd)
app.command("serve-reward")(serve_reward_cmd)
app.command("eval-policy")(eval_policy_cmd)
app.command("stub")(stub_cmd)
app.add_typer(train_app, name="train", help="Train with TRL: sft | rm | grpo.")
app.add_typer(guards_app, name="guards", help="Reward-hacking guards: screen a file of texts.")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``) and exit with its status.

    Click's usage errors (a flag value of the wrong type or out of range, an unknown option, a
    missing argument) become one ``error: inkforge CMD: ...`` line and exit code 2, like inkforge's
    own input errors; ``--help`` and a bare group still print help.

    Example:
        >>> main(["agents", "--json"])  # doctest: +SKIP
    """
    try:  # typer >= 0.24 ships its own copy of click
        from typer._click import exceptions as click
    except ImportError:  # pragma: no cover - older typer on top of click
        import click  # type: ignore[no-redef]

    command = typer.main.get_command(app)
    try:
        code = command.main(args=list(argv) if argv is not None else sys.argv[1:], prog_name="inkforge",
                            standalone_mode=False)
    except click.NoArgsIsHelpError as e:
        e.show()
        sys.exit(e.exit_code)
    except click.UsageError as e:
        where = f"{e.ctx.command_path}: " if e.ctx is not None else ""
        hint = f" (see {e.ctx.command_path} --help)" if e.ctx is not None else ""
        print_error(f"{where}{e.format_message()}{hint}")
        sys.exit(e.exit_code)
    except click.ClickException as e:
        print_error(e.format_message())
        sys.exit(e.exit_code)
    except typer.Abort:
        print_error("aborted")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
