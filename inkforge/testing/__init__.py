"""Test doubles users can use in their own tests: a scripted fake chat model and responders that play
the shipped agents, an OpenAI-compatible loopback stub server with fault injection, and tiny local
models built offline.

Example:
    >>> from inkforge.testing import FakeChatModel, StubServer
    >>> with StubServer() as server:
    ...     server.base_url.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

from inkforge.core.lazy import lazy_exports
from inkforge.testing.fake import FakeCall, FakeChatModel
from inkforge.testing.responders import fake_curation_responder

__all__ = ["FakeCall", "FakeChatModel", "Faults", "StubProcess", "StubServer", "build_tiny_chat_model",
           "build_tiny_reward_model", "fake_curation_responder", "generate_from_schema"]


# Lazy: the stub server and tiny-model builder pull in http.server / transformers.
__getattr__, _ = lazy_exports(__name__, {
    **dict.fromkeys(("StubServer", "StubProcess", "Faults", "generate_from_schema"), "inkforge.testing.stub"),
    **dict.fromkeys(("build_tiny_chat_model", "build_tiny_reward_model"), "inkforge.testing.tiny"),
})
