"""The transparency log: one agency's log, its checkpoints, offline proofs, audits."""
