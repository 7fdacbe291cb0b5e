"""Redaction of secrets: the one home of keeping API keys and bearer tokens out of messages.

Some gateways echo the request, ``Authorization`` header included, in their error bodies; an
exception message built from such a body would carry the key into ``failures.jsonl``, reports,
logs and HTTP answers. Every place that records or returns an upstream message passes it
through :func:`redact` first. It removes:

* the **values** of configured key variables: those named by :func:`register_secret_env` or by
  the call (a model spec's ``api_key_env``), and any environment variable whose name ends in
  ``KEY``, ``TOKEN``, ``SECRET``, ``PASSWORD`` or ``CREDENTIALS``; values shorter than
  :data:`MIN_SECRET_CHARS` are left alone ("EMPTY", "none" and the like are placeholders);
* literal values given to :func:`register_secret` or to the call;
* whatever follows ``Authorization:`` or ``Bearer``, and key-shaped tokens (``sk-…``,
  ``hf_…``) and ``api_key=…`` query parameters, whatever their origin.

Example:
    >>> env = {"MY_API_KEY": "sk-abcdefghijklmnop1234"}
    >>> redact("401: bad key sk-abcdefghijklmnop1234 (Authorization: Bearer sk-abcdefghijklmnop1234)", environ=env)
    '401: bad key [redacted] (Authorization: [redacted])'
    >>> redact("connection refused")
    'connection refused'
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping

__all__ = ["MIN_SECRET_CHARS", "REDACTED", "redact", "register_secret", "register_secret_env", "secret_values"]

#: What a secret is replaced with.
REDACTED = "[redacted]"
#: Shorter values of key variables are placeholders ("EMPTY", "none", "x"), not secrets.
MIN_SECRET_CHARS = 8

_SECRET_NAME_RE = re.compile(r"(?:^|_)(?:API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.IGNORECASE)
_SHAPES = (
    # "Authorization: Bearer x", "authorization=Basic x", '"Authorization": "Bearer x"'
    (re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic|token)\s+)?[A-Za-z0-9._~+/=:-]+"),
     rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b((?:api[_-]?key|access[_-]?token|auth[_-]?token|x-api-key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._~+/=:-]+"),
     rf"\1{REDACTED}"),
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}|\bhf_[A-Za-z0-9]{20,}|\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),
)

_lock = threading.Lock()
_env_names: set[str] = set()
_values: set[str] = set()


def register_secret_env(*names: str) -> None:
    """Remember environment variables whose values :func:`redact` must always remove.

    Example:
        >>> register_secret_env("INKFORGE_REWARD_AUTH")
    """
    with _lock:
        _env_names.update(n for n in names if n)


def register_secret(*values: str) -> None:
    """Remember literal secret values (a token read once from a file) that :func:`redact` removes."""
    with _lock:
        _values.update(v for v in values if v and len(v) >= MIN_SECRET_CHARS)


def secret_values(env_names: Iterable[str] = (), *, environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret values :func:`redact` removes, longest first.

    Args:
        env_names: More variable names whose values are secrets (a spec's ``api_key_env``).
        environ: The environment to read; defaults to ``os.environ``.
    """
    env = os.environ if environ is None else environ
    with _lock:
        names = _env_names | set(env_names)
        found = set(_values)
    for name, value in env.items():
        if (name in names or _SECRET_NAME_RE.search(name)) and value and len(value) >= MIN_SECRET_CHARS:
            found.add(value)
    return sorted(found, key=len, reverse=True)


def redact(text: str, *, env_names: Iterable[str] = (), secrets: Iterable[str] = (),
           environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every known secret and every credential-shaped token replaced by :data:`REDACTED`.

    Args:
        text: A message that may quote an upstream answer (an exception, an error body).
        env_names: Variable names whose values are secrets, besides the registered and the
            key-named ones.
        secrets: Literal secret values to remove.
        environ: The environment to read; defaults to ``os.environ``.

    Returns:
        The redacted text (unchanged when it holds nothing secret).

    Example:
        >>> redact("echo: Bearer abc.def-123456 and token s3cr3t-value-42", secrets=["s3cr3t-value-42"])
        'echo: Bearer [redacted] and token [redacted]'
    """
    if not text:
        return text
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    for value in sorted({*secret_values(env_names, environ=environ),
                         *(s for s in secrets if s and len(s) >= MIN_SECRET_CHARS)}, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return text
