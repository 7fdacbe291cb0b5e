"""Test doubles users can use in their own tests: a scripted fake chat model, an OpenAI-compatible
loopback stub server with fault injection, and tiny local models built offline.

Example:
    >>> from inkforge.testing import FakeChatModel, StubServer
    >>> with StubServer() as server:            # doctest: +SKIP
    ...     print(server.base_url)
"""

from __future__ import annotations

from typing import Any

from inkforge.testing.fake import FakeCall, FakeChatModel

__all__ = ["FakeCall", "FakeChatModel", "Faults", "StubProcess", "StubServer", "build_tiny_chat_model",
           "build_tiny_reward_model", "generate_from_schema"]


def __getattr__(name: str) -> Any:
    # Lazy: the stub server and tiny-model builder pull in http.server / transformers.
    if name in ("StubServer", "StubProcess", "Faults", "generate_from_schema"):
        from inkforge.testing import stub as stub_server

        return getattr(stub_server, name)
    if name in ("build_tiny_chat_model", "build_tiny_reward_model"):
        from inkforge.testing import tiny

        return getattr(tiny, name)
    raise AttributeError(name)
