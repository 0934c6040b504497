"""A node's keys and its copy of the federation trust list: the chain of versions, key
rotation, and the secret files (0600)."""
