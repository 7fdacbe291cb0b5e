"""The judge reward an ``INKFORGE_*`` environment describes: for reward files trainers load by path.

verl and OpenRLHF import a reward file and call a function in it without arguments of ours, so
:mod:`inkforge.rewards.verl` and :mod:`inkforge.rewards.openrlhf` read the judge's configuration from
the environment, through :func:`reward_from_env`.

Example:
    >>> reward = reward_from_env({"INKFORGE_REWARD_URL": "http://judge-node:8123"})
    >>> type(reward).__name__, reward.url
    ('RemoteJudgeReward', 'http://judge-node:8123')
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from inkforge.core.errors import ConfigError
from inkforge.rewards.judge import JudgeReward
from inkforge.rewards.serving.client import RemoteJudgeReward

__all__ = ["reward_from_env"]

_ENV_KEYS = ("INKFORGE_REWARD_URL", "INKFORGE_RUBRIC", "INKFORGE_CONFIG", "INKFORGE_BASE_URL", "INKFORGE_MODEL",
             "INKFORGE_CONCURRENCY", "INKFORGE_JUDGE_MODE", "INKFORGE_JUDGE_SCALE", "INKFORGE_GROUP_MODE",
             "INKFORGE_NUM_GENERATIONS", "INKFORGE_MAX_FAILURE_RATE", "INKFORGE_CACHE", "INKFORGE_JUDGE_ROLE")
_FROM_ENV: dict[tuple[str | None, ...], Any] = {}
_FROM_ENV_LOCK = threading.Lock()


def reward_from_env(environ: Mapping[str, str] | None = None) -> JudgeReward | RemoteJudgeReward:
    """The judge reward the ``INKFORGE_*`` environment describes (built once per process and setting).

    Variables: ``INKFORGE_REWARD_URL`` (a ``serve-reward`` server, or several replicas separated
    by commas; the others are then ignored, and ``INKFORGE_REWARD_TOKEN`` is its bearer token), or
    ``INKFORGE_RUBRIC`` (``rubric.json``) with optional ``INKFORGE_CONFIG`` (YAML),
    ``INKFORGE_BASE_URL``, ``INKFORGE_MODEL``, ``INKFORGE_CONCURRENCY``, ``INKFORGE_JUDGE_MODE``
    (``binary``/``graded``), ``INKFORGE_JUDGE_SCALE`` (``1-5``), ``INKFORGE_GROUP_MODE``
    (``pairwise``/``listwise``), ``INKFORGE_NUM_GENERATIONS``, ``INKFORGE_MAX_FAILURE_RATE``,
    ``INKFORGE_CACHE`` (a SQLite path or ``none``) and ``INKFORGE_JUDGE_ROLE``.

    Raises:
        ConfigError: Neither ``INKFORGE_REWARD_URL`` nor ``INKFORGE_RUBRIC`` is set, or a value is invalid.
    """
    env = os.environ if environ is None else environ
    key = tuple(env.get(k) for k in _ENV_KEYS)
    with _FROM_ENV_LOCK:
        if key in _FROM_ENV:
            return _FROM_ENV[key]
        url = env.get("INKFORGE_REWARD_URL")
        reward: JudgeReward | RemoteJudgeReward
        if url:
            reward = RemoteJudgeReward(url)
        else:
            rubric = env.get("INKFORGE_RUBRIC")
            if not rubric:
                raise ConfigError("set INKFORGE_RUBRIC (a rubric.json) or INKFORGE_REWARD_URL (a serve-reward server)",
                                  field="INKFORGE_RUBRIC")
            opts: dict[str, Any] = {}
            try:
                if env.get("INKFORGE_CONCURRENCY"):
                    opts["concurrency"] = int(env["INKFORGE_CONCURRENCY"])
                if env.get("INKFORGE_NUM_GENERATIONS"):
                    opts["num_generations"] = int(env["INKFORGE_NUM_GENERATIONS"])
                if env.get("INKFORGE_MAX_FAILURE_RATE"):
                    opts["max_failure_rate"] = float(env["INKFORGE_MAX_FAILURE_RATE"])
            except ValueError as e:
                raise ConfigError(f"invalid number in the environment: {e}", field="INKFORGE_*") from None
            if env.get("INKFORGE_JUDGE_MODE"):
                opts["mode"] = env["INKFORGE_JUDGE_MODE"]
            if env.get("INKFORGE_JUDGE_SCALE"):
                opts["scale"] = env["INKFORGE_JUDGE_SCALE"]
            if env.get("INKFORGE_GROUP_MODE"):
                opts["group_mode"] = env["INKFORGE_GROUP_MODE"]
            if env.get("INKFORGE_JUDGE_ROLE"):
                opts["role"] = env["INKFORGE_JUDGE_ROLE"]
            cache = env.get("INKFORGE_CACHE")
            if cache:
                opts["cache"] = None if cache.lower() in ("none", "off", "0") else cache
            reward = JudgeReward.from_rubric(rubric, env.get("INKFORGE_CONFIG") or None,
                                             base_url=env.get("INKFORGE_BASE_URL") or None,
                                             model=env.get("INKFORGE_MODEL") or None, **opts)
        _FROM_ENV[key] = reward
        return reward
