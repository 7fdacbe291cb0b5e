"""``python -m inkforge.testing.stub [OPTIONS]``: the same as ``inkforge stub [OPTIONS]``.

The command line lives in one place, the ``inkforge stub`` command; this entry point (documented in
the first release) hands its arguments over by replacing this process with ``python -m inkforge.cli
stub``, so signals and the exit code are the command's own.

Example::

    python -m inkforge.testing.stub --port 8000 --latency 0.2 --fail-status 503=0.1
"""

import os
import subprocess
import sys

if __name__ == "__main__":
    command = [sys.executable, "-m", "inkforge.cli", "stub", *sys.argv[1:]]
    if os.name == "posix":
        os.execv(sys.executable, command)
    raise SystemExit(subprocess.call(command))
