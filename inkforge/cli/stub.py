"""``inkforge stub``: serve the OpenAI-compatible loopback stub with fault injection until Ctrl-C.

Every behaviour of :class:`~inkforge.testing.stub.Faults` has a flag; the main app registers the
command as ``app.command("stub")(stub_cmd)``. `StubProcess` starts this very command in a child process.

Example:
    $ inkforge stub --port 8000 --latency 0.2 --rate-429 0.1
    $ inkforge stub --port 8000 --sampling varying --json-answers when_asked --reject-format json_schema
    $ inkforge stub --port 8000 --fail-status 401 --echo-request
"""

from __future__ import annotations

import errno
import os
import signal
import threading
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from inkforge.cli.options import handle_errors
from inkforge.core.errors import ConfigError, InputError

if TYPE_CHECKING:
    from inkforge.testing.stub import StubServer

__all__ = ["parse_status_rates", "stub_cmd"]


class RejectFormat(str, Enum):
    """Request features ``--reject-format`` can refuse (values of ``Faults.reject_formats``)."""

    json_schema = "json_schema"
    json_object = "json_object"
    tools = "tools"


def parse_status_rates(values: list[str]) -> dict[int, float]:
    """``["503", "429=0.2"]`` → ``{503: 1.0, 429: 0.2}`` (a bare code fails every chat call).

    Raises:
        ConfigError: A value is not ``CODE`` or ``CODE=SHARE``.

    Example:
        >>> parse_status_rates(["503", "429=0.25"])
        {503: 1.0, 429: 0.25}
    """
    rates: dict[int, float] = {}
    for value in values:
        code, _, share = value.partition("=")
        try:
            rates[int(code)] = float(share) if share else 1.0
        except ValueError:
            raise ConfigError(f"expected CODE or CODE=SHARE (e.g. 503 or 429=0.2), got {value!r}",
                              field="--fail-status") from None
    return rates


@handle_errors
def stub_cmd(
    host: Annotated[str, typer.Option("--host", help="Interface to bind (loopback keeps it off the network).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")] = 8000,
    models: Annotated[list[str] | None, typer.Option(
        "--model", help="Served model name (repeatable; the first answers requests that name none).")] = None,
    latency: Annotated[float, typer.Option("--latency", min=0.0, help="Seconds before every chat answer.")] = 0.0,
    jitter: Annotated[float, typer.Option("--jitter", min=0.0, help="Extra delay, uniform in [0, S].")] = 0.0,
    rate_429: Annotated[float, typer.Option(
        "--rate-429", min=0.0, max=1.0, help="Share of chat calls answered 429 with Retry-After.")] = 0.0,
    rate_500: Annotated[float, typer.Option(
        "--rate-500", min=0.0, max=1.0, help="Share of chat calls answered 500.")] = 0.0,
    rate_hang: Annotated[float, typer.Option(
        "--rate-hang", min=0.0, max=1.0, help="Share of chat calls that stall for --hang-s.")] = 0.0,
    hang_s: Annotated[float, typer.Option("--hang-s", min=0.0, help="How long a hanging call stalls.")] = 30.0,
    hang_mode: Annotated[Literal["drop", "late"], typer.Option(
        "--hang-mode", help="After the stall: drop the connection, or answer late.")] = "drop",
    rate_malformed: Annotated[float, typer.Option(
        "--rate-malformed", min=0.0, max=1.0, help="Share answered 200 with broken JSON content.")] = 0.0,
    rate_bad_body: Annotated[float, typer.Option(
        "--rate-bad-body", min=0.0, max=1.0, help="Share answered 200 with a cut HTTP body.")] = 0.0,
    fail_first_n: Annotated[int, typer.Option(
        "--fail-first-n", min=0, help="The first N chat calls answer 500.")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fault draws (and of varying answers).")] = 0,
    fail_status: Annotated[list[str] | None, typer.Option(
        "--fail-status", metavar="CODE[=SHARE]",
        help="Answer HTTP CODE (400-599) to every chat call, or to SHARE of them (repeatable).")] = None,
    retry_after: Annotated[int, typer.Option(
        "--retry-after", min=0, help="Retry-After seconds of 429 and 503 answers.")] = 0,
    sampling: Annotated[Literal["deterministic", "varying"], typer.Option(
        "--sampling", help="deterministic: equal requests, equal answers; varying: each call differs "
        "unless it sends a seed.")] = "deterministic",
    json_answers: Annotated[Literal["always", "when_asked"], typer.Option(
        "--json-answers", help="always: a schema in the prompt gets bare JSON; when_asked: only "
        "response_format or a forced tool does, plain prompts get prose or prose-wrapped JSON.")] = "always",
    reject_format: Annotated[list[RejectFormat] | None, typer.Option(
        "--reject-format", help="Refuse requests using this feature with a 400 (repeatable).")] = None,
    echo_request: Annotated[bool, typer.Option(
        "--echo-request", help="Error bodies echo the request, bearer token included (redaction tests).")
    ] = False,
    api_key_env: Annotated[str | None, typer.Option(
        "--api-key-env", help="Require 'Authorization: Bearer $VAR'; VAR names an environment variable, so "
        "the key stays out of the command line.")] = None,
) -> None:
    """Serve the OpenAI-compatible stub with fault injection (point agents at it with --base-url)."""
    from inkforge.testing.stub import Faults, StubServer

    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise ConfigError(f"environment variable {api_key_env} is empty or unset", field="--api-key-env")
    try:
        faults = Faults(
            latency_s=latency, jitter_s=jitter, rate_429=rate_429, rate_500=rate_500, rate_hang=rate_hang,
            hang_s=hang_s, hang_mode=hang_mode, rate_malformed=rate_malformed, rate_bad_body=rate_bad_body,
            fail_first_n=fail_first_n, seed=seed, status_rates=parse_status_rates(fail_status or []),
            retry_after_s=retry_after, sampling=sampling, json_answers=json_answers,
            reject_formats=tuple(f.value for f in reject_format or []), echo_request=echo_request,
        )
    except ValueError as e:
        raise ConfigError(str(e)) from None
    try:
        server = StubServer(host, port, models=models or ("stub",), faults=faults, require_api_key=api_key)
    except OSError as e:
        why = "is in use (another stub?)" if e.errno == errno.EADDRINUSE else f"cannot be bound ({e.strerror})"
        raise InputError(f"port {port} on {host} {why}", field="--port") from None
    _serve(server)


def _serve(server: StubServer) -> None:
    """Serve until SIGINT or SIGTERM, then print what was served (stdout: `StubProcess` reads it)."""
    # Explicit handlers rather than KeyboardInterrupt: a process started in the background by a
    # non-interactive shell inherits SIGINT as *ignored*, and SIGTERM is what supervisors send.
    stop_requested = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop_requested.set())
    server.start()
    typer.echo(f"inkforge stub serving {', '.join(server.models)} at {server.base_url} (Ctrl-C to stop)")
    try:
        while not stop_requested.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        for signum, handler in previous.items():  # in-process callers (tests) get their handlers back
            signal.signal(signum, handler)
        stats = server.stats
        typer.echo(f"served {stats.requests} requests, statuses {dict(stats.by_status)}, "
                   f"faults {dict(stats.faults)}, peak concurrency {stats.max_concurrency}")
