"""The client of ``inkforge serve-reward``: a TRL reward function that scores through the server.

Example:
    >>> reward = RemoteJudgeReward("http://judge-node:8123/get_reward")
    >>> reward.url, reward.__name__
    ('http://judge-node:8123', 'judge')
    >>> RemoteJudgeReward("http://judge-a:8123,http://judge-b:8123").urls
    ['http://judge-a:8123', 'http://judge-b:8123']
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from inkforge.core.errors import FailFastError
from inkforge.core.types import STATUSES
from inkforge.rewards.outcomes import JudgeOutcome, ScoreBatch

__all__ = ["RemoteJudgeReward"]


class _Retryable(Exception):
    """A batch that may succeed on another replica or later: a connection error or a 5xx."""


def _round_wait(replicas: int) -> Any:
    """Another replica is tried at once; a full round of failures backs off first (0.5 s doubling to 8 s)."""

    def wait(state: RetryCallState) -> float:
        done = state.attempt_number  # attempts made so far
        return 0.0 if done % replicas else min(8.0, 0.5 * 2 ** ((done - 1) // replicas))

    return wait


def _base(url: str) -> str:
    base = url.rstrip("/")
    for suffix in ("/score", "/get_reward"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base


class RemoteJudgeReward:
    """A TRL reward function that scores through a
    :class:`~inkforge.rewards.serving.server.RewardServer` (``POST /score``).

    Failures stay ``None``; a server fail-fast (``503``) raises :class:`FailFastError` here, and an
    unreachable server raises after ``max_retries`` attempts (it is never read as a zero reward).

    Several replicas (a list, or one comma-separated string) are used in turn, one batch each
    (round robin); a batch that fails on a connection error or a 5xx other than fail-fast is
    retried on the next replica.

    Args:
        url: The server, ``http://host:port`` (a trailing ``/score`` or ``/get_reward`` is accepted),
            or several of them.
        timeout: Seconds per request (a whole batch is scored per request).
        max_retries: Attempts on connection errors and 5xx other than fail-fast.
        name: Reward name (TRL logs ``rewards/<name>/mean``; metrics ``<name>/ok_rate``...).
        token_env: Environment variable holding the bearer token of servers started with
            ``--auth-token-env``; read at each request, sent when set.

    Example:
        >>> reward = RemoteJudgeReward("http://judge-node:8123")
        >>> reward.__name__
        'judge'
    """

    def __init__(self, url: str | Sequence[str], *, timeout: float = 600.0, max_retries: int = 3, name: str = "judge",
                 token_env: str = "INKFORGE_REWARD_TOKEN") -> None:
        urls = [u.strip() for u in (url.split(",") if isinstance(url, str) else url) if u and u.strip()]
        if not urls:
            raise ValueError("RemoteJudgeReward needs at least one server URL")
        self.urls = [_base(u) for u in urls]
        self.url = self.urls[0]
        self.token_env = token_env
        self._turn = 0
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.__name__ = name
        self.max_failure_rate = 1.0  # the server applies the threshold
        self.last_stats: dict[str, Any] = {}
        self.last_outcomes: list[JudgeOutcome] = []

    def __repr__(self) -> str:
        where = self.url if len(self.urls) == 1 else self.urls
        return f"RemoteJudgeReward({where!r}, name={self.__name__!r})"

    def __getstate__(self) -> dict[str, Any]:
        # The HTTP client (sockets, a lock) is rebuilt on first use after unpickling (Ray, verl workers).
        return {k: v for k, v in self.__dict__.items() if k not in ("_client", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _http(self) -> httpx.Client:
        lock = self.__dict__.setdefault("_lock", threading.Lock())
        with lock:
            client = self.__dict__.get("_client")
            if client is None:
                # trust_env: HTTPS_PROXY / NO_PROXY / SSL_CERT_FILE are honoured; TLS is verified.
                client = self.__dict__["_client"] = httpx.Client(timeout=self.timeout, trust_env=True)
            return client  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the keep-alive connections (the next call opens new ones)."""
        client = self.__dict__.pop("_client", None)
        if client is not None:
            client.close()

    def _attempt(self, url: str, path: str, data: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
        try:
            resp = self._http().post(url + path, content=data, headers=headers)
        except httpx.HTTPError as e:  # timeouts, refused or dropped connections: another replica may answer
            raise _Retryable(f"{type(e).__name__}: {e}") from None
        if resp.status_code < 300:
            result: dict[str, Any] = resp.json()
            return result
        detail = resp.text
        try:
            err = json.loads(detail).get("error", {})
        except (ValueError, AttributeError):
            err = {"message": detail}
        if not isinstance(err, dict):
            err = {"message": str(err)}
        if resp.status_code == 503 and err.get("type") == "fail_fast":
            raise FailFastError(f"reward server {url}: {err.get('message')}")
        if resp.status_code == 401:
            raise ValueError(f"reward server {url} refused the token (401): set {self.token_env} to the "
                             "token the server was started with (--auth-token-env)")
        if resp.status_code < 500:
            raise ValueError(f"reward server {url} rejected the batch ({resp.status_code}): "
                             f"{str(err.get('message', detail))[:500]}")
        raise _Retryable(f"HTTP {resp.status_code}: {str(err.get('message', detail))[:300]}")

    def _post(self, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        data = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        token = os.environ.get(self.token_env) if self.token_env else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        first, self._turn = self._turn, self._turn + 1
        attempt_no = iter(range(self.max_retries + 1))

        def attempt() -> dict[str, Any]:
            url = self.urls[(first + next(attempt_no)) % len(self.urls)]
            return self._attempt(url, path, data, headers)

        retrying = Retrying(stop=stop_after_attempt(self.max_retries + 1), wait=_round_wait(len(self.urls)),
                            retry=retry_if_exception_type(_Retryable), reraise=True)
        try:
            return retrying(attempt)  # type: ignore[no-any-return]
        except _Retryable as last:
            where = self.url if len(self.urls) == 1 else ", ".join(self.urls)
            raise ConnectionError(f"reward server {where} unreachable after {self.max_retries + 1} attempts: "
                                  f"{last}") from None

    def score_batch(self, prompts: Sequence[Any], completions: Sequence[Any], *,
                    queries: Sequence[Any] | None = None, sample: int | None = None) -> ScoreBatch:
        """Score through the server; returns outcomes and the server's batch statistics."""
        payload: dict[str, Any] = {"prompts": list(prompts), "completions": list(completions)}
        if queries is not None:
            payload["query"] = list(queries)
        out = self._post("/score", payload)
        outcomes = [JudgeOutcome(status=o["status"], reward=r, verdict=r, label=o.get("label"),
                                 cached=bool(o.get("cached")), error=o.get("error"))
                    for r, o in zip(out["rewards"], out["outcomes"], strict=True)]
        return ScoreBatch(outcomes, out.get("stats", {}))

    def check_failures(self, batch: ScoreBatch) -> None:
        """No-op: the server already refused a batch over its threshold (``503``)."""

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        """Score completions (TRL reward-function signature); ``None`` where the judge failed."""
        q = kwargs.get("query")
        batch = self.score_batch(prompts, completions, queries=q if isinstance(q, (list, tuple)) else None)
        self.last_stats, self.last_outcomes = batch.stats, batch.outcomes
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and batch.stats:
            for key in (*(f"{s}_rate" for s in STATUSES), "failure_rate", "cached_rate"):
                if key in batch.stats:
                    log_metric(f"{self.__name__}/{key}", float(batch.stats[key]))
        log_extra = kwargs.get("log_extra")
        if callable(log_extra):
            log_extra(f"{self.__name__}_status", batch.statuses)
        return batch.rewards
