"""Flags shared by every model-using command, and error handling that exits non-zero with a clear message.

Example:
    >>> # @app.command()
    >>> # def mycmd(config: ConfigOpt = None, base_url: BaseUrlOpt = None, model: ModelOpt = None,
    >>> #           concurrency: ConcurrencyOpt = None):
    >>> #     runtime = runtime_from_flags(config, base_url, model, concurrency)
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

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


def writable_out(path: Path | str, *, kind: Literal["file", "dir"] = "file", field: str = "--out") -> Path:
    """Refuse an output path that cannot be written, before any work (and without creating anything).

    ``kind="file"``: the path must not be a folder (an existing file is replaced when the report is
    written). ``kind="dir"``: the path must not be an existing file. In both cases the nearest folder
    that exists must be a folder and accept a new file: it is probed with a temporary file removed at
    once, so a read-only mount is caught even for root, who passes every permission check.

    Raises:
        InputError: Naming the path and ``field``.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> writable_out(d / "new" / "report.json") == d / "new" / "report.json"
        True
        >>> writable_out(d)
        Traceback (most recent call last):
        ...
        inkforge.core.errors.InputError: ...: field '--out': is a folder; give a file path, e.g. DIR/report.json
    """
    p = Path(path)
    if kind == "file" and p.is_dir():
        raise InputError("is a folder; give a file path, e.g. DIR/report.json", file=str(p), field=field)
    if kind == "dir" and p.exists() and not p.is_dir():
        raise InputError("exists and is not a folder", file=str(p), field=field)
    # The nearest existing folder: the missing ones below it are created when the output is written.
    parent = p if kind == "dir" and p.is_dir() else p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"cannot write here: {parent} is not a folder", file=str(p), field=field)
    try:
        fd, probe = tempfile.mkstemp(prefix=".inkforge-probe.", dir=parent)
    except OSError as e:
        raise InputError(f"cannot write here: {parent} is not writable ({e.strerror or e})", file=str(p),
                         field=field) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return p


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr through rich; API keys never reach the log (they are never formatted into records)."""
    from rich.logging import RichHandler

    level = logging.DEBUG if verbose else getattr(logging, os.environ.get("INKFORGE_LOG", "WARNING").upper(), 30)
    logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)],
                        force=True)
    # httpx logs every request URL at INFO; keep it quiet unless asked.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


def print_error(message: str) -> None:
    """Print ``error: MESSAGE`` on one line of stderr (never wrapped, so scripts can grep it)."""
    # Escaped: messages hold brackets that are not markup (pip install "inkforge[wandb]", paths).
    text = " ".join(str(message).split())
    console.print(f"[red]error:[/red] {escape(text)}", soft_wrap=True)


#: OS errors that mean a path the user gave is wrong (missing, a file where a folder is expected...).
_PATH_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EACCES, errno.EPERM, errno.EROFS,
                errno.ENOSPC, errno.EADDRINUSE, errno.EADDRNOTAVAIL}


def os_error_message(e: OSError) -> str | None:
    """A one-line ``FILE: reason`` for an OS error caused by a user's path or port, else ``None``.

    Example:
        >>> os_error_message(NotADirectoryError(20, "Not a directory", "afile/x"))
        'afile/x: Not a directory'
    """
    if e.errno not in _PATH_ERRNOS:
        return None
    reason = e.strerror or str(e)
    if e.filename is None:
        return reason
    where = f"{e.filename} -> {e.filename2}" if e.filename2 is not None else f"{e.filename}"
    return f"{where}: {reason}"


def handle_errors(fn: F) -> F:
    """Turn user mistakes into one ``error:`` line: input errors exit 2, other inkforge errors and bad
    paths (an OS error naming a file) exit 1; no traceback for any of them."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as e:
            print_error(str(e))
            raise typer.Exit(2) from None
        except InkforgeError as e:
            print_error(str(e))
            raise typer.Exit(1) from None
        except OSError as e:
            # The last line of defence: a path check a command missed still ends in one line, not a trace.
            message = os_error_message(e)
            if message is None:
                raise
            print_error(message)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]: finished items are saved; rerun with --resume")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
