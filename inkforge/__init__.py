"""inkforge: make small language models better creative writers with AI feedback.

The package is layered; ``docs/architecture.md`` draws the floors and says what each may import:
``core`` → ``llm`` → ``agents`` → ``evaluation`` → ``graphs`` → ``rewards`` → ``training`` →
``testing`` → ``cli``.
"""

from inkforge import _legacy

__version__ = "0.2.0"

_legacy.install()
