"""Experiment trackers: TensorBoard, Weights & Biases and Trackio behind one small protocol.

A tracker is any object with ``log(metrics, step)`` and ``close()`` (:class:`Tracker`). The shipped
ones are optional extras, imported only when a run opens them: ``pip install "inkforge[tensorboard]"``,
``"inkforge[wandb]"``, ``"inkforge[trackio]"``. Names are chosen as in TRL's ``report_to``: a list,
a comma-separated string, ``"none"`` or ``"all"`` (every installed one); :func:`check_report_to`
turns a missing package into one line naming the extra, before any work starts.

The adapters below turn what the long runs already report into metrics, so the runs themselves know
nothing about trackers:

* :class:`ProgressLogger`: a runner ``on_progress`` callback
  (:class:`~inkforge.graphs.runner.RunProgress`: counters and usage), logging every N items;
* :class:`PairStats`: wraps a job's ``progress_fields`` to add pair lengths and failures by status
  from each committed item's records;
* :func:`gate_metrics`: one refinement gate entry → κ, accuracy and the length baseline;
* :func:`judge_report_metrics`: a judge report → its headline figures.

Example:
    >>> parse_report_to("tensorboard,wandb"), parse_report_to(["none"]), parse_report_to(None)
    (['tensorboard', 'wandb'], [], [])
    >>> class Memory:
    ...     def __init__(self): self.rows = []
    ...     def log(self, metrics, step): self.rows.append((step, dict(metrics)))
    ...     def close(self): pass
    >>> mem = Memory()
    >>> with Trackers([mem]) as t:
    ...     t.log({"kappa": 0.41, "skipped": None}, step=3)
    >>> mem.rows
    [(3, {'kappa': 0.41})]
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from inkforge.core.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = [
    "TRACKERS",
    "PairStats",
    "ProgressLogger",
    "Tracker",
    "TrackerSpec",
    "Trackers",
    "check_report_to",
    "gate_metrics",
    "judge_report_metrics",
    "open_trackers",
    "parse_report_to",
    "register_tracker",
    "tee",
]


@runtime_checkable
class Tracker(Protocol):
    """What a run logs to: scalar metrics at a step, then ``close`` once."""

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        """Record scalar ``metrics`` at ``step`` (items done, or the refinement iteration)."""

    def close(self) -> None:
        """Flush and finish the run."""


@dataclass(frozen=True)
class TrackerSpec:
    """A registered tracker: how to open it and what it needs installed.

    Attributes:
        factory: ``(logging_dir, project, run_name, config) -> Tracker``.
        requires: Importable module names the tracker needs (checked by :func:`check_report_to`).
        install: What to install when one is missing (shown in the error).
    """

    factory: Callable[[Path, str, str | None, Mapping[str, Any]], Tracker]
    requires: tuple[str, ...] = ()
    install: str = ""


def _metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Finite numbers only: a metric that does not exist yet (``None``) is left out, never logged as 0."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, bool):
            out[k] = float(v)
        elif isinstance(v, int | float) and math.isfinite(v):
            out[k] = float(v)
    return out


class TensorBoardTracker:
    """Scalars into TensorBoard event files under ``logging_dir`` (torch's ``SummaryWriter``, as TRL)."""

    def __init__(self, logging_dir: Path, project: str, run_name: str | None, config: Mapping[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(logging_dir))
        if config:
            self.writer.add_text("config", "```\n" + "\n".join(f"{k}: {v}" for k, v in config.items()) + "\n```")

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        for k, v in metrics.items():
            self.writer.add_scalar(k, v, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbTracker:
    """A Weights & Biases run; ``WANDB_MODE=offline`` keeps it on disk (``logging_dir/wandb/``)."""

    def __init__(self, logging_dir: Path, project: str, run_name: str | None, config: Mapping[str, Any]) -> None:
        import wandb

        logging_dir.mkdir(parents=True, exist_ok=True)
        # reinit: several commands in one process (tests, notebooks) each get their own run.
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", project), name=run_name, dir=str(logging_dir),
                              config=dict(config), reinit="create_new")

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self.run.log(dict(metrics), step=step)

    def close(self) -> None:
        self.run.finish()


class TrackioTracker:
    """A Trackio run: a local SQLite database under ``TRACKIO_DIR`` (default ``HF_HOME/trackio``)."""

    def __init__(self, logging_dir: Path, project: str, run_name: str | None, config: Mapping[str, Any]) -> None:
        import trackio

        # trackio prints dashboard hints on stdout, which belongs to the commands' own output.
        with contextlib.redirect_stdout(io.StringIO()):
            self.run = trackio.init(project=os.environ.get("TRACKIO_PROJECT", project), name=run_name,
                                    config=dict(config), embed=False, auto_log_gpu=False, auto_log_cpu=False)

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self.run.log(dict(metrics), step=step)

    def close(self) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            self.run.finish()


#: The tracker registry: name → :class:`TrackerSpec`. Add one with :func:`register_tracker`.
TRACKERS: dict[str, TrackerSpec] = {
    "tensorboard": TrackerSpec(TensorBoardTracker, ("tensorboard",), 'pip install "inkforge[tensorboard]"'),
    "wandb": TrackerSpec(WandbTracker, ("wandb",), 'pip install "inkforge[wandb]"'),
    "trackio": TrackerSpec(TrackioTracker, ("trackio",), 'pip install "inkforge[trackio]"'),
}


def register_tracker(name: str, factory: Callable[[Path, str, str | None, Mapping[str, Any]], Tracker], *,
                     requires: Sequence[str] = (), install: str = "", replace: bool = False) -> None:
    """Register a tracker under ``name`` (usable in ``--report-to``).

    Example:
        >>> register_tracker("memory", lambda d, p, r, c: Trackers([]), replace=True)
        >>> "memory" in TRACKERS
        True
        >>> del TRACKERS["memory"]
    """
    if name in TRACKERS and not replace:
        raise ValueError(f"tracker {name!r} is already registered (pass replace=True)")
    TRACKERS[name] = TrackerSpec(factory, tuple(requires), install)


def _installed(spec: TrackerSpec) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in spec.requires)


def parse_report_to(value: str | Iterable[str] | None, *, field: str = "--report-to") -> list[str]:
    """Tracker names from ``--report-to`` values (repeated flags and/or comma lists), TRL style.

    ``none`` (alone) means no tracker; ``all`` means every registered tracker that is installed.

    Raises:
        ConfigError: An unknown name, or ``none`` mixed with names.

    Example:
        >>> parse_report_to(["tensorboard", "wandb,tensorboard"])
        ['tensorboard', 'wandb']
    """
    if value is None:
        return []
    raw = [value] if isinstance(value, str) else list(value)
    names = [n.strip().lower() for v in raw for n in str(v).split(",") if n.strip()]
    if "none" in names:
        if len(set(names)) > 1:
            raise ConfigError(f"'none' cannot be combined with other trackers: {', '.join(names)}", field=field)
        return []
    if "all" in names:
        return [n for n, spec in TRACKERS.items() if _installed(spec)]
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise ConfigError(f"unknown tracker {unknown[0]!r}; known: {', '.join(TRACKERS)}, none, all", field=field)
    return list(dict.fromkeys(names))


def check_report_to(value: str | Iterable[str] | None, *, field: str = "--report-to") -> list[str]:
    """:func:`parse_report_to`, then check that each tracker's package is installed.

    Raises:
        ConfigError: One line naming the extra to install, e.g.
            ``tensorboard needs the 'tensorboard' package: pip install "inkforge[tensorboard]"``.

    Example:
        >>> check_report_to("none")
        []
    """
    names = parse_report_to(value, field=field)
    for name in names:
        spec = TRACKERS[name]
        missing = [m for m in spec.requires if importlib.util.find_spec(m) is None]
        if missing:
            fix = f": {spec.install}" if spec.install else ""
            raise ConfigError(f"{name} needs the {missing[0]!r} package{fix}", field=field)
    return names


class Trackers:
    """Several trackers as one: non-finite and ``None`` values are dropped, and a tracker that fails is
    reported once and left out, because losing a paid run to a dashboard error is worse than a gap in it.

    Example:
        >>> Trackers([]).log({"x": 1.0}, step=0)
    """

    def __init__(self, trackers: Sequence[Tracker], names: Sequence[str] = ()) -> None:
        self.trackers = list(trackers)
        self.names = list(names) or [type(t).__name__ for t in self.trackers]
        self.failed: dict[str, str] = {}

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        clean = _metrics(metrics)
        if not clean:
            return
        for name, t in list(zip(self.names, self.trackers, strict=True)):
            if name in self.failed:
                continue
            try:
                t.log(clean, step)
            except Exception as e:  # noqa: BLE001 - any tracker error: warn once, keep the run going
                self.failed[name] = f"{type(e).__name__}: {e}"
                log.warning("tracker %s failed and is left out for the rest of the run: %s", name, self.failed[name])

    def close(self) -> None:
        for name, t in zip(self.names, self.trackers, strict=True):
            try:
                t.close()
            except Exception as e:  # noqa: BLE001 - closing one must not keep the others open
                log.warning("tracker %s failed to close: %s: %s", name, type(e).__name__, e)

    def __enter__(self) -> Trackers:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_trackers(report_to: str | Iterable[str] | None, *, logging_dir: str | os.PathLike[str],
                  project: str = "inkforge", run_name: str | None = None,
                  config: Mapping[str, Any] | None = None) -> Trackers:
    """Open the named trackers (checked first: a missing package fails before any is opened).

    Args:
        report_to: Tracker names (see :func:`parse_report_to`).
        logging_dir: Where TensorBoard writes its event files and W&B its run folder.
        project: W&B / Trackio project (``WANDB_PROJECT`` / ``TRACKIO_PROJECT`` win).
        run_name: The run's display name.
        config: The run's settings, recorded with it.

    Example:
        >>> with open_trackers("none", logging_dir="runs/x") as t:
        ...     bool(t)
        False
    """
    names = check_report_to(report_to)
    cfg = {k: (v if isinstance(v, int | float | str | bool) or v is None else str(v))
           for k, v in (config or {}).items()}
    opened: list[Tracker] = []
    try:
        for name in names:
            opened.append(TRACKERS[name].factory(Path(logging_dir), project, run_name, cfg))
    except BaseException:
        Trackers(opened, names[:len(opened)]).close()
        raise
    return Trackers(opened, names)


# --------------------------------------------------------------------------------------------- adapters


def tee(*callbacks: Callable[..., Any] | None) -> Callable[..., None] | None:
    """One callback calling each given one in order (``None`` entries skipped; ``None`` if none are left).

    Example:
        >>> seen = []
        >>> tee(seen.append, None, lambda x: seen.append(x * 2))(3); seen
        [3, 6]
    """
    live = [c for c in callbacks if c is not None]
    if not live:
        return None

    def call(*args: Any, **kwargs: Any) -> None:
        for c in live:
            c(*args, **kwargs)

    return call


def _usage_metrics(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    return {f"usage/{k}": v for k, v in (usage or {}).items()}


class PairStats:
    """Pair lengths and failures by status, summed from each committed item's records.

    Wrap a job's ``progress_fields`` with :meth:`wrap`: the runner calls it with every committed item's
    records just before it reports progress, so :class:`ProgressLogger` reads up-to-date figures. The
    wrapped function still returns only the job's own counters (the progress bar stays as it was).

    Example:
        >>> stats = PairStats()
        >>> fields = stats.wrap(lambda records: {"pairs": len(records["pairs"])})
        >>> fields({"pairs": [{"chosen": "abcd", "rejected": "ab"}],
        ...         "failures": [{"status": "timeout"}, {"status": "no_pair"}]})
        {'pairs': 1}
        >>> m = stats.metrics(); m["pairs/chosen_len_mean"], m["failures/timeout"], m["pairs/chosen_longer_share"]
        (4.0, 1, 1.0)
    """

    def __init__(self) -> None:
        self.items = self.pairs = self.chosen_chars = self.rejected_chars = self.chosen_longer = 0
        self.no_pair = 0
        self.by_status: dict[str, int] = {}

    def add(self, records: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Count one committed item's records."""
        self.items += 1
        for p in records.get("pairs", ()):
            c, r = len(str(p.get("chosen", ""))), len(str(p.get("rejected", "")))
            self.pairs += 1
            self.chosen_chars += c
            self.rejected_chars += r
            self.chosen_longer += int(c > r)
        for f in records.get("failures", ()):
            status = str(f.get("status", "error"))
            if status == "no_pair":
                self.no_pair += 1
            else:
                self.by_status[status] = self.by_status.get(status, 0) + 1

    def wrap(self, fields: Callable[[Any], Mapping[str, int]] | None) -> Callable[[Any], Mapping[str, int]]:
        """``fields`` (a job's ``progress_fields``, or ``None``) that also counts the records it is given."""

        def progress_fields(records: Any) -> Mapping[str, int]:
            self.add(records)
            return fields(records) if fields is not None else {}

        return progress_fields

    def metrics(self) -> dict[str, Any]:
        """Pair yield, failures by status and chosen/rejected lengths so far (``None`` before any pair)."""
        n = self.pairs
        out: dict[str, Any] = {
            "pairs/yield_per_item": n / self.items if self.items else None,
            "pairs/no_pair_items": self.no_pair,
            "pairs/chosen_len_mean": self.chosen_chars / n if n else None,
            "pairs/rejected_len_mean": self.rejected_chars / n if n else None,
            "pairs/chosen_longer_share": self.chosen_longer / n if n else None,
            "failures/records": sum(self.by_status.values()),
        }
        out.update({f"failures/{k}": v for k, v in sorted(self.by_status.items())})
        return out


class ProgressLogger:
    """A runner ``on_progress`` callback that logs counters, rates and usage every ``every`` items.

    It reads a :class:`~inkforge.graphs.runner.RunProgress` by its attributes (``done``, ``total``,
    ``counters``, ``usage``, ``elapsed_s``, ``final``), and always logs the final report.

    Args:
        tracker: Where to log (a :class:`Tracker` or :class:`Trackers`).
        every: Log after at least this many more items are done.
        extra: Further metrics to add at each log (e.g. :meth:`PairStats.metrics`).
        prefix: Prefix of the counter metrics.

    Example:
        >>> from types import SimpleNamespace as Update
        >>> class Memory:
        ...     rows = []
        ...     def log(self, metrics, step): self.rows.append((step, metrics))
        ...     def close(self): pass
        >>> logger = ProgressLogger(Memory(), every=2)
        >>> for done in (1, 2, 3):
        ...     logger(Update(done=done, total=3, counters={"failed": 0, "pairs": done}, usage={"tokens": 10 * done},
        ...                   elapsed_s=1.0, final=done == 3))
        >>> [(step, m["items/pairs"], m["usage/tokens"]) for step, m in Memory.rows]
        [(2, 2.0, 20.0), (3, 3.0, 30.0)]
    """

    def __init__(self, tracker: Tracker, *, every: int = 100, extra: Callable[[], Mapping[str, Any]] | None = None,
                 prefix: str = "items") -> None:
        if every < 1:
            raise ConfigError(f"must be at least 1, got {every}", field="--log-every")
        self.tracker, self.every, self.extra, self.prefix = tracker, every, extra, prefix
        self.last: int | None = None

    def __call__(self, update: Any) -> None:
        done = int(update.done)
        if not update.final and done - (self.last or 0) < self.every:
            return
        counters = dict(update.counters)
        failed = counters.get("failed", 0)
        m: dict[str, Any] = {f"{self.prefix}/done": done, f"{self.prefix}/total": update.total,
                             f"{self.prefix}/per_s": done / update.elapsed_s if update.elapsed_s > 0 else None,
                             f"{self.prefix}/failure_rate": failed / done if done else None}
        m.update({f"{self.prefix}/{k}": v for k, v in counters.items()})
        m.update(_usage_metrics(update.usage))
        if self.extra is not None:
            m.update(self.extra())
        self.tracker.log(_metrics(m), done)
        self.last = done


def gate_metrics(entry: Mapping[str, Any]) -> dict[str, float]:
    """Metrics of one refinement gate (an S_D history entry), logged at step ``entry["iteration"]``.

    Example:
        >>> e = {"iteration": 2, "kind": "candidate", "accepted": False, "best_kappa": 0.5, "tokens_used": 900,
        ...      "metrics": {"kappa": 0.42, "accuracy": 0.7, "length_baseline_kappa": 0.3}}
        >>> gate_metrics(e)["gate/kappa"], gate_metrics(e)["gate/accepted"]
        (0.42, 0.0)
    """
    m: dict[str, Any] = {"gate/best_kappa": entry.get("best_kappa"), "gate/tokens_used": entry.get("tokens_used"),
                         "gate/no_proposal": entry.get("kind") == "no_proposal"}
    if entry.get("kind") != "no_proposal":
        m["gate/accepted"] = bool(entry.get("accepted"))
    for k, v in (entry.get("metrics") or {}).items():
        m[f"gate/{k}"] = v
    return _metrics(m)


def judge_report_metrics(report: Mapping[str, Any], prefix: str = "judge") -> dict[str, float]:
    """Headline figures of a judge report (``inkforge eval-judge``): κ, accuracy, failures, the length baseline.

    Keys are read defensively: sections a report lacks are left out.

    Example:
        >>> judge_report_metrics({"overall": {"judge": {"kappa": 0.4, "accuracy": 0.7}, "n": 10,
        ...                                   "parse_failures": {"rate": 0.1, "by_status": {"timeout": 1}}}})
        {'judge/overall/n': 10.0, 'judge/overall/kappa': 0.4, 'judge/overall/accuracy': 0.7, 'judge/overall/failure_rate': 0.1, 'judge/failures/timeout': 1.0}
    """
    m: dict[str, Any] = {}
    for sec in ("overall", "slice"):
        s = report.get(sec)
        if not isinstance(s, Mapping):
            continue
        j = s.get("judge") or {}
        base = ((s.get("length_baseline") or {}).get("fixed")) or {}
        m[f"{prefix}/{sec}/n"] = s.get("n")
        m[f"{prefix}/{sec}/kappa"] = j.get("kappa")
        m[f"{prefix}/{sec}/accuracy"] = j.get("accuracy")
        m[f"{prefix}/{sec}/length_baseline_kappa"] = base.get("kappa")
        m[f"{prefix}/{sec}/length_baseline_accuracy"] = base.get("accuracy")
        pf = s.get("parse_failures") or {}
        m[f"{prefix}/{sec}/failure_rate"] = pf.get("rate")
        if sec == "overall":
            m.update({f"{prefix}/failures/{k}": v for k, v in (pf.get("by_status") or {}).items()})
    return _metrics(m)
