"""The text of trainer inputs: a completion's answer and a prompt's request, in every TRL format.

TRL hands reward functions prompts and completions either as plain strings (standard format) or as
lists of ``{"role", "content"}`` messages (conversational format), and a message's content may be a
string or a list of content blocks (``[{"type": "text", "text": ...}, ...]``). Every reward, guard
and callback reads them through these functions, so all of them see the same text.

Example:
    >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "新年快乐"}]}])
    '新年快乐'
    >>> prompt_query([{"role": "system", "content": "你是助手"}, {"role": "user", "content": "中秋祝福"}])
    '中秋祝福'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["completion_text", "content_text", "prompt_query"]


def content_text(content: Any) -> str:
    """The text of one message's ``content``: a string, ``None``, or a list of content blocks.

    Text blocks (``{"type": "text", "text": ...}``, or a bare string) are concatenated; other blocks
    (images, audio) carry no text and are skipped.

    Example:
        >>> content_text([{"type": "text", "text": "生日"}, {"type": "image_url", "image_url": {}}, "快乐"])
        '生日快乐'
        >>> content_text(None)
        ''
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and block.get("type", "text") == "text":
                parts.append(str(block.get("text") or ""))
        return "".join(parts)
    return str(content)


def _last(messages: Sequence[Any], role: str, *, default_role: str | None = None) -> Mapping[str, Any] | None:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role", default_role) == role:
            return message
    return None


def completion_text(completion: Any) -> str:
    """The answer in a completion: the string itself, or the last assistant turn's text.

    Args:
        completion: A string (standard format), one message, or a list of messages
            (conversational format; a message without a role counts as the assistant's). With no
            assistant message, the last message is taken.

    Returns:
        The text, ``""`` for an empty completion.

    Example:
        >>> completion_text("新年快乐")
        '新年快乐'
        >>> completion_text([{"role": "assistant", "content": "草稿"}, {"role": "tool", "content": "…"},
        ...                  {"role": "assistant", "content": "定稿"}])
        '定稿'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return content_text(completion.get("content"))
    if not completion:
        return ""
    messages = list(completion)
    message = _last(messages, "assistant", default_role="assistant")
    if message is not None:
        return content_text(message.get("content"))
    last = messages[-1]
    return content_text(last.get("content")) if isinstance(last, Mapping) else str(last)


def prompt_query(prompt: Any) -> str:
    """The request in a prompt: the string itself, or the last user turn's text.

    A conversation without a user turn gives the text of all its turns, one per line. TRL datasets
    built by ``inkforge.training.data.load_prompt_dataset`` also carry a bare ``query`` column, which
    the judge reward prefers when TRL passes it.

    Example:
        >>> prompt_query([{"role": "user", "content": "a"}, {"role": "assistant", "content": "x"},
        ...               {"role": "user", "content": "b"}])
        'b'
    """
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Mapping):
        return content_text(prompt.get("content"))
    messages = list(prompt or ())
    message = _last(messages, "user")
    if message is not None:
        return content_text(message.get("content"))
    return "\n".join(content_text(m.get("content")) for m in messages if isinstance(m, Mapping))
