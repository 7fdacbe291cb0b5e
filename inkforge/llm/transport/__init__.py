"""Chat-model transports: a :class:`~inkforge.llm.config.ModelSpec` becomes a LangChain chat model.

* ``openai`` specs: :mod:`inkforge.llm.transport.http` (``transport: http``, the default: chat
  completions on ``httpx``) or :mod:`inkforge.llm.transport.openai` (``transport: langchain``:
  ``ChatOpenAI``);
* ``local`` specs: :mod:`inkforge.llm.transport.local` (transformers in-process; a per-call ``seed``
  and :class:`~inkforge.llm.transport.local.ContextLengthError` for a prompt that does not fit).
"""

from __future__ import annotations

import logging
from typing import Any

from inkforge.llm.config import ModelSpec
from inkforge.llm.transport.local import ContextLengthError

__all__ = ["ContextLengthError", "build_chat_model", "uses_http"]

log = logging.getLogger(__name__)


def uses_http(spec: ModelSpec) -> bool:
    """Whether ``spec`` is served by :class:`~inkforge.llm.transport.http.HttpChatModel`.

    Example:
        >>> uses_http(ModelSpec(model="m")), uses_http(ModelSpec(model="m", transport="langchain"))
        (True, False)
    """
    from inkforge.llm.transport.http import HttpChatModel

    return spec.provider == "openai" and spec.transport == "http" and HttpChatModel.supports(spec)


def build_chat_model(spec: ModelSpec, *, http_async_client: Any | None = None, limit: int = 64) -> Any:
    """Turn a spec into a LangChain chat model.

    Args:
        spec: The model spec.
        http_async_client: An ``httpx.AsyncClient`` for ``transport: langchain``. ChatOpenAI otherwise
            shares a cached client that breaks on a second event loop;
            :class:`inkforge.llm.runtime.Runtime` passes one per loop.
        limit: Connections per event loop of the ``http`` transport (the run's concurrency).

    Returns:
        A :class:`langchain_core.language_models.BaseChatModel`.

    Example:
        >>> m = build_chat_model(ModelSpec(model="stub", base_url="http://127.0.0.1:9/v1"))
        >>> type(m).__name__
        'HttpChatModel'
        >>> type(build_chat_model(ModelSpec(model="stub", base_url="http://127.0.0.1:9/v1", transport="langchain"))).__name__
        'ChatOpenAI'
    """
    if spec.provider == "openai" and spec.transport == "http":
        from inkforge.llm.transport.http import HttpChatModel

        if HttpChatModel.supports(spec):
            return HttpChatModel(spec=spec, limit=limit)
        log.info("model %s: extra names ChatOpenAI client options; using transport langchain", spec.model)
    if spec.provider == "openai":
        from inkforge.llm.transport.openai import build_openai_chat_model

        return build_openai_chat_model(spec, http_async_client)
    from inkforge.llm.transport.local import build_local_chat_model

    return build_local_chat_model(spec)


