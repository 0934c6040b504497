"""The node's web pages (verifier, explorer): self-contained HTML shipped as package data."""
