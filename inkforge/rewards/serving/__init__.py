"""The judge reward behind HTTP: server, client and the OpenRLHF and verl adapters."""

from inkforge.rewards.serving.server import *  # noqa: F403
from inkforge.rewards.serving.server import __all__  # noqa: F401
