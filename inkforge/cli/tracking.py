"""Flags and wiring for experiment trackers (``--report-to``, ``--logging-dir``, ``--log-every``) and HTML
reports (``--html``), shared by ``curate``, ``refine-judge``, ``eval-judge``, ``audit-judge`` and ``eval-policy``.

The commands check both flags before any model call (:meth:`CommandTracking.from_flags`,
:func:`check_html`), then plug :class:`CommandTracking`'s callbacks into the callbacks their runs
already have. Trackers and renderers live lower down (:mod:`inkforge.core.tracking`,
:mod:`inkforge.evaluation.html`).

Example:
    >>> tracking = CommandTracking.from_flags(["none"], None, 100, default_dir=Path("runs/x"), run_name="x")
    >>> tracking.enabled, tracking.on_progress
    (False, None)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from inkforge.cli.options import console, writable_out
from inkforge.core.tracking import (
    PairStats,
    ProgressLogger,
    Trackers,
    check_report_to,
    gate_metrics,
    judge_report_metrics,
    open_trackers,
)

if TYPE_CHECKING:
    from inkforge.llm.runtime import Runtime

__all__ = ["CommandTracking", "HtmlOpt", "LogEveryOpt", "LoggingDirOpt", "ReportToOpt", "check_html",
           "write_html"]

ReportToOpt = Annotated[list[str] | None, typer.Option(
    "--report-to", help="Experiment trackers: tensorboard, wandb, trackio, all or none (repeatable or a comma "
    "list, as TRL's report_to).")]
LoggingDirOpt = Annotated[Path | None, typer.Option(
    "--logging-dir", help="Where TensorBoard event files and W&B runs go (default: runs/ beside the output).")]
LogEveryOpt = Annotated[int, typer.Option("--log-every", min=1, help="Log to the trackers every N items.")]
HtmlOpt = Annotated[Path | None, typer.Option(
    "--html", help="Also write a self-contained HTML report (charts inline) to this path.")]


def check_html(path: Path | None) -> None:
    """Fail before any work when ``--html`` is given but matplotlib (the ``reports`` extra) is missing."""
    if path is not None:
        writable_out(path, kind="file", field="--html")
        from inkforge.evaluation.charts import check_matplotlib

        check_matplotlib("--html")


def write_html(path: Path, page: str) -> None:
    """Write a rendered report and say where it is."""
    from inkforge.evaluation.html import write_report

    write_report(path, page)
    console.print(escape(f"HTML report written to {path}"))


class CommandTracking:
    """One command's trackers and the callbacks that feed them (all no-ops without trackers).

    Attributes:
        names: The checked tracker names.
        logging_dir: Where the trackers write.
        every: Items between two logs.
        stats: Pair and failure statistics gathered from committed records (curation).
    """

    def __init__(self, names: list[str], logging_dir: Path, every: int, run_name: str,
                 config: Mapping[str, Any] | None = None) -> None:
        self.names, self.logging_dir, self.every, self.run_name = names, logging_dir, every, run_name
        self.config = dict(config or {})
        self.stats = PairStats()
        self.trackers: Trackers = Trackers([])
        self.step = 0

    @classmethod
    def from_flags(cls, report_to: list[str] | None, logging_dir: Path | None, log_every: int, *,
                   default_dir: Path, run_name: str, config: Mapping[str, Any] | None = None) -> CommandTracking:
        """Check the flags (a missing package is one line naming the extra); nothing is opened yet."""
        names = check_report_to(report_to)
        return cls(names, logging_dir or default_dir, log_every, run_name, config)

    @property
    def enabled(self) -> bool:
        return bool(self.names)

    def open(self) -> CommandTracking:
        """Open the trackers; :meth:`log` does it on first use, that is once the run has started: its inputs
        and output folder are checked by then (and the default ``OUT/runs`` does not make ``OUT`` non-empty
        before the runner looks)."""
        if self.enabled and not self.trackers:
            self.trackers = open_trackers(self.names, logging_dir=self.logging_dir, run_name=self.run_name,
                                          config=self.config)
            console.print(escape(f"logging to {', '.join(self.names)} (every {self.every} items) in {self.logging_dir}"))
        return self

    def close(self) -> None:
        self.trackers.close()

    def __enter__(self) -> CommandTracking:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log at ``step`` (default: the last step logged, so a command's steps never go backwards)."""
        if not self.enabled:
            return
        self.open()
        self.step = max(self.step, step if step is not None else self.step)
        self.trackers.log(metrics, self.step)

    def job(self, job: Any) -> Any:
        """A runner job whose ``progress_fields`` also feeds :attr:`stats` (pair lengths, failures by status)."""
        if not self.enabled:
            return job
        return dataclasses.replace(job, progress_fields=self.stats.wrap(job.progress_fields))

    @property
    def on_progress(self) -> Callable[[Any], None] | None:
        """A runner ``on_progress`` callback logging every :attr:`every` items (``None`` without trackers)."""
        if not self.enabled:
            return None
        logger = ProgressLogger(self, every=self.every,
                                extra=lambda: self.stats.metrics() if self.stats.items else {})

        def on_progress(update: Any) -> None:
            logger(update)

        return on_progress

    def on_gate(self, entry: Mapping[str, Any]) -> None:
        """A refinement ``on_gate`` callback: κ, accuracy and the length baseline at the gate's iteration."""
        self.log(gate_metrics(entry), int(entry.get("iteration", self.step)))

    def run_progress_at_last_step(self) -> Callable[[Any], None] | None:
        """A runner ``on_progress`` callback for one-item jobs (refinement): its final usage at the last step."""
        if not self.enabled:
            return None

        def on_progress(update: Any) -> None:
            if update.final:
                self.log({f"usage/{k}": v for k, v in dict(update.usage).items()})

        return on_progress

    def judge_progress(self, runtime: Runtime | None) -> Callable[[int, int], None] | None:
        """An ``aevaluate_judge`` ``on_progress(done, total)`` callback: rows judged and usage every N rows."""
        if not self.enabled:
            return None
        last = [0]

        def on_progress(done: int, total: int) -> None:
            if done - last[0] >= self.every or done == total:
                last[0] = done
                usage = runtime.usage.totals() if runtime is not None else {}
                self.log({"judge/done": done, "judge/total": total, **{f"usage/{k}": v for k, v in usage.items()}},
                         done)

        return on_progress

    def judge_report(self, report: Mapping[str, Any], step: int | None = None) -> None:
        """Log a judge report's headline figures (κ, accuracy, failures by status, the length baseline)."""
        self.log(judge_report_metrics(report), step)
