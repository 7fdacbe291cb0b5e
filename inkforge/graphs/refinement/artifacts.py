"""The files a refinement run leaves in its output folder, written from a graph state.

* ``rubric.json``: the best accepted S_D as a :class:`~inkforge.core.rubric.Rubric`, with its metrics
  (see :func:`build_rubric`), the detector's prompt text and the model it was tuned with;
* ``history.jsonl``: every proposal, S_D and S_G, accepted or rejected, with its feedback and its
  metrics on the select split;
* ``hard_negatives.jsonl``: the synthetic flawed items, reusable as rejected samples;
* ``strategy.json``: the final S_G;
* ``summary.json``: stop reason, budgets, label counts and splits, and the test split's figures for
  the starting and the best rubric beside the length-only baselines (see :func:`summarize`).

Every S_D version in them is the rubric's own hash
(:mod:`~inkforge.graphs.refinement.versions`). Each file is rewritten whole and atomically (temp
file + rename) from the checkpointed state, so a crash never leaves half a file and a resumed run never
duplicates lines.

Example:
    >>> ARTIFACTS[0]
    'rubric.json'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inkforge.agents import DETECTOR, AgentDef
from inkforge.core.io import atomic_write, atomic_write_json
from inkforge.core.rubric import Rubric
from inkforge.graphs.refinement.config import RefinementConfig
from inkforge.graphs.refinement.versions import rubric_identity, strategy_version
from inkforge.llm.runtime import Runtime

__all__ = ["ARTIFACTS", "build_rubric", "rubric_metrics", "summarize", "write_artifacts"]

#: The files :func:`write_artifacts` writes.
ARTIFACTS = ("rubric.json", "history.jsonl", "hard_negatives.jsonl", "strategy.json", "summary.json")


def _jsonl(rows: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def rubric_metrics(state: dict[str, Any]) -> dict[str, Any]:
    """``rubric.json``'s metrics: the test split's figures once the run has finished.

    Once the test split is judged (the run's last step), the top level holds the best rubric's
    metrics on it (``kappa``, ``accuracy``, ``slice_accuracy``, the length baselines on the same rows
    ...; ``split: "test"``), with ``starting_rubric`` (the starting rubric on the same rows) and
    ``length_baseline`` beside. ``select`` holds its metrics on the select split, which chose it (biased
    upward: not a figure to report). ``iteration`` is the iteration that proposed it.

    Example:
        >>> rubric_metrics({"best_iteration": 2, "best_metrics": {"kappa": 0.5}})
        {'iteration': 2, 'select': {'kappa': 0.5}}
    """
    out: dict[str, Any] = {"iteration": state.get("best_iteration", 0)}
    test = state.get("test_report")
    if test:
        out.update(split="test", **test["best"]["metrics"])
        out["starting_rubric"] = {"version": test["starting"]["version"], **test["starting"]["metrics"]}
        out["length_baseline"] = test["length_baseline"]
    if state.get("best_metrics"):
        out["select"] = dict(state["best_metrics"])
    return out


def build_rubric(state: dict[str, Any], runtime: Runtime, detector: AgentDef[Any] = DETECTOR) -> Rubric:
    """The best accepted rubric of a state (the working one before the first gate), with its provenance.

    Its version is the one every artifact of the run records
    (:func:`~inkforge.graphs.refinement.versions.rubric_identity`); its metrics are
    :func:`rubric_metrics`.

    Example:
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel
        >>> rb = build_rubric({"rubric": ["Be specific."]}, Runtime.for_testing(FakeChatModel(), task="poem"))
        >>> rb.rules, rb.language, rb.metrics
        (('Be specific.',), 'en', {'iteration': 0})
    """
    return rubric_identity(runtime, detector).rubric(state.get("best_rubric") or state["rubric"],
                                                     metrics=rubric_metrics(state))


def summarize(state: dict[str, Any], rubric: Rubric, runtime: Runtime, config: RefinementConfig, tid: str,
              finished: bool) -> dict[str, Any]:
    """The refinement part of ``summary.json``.

    ``status`` is ``finished`` or ``running`` (stopped before its end: resumable). ``labels`` holds the
    de-duplication counts (``rows``, ``unique``, ``duplicates_removed``, ``conflicting_pairs``,
    ``conflicting_rows_dropped``) and the ``splits`` sizes; ``test`` the test split's report (``None``
    until the last step): ``starting`` and ``best`` (version and metrics) beside ``length_baseline``
    (``fixed``: the task's rule or ``None``; ``fitted``: the threshold fitted on the optimise and select
    rows). ``selection`` holds the select split's metrics of both rubrics: they chose the best one, so
    they are biased upward.
    """
    hist = [h for h in state.get("history") or [] if h["target"] == "S_D" and h["kind"] == "candidate"]
    hard = state.get("hard_negatives") or []
    best = state.get("best_metrics") or {}
    test = state.get("test_report")
    counts = dict(state.get("label_counts") or {})
    return {
        "status": "finished" if finished else "running",
        "stop_reason": state.get("stop_reason"),
        "thread_id": tid,
        "iterations_done": state.get("iteration", 0),
        "task": runtime.task.name,
        "language": runtime.task.language,
        "labels": {**counts, "splits": {"optimize": len(state.get("optimize") or []),
                                        "select": len(state.get("select") or []),
                                        "test": len(state.get("test") or [])}},
        "queries": len(state.get("queries") or []),
        "best": {"version": rubric.version, "iteration": state.get("best_iteration", 0),
                 "test_kappa": test["best"]["metrics"]["kappa"] if test else None,
                 "select_kappa": best.get("kappa")},
        "test": test,
        "selection": {"split": "select", "starting": state.get("initial_metrics"), "best": best or None},
        "proposals": {"validated": len(hist), "accepted": sum(1 for h in hist if h["accepted"]),
                      "rejected": sum(1 for h in hist if not h["accepted"])},
        "hard_negatives": {"n": len(hard), "caught": sum(1 for h in hard if h["caught"]),
                           "fooled": sum(1 for h in hard if not h["caught"])},
        "tokens_used": state.get("tokens_used", 0),
        "model_calls": state.get("calls", 0),
        "usage_this_process": runtime.usage.as_dict(),
        "config": config.model_dump(mode="json"),
    }


def write_artifacts(out_dir: str | Path, state: dict[str, Any], *, runtime: Runtime, config: RefinementConfig,
                    detector: AgentDef[Any] = DETECTOR, tid: str = "", finished: bool = False) -> Rubric:
    """Write the run's artifacts (:data:`ARTIFACTS`) from a graph state, each file atomically.

    Returns:
        The rubric written to ``rubric.json``.

    Example:
        >>> import tempfile
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel
        >>> out = tempfile.mkdtemp()
        >>> state = {"rubric": ["Be specific."], "strategy": ["Use a cliché."], "history": [], "hard_negatives": []}
        >>> rt = Runtime.for_testing(FakeChatModel(), task="poem")
        >>> write_artifacts(out, state, runtime=rt, config=RefinementConfig()).rules
        ('Be specific.',)
        >>> sorted(p.name for p in Path(out).iterdir()) == sorted(ARTIFACTS)
        True
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rubric = build_rubric(state, runtime, detector)
    rubric.save(out / "rubric.json")
    atomic_write(out / "history.jsonl", _jsonl(state.get("history") or []))
    atomic_write(out / "hard_negatives.jsonl", _jsonl(state.get("hard_negatives") or []))
    strategy = list(state.get("strategy") or [])
    atomic_write_json(out / "strategy.json", {"rules": strategy, "task": runtime.task.name,
                                              "language": runtime.task.language,
                                              "version": strategy_version(strategy)})
    atomic_write_json(out / "summary.json", summarize(state, rubric, runtime, config, tid, finished))
    return rubric
