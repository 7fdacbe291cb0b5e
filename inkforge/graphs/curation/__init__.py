"""The curation graph: multi-agent rejection sampling of preference pairs."""

from inkforge.graphs.curation.graph import *  # noqa: F403
from inkforge.graphs.curation.graph import __all__  # noqa: F401
