"""An OpenAI-compatible loopback stub with fault injection, for tests, benchmarks and dry runs."""

from inkforge.testing.stub.server import *  # noqa: F403
from inkforge.testing.stub.server import __all__  # noqa: F401
