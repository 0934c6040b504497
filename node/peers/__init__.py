"""Talking to other nodes: the HTTP client, keep-alive reads, remote verify and audit, mirroring."""
