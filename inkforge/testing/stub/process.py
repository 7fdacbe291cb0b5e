"""`StubProcess`: the stub in a child process, started through the ``inkforge stub`` command.

Benchmarks use it so that the stub's JSON generation does not compete with the measured client for
the GIL, and so that the endpoint sits behind a real process boundary as a production server does.

Example::

    with StubProcess(faults=Faults(latency_s=0.2, rate_429=0.05)) as stub:
        run_benchmark(base_url=stub.base_url)
"""

from __future__ import annotations

import dataclasses
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import inkforge
from inkforge.testing.stub.faults import Faults

__all__ = ["StubProcess", "cli_args"]

# Faults fields whose ``inkforge stub`` flag is not the field name in kebab case.
_FLAGS = {
    "latency_s": "--latency",
    "jitter_s": "--jitter",
    "status_rates": "--fail-status",
    "retry_after_s": "--retry-after",
    "reject_formats": "--reject-format",
}


def cli_args(faults: Faults) -> list[str]:
    """The ``inkforge stub`` flags that set `faults` (fields left at their defaults are omitted).

    Example:
        >>> cli_args(Faults(latency_s=0.2, status_rates={503: 0.5}, echo_request=True))
        ['--latency', '0.2', '--fail-status', '503=0.5', '--echo-request']
    """
    default = Faults()
    args: list[str] = []
    for f in dataclasses.fields(Faults):
        value = getattr(faults, f.name)
        if value == getattr(default, f.name):
            continue
        flag = _FLAGS.get(f.name, "--" + f.name.replace("_", "-"))
        if isinstance(value, bool):
            args.append(flag if value else f"--no-{flag[2:]}")
        elif f.name == "status_rates":
            for status, rate in value.items():
                args += [flag, f"{status}={rate!r}"]
        elif isinstance(value, tuple):
            for item in value:
                args += [flag, str(item)]
        else:
            args += [flag, repr(value) if isinstance(value, float) else str(value)]
    return args


class StubProcess:
    """The stub server in a child process (``python -m inkforge.cli stub``), ready once it listens.

    Args:
        latency: Seconds before each chat answer (shorthand for ``Faults(latency_s=...)``).
        faults: Faults of the child's stub; `latency`, when non-zero, overrides its ``latency_s``.
        models: Model names it serves.
        timeout: Seconds to wait for the process to start.

    Raises:
        RuntimeError: The process did not start in time (its stderr is in the message).

    Example::

        with StubProcess(latency=0.2) as stub:
            print(stub.base_url)
    """

    def __init__(self, latency: float = 0.0, *, faults: Faults | None = None, models: Sequence[str] = ("stub",),
                 timeout: float = 30.0) -> None:
        faults = faults or Faults()
        if latency:
            faults = dataclasses.replace(faults, latency_s=latency)
        self.faults = faults
        self.output = ""
        args = [sys.executable, "-m", "inkforge.cli", "stub", "--port", "0", *cli_args(faults)]
        for model in models:
            args += ["--model", model]
        # The child must import this very inkforge, wherever the parent found it.
        root = str(Path(inkforge.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self._stderr = tempfile.TemporaryFile()  # a file, not a pipe: a chatty child must never block
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env)
        try:
            self.base_url = self._wait_for_url(timeout)
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise

    def _wait_for_url(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if sel.select(timeout=left):
                    line = self.proc.stdout.readline()
                    if " at http" in line:  # "inkforge stub serving stub at http://127.0.0.1:PORT/v1 ..."
                        return line.split(" at ", 1)[1].split()[0]
                    if not line:  # EOF: the child exited
                        break
        self._stderr.seek(0)
        err = self._stderr.read().decode("utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"the stub process did not start (exit code {self.proc.poll()}):\n{err}")

    @property
    def port(self) -> int:
        """The port the child listens on."""
        return int(self.base_url.rsplit(":", 1)[1].split("/", 1)[0])

    def stop(self) -> None:
        """Terminate the process; its closing summary (requests, statuses) lands in `output`. Idempotent."""
        if self._stderr.closed:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.output += out or ""
        self._stderr.close()

    close = stop

    def __enter__(self) -> StubProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
