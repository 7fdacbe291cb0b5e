"""Judge refinement: an adversarial game plus reflection, gated on held-out human labels."""

from inkforge.graphs.refinement.graph import *  # noqa: F403
from inkforge.graphs.refinement.graph import __all__  # noqa: F401
