"""The file OpenRLHF loads: ``reward_func(queries, prompts, labels)`` backed by the inkforge judge.

OpenRLHF loads a Python file given as ``--remote_rm_url`` and calls its ``reward_func``. Point it
here and describe the judge with ``INKFORGE_*`` variables (see
:func:`inkforge.rewards.serving.env.reward_from_env`)::

    export INKFORGE_RUBRIC=runs/refine/rubric.json INKFORGE_BASE_URL=http://judge:8000/v1 INKFORGE_MODEL=qwen
    python -m openrlhf.cli.train_ppo_ray ... \\
        --remote_rm_url $(python -c "import inkforge.rewards.openrlhf as m; print(m.__file__)") \\
        --label_key query

For several nodes, run ``inkforge serve-reward`` once and pass ``--remote_rm_url
http://judge-node:8123/get_reward`` instead (one cache, one limit), or keep this file and set
``INKFORGE_REWARD_URL`` so it forwards to the server.

``queries`` are prompt + response texts and ``prompts`` the prompts (chat template applied); the
request comes from the label (``--label_key query``) or from the prompt's last user turn. OpenRLHF
cannot mask a missing reward: a failed judge call gets its group's mean reward (zero advantage) and
is counted in ``extra_logs["judge_failed"]``; past the failure threshold the call raises
:class:`~inkforge.core.errors.FailFastError`.

This file is only the entry point; OpenRLHF's request format and the scoring of a batch live in
:mod:`inkforge.rewards.serving.openrlhf`, shared with the server's ``/get_reward`` endpoint.

Example:
    >>> out = reward_func(["<|im_start|>user\\n生日祝福<|im_end|>\\n<|im_start|>assistant\\n生日快乐！"],
    ...                   ["<|im_start|>user\\n生日祝福<|im_end|>\\n<|im_start|>assistant\\n"], [None])  # doctest: +SKIP
    >>> sorted(out)  # doctest: +SKIP
    ['extra_logs', 'rewards', 'scores']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inkforge.rewards.serving.env import reward_from_env
from inkforge.rewards.serving.openrlhf import score_openrlhf

__all__ = ["reward_func"]


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any] | None = None,
                metas: Any = None, **kwargs: Any) -> dict[str, Any]:
    """Score an OpenRLHF batch with the judge.

    Returns:
        ``{"rewards": Tensor, "scores": Tensor, "extra_logs": {name: Tensor}}`` (plain lists when
        torch is not installed).

    Raises:
        FailFastError: The batch's failure rate exceeds the judge's ``max_failure_rate``.
    """
    out = score_openrlhf(reward_from_env(), queries, prompts, labels, on_failure="impute")
    result = {"rewards": out["rewards"], "scores": out["scores"], "extra_logs": out["extra_logs"]}
    try:
        import torch
    except ImportError:
        return result
    return {"rewards": torch.tensor(result["rewards"], dtype=torch.float32),
            "scores": torch.tensor(result["scores"], dtype=torch.float32),
            "extra_logs": {k: torch.tensor(v, dtype=torch.float32) for k, v in result["extra_logs"].items()}}
