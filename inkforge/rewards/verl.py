"""The file verl loads: the inkforge judge as a verl custom reward function, configured by environment.

verl loads a reward file by path and calls a named function in it. Point it here and describe the
judge with ``INKFORGE_*`` variables (see :func:`inkforge.rewards.serving.env.reward_from_env`)::

    export INKFORGE_RUBRIC=runs/refine/rubric.json INKFORGE_BASE_URL=http://judge:8000/v1 \\
           INKFORGE_MODEL=qwen2.5-72b-instruct INKFORGE_CONCURRENCY=64
    # or one shared judge for every worker:  export INKFORGE_REWARD_URL=http://judge-node:8123
    python -m verl.trainer.main_ppo ... \\
        custom_reward_function.path=$(python -c "import inkforge.rewards.verl as m; print(m.__file__)") \\
        custom_reward_function.name=compute_score_batch reward_model.reward_manager=batch

``compute_score_batch`` (with verl's ``batch`` reward manager) scores a whole batch concurrently;
``compute_score`` is the per-sample signature of verl's ``naive`` manager, which calls it once per
completion, one after another: correct, but each call waits a full judge round trip.

The request is read from ``extra_info["query"]`` (write the bare request there when building the
parquet file), else from ``ground_truth`` (a string, or an object with ``query``).

verl has no way to mask a missing reward, so a failed judge call gets the mean reward of the same
request's other completions (zero advantage under GRPO's group normalisation; see
:func:`inkforge.rewards.outcomes.impute_failures`) and is reported as ``judge_failed = 1`` in the
returned dict, which verl logs beside ``score``. Failures never become ``0.0``, and past
``INKFORGE_MAX_FAILURE_RATE`` the function raises :class:`~inkforge.core.errors.FailFastError`.

Example:
    >>> compute_score("greeting", "生日快乐！", None, {"query": "生日祝福"})  # doctest: +SKIP
    {'score': 1.0, 'judge_failed': 0.0, 'judge_cached': 0.0}
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from inkforge.core.errors import FailFastError
from inkforge.rewards.outcomes import impute_failures
from inkforge.rewards.serving.env import reward_from_env
from inkforge.rewards.serving.openrlhf import label_query

__all__ = ["compute_score", "compute_score_batch", "request_of"]

_lock = threading.Lock()
_by_query: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()


def request_of(ground_truth: Any, extra_info: Mapping[str, Any] | None) -> str:
    """The bare request of a verl sample (``extra_info["query"]``, else ``ground_truth``).

    Raises:
        ValueError: Neither holds a request.
    """
    if isinstance(extra_info, Mapping) and extra_info.get("query"):
        return str(extra_info["query"])
    request = label_query(ground_truth)
    if request:
        return request
    if isinstance(ground_truth, str) and ground_truth.strip():  # a JSON object without "query": as is
        return ground_truth.strip()
    raise ValueError("verl sample has no request: put it in extra_info['query'] (or reward_model.ground_truth)")


def _row(reward: float, ok: bool, cached: bool) -> dict[str, float]:
    return {"score": float(reward), "judge_failed": 0.0 if ok else 1.0, "judge_cached": 1.0 if cached else 0.0}


def compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Any] | None = None, **kwargs: Any) -> list[dict[str, float]]:
    """Score a verl batch concurrently (verl's ``batch`` reward manager).

    Returns:
        One ``{"score", "judge_failed", "judge_cached"}`` dict per completion.

    Raises:
        FailFastError: The batch's failure rate exceeds the judge's ``max_failure_rate``.
    """
    reward = reward_from_env()
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    queries = [request_of(g, e) for g, e in zip(ground_truths, infos, strict=True)]
    batch = reward.score_batch(queries, list(solution_strs), queries=queries)
    reward.check_failures(batch)
    rewards = impute_failures(batch.rewards, queries)
    return [_row(r, o.ok, o.cached) for r, o in zip(rewards, batch.outcomes, strict=True)]


def compute_score(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any = None,
                  **kwargs: Any) -> dict[str, float]:
    """Score one completion (verl's ``naive`` reward manager signature).

    Returns:
        ``{"score", "judge_failed", "judge_cached"}``.

    Raises:
        FailFastError: More than ``max_failure_rate`` of the judge's recent completions failed (see
            :meth:`JudgeReward.check_failures`), or a completion fails with nothing to impute from.
    """
    reward = reward_from_env()
    query = request_of(ground_truth, extra_info)
    batch = reward.score_batch([query], [solution_str], queries=[query])
    reward.check_failures(batch)  # over the judge's recent window, not this one item
    outcome = batch.outcomes[0]
    with _lock:
        if outcome.reward is not None:
            peers = _by_query.setdefault(query, collections.deque(maxlen=64))
            peers.append(outcome.reward)
            _by_query.move_to_end(query)
            while len(_by_query) > 4096:
                _by_query.popitem(last=False)
            return _row(outcome.reward, True, outcome.cached)
        # A failure: the mean of this request's earlier completions, else of everything recent.
        known = list(_by_query.get(query) or [v for d in list(_by_query.values())[-64:] for v in d])
        if not known:
            raise FailFastError(f"judge call failed ({outcome.status}: {(outcome.error or '')[:200]}) and no "
                                "earlier reward exists to stand in for it")
        return _row(sum(known) / len(known), False, False)
