"""The federation: trust list, witnessing, fork evidence, mirrored logs."""
