"""One router per resource: records, proofs, the tlog-tiles read API, node information."""
