"""Model access: configuration, the run's shared runtime, the response cache, parsing and transports.

Example:
    >>> from inkforge.llm import load_config
    >>> load_config(base_url="http://127.0.0.1:8000/v1", model="stub").spec_for("judge").provider
    'openai'
"""

from inkforge.llm.cache import ResponseCache, cache_key
from inkforge.llm.config import DEFAULT_LOCAL_MODEL, InkforgeConfig, ModelSpec, load_config
from inkforge.llm.runtime import ConcurrencyLimiter, Runtime
from inkforge.llm.transport import build_chat_model
from inkforge.llm.usage import AgentUsage, UsageTracker

__all__ = ["DEFAULT_LOCAL_MODEL", "AgentUsage", "ConcurrencyLimiter", "InkforgeConfig", "ModelSpec",
           "ResponseCache", "Runtime", "UsageTracker", "build_chat_model", "cache_key", "load_config"]
