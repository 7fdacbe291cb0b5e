"""Shared vocabulary: the status of a model call and the shapes of the records runs write.

Example:
    >>> "timeout" in TRANSIENT_STATUSES, "parse_error" in TRANSIENT_STATUSES
    (True, False)
"""

from __future__ import annotations

from typing import Literal, get_args

#: The outcome of one model call: ``ok`` or the kind of failure. A failure is a status, never a default.
Status = Literal["ok", "parse_error", "timeout", "refused", "rate_limited", "error"]

#: Every :data:`Status`, in a fixed order (report columns, metrics names).
STATUSES: tuple[Status, ...] = get_args(Status)

#: Failures that may pass on their own (the endpoint was slow, overloaded or briefly down): an item
#: that met one stays pending and is retried on resume.
TRANSIENT_STATUSES: frozenset[str] = frozenset({"timeout", "rate_limited"})
