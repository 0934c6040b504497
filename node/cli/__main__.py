"""``python -m node.cli``: the ``pel`` command line (how the demo starts its nodes)."""

from node.cli import main

main()
