"""Chat-model transports: a :class:`~inkforge.llm.config.ModelSpec` becomes a LangChain chat model.

* ``openai`` specs: :mod:`inkforge.llm.transport.openai` (``ChatOpenAI``) or
  :mod:`inkforge.llm.transport.direct` (``transport: direct``);
* ``local`` specs: :mod:`inkforge.llm.transport.local` (transformers in-process; a per-call ``seed``
  and :class:`~inkforge.llm.transport.local.ContextLengthError` for a prompt that does not fit).
"""

from __future__ import annotations

from typing import Any

from inkforge.llm.config import ModelSpec
from inkforge.llm.transport.local import ContextLengthError

__all__ = ["ContextLengthError", "build_chat_model"]


def build_chat_model(spec: ModelSpec, *, http_async_client: Any | None = None) -> Any:
    """Turn a spec into a LangChain chat model.

    Args:
        spec: The model spec.
        http_async_client: An ``httpx.AsyncClient`` for ``openai`` models. ChatOpenAI otherwise shares
            a cached client that breaks on a second event loop; :class:`inkforge.llm.runtime.Runtime`
            passes one per loop.

    Returns:
        A :class:`langchain_core.language_models.BaseChatModel`.

    Example:
        >>> m = build_chat_model(ModelSpec(model="stub", base_url="http://127.0.0.1:9/v1"))
        >>> type(m).__name__
        'ChatOpenAI'
    """
    if spec.provider == "openai":
        from inkforge.llm.transport.openai import build_openai_chat_model

        return build_openai_chat_model(spec, http_async_client)
    from inkforge.llm.transport.local import build_local_chat_model

    return build_local_chat_model(spec)


