"""The log and its data.

Records, the Merkle tree, storage, the transparency log, federation, bundles."""
