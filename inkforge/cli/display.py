"""Terminal display shared by the commands: progress bars and small formatting helpers.

Lower layers report through callbacks (:class:`~inkforge.graphs.runner.RunProgress`); only this
package draws.

Example:
    >>> compact(12_345), pct(0.5), num(None)
    ('12.3k', '50.0%', '—')
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def compact(n: int | float) -> str:
    """``12345`` → ``12.3k``; ``2.5e6`` → ``2.5M``."""
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e4 else str(n)


def pct(x: float | None) -> str:
    """A share as a percentage, ``—`` for ``None``."""
    return "—" if x is None else f"{100 * x:.1f}%"


def num(x: float | None) -> str:
    """Three decimals, ``—`` for ``None``."""
    return "—" if x is None else f"{x:.3f}"


class RunProgressBar:
    """A rich progress bar fed by a runner's progress callback: done/total, items/s, counters, usage.

    Use it as the ``on_progress`` callback of :func:`~inkforge.graphs.runner.arun_graph` (or
    :func:`~inkforge.graphs.curation.curate`); it starts on the first report and stops on the final one.

    Example:
        >>> import io
        >>> from rich.console import Console
        >>> from inkforge.graphs.runner import RunProgress
        >>> out = io.StringIO()
        >>> bar = RunProgressBar(Console(file=out, width=100))
        >>> bar(RunProgress(job="curate", done=2, total=2, counters={"pairs": 2}, usage={}, elapsed_s=1.0,
        ...                 final=True))
        >>> "2/2" in out.getvalue() and "pairs 2" in out.getvalue()
        True
    """

    def __init__(self, console: Console | None = None, *, refresh_s: float = 0.25) -> None:
        self.console = console or Console(stderr=True)
        self.refresh_s = refresh_s
        self._progress: Progress | None = None
        self._task: Any = None
        self._last = 0.0

    def __call__(self, update: Any) -> None:
        if self._progress is None:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
                console=self.console, transient=False, refresh_per_second=4)
            self._task = self._progress.add_task(update.job, total=update.total, rate="", stats="")
            self._progress.start()
        now = time.perf_counter()
        self._progress.update(self._task, completed=update.done)
        if update.final or now - self._last >= self.refresh_s:
            self._last = now
            rate = f"{update.done / max(update.elapsed_s, 1e-9):.1f} items/s"
            parts = [f"{k} {v}" for k, v in update.counters.items()]
            u = update.usage
            if u:
                parts += [f"calls {u.get('calls', 0)}", f"tokens {compact(u.get('tokens', 0))}",
                          f"${u.get('cost', 0.0):.4f}"]
            self._progress.update(self._task, rate=rate, stats=" · ".join(parts))
        if update.final:
            self._progress.stop()
            self._progress = None
