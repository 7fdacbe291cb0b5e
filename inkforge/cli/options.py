"""Flags shared by every model-using command, and error handling that exits non-zero with a clear message.

Example:
    >>> # @app.command()
    >>> # def mycmd(config: ConfigOpt = None, base_url: BaseUrlOpt = None, model: ModelOpt = None,
    >>> #           concurrency: ConcurrencyOpt = None):
    >>> #     runtime = runtime_from_flags(config, base_url, model, concurrency)
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from inkforge.core.errors import InkforgeError, InputError

console = Console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (models per role, task...).")]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="OpenAI-compatible endpoint for every role.")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Model name (endpoint) or hub id / folder (local).")]
ConcurrencyOpt = Annotated[int | None, typer.Option("--concurrency", min=1, help="Shared in-flight model calls.")]
TaskOpt = Annotated[str | None, typer.Option("--task", help="Task name (greeting, poem) overriding the config.")]

F = TypeVar("F", bound=Callable[..., Any])


def runtime_from_flags(config: Path | None, base_url: str | None, model: str | None,
                       concurrency: int | None, *, task: str | None = None, **overrides: Any) -> Any:
    """Build a :class:`~inkforge.llm.runtime.Runtime` from the shared flags (and plugins named in the config)."""
    from inkforge.core.plugins import load_plugins
    from inkforge.llm.config import load_config
    from inkforge.llm.runtime import Runtime

    if task:
        overrides["task"] = task
    cfg = load_config(config, base_url=base_url, model=model, concurrency=concurrency, overrides=overrides)
    load_plugins(cfg.plugins)
    return Runtime(cfg)


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr through rich; API keys never reach the log (they are never formatted into records)."""
    from rich.logging import RichHandler

    level = logging.DEBUG if verbose else getattr(logging, os.environ.get("INKFORGE_LOG", "WARNING").upper(), 30)
    logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)],
                        force=True)
    # httpx logs every request URL at INFO; keep it quiet unless asked.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


def handle_errors(fn: F) -> F:
    """Turn inkforge's input errors into one red line and exit code 2 (no traceback for user mistakes)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as e:
            # Escaped: messages hold brackets that are not markup (pip install "inkforge[wandb]", paths).
            console.print(f"[red]error:[/red] {escape(str(e))}")
            raise typer.Exit(2) from None
        except InkforgeError as e:
            console.print(f"[red]error:[/red] {escape(str(e))}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]: finished items are saved; rerun with --resume")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
