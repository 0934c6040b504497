"""RFC 9162 Merkle trees, pure: hashing, proofs from stored hashes, tiles, verification.

Nothing here touches a database, a clock or the network: callers hand in bytes
(or an object that reads stored hashes) and get bytes or an exception back, so
the same code serves the node, ``pel verify`` and offline verifiers.
"""
