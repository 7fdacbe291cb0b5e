"""What the stub does wrong on purpose, and how it decides which request gets which fault.

`Faults` is the whole behaviour model of the stub: injected failures (latency, hangs, HTTP error
statuses, broken JSON) and the ways real endpoints differ from an ideal one (answers that repeat or
vary, JSON only when asked for it, response formats they reject, error bodies that echo the request).
`FaultDrawer` draws per request from a seeded generator, so a fault sequence is reproducible.

Example:
    >>> faults = Faults(status_rates={503: 0.5}, sampling="varying", json_answers="when_asked")
    >>> dict(faults.status_rates)
    {503: 0.5}
    >>> drawer = FaultDrawer(Faults(fail_first_n=1))
    >>> [drawer.draw().status for _ in range(2)]
    [500, None]
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from random import Random
from types import MappingProxyType
from typing import Any, Literal

__all__ = ["Draw", "FaultDrawer", "Faults", "HangMode", "JsonAnswers", "RejectableFormat",
           "Sampling"]

HangMode = Literal["drop", "late"]
Sampling = Literal["deterministic", "varying"]
JsonAnswers = Literal["always", "when_asked"]
RejectableFormat = Literal["json_schema", "json_object", "tools"]

_REJECTABLE: frozenset[str] = frozenset({"json_schema", "json_object", "tools"})


@dataclass(frozen=True)
class Faults:
    """Which failures the stub injects into chat completions, how often, and how its answers behave.

    One uniform draw per request picks at most one of the rate-based faults (`rate_429`, `rate_500`,
    `rate_hang`, `rate_malformed`, `rate_bad_body` and each of `status_rates`), so the rates must sum to
    at most 1. Draws come from a `random.Random(seed)` behind a lock: the sequence of faults is
    reproducible (which concurrent request receives which fault depends on arrival order).

    Attributes:
        latency_s: Fixed delay before every chat answer, faults included.
        jitter_s: Extra delay drawn uniformly from ``[0, jitter_s]`` per request.
        rate_429: Share of requests answered 429 with ``Retry-After`` and an OpenAI error body.
        rate_500: Share of requests answered 500 with an OpenAI error body.
        rate_hang: Share of requests that stall for `hang_s` (longer than a client timeout should be).
        hang_s: How long a hanging request stalls.
        hang_mode: After the stall, ``"drop"`` closes the connection without a reply; ``"late"`` sends the
            normal answer.
        rate_malformed: Share of requests answered HTTP 200 whose *content* (or tool arguments) is broken
            JSON: truncated, wrapped in prose, or prose only. What a parser and its re-ask must survive.
        rate_bad_body: Share of requests answered HTTP 200 whose *HTTP body* is not valid JSON.
        fail_first_n: The first N chat requests after these faults are set fail with 500, whatever the
            rates; deterministic input for retry tests.
        seed: Seed of the fault generator (and of the answers in ``"varying"`` sampling).
        status_rates: HTTP status → share of chat requests answered with it, e.g. ``{503: 1.0}`` for an
            endpoint that is down or ``{401: 1.0}`` for a revoked key. Each status gets the body real
            endpoints send: an OpenAI-style JSON error, except 502 and 504, which get the HTML page a
            reverse proxy writes. 429 and 503 carry ``Retry-After``. Any status from 400 to 599.
        retry_after_s: The ``Retry-After`` header (seconds) of 429 and 503 answers.
        sampling: ``"deterministic"``: the same request body always gets the same answer (a model at
            temperature 0, or a caching provider); the answer is seeded by a hash of the messages and the
            request's ``seed``, so different prompts get different answers. ``"varying"``: repeated
            identical requests get different answers (a sampling model) unless they carry the same
            ``seed``. In both, the ``n`` choices of one request are drawn separately and differ whenever
            the schema leaves room.
        json_answers: ``"always"``: a plain request whose prompt embeds a JSON schema (inkforge's
            ``prompt`` and ``json_mode`` methods append one after ``JSON schema:``) gets a bare, valid
            instance, like an ideal instruction follower. ``"when_asked"``: only ``response_format``
            (``json_schema``/``json_object``) and a forced tool get JSON; a plain request gets what a chat
            model writes: the instance inside a fenced block with prose around it, the instance inline in
            a sentence, or prose without any JSON (a third each, drawn per answer).
        reject_formats: Request features the endpoint refuses with HTTP 400, as many servers do:
            ``"json_schema"`` or ``"json_object"`` (``response_format`` types) and ``"tools"``.
        echo_request: Error bodies echo the request: its ``Authorization`` header (bearer token
            included) and the start of its body, as some gateways do in 401 replies. Off, no error
            body ever contains a key.

    Example:
        >>> Faults(rate_429=0.1, rate_500=0.05, latency_s=0.2).rate_429
        0.1
        >>> Faults(status_rates={401: 1.0}, echo_request=True).echo_request
        True
    """

    latency_s: float = 0.0
    jitter_s: float = 0.0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_hang: float = 0.0
    hang_s: float = 30.0
    hang_mode: HangMode = "drop"
    rate_malformed: float = 0.0
    rate_bad_body: float = 0.0
    fail_first_n: int = 0
    seed: int = 0
    status_rates: Mapping[int, float] = field(default_factory=dict)
    retry_after_s: int = 0
    sampling: Sampling = "deterministic"
    json_answers: JsonAnswers = "always"
    reject_formats: tuple[RejectableFormat, ...] = ()
    echo_request: bool = False

    def __post_init__(self) -> None:
        for name in ("latency_s", "jitter_s", "hang_s", "retry_after_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"Faults.{name} must be >= 0, got {getattr(self, name)}")
        statuses = {int(k): float(v) for k, v in dict(self.status_rates).items()}
        for status in statuses:
            if not 400 <= status <= 599:
                raise ValueError(f"Faults.status_rates: {status} is not an HTTP error status (400-599)")
        # Frozen means frozen: a read-only, sorted copy the caller cannot change behind the drawer's back.
        object.__setattr__(self, "status_rates", MappingProxyType(dict(sorted(statuses.items()))))
        object.__setattr__(self, "reject_formats", tuple(dict.fromkeys(self.reject_formats)))
        rates = self.rates()
        for name, rate in rates:
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"Faults.{name} must lie in [0, 1], got {rate}")
        total = sum(rate for _, rate in rates)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates must sum to at most 1, got {total:.3f}")
        _check_choice("hang_mode", self.hang_mode, ("drop", "late"))
        _check_choice("sampling", self.sampling, ("deterministic", "varying"))
        _check_choice("json_answers", self.json_answers, ("always", "when_asked"))
        for fmt in self.reject_formats:
            _check_choice("reject_formats", fmt, sorted(_REJECTABLE))
        if self.fail_first_n < 0:
            raise ValueError(f"Faults.fail_first_n must be >= 0, got {self.fail_first_n}")

    def __hash__(self) -> int:  # the mapping field is not hashable; hash what identifies the faults
        return hash(tuple((f.name, _hashable(getattr(self, f.name))) for f in dataclasses.fields(self)))

    def rates(self) -> list[tuple[str, float]]:
        """``(fault kind, share)`` for each rate-based fault, in draw order.

        Kinds are ``rate_429``, ``rate_500``, ``rate_hang``, ``rate_malformed``, ``rate_bad_body`` and
        ``status_<code>`` for each entry of `status_rates`.

        Example:
            >>> Faults(rate_500=0.1, status_rates={503: 0.2}).rates()[-1]
            ('status_503', 0.2)
        """
        # The order fixes which slice of [0, 1) each fault owns; keep it stable for reproducibility.
        return [
            ("rate_429", self.rate_429),
            ("rate_500", self.rate_500),
            ("rate_hang", self.rate_hang),
            ("rate_malformed", self.rate_malformed),
            ("rate_bad_body", self.rate_bad_body),
            *((f"status_{status}", rate) for status, rate in self.status_rates.items()),
        ]


def _check_choice(name: str, value: Any, allowed: Any) -> None:
    if value not in allowed:
        raise ValueError(f"Faults.{name} must be one of {list(allowed)}, got {value!r}")


def _hashable(value: Any) -> Any:
    return tuple(value.items()) if isinstance(value, Mapping) else value


@dataclass(frozen=True)
class Draw:
    """What one chat request gets, decided when it arrives.

    Attributes:
        fault: The injected fault's kind as `StubStats.faults` counts it (``"429"``, ``"500"``,
            ``"hang"``, ``"malformed"``, ``"bad_body"``, ``"fail_first_n"``, ``"status_503"``...), or
            None.
        status: The HTTP error status the fault answers with, or None (no fault, or one answered 200).
        delay_s: Seconds to wait before answering.
        rng: Randomness for this request's broken content, derived from the fault seed.
        answer_seed: Seed of the answer in ``"varying"`` sampling (a fresh draw per request).
    """

    fault: str | None
    status: int | None
    delay_s: float
    rng: Random
    answer_seed: int


class FaultDrawer:
    """Draws each request's fault from the seeded generator of a `Faults`, thread-safely.

    Args:
        faults: The faults to draw from; a new drawer restarts the sequence and the `fail_first_n` count.

    Example:
        >>> drawer = FaultDrawer(Faults(rate_429=1.0))
        >>> drawer.draw().status
        429
    """

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = Random(faults.seed)
        # Answers in "varying" mode get their own stream, so that mode does not shift the fault sequence.
        self._answer_rng = Random(f"answers-{faults.seed}")
        self._failed_first = 0
        self._lock = threading.Lock()

    def draw(self) -> Draw:
        """The fault, delay and randomness of the next request."""
        with self._lock:
            faults, rng = self.faults, self._rng
            delay = faults.latency_s + (rng.uniform(0.0, faults.jitter_s) if faults.jitter_s else 0.0)
            # Malformed answers need their own randomness; derive it here so it follows the fault seed.
            sub_rng = Random(rng.getrandbits(64))
            fault: str | None = None
            status: int | None = None
            if self._failed_first < faults.fail_first_n:
                self._failed_first += 1
                fault, status = "fail_first_n", 500
            else:
                draw, edge = rng.random(), 0.0
                for name, rate in faults.rates():
                    edge += rate
                    if rate > 0 and draw < edge:
                        fault, status = _KINDS.get(name, (name, None))
                        if name.startswith("status_"):
                            status = int(name.removeprefix("status_"))
                        break
            answer_seed = self._answer_rng.getrandbits(63)
        return Draw(fault=fault, status=status, delay_s=delay, rng=sub_rng, answer_seed=answer_seed)


_KINDS: dict[str, tuple[str, int | None]] = {
    "rate_429": ("429", 429),
    "rate_500": ("500", 500),
    "rate_hang": ("hang", None),
    "rate_malformed": ("malformed", None),
    "rate_bad_body": ("bad_body", None),
}
