"""Shared vocabulary: the status of a model call and the shapes of the records runs write.

Example:
    >>> "timeout" in TRANSIENT_STATUSES, "parse_error" in TRANSIENT_STATUSES
    (True, False)
"""

# No ``from __future__ import annotations``: TypedDict reads ``NotRequired`` from evaluated annotations.
from typing import Any, Literal, NotRequired, TypedDict, get_args

#: The outcome of one model call: ``ok`` or the kind of failure. A failure is a status, never a default.
Status = Literal["ok", "parse_error", "timeout", "refused", "rate_limited", "error"]

#: Every :data:`Status`, in a fixed order (report columns, metrics names).
STATUSES: tuple[Status, ...] = get_args(Status)

#: Failures that may pass on their own (the endpoint was slow, overloaded or briefly down): an item
#: that met one stays pending and is retried on resume.
TRANSIENT_STATUSES: frozenset[str] = frozenset({"timeout", "rate_limited"})


# --------------------------------------------------------------------------------------- record shapes
# The lines runs write. Keys marked NotRequired appear only on some lines (see each field).

#: A failure line's status: a model call's :data:`Status`, or ``no_pair`` (the query yielded no pair).
#: (Every :data:`Status` but ``ok``: a line here is never a success.)
FailureStatus = Literal["parse_error", "timeout", "refused", "rate_limited", "error", "no_pair"]


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
