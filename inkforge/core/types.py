"""Shared vocabulary: the status of a model call, the kind of an error, the shapes of run records.

A call's :data:`Status` is what reports count (``ok``, ``parse_error``, ``timeout``...). Its
:data:`ErrorKind` says *why* it failed, typed by kind rather than by exception class, so every client
(ChatOpenAI, inkforge's own HTTP client, a local model) is classified the same way, and whether the
failure may pass on its own (:data:`TRANSIENT_KINDS`: the item stays pending and is retried on resume) or
is final for that input (kept with its records; ``--retry-failed`` retries it).

Example:
    >>> is_transient("error", "server"), is_transient("parse_error", "parse")
    (True, False)
"""

from __future__ import annotations

from typing import Literal, get_args

#: The outcome of one model call: ``ok`` or the kind of failure. A failure is a status, never a default.
Status = Literal["ok", "parse_error", "timeout", "refused", "rate_limited", "error"]

#: Every :data:`Status`, in a fixed order (report columns, metrics names).
STATUSES: tuple[Status, ...] = get_args(Status)

#: Why a call failed. ``timeout``/``rate_limited``/``connection``/``server`` (HTTP 5xx) may pass on
#: their own; ``auth`` (401), ``permission`` (403), ``not_found`` (404: wrong model or URL),
#: ``bad_request`` (400/422), ``unsupported`` (the endpoint rejects a structured-output method),
#: ``context_length`` (the prompt does not fit), ``content_filter`` (a refusal), ``parse`` (no
#: schema-valid answer after the re-asks) and ``budget`` (the run's spend cap was reached) do not pass by
#: waiting, except ``budget``, which a resume with a larger cap continues; ``other`` is anything else.
ErrorKind = Literal["timeout", "rate_limited", "connection", "server", "auth", "permission", "not_found",
                    "bad_request", "unsupported", "context_length", "content_filter", "parse", "budget", "other"]

ERROR_KINDS: tuple[ErrorKind, ...] = get_args(ErrorKind)

#: Error kinds after which an item stays pending (retried by ``--resume``) instead of being final.
TRANSIENT_KINDS: frozenset[str] = frozenset({"timeout", "rate_limited", "connection", "server", "budget"})

#: Statuses that are transient whatever their kind (kept for records written without a kind).
TRANSIENT_STATUSES: frozenset[str] = frozenset({"timeout", "rate_limited"})


def is_transient(status: str, kind: str | None = None) -> bool:
    """Whether a failed call may succeed when retried later (so its item must stay pending)."""
    if status == "ok":
        return False
    return status in TRANSIENT_STATUSES or (kind is not None and kind in TRANSIENT_KINDS)
