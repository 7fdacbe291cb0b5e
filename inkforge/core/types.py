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

# No ``from __future__ import annotations``: TypedDict reads ``NotRequired`` from evaluated annotations.
import re
from typing import Any, Literal, NotRequired, TypedDict, get_args

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


_HTTP_KINDS: dict[int, ErrorKind] = {400: "bad_request", 401: "auth", 403: "permission", 404: "not_found",
                                     408: "timeout", 413: "context_length", 422: "bad_request", 429: "rate_limited"}
_CODE = re.compile(r"(?:error code|status(?: code)?|http)[:= ]+(\d{3})\b", re.IGNORECASE)


def failure_kind(status: str, error: str | None = None, kind: str | None = None) -> str | None:
    """The :data:`ErrorKind` of a failed call: its recorded ``kind``, else read off its status and message.

    Clients that type their errors record the kind; for the others (and for records written before
    kinds existed) the HTTP status code in the message decides, then connection errors, then the
    status. ``None`` for a success.

    Example:
        >>> failure_kind("error", "InternalServerError: Error code: 503 - busy"), failure_kind("error", "APIConnectionError: Connection error.")
        ('server', 'connection')
        >>> failure_kind("error", "AuthenticationError: Error code: 401"), failure_kind("parse_error")
        ('auth', 'parse')
    """
    if status == "ok":
        return None
    if kind:
        return kind
    text = error or ""
    m = _CODE.search(text)
    if m:
        code = int(m.group(1))
        return "server" if code >= 500 else _HTTP_KINDS.get(code, "bad_request" if code >= 400 else "other")
    if status in ("timeout", "rate_limited"):
        return status
    if status == "parse_error":
        return "parse"
    if status == "refused":
        return "content_filter"
    if "connect" in text.lower():
        return "connection"
    return "other"


# --------------------------------------------------------------------------------------- record shapes
# The lines runs write. Keys marked NotRequired appear only on some lines (see each field).

#: A failure line's status: a model call's :data:`Status`, ``no_pair`` (the query yielded no pair) or
#: ``identical`` (a candidate identical to an earlier one of its query: not judged, never paired).
#: (Every :data:`Status` but ``ok``: a line here is never a success.)
FailureStatus = Literal["parse_error", "timeout", "refused", "rate_limited", "error", "no_pair", "identical"]

#: Failure-line statuses that describe the data, not a failed call (never make an item pending or failed).
DATA_STATUSES: frozenset[str] = frozenset({"no_pair", "identical"})


class FailureRecord(TypedDict):
    """One line of ``failures.jsonl``: something that went wrong with one item, never hidden.

    Three kinds share the shape: an agent call that failed (``stage`` = the agent's name, ``slot`` =
    its place in the graph, ``candidate`` = the candidate it was about, plus ``attempts``, ``model``
    and ``prompt_version``), a query that yielded no pair (``stage`` = ``"pair"``, ``status`` =
    ``"no_pair"``, plus ``reason_code``, ``judged`` and ``candidates``), and an item whose graph
    raised (``stage`` = ``"graph"``, ``status`` = ``"error"``).

    Attributes:
        item_id: Input row id.
        query: The request.
        stage: Where it failed: an agent name, ``"pair"`` or ``"graph"``.
        status: The failure kind (:data:`FailureStatus`).
        reason: The error message or the no-pair reason (``None`` if the agent gave none).
        raw: The model's raw text (agent failures; what a human needs to debug), else ``None``.
        slot: The graph slot (``writer``, ``judge``, an extra node's name...).
        kind: The failed call's :data:`ErrorKind` (agent failures), which says whether it is transient.
        candidate: Candidate index, or ``None`` for a whole-query record.
        attempts: Model calls the agent made (re-asks included).
        model: Model name.
        prompt_version: The agent's prompt version.
        reason_code: ``too_few_valid``, ``all_good`` or ``all_bad`` (no-pair lines).
        judged: Candidates fully judged (no-pair lines).
        candidates: Candidates the query had (no-pair lines).

    Example:
        >>> sorted(FailureRecord.__required_keys__)
        ['item_id', 'query', 'raw', 'reason', 'stage', 'status']
    """

    item_id: str
    query: str
    stage: str
    status: FailureStatus
    reason: str | None
    raw: str | None
    slot: NotRequired[str]
    kind: NotRequired[str | None]
    candidate: NotRequired[int | None]
    attempts: NotRequired[int | None]
    model: NotRequired[str | None]
    prompt_version: NotRequired[str | None]
    reason_code: NotRequired[str]
    judged: NotRequired[int | None]
    candidates: NotRequired[int | None]


class JudgementRecord(TypedDict):
    """One line of ``judgements.jsonl``: a fully judged candidate with its whole debate.

    Attributes:
        item_id: Input row id.
        query: The request.
        candidate: Candidate index (sampling order).
        response: The candidate text.
        source: ``"writer"`` or ``"given"``.
        positive: The positive critic's output.
        negative: The negative critic's output.
        judge: The judge's output.
        reflector: The reflector's output, or ``None`` when it was dropped.
        final_label: The audited 0/1 label (the judge's when the reflector is dropped).
        vetoes: Extra nodes' vetoes (``{"candidate", "by", "reason"}``).
        label: The label pairing used: ``final_label``, or 0 when vetoed.
        few_shot_ids: Ids of the few-shot examples the writer saw.
        models: Model name per slot.
        prompt_versions: Prompt version per slot.
        meta: The input row's extra fields (only when it had some).
    """

    item_id: str
    query: str
    candidate: int
    response: str
    source: str | None
    positive: dict[str, Any]
    negative: dict[str, Any]
    judge: dict[str, Any]
    reflector: dict[str, Any] | None
    final_label: int
    vetoes: list[dict[str, Any]]
    label: int
    few_shot_ids: list[str]
    models: dict[str, str]
    prompt_versions: dict[str, str]
    meta: NotRequired[dict[str, Any]]


class PairRecord(TypedDict):
    """One line of ``pairs.jsonl``: TRL's preference columns plus provenance.

    Attributes:
        prompt: The request (TRL ``prompt``).
        chosen: The text judged good (TRL ``chosen``).
        rejected: The text judged not good (TRL ``rejected``).
        item_id: Input row id.
        pair_policy: The policy that chose the pair (``one``, ``all``, ``best_vs_worst``).
        few_shot_ids: Ids of the few-shot examples the writer saw.
        chosen_meta: The chosen candidate's debate (``candidate``, ``source``, ``positive``,
            ``negative``, ``judge``, ``reflector``, ``final_label``, ``vetoes``).
        rejected_meta: The same for the rejected candidate.
        models: Model name per slot.
        prompt_versions: Prompt version per slot.
    """

    prompt: str
    chosen: str
    rejected: str
    item_id: str
    pair_policy: str
    few_shot_ids: list[str]
    chosen_meta: dict[str, Any]
    rejected_meta: dict[str, Any]
    models: dict[str, str]
    prompt_versions: dict[str, str]
