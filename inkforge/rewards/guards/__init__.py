"""Reward-hacking guards: cheap checks that catch completions gaming a reward model or an LLM judge."""

from inkforge.rewards.guards.guards import *  # noqa: F403
from inkforge.rewards.guards.guards import __all__  # noqa: F401
