"""An OpenAI-compatible loopback stub with fault injection, for tests, benchmarks and dry runs.

One concept per module: `faults` (what goes wrong, and the draw), `schema` (schema-valid JSON
instances), `replies` (completion, stream and error bodies), `handler` (the HTTP handler), `server`
(`StubServer` and its `StubStats`) and `process` (`StubProcess`, the stub in a child process). From a
shell, ``inkforge stub`` (or ``python -m inkforge.testing.stub``) serves it.

Example:
    >>> import httpx
    >>> with StubServer(faults=Faults(status_rates={401: 1.0})) as server:
    ...     httpx.post(f"{server.base_url}/chat/completions", json={"messages": []}).status_code
    401
"""

from inkforge.testing.stub.faults import Faults
from inkforge.testing.stub.process import StubProcess
from inkforge.testing.stub.replies import Responder
from inkforge.testing.stub.schema import generate_from_schema
from inkforge.testing.stub.server import StubServer, StubStats

__all__ = ["Faults", "Responder", "StubProcess", "StubServer", "StubStats", "generate_from_schema"]
