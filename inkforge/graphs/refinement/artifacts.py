"""The files a refinement run leaves in its output folder, written from a graph state.

* ``rubric.json``: the best accepted S_D as a :class:`~inkforge.core.rubric.Rubric`, with its
  validation metrics, the detector's prompt text and the model it was tuned with;
* ``history.jsonl``: every proposal, S_D and S_G, accepted or rejected, with its feedback and metrics;
* ``hard_negatives.jsonl``: the synthetic flawed items, reusable as rejected samples;
* ``strategy.json``: the final S_G;
* ``summary.json``: stop reason, budgets, split sizes, best κ beside the length-only baseline.

Each file is rewritten whole and atomically (temp file + rename) from the checkpointed state, so a
crash never leaves half a file and a resumed run never duplicates lines.

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
from inkforge.graphs.refinement.state import rules_version

__all__ = ["ARTIFACTS", "build_rubric", "summarize", "write_artifacts"]

#: The files :func:`write_artifacts` writes.
ARTIFACTS = ("rubric.json", "history.jsonl", "hard_negatives.jsonl", "strategy.json", "summary.json")


def _jsonl(rows: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def build_rubric(state: dict[str, Any], runtime: Any, detector: AgentDef[Any] = DETECTOR) -> Rubric:
    """The best accepted rubric of a state (the working one before the first gate), with its provenance.

    Example:
        >>> from inkforge.llm.runtime import Runtime
        >>> from inkforge.testing import FakeChatModel
        >>> rb = build_rubric({"rubric": ["Be specific."]}, Runtime.for_testing(FakeChatModel(), task="poem"))
        >>> rb.rules, rb.language, rb.metrics
        (('Be specific.',), 'en', {'iteration': 0})
    """
    lang = runtime.task.language
    metrics = dict(state.get("best_metrics") or {})
    metrics["iteration"] = state.get("best_iteration", 0)
    prompt_name = detector.prompt if isinstance(detector.prompt, str) and "\n" not in detector.prompt else "<custom>"
    return Rubric(rules=tuple(state.get("best_rubric") or state["rubric"]), task=runtime.task.name,
                  prompt_name=str(prompt_name), language=lang, prompt_text=detector.template(lang).source(),
                  model=runtime.spec_for(detector.role).identity(), metrics=metrics)


def summarize(state: dict[str, Any], rubric: Rubric, runtime: Any, config: RefinementConfig, tid: str,
              finished: bool) -> dict[str, Any]:
    """The refinement part of ``summary.json``: stop reason, split sizes, best κ, proposals, budgets.

    ``status`` is ``finished`` or ``running`` (stopped before its end: resumable).
    """
    hist = [h for h in state.get("history") or [] if h["target"] == "S_D" and h["kind"] == "candidate"]
    hard = state.get("hard_negatives") or []
    best = state.get("best_metrics") or {}
    return {
        "status": "finished" if finished else "running",
        "stop_reason": state.get("stop_reason"),
        "thread_id": tid,
        "iterations_done": state.get("iteration", 0),
        "task": runtime.task.name,
        "language": runtime.task.language,
        "labels": {"n": len(state.get("labels") or []), "train": len(state.get("train") or []),
                   "val": len(state.get("val") or [])},
        "queries": len(state.get("queries") or []),
        "initial_metrics": state.get("initial_metrics"),
        "best": {"version": rubric.version, "iteration": state.get("best_iteration", 0), "kappa": best.get("kappa"),
                 "metrics": best},
        "length_baseline_val": {"accuracy": best.get("length_baseline_accuracy"),
                                "kappa": best.get("length_baseline_kappa"),
                                "slice_accuracy": best.get("slice_length_baseline_accuracy")},
        "proposals": {"validated": len(hist), "accepted": sum(1 for h in hist if h["accepted"]),
                      "rejected": sum(1 for h in hist if not h["accepted"])},
        "hard_negatives": {"n": len(hard), "caught": sum(1 for h in hard if h["caught"]),
                           "fooled": sum(1 for h in hard if not h["caught"])},
        "tokens_used": state.get("tokens_used", 0),
        "model_calls": state.get("calls", 0),
        "usage_this_process": runtime.usage.as_dict(),
        "config": config.model_dump(mode="json"),
    }


def write_artifacts(out_dir: str | Path, state: dict[str, Any], *, runtime: Any, config: RefinementConfig,
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
                                              "version": rules_version(strategy)})
    atomic_write_json(out / "summary.json", summarize(state, rubric, runtime, config, tid, finished))
    return rubric
