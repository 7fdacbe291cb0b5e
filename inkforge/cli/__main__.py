"""``python -m inkforge.cli``: the same app as the ``inkforge`` command (for ``accelerate launch -m``)."""

from inkforge.cli.app import main

main()
