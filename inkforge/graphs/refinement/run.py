"""Run (or resume) a judge refinement through the dataset runner, with artifacts in an output folder.

A refinement is one long graph invocation, so it runs as a :class:`~inkforge.graphs.runner.GraphJob`
of one item, the run itself, keyed by a hash of its inputs (:func:`thread_id`). It gets what every
runner job gets: the output-folder rules (an existing run is refused without ``resume``), the
fingerprint check on resume (changed inputs or settings are refused), the SQLite checkpointer under
``OUT/.inkforge/``, run bookkeeping, ``summary.json`` and the ``on_progress`` callback. The job
checkpoints after every superstep (``durability="sync"``), rewrites the artifacts
(:mod:`~inkforge.graphs.refinement.artifacts`) whenever the history grows, and keeps the final state
as ``final_state.jsonl`` (committed with the run), so resuming a finished run is a no-op that still
returns its result.

Example::

    from inkforge.evaluation import load_labels
    from inkforge.graphs.refinement import load_queries, refine_judge

    result = refine_judge(runtime, load_labels("labels.jsonl"), load_queries("queries.txt"),
                          out_dir="runs/judge")
    print(result.rubric.metrics["kappa"], result.summary["stop_reason"])   # κ on the test split
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inkforge.agents import ADVERSARIAL_GENERATOR, DETECTOR, ERROR_REFLECTOR, RUBRIC_OPTIMIZER, AgentDef
from inkforge.core.errors import FailFastError
from inkforge.core.io import atomic_write_json
from inkforge.core.rubric import Rubric
from inkforge.graphs.items import QueryItem
from inkforge.graphs.refinement.artifacts import build_rubric, summarize, write_artifacts
from inkforge.graphs.refinement.config import RefinementConfig
from inkforge.graphs.refinement.graph import judge_refinement_builder
from inkforge.graphs.refinement.inputs import check_inputs, prepare_labels
from inkforge.graphs.refinement.nodes import StartingRubricFailed, refinement_context
from inkforge.graphs.refinement.state import digest
from inkforge.graphs.runner import GraphJob, ProgressCallback, Records, arun_graph
from inkforge.llm.runtime import Runtime

log = logging.getLogger(__name__)

__all__ = ["FINAL_STATE", "RefinementResult", "arefine_judge", "refine_judge", "thread_id"]

#: The runner output holding the final graph state (``OUT/final_state.jsonl``, one line).
FINAL_STATE = "final_state"


@dataclass
class RefinementResult:
    """What a refinement run produced (also written to its output folder).

    Attributes:
        rubric: The best accepted rubric; its metrics are on the test split once the run has finished
            (see :func:`~inkforge.graphs.refinement.artifacts.rubric_metrics`).
        strategy: The final S_G.
        history: Every proposal, accepted or rejected, with its feedback and metrics.
        hard_negatives: Synthetic flawed items, reusable as rejected samples.
        summary: Run summary (stop reason, budgets, label counts and splits, the test split's figures
            beside the length baselines...), as in ``summary.json``.
        state: The graph state the run ended on (the final one when ``summary["status"]`` is
            ``finished``).

    Example::

        result = refine_judge(runtime, rows, queries, out_dir="runs/judge")
        result.rubric.metrics["kappa"], len(result.hard_negatives)
    """

    rubric: Rubric
    strategy: list[str]
    history: list[dict[str, Any]]
    hard_negatives: list[dict[str, Any]]
    summary: dict[str, Any]
    state: dict[str, Any]


def _identity(labels: Sequence[dict[str, Any]], queries: Sequence[str], config: RefinementConfig,
              runtime: Runtime, agents: Sequence[AgentDef[Any]]) -> dict[str, Any]:
    lang = runtime.task.language
    return {
        "labels": digest([[r["query"], r["response"], int(r["label"])] for r in labels]),
        "queries": digest(list(queries)),
        "config": config.model_dump(mode="json"),
        "task": runtime.task.name,
        "agents": [[a.name, a.template(lang).version, runtime.spec_for(a.role).identity()] for a in agents],
    }


def thread_id(labels: Sequence[dict[str, Any]], queries: Sequence[str], config: RefinementConfig,
              runtime: Runtime, agents: Sequence[AgentDef[Any]] = ()) -> str:
    """Key of a run: a hash of the inputs, the config, the task and the models/prompts.

    The same inputs resume the same run; any change is refused on resume (the runner's fingerprint).

    Example:
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel
        >>> rt = Runtime.for_testing(FakeChatModel())
        >>> rows = [{"query": "q", "response": "r", "label": 1}]
        >>> thread_id(rows, ["q"], RefinementConfig(), rt) == thread_id(rows, ["q"], RefinementConfig(seed=1), rt)
        False
    """
    return digest(_identity(labels, queries, config, runtime, agents))[:16]


def _final_state(out: Path) -> dict[str, Any]:
    path = out / f"{FINAL_STATE}.jsonl"
    if not path.is_file():
        return {}
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}


class _Run:
    """The hooks of one refinement job: they follow the state and publish the artifacts."""

    def __init__(self, out: Path, runtime: Runtime, config: RefinementConfig, detector: AgentDef[Any], tid: str,
                 on_gate: Callable[[dict[str, Any]], None] | None, max_steps: int | None) -> None:
        self.out, self.runtime, self.config, self.detector, self.tid = out, runtime, config, detector, tid
        self.on_gate, self.max_steps = on_gate, max_steps
        self.state: dict[str, Any] = {}
        self.steps = 0
        # History entries already published: those in history.jsonl when resuming (a fresh run's folder
        # is empty, the runner sees to that).
        hist = out / "history.jsonl"
        self.seen = sum(1 for line in hist.read_text(encoding="utf-8").splitlines() if line.strip()) \
            if hist.is_file() else 0

    def write(self, state: dict[str, Any], finished: bool) -> Rubric:
        return write_artifacts(self.out, state, runtime=self.runtime, config=self.config, detector=self.detector,
                               tid=self.tid, finished=finished)

    def on_step(self, item: QueryItem, state: dict[str, Any]) -> bool:
        self.state = state
        hist = state.get("history") or []
        if len(hist) > self.seen:
            for entry in hist[self.seen:]:
                if self.on_gate is not None and entry["target"] == "S_D":
                    self.on_gate(entry)
            self.seen = len(hist)
            self.write(state, finished=False)
        self.steps += 1
        return self.max_steps is not None and self.steps >= self.max_steps

    def to_records(self, item: QueryItem, state: dict[str, Any]) -> Records:
        self.state = state
        self.write(state, finished=True)
        return {FINAL_STATE: [state]}

    def current(self) -> dict[str, Any]:
        return self.state or _final_state(self.out)

    def summarize(self, out: Path, base: dict[str, Any]) -> dict[str, Any]:
        state = self.current()
        if not state.get("rubric"):
            return {**base, "status": "running", "thread_id": self.tid, "task": self.runtime.task.name}
        rubric = build_rubric(state, self.runtime, self.detector)
        return {**base, **summarize(state, rubric, self.runtime, self.config, self.tid, bool(base["complete"]))}


async def arefine_judge(runtime: Runtime, labels: Sequence[dict[str, Any]], queries: Sequence[str], *,
                        out_dir: str | Path, config: RefinementConfig | None = None, resume: bool = False,
                        generator: AgentDef[Any] = ADVERSARIAL_GENERATOR, detector: AgentDef[Any] = DETECTOR,
                        error_reflector: AgentDef[Any] = ERROR_REFLECTOR,
                        optimizer: AgentDef[Any] = RUBRIC_OPTIMIZER,
                        on_gate: Callable[[dict[str, Any]], None] | None = None,
                        on_progress: ProgressCallback | None = None,
                        max_steps: int | None = None, max_tokens: int | None = None,
                        max_cost: float | None = None) -> RefinementResult:
    """Run (or resume) a refinement through the dataset runner, with artifacts in ``out_dir``.

    The labels are de-duplicated (repeats and conflicting pairs are counted in ``summary.json`` and
    logged as a warning), then split three ways: optimise (reflection), select (the gate) and test,
    judged only at the end with the starting and the best rubric (see
    :class:`~inkforge.graphs.refinement.config.RefinementConfig`).

    Args:
        runtime: The runtime.
        labels: Human labels ``{"query", "response", "label"}``.
        queries: Queries for the adversarial phase.
        out_dir: Output folder: the artifacts (see :func:`write_artifacts`), ``final_state.jsonl``,
            ``summary.json`` and the runner's state under ``.inkforge/``.
        config: The refinement config.
        resume: Continue the run saved in ``out_dir``. Without it, a folder that holds a run is refused
            (so a long run is never overwritten by accident); with it, changed inputs are refused.
        generator: Generator agent.
        detector: Detector agent.
        error_reflector: Error reflector agent.
        optimizer: Optimiser agent.
        on_gate: Called with each S_D gate history entry as it happens (progress display).
        on_progress: The runner's progress callback (:class:`~inkforge.graphs.runner.RunProgress`).
        max_steps: Pause after this many graph steps, leaving the checkpoint to resume (tests, dry runs).
        max_tokens: Spend cap of this call in tokens over every agent; reaching it stops the run,
            resumable (:class:`~inkforge.llm.budget.BudgetExceededError`).
        max_cost: The same in cost.

    Returns:
        A :class:`RefinementResult`.

    Raises:
        InputError: Bad inputs, an existing run without ``resume``, or changed inputs with it.
        FailFastError: The starting rubric's gate mostly failed: its checkpoint is dropped, so the same
            command with ``resume`` starts afresh once the endpoint is fixed. Or the final test-split
            evaluation mostly failed: the loop's checkpoint is kept and ``resume`` judges the test
            split again.

    Example::

        result = await arefine_judge(runtime, rows, queries, out_dir="runs/judge",
                                     on_gate=lambda entry: print(entry["iteration"], entry["accepted"]))
    """
    cfg = config or RefinementConfig()
    check_inputs(labels, queries, cfg)
    dedup, _ = prepare_labels(labels, cfg)
    if dedup.changed:
        log.warning("labels: %s", dedup.message())
    agents = (generator, detector, error_reflector, optimizer)
    ctx = refinement_context(runtime, generator=generator, detector=detector, error_reflector=error_reflector,
                             optimizer=optimizer, config=cfg)
    identity = _identity(labels, queries, cfg, runtime, agents)
    tid = digest(identity)[:16]
    out = Path(out_dir)
    run = _Run(out, runtime, cfg, detector, tid, on_gate, max_steps)
    job = GraphJob(
        graph=judge_refinement_builder(), name="refine-judge", context=ctx,
        to_input=lambda item: {"labels": list(labels), "queries": list(queries)},
        to_records=run.to_records, outputs=(FINAL_STATE,), fingerprint=identity, summarize=run.summarize,
        # ~11 supersteps an iteration; a generous bound that still stops a graph that loops.
        recursion_limit=20 * (cfg.iterations + 2) + 20,
        on_step=run.on_step,
        # One item: an error has no other items to go on with, so it stops the run and stays resumable.
        raise_on=(BaseException,),
        # A broken endpoint at the starting gate: its saved validation would only fail again. A failure
        # of the final test evaluation keeps the loop's checkpoint: resuming re-runs only that step.
        restart_on=(StartingRubricFailed,))
    try:
        report = await arun_graph(job, [{"id": tid, "query": f"judge refinement {tid}"}], out_dir=out,
                                  runtime=runtime, resume=resume, durability="sync", on_progress=on_progress,
                                  total=1, max_tokens=max_tokens, max_cost=max_cost,
                                  # Each judged batch has its own failure watch (ajudge_all), whose message
                                  # names the split; a run-wide one would only pre-empt it.
                                  fail_window=0)
    except FailFastError as e:
        if (out / "summary.json").is_file():
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
            atomic_write_json(out / "summary.json", {**summary, "status": "failed", "error": str(e)})
        if isinstance(e, StartingRubricFailed):
            raise StartingRubricFailed(f"{e}. The run's checkpoint is dropped: once fixed, resume (--resume) "
                                       "starts it afresh") from e
        raise
    state = run.current()
    rubric = build_rubric(state, runtime, detector)
    return RefinementResult(rubric=rubric, strategy=list(state.get("strategy") or []),
                            history=list(state.get("history") or []),
                            hard_negatives=list(state.get("hard_negatives") or []), summary=report.summary,
                            state=state)


def refine_judge(runtime: Runtime, labels: Sequence[dict[str, Any]], queries: Sequence[str], *,
                 out_dir: str | Path, config: RefinementConfig | None = None, resume: bool = False,
                 **kwargs: Any) -> RefinementResult:
    """Synchronous :func:`arefine_judge` (scripts and notebooks without a running loop).

    Example:
        >>> import tempfile
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel
        >>> fake = FakeChatModel(responder=lambda messages, schema: {"explanation": "ok", "verdict": "Good"})
        >>> rows = [{"query": "q", "response": f"r{i}", "label": i % 2} for i in range(6)]
        >>> result = refine_judge(Runtime.for_testing(fake), rows, ["q"], out_dir=tempfile.mkdtemp(),
        ...                       config=RefinementConfig(iterations=0))
        >>> result.summary["status"], result.rubric.metrics["kappa"]
        ('finished', 0.0)
    """
    from inkforge.core.aio import run_sync

    return run_sync(arefine_judge(runtime, labels, queries, out_dir=out_dir, config=config, resume=resume,
                                  **kwargs))
