"""Pure cryptography for pel: Ed25519 keys, C2SP signed notes and cosignatures,
RFC 8785 canonical JSON, and record signatures. Bytes in, bytes or verdicts out:
no files, clocks or network, so offline verifiers can reuse every line.
"""
