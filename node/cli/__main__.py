"""``python -m node.cli``: the ``pel`` command line (how the demo starts its nodes)."""

from pel.node.cli import main

main()
